import Digest
import Foundation
import TestSupport
import Testing
@testable import MLflowModel

/// Collects a builder's log lines across threads.
final class EnvLogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
    func count(containing text: String) -> Int { all.filter { $0.contains(text) }.count }
}

@Suite("Model environments (--env-manager virtualenv)", .serialized)
struct ModelEnvironmentTests {
    /// A model directory with an MLmodel (python_function with `env`) and the given files.
    func writeModel(env: String? = "{conda: conda.yaml, virtualenv: python_env.yaml}",
                    files: [String: String]) throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("envmodel")
        var mlmodel = "flavors:\n  python_function:\n    loader_module: my_loader\n"
        if let env { mlmodel += "    env: \(env)\n" }
        try mlmodel.write(to: dir.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        for (path, text) in files {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return dir
    }

    func builder(cache: URL, engine: [String] = ["numpy", "pandas"], log: EnvLogRecorder = EnvLogRecorder()) -> ModelEnvironmentBuilder {
        ModelEnvironmentBuilder(cacheDirectory: cache.path, engineRequirements: engine, log: { log.append($0) })
    }

    func errorMessage(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let error as PyFuncError { return error.message } catch { return "\(error)" }
    }

    // MARK: - Requirement parsing

    @Test("python_env.yaml: build dependencies, -r requirements.txt expanded, comments, continuations, constraints")
    func pythonEnvForm() throws {
        let dir = try writeModel(files: [
            "python_env.yaml": """
                python: 3.11.7
                build_dependencies:
                  - pip==23.2.1
                  - setuptools==65.5.0
                  - wheel
                dependencies:
                  - -r requirements.txt
                  - Extra_Package >= 1.0
                """,
            "requirements.txt": """
                # saved by mlflow
                mlflow==3.17.2
                cloudpickle==3.1.3  # inline comment
                numpy==2.4.6
                Scikit_Learn[Alldeps, Benchmark] >= 1.0 , <2 ; python_version >= "3.8"
                pandas\\
                ==3.1.1
                -c constraints.txt

                mlflow==3.17.2
                """,
            "constraints.txt": "urllib3<3\n",
            "conda.yaml": "dependencies: [python=3.9, {pip: [ignored==1]}]\n",
        ])
        let model = try MLModel(directory: dir.path)
        let req = try builder(cache: dir).requirements(for: model)
        let root = dir.standardizedFileURL.path
        #expect(req.pythonVersion == "3.11.7")
        #expect(req.pythonVersionSource == root + "/python_env.yaml")
        #expect(req.buildDependencies.map(\.text) == ["pip==23.2.1", "setuptools==65.5.0", "wheel"])
        #expect(req.requirements.map(\.text) == [
            "mlflow==3.17.2", "cloudpickle==3.1.3", "numpy==2.4.6",
            "scikit-learn[alldeps,benchmark]<2,>=1.0; python_version >= \"3.8\"",
            "pandas==3.1.1", "extra-package>=1.0",
        ])
        #expect(req.constraints.map(\.text) == ["urllib3<3"])
        #expect(req.addedEngineRequirements.isEmpty)
        #expect(req.files == [root + "/python_env.yaml", root + "/requirements.txt", root + "/constraints.txt"])
        #expect(req.origin == "python_env.yaml (dependencies) → requirements.txt, constraints.txt")
        // Where each line was declared: file and line number (the continuation starts on line 6).
        let pandas = try #require(req.requirements.first { $0.projectName == "pandas" })
        #expect(pandas.location == root + "/requirements.txt, line 6")
        let extra = try #require(req.requirements.last)
        #expect(extra.source == root + "/python_env.yaml")
        #expect(extra.lineNumber == 8)
    }

    @Test("requirements.txt without python_env.yaml: Python version from conda.yaml, engine packages added")
    func requirementsForm() throws {
        let dir = try writeModel(env: "conda.yaml", files: [
            "requirements.txt": "six==1.16.0\n./wheels/local_pkg-0.1-py3-none-any.whl\n",
            "wheels/local_pkg-0.1-py3-none-any.whl": "not really a wheel",
            "conda.yaml": "dependencies:\n  - python=3.11.4\n  - pip<=23.2.1\n  - pip:\n    - -r requirements.txt\n",
        ])
        let model = try MLModel(directory: dir.path)
        let req = try builder(cache: dir).requirements(for: model)
        let root = dir.standardizedFileURL.path
        #expect(req.pythonVersion == "3.11.4")
        #expect(req.pythonVersionSource == root + "/conda.yaml")
        #expect(req.buildDependencies.map(\.text) == ["pip<=23.2.1"])
        #expect(req.origin == "requirements.txt")
        #expect(req.requirements.map(\.text) == ["six==1.16.0", "./wheels/local_pkg-0.1-py3-none-any.whl", "numpy", "pandas"])
        #expect(req.addedEngineRequirements == ["numpy", "pandas"])
        let local = req.requirements[1]
        #expect(local.installText == root + "/wheels/local_pkg-0.1-py3-none-any.whl")
        #expect(local.projectName == "local-pkg")
        #expect(local.contentDigest == SHA256.hex(Array("not really a wheel".utf8)))
    }

    @Test("conda.yaml only, old string env: pip section installed, conda packages noted, python version read")
    func condaForm() throws {
        let dir = try writeModel(env: "my_conda.yaml", files: [
            "my_conda.yaml": """
                name: mlflow-env
                channels: [conda-forge]
                dependencies:
                  - python=3.11.7
                  - pip<=23.2.1
                  - scikit-learn=1.3.0
                  - pip:
                    - mlflow==3.17.2
                    - pandas==3.1.1
                """,
        ])
        let model = try MLModel(directory: dir.path)
        let req = try builder(cache: dir).requirements(for: model)
        #expect(req.pythonVersion == "3.11.7")
        #expect(req.requirements.map(\.text) == ["mlflow==3.17.2", "pandas==3.1.1", "numpy"])
        #expect(req.addedEngineRequirements == ["numpy"])
        #expect(req.origin == "my_conda.yaml (pip section)")
        #expect(req.notes.count == 1)
        #expect(req.notes.first?.contains("scikit-learn=1.3.0") == true)
    }

    @Test("a python_env.yaml asking for another minor version is an error naming both versions")
    func otherMinorVersion() throws {
        // Unquoted 3.10 is a YAML float (3.1); it must still read as "3.10".
        let dir = try writeModel(files: ["python_env.yaml": "python: 3.10\ndependencies: [numpy]\n"])
        let model = try MLModel(directory: dir.path)
        let message = try #require(errorMessage { _ = try builder(cache: dir).requirements(for: model) })
        #expect(message.contains("Python 3.10"))
        #expect(message.contains("Python \(PythonEnvironment.linkedMajorMinor)"))
        #expect(message.contains("python_env.yaml"))
    }

    @Test("no environment files, or a missing -r file, are clear errors")
    func missingFiles() throws {
        let none = try writeModel(env: nil, files: [:])
        let message = try #require(errorMessage { _ = try builder(cache: none).requirements(for: MLModel(directory: none.path)) })
        #expect(message.contains("declares no environment"))

        let dangling = try writeModel(files: ["python_env.yaml": "python: 3.11.2\ndependencies: [-r reqs/extra.txt]\n"])
        let message2 = try #require(errorMessage {
            _ = try builder(cache: dangling).requirements(for: MLModel(directory: dangling.path))
        })
        #expect(message2.contains("reqs/extra.txt"))
        #expect(message2.contains("python_env.yaml, line 2"))
    }

    // MARK: - Hashing

    @Test("SHA-256 matches the standard test vectors and Python's hashlib")
    func sha256() throws {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let python = try TestEnvironment.runPython(
            "import hashlib; print(hashlib.sha256(bytes((i * 7) % 256 for i in range(1000))).hexdigest())")
        #expect(SHA256.hex(long) == python.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("the key is stable, ignores order, case, spacing, comments and location, and changes with versions")
    func keyStability() throws {
        let a = try writeModel(files: ["requirements.txt": "numpy==2.4.6\npandas==3.1.1\nsix==1.16.0\n"])
        let b = try writeModel(files: ["requirements.txt": "# other order\nSix == 1.16.0\n\npandas==3.1.1\nNumPy==2.4.6  # pinned\n"])
        let c = try writeModel(files: ["requirements.txt": "numpy==2.4.6\npandas==3.1.1\nsix==1.17.0\n"])
        let build = builder(cache: a)
        let ra = try build.requirements(for: MLModel(directory: a.path))
        let rb = try build.requirements(for: MLModel(directory: b.path))
        let rc = try build.requirements(for: MLModel(directory: c.path))
        let key = ra.key(interpreterVersion: "3.11.2")
        #expect(key.count == 32)
        #expect(key.allSatisfy { $0.isHexDigit })
        #expect(key == ra.key(interpreterVersion: "3.11.2"))
        #expect(key == rb.key(interpreterVersion: "3.11.2"))
        #expect(key != rc.key(interpreterVersion: "3.11.2"))
        #expect(key != ra.key(interpreterVersion: "3.11.9"))
        // Fixed, so that a change in normalisation (which would orphan every cached environment) is noticed.
        #expect(ra.hashInput(interpreterVersion: "3.11.2") == """
            score-cluster virtualenv 1
            python 3.11.2
            requirement numpy==2.4.6
            requirement pandas==3.1.1
            requirement six==1.16.0

            """)
    }

    @Test("default cache directory: XDG_CACHE_HOME, else ~/.cache")
    func defaultCache() {
        #expect(ModelEnvironmentBuilder.defaultCacheDirectory(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/h"])
                == "/x/cache/score-cluster/envs")
        #expect(ModelEnvironmentBuilder.defaultCacheDirectory(environment: ["HOME": "/h"]) == "/h/.cache/score-cluster/envs")
    }

    // MARK: - Real builds

    @Test("a real environment: two concurrent calls build it once, a third reuses it, its packages are the model's")
    func realBuildConcurrentAndReuse() throws {
        let cache = try TestEnvironment.makeTemporaryDirectory("envcache")
        defer { try? FileManager.default.removeItem(at: cache) }
        // six is not in the project's environment, so seeing 1.16.0 proves the model's environment is used.
        let dir = try writeModel(files: [
            "python_env.yaml": """
                python: 3.11.7
                build_dependencies: [setuptools]
                dependencies: [-r requirements.txt]
                """,
            "requirements.txt": "numpy==2.4.6\npandas==3.1.1\nsix==1.16.0\n",
        ])
        let model = try MLModel(directory: dir.path)
        let log = EnvLogRecorder()
        let build = builder(cache: cache, log: log)

        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var items: [Result<ModelEnvironment, PyFuncError>] = []
        }
        let results = Results()
        let group = DispatchGroup()
        let started = Date()
        for _ in 0..<2 {
            group.enter()
            Thread {
                let result: Result<ModelEnvironment, PyFuncError>
                do throws(PyFuncError) { result = .success(try build.prepare(for: model)) } catch { result = .failure(error) }
                results.lock.withLock { results.items.append(result) }
                group.leave()
            }.start()
        }
        group.wait()
        let elapsed = Date().timeIntervalSince(started)
        let prepared = try results.items.map { try $0.get() }
        #expect(prepared.count == 2)
        #expect(prepared.filter(\.built).count == 1, "exactly one of the two concurrent calls builds")
        #expect(log.count(containing: "virtualenv: building") == 1, "\(log.all)")
        #expect(log.count(containing: "waiting for another process") == 1, "\(log.all)")
        #expect(Set(prepared.map(\.environment.root)).count == 1)
        let root = prepared[0].environment.root
        #expect(root == cache.standardizedFileURL.path + "/" + prepared[0].key)
        print("virtualenv build with numpy, pandas, six: \(String(format: "%.1f", elapsed)) s")

        // The third call reuses without building or locking.
        let third = try build.prepare(for: model)
        #expect(!third.built)
        #expect(third.environment == prepared[0].environment)
        #expect(log.count(containing: "virtualenv: building") == 1)

        // The cache holds the environment, its lock, and nothing else (no temporary directory).
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.path).sorted()
        #expect(entries == [prepared[0].key, prepared[0].key + ".lock"])

        // The environment has the model's versions, and scripts point at its final path.
        let check = try TestEnvironment.run(root + "/bin/python", ["-c", """
            import numpy, pandas, six, sys
            print(numpy.__version__, pandas.__version__, six.__version__, sys.prefix)
            """])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "2.4.6 3.1.1 1.16.0 \(root)")
        let pip = try String(contentsOfFile: root + "/bin/pip", encoding: .utf8)
        #expect(pip.hasPrefix("#!\(root)/bin/python"))
        let pipVersion = try TestEnvironment.run(root + "/bin/pip", ["--version"])
        #expect(pipVersion.status == 0)
        #expect(FileManager.default.fileExists(atPath: root + "/score-cluster/env.json"))
        #expect(FileManager.default.fileExists(atPath: root + "/score-cluster/build.log"))
        let project = try TestEnvironment.run(TestEnvironment.python, ["-c", "import six"])
        #expect(project.status != 0, "the project's environment must not have six, or this test proves nothing")
    }

    @Test("a lock held by another process makes the build wait for it")
    func waitsForAnotherProcess() throws {
        let cache = try TestEnvironment.makeTemporaryDirectory("envcache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let dir = try writeModel(files: ["requirements.txt": "six==1.16.0\n"])
        let model = try MLModel(directory: dir.path)
        let log = EnvLogRecorder()
        let build = builder(cache: cache, engine: [], log: log)
        let key = try build.requirements(for: model).key(interpreterVersion: build.interpreterVersion())

        // util-linux flock(1) holds the same lock file for 2 s in another process.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [cache.path + "/" + key + ".lock", "-c", "touch \(cache.path)/held; sleep 2"]
        try holder.run()
        defer { holder.waitUntilExit() }
        while !FileManager.default.fileExists(atPath: cache.path + "/held") { usleep(10_000) }

        let started = Date()
        let prepared = try build.prepare(for: model)
        #expect(Date().timeIntervalSince(started) >= 1.5)
        #expect(prepared.built)
        #expect(log.count(containing: "waiting for another process") == 1, "\(log.all)")
        let check = try TestEnvironment.run(prepared.environment.programPath, ["-c", "import six; print(six.__version__)"])
        #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1.16.0")
    }

    @Test("a requirement that does not exist: the error shows pip's output and the declaring file, no directory is left")
    func failingRequirement() throws {
        let cache = try TestEnvironment.makeTemporaryDirectory("envcache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let dir = try writeModel(files: [
            "python_env.yaml": "python: 3.11.2\ndependencies: [-r requirements.txt]\n",
            "requirements.txt": "six==1.16.0\nscore-cluster-no-such-package==1.0\n",
        ])
        let model = try MLModel(directory: dir.path)
        let build = builder(cache: cache, engine: [])
        let message = try #require(errorMessage { _ = try build.prepare(for: model) })
        let root = dir.standardizedFileURL.path
        #expect(message.contains("pip could not install the requirements from python_env.yaml (dependencies) → requirements.txt"))
        #expect(message.contains("failing requirement 'score-cluster-no-such-package==1.0' (\(root)/requirements.txt, line 2)"), "\(message)")
        #expect(!message.contains("failing requirement 'six"))
        #expect(message.contains("No matching distribution found for score-cluster-no-such-package==1.0"), "\(message)")
        #expect(message.contains(".failed.log"))

        // No environment directory and no temporary directory: only the lock and the failure log.
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        var isDirectory: ObjCBool = false
        let directories = entries.filter {
            FileManager.default.fileExists(atPath: cache.path + "/" + $0, isDirectory: &isDirectory) && isDirectory.boolValue
        }
        #expect(directories.isEmpty, "\(entries)")
        #expect(entries.contains { $0.hasSuffix(".failed.log") })
    }
}
