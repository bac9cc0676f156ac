import Digest
import Foundation
import Yams

// MARK: - Requirements

/// What a model's environment files ask pip to install (docs/spark-udf.md §3.4, §4.3):
/// `python_env.yaml`'s `dependencies` (with `-r requirements.txt` expanded), else
/// `requirements.txt`, else the `pip` section of `conda.yaml`; plus numpy and pandas, which
/// the engine imports, when the model does not name them.
public struct ModelRequirements: Sendable, Equatable {
    /// One requirement or pip option line, with where it was declared.
    public struct Line: Sendable, Equatable, CustomStringConvertible {
        /// The normalised line, e.g. `numpy==2.4.6`, `scikit-learn[all]>=1.0,<2; python_version >= "3.8"`.
        /// Relative paths stay relative, so that the hash does not depend on where the model is.
        public var text: String
        /// What pip is given: `text` with local paths made absolute.
        public var installText: String
        /// The file that declared it (absolute), or "score-cluster" for an added engine requirement.
        public var source: String
        /// The 1-based line in `source`, when known.
        public var lineNumber: Int?
        /// The PEP 503 normalised project name (`scikit-learn`), when the line names one.
        public var projectName: String?
        /// SHA-256 of a local file the line installs (a wheel or sdist shipped with the model).
        public var contentDigest: String?

        public var description: String { text }
        /// "…/requirements.txt, line 3" or the source alone.
        public var location: String { lineNumber.map { "\(source), line \($0)" } ?? source }
        /// The form the environment's hash covers.
        public var hashText: String { contentDigest.map { "\(text) sha256=\($0)" } ?? text }
    }

    /// The model directory the files were read from.
    public var modelDirectory: String
    /// The Python version the environment files ask for (python_env.yaml `python`, or conda.yaml's `python=`).
    public var pythonVersion: String?
    /// The file `pythonVersion` came from.
    public var pythonVersionSource: String?
    /// python_env.yaml's `build_dependencies` (or conda.yaml's pip/setuptools/wheel), installed first.
    public var buildDependencies: [Line]
    /// The requirement and option lines given to `pip install -r`, in declared order, without duplicates.
    public var requirements: [Line]
    /// Lines of constraints files (`-c constraints.txt`), given to pip as a constraints file.
    public var constraints: [Line]
    /// Engine requirements (numpy, pandas) added because the model's files do not name them.
    public var addedEngineRequirements: [String]
    /// The files the requirement lines were read from, in order (python_env.yaml, then the files it includes, …).
    public var files: [String]
    /// Where the requirements come from, for messages: "python_env.yaml (dependencies) → requirements.txt".
    public var origin: String
    /// Things worth telling the user (conda packages that pip does not install, …).
    public var notes: [String]

    /// The text the environment's hash covers: the interpreter version and the sorted, normalised lines.
    public func hashInput(interpreterVersion: String) -> String {
        var lines = ["score-cluster virtualenv 1", "python \(interpreterVersion)"]
        lines += Set(buildDependencies.map(\.hashText)).sorted().map { "build \($0)" }
        lines += Set(requirements.map(\.hashText)).sorted().map { "requirement \($0)" }
        lines += Set(constraints.map(\.hashText)).sorted().map { "constraint \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The environment's directory name: 32 hex digits of the SHA-256 of `hashInput`.
    public func key(interpreterVersion: String) -> String {
        String(SHA256.hex(Array(hashInput(interpreterVersion: interpreterVersion).utf8)).prefix(32))
    }
}

/// An environment ready to use, and how it came to be.
public struct ModelEnvironment: Sendable {
    public var environment: PythonEnvironment
    public var requirements: ModelRequirements
    /// The content address: the directory's name under the cache directory.
    public var key: String
    /// True when this call built it; false when it was already there (or another process built it meanwhile).
    public var built: Bool
}

// MARK: - Builder

/// Builds, once per machine, the virtual environment a model's env files describe, and reuses it.
///
/// Environments are content-addressed: `<cacheDirectory>/<key>`, where the key hashes the
/// interpreter version and the sorted, normalised requirement lines. A build takes an
/// exclusive `flock` on `<cacheDirectory>/<key>.lock`, so concurrent workers and jobs wait
/// for one build and then reuse it. It runs `python -m venv` and `pip install` in a
/// temporary directory next to the final one, and renames it into place only when complete;
/// a failed build leaves no directory, and its error carries the tail of pip's output (the
/// whole log is kept in `<key>.failed.log`).
public struct ModelEnvironmentBuilder: Sendable {
    public var cacheDirectory: String
    /// The interpreter that makes the environments: it must be the minor version the workers embed.
    public var basePython: String
    /// Packages the engine imports, added (unpinned) when the model's files do not name them.
    public var engineRequirements: [String]
    public var log: @Sendable (String) -> Void

    public init(cacheDirectory: String = ModelEnvironmentBuilder.defaultCacheDirectory(),
                basePython: String = "/usr/bin/python\(PythonEnvironment.linkedMajorMinor)",
                engineRequirements: [String] = ["numpy", "pandas"],
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.cacheDirectory = URL(fileURLWithPath: cacheDirectory).standardizedFileURL.path
        self.basePython = basePython
        self.engineRequirements = engineRequirements
        self.log = log
    }

    /// `$XDG_CACHE_HOME/score-cluster/envs`, else `~/.cache/score-cluster/envs`.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return xdg + "/score-cluster/envs"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/score-cluster/envs"
    }

    // MARK: Requirements

    /// The requirements the model's env files declare, plus numpy and pandas when missing.
    /// Throws when the files ask for another minor Python version than the embedded one,
    /// when an included file is missing, or when the model declares no environment at all.
    public func requirements(for model: MLModel) throws(PyFuncError) -> ModelRequirements {
        let dir = model.directory
        let fm = FileManager.default
        let envFiles = model.pyfunc.environmentFiles
        let pythonEnvPath = dir + "/" + (envFiles["virtualenv"] ?? "python_env.yaml")
        let condaPath = dir + "/" + (envFiles["conda"] ?? "conda.yaml")
        let requirementsPath = dir + "/requirements.txt"

        var collector = RequirementCollector(modelDirectory: dir)
        var pythonVersion: String?
        var pythonVersionSource: String?
        var origin: String
        var primary: String
        var notes: [String] = []

        if fm.fileExists(atPath: pythonEnvPath) {
            let env = try Self.parsePythonEnv(pythonEnvPath)
            pythonVersion = env.python
            pythonVersionSource = env.python == nil ? nil : pythonEnvPath
            collector.files.append(pythonEnvPath)
            for (entry, line) in env.buildDependencies {
                try collector.add(entry, source: pythonEnvPath, lineNumber: line, baseDirectory: dir, into: .build)
            }
            for (entry, line) in env.dependencies {
                try collector.add(entry, source: pythonEnvPath, lineNumber: line, baseDirectory: dir, into: .requirements)
            }
            origin = Self.relative(pythonEnvPath, to: dir) + " (dependencies)"
            primary = pythonEnvPath
        } else if fm.fileExists(atPath: requirementsPath) {
            // MLflow's fallback for models without python_env.yaml: conda.yaml's Python, requirements.txt's packages.
            if fm.fileExists(atPath: condaPath) {
                let conda = try Self.parseConda(condaPath)
                pythonVersion = conda.python
                pythonVersionSource = conda.python == nil ? nil : condaPath
                for (entry, line) in conda.buildDependencies {
                    try collector.add(entry, source: condaPath, lineNumber: line, baseDirectory: dir, into: .build)
                }
            }
            try collector.addFile(requirementsPath, into: .requirements, includedFrom: nil)
            origin = "requirements.txt"
            primary = requirementsPath
        } else if fm.fileExists(atPath: condaPath) {
            let conda = try Self.parseConda(condaPath)
            pythonVersion = conda.python
            pythonVersionSource = conda.python == nil ? nil : condaPath
            collector.files.append(condaPath)
            for (entry, line) in conda.buildDependencies {
                try collector.add(entry, source: condaPath, lineNumber: line, baseDirectory: dir, into: .build)
            }
            for (entry, line) in conda.pip {
                try collector.add(entry, source: condaPath, lineNumber: line, baseDirectory: dir, into: .requirements)
            }
            origin = Self.relative(condaPath, to: dir) + " (pip section)"
            primary = condaPath
            if !conda.condaOnly.isEmpty {
                notes.append("""
                    \(condaPath) lists conda packages that a virtualenv does not install: \
                    \(conda.condaOnly.joined(separator: ", ")); only its pip section is installed
                    """)
            }
        } else {
            throw PyFuncError("""
                model \(dir) declares no environment: it has none of \(Self.relative(pythonEnvPath, to: dir)), \
                requirements.txt, \(Self.relative(condaPath, to: dir)), so --env-manager virtualenv cannot know \
                what to install; use --env-manager local with an environment that has the model's packages
                """)
        }

        let included = collector.files.filter { $0 != primary }.map { Self.relative($0, to: dir) }
        if !included.isEmpty { origin += " → " + included.joined(separator: ", ") }

        if let pythonVersion, let pythonVersionSource {
            try Self.checkPythonVersion(pythonVersion, source: pythonVersionSource)
        }

        // The engine imports numpy and pandas in the worker; add them when the model does not name them.
        let named = Set(collector.requirements.compactMap(\.projectName))
        var added: [String] = []
        for engine in engineRequirements where !named.contains(Self.normaliseName(engine)) {
            added.append(engine)
            collector.requirements.append(.init(text: engine, installText: engine,
                                                source: "score-cluster (the engine imports \(engine))",
                                                lineNumber: nil, projectName: Self.normaliseName(engine)))
        }

        return ModelRequirements(modelDirectory: dir, pythonVersion: pythonVersion,
                                 pythonVersionSource: pythonVersionSource,
                                 buildDependencies: collector.build, requirements: collector.requirements,
                                 constraints: collector.constraints, addedEngineRequirements: added,
                                 files: collector.files, origin: origin, notes: notes)
    }

    // MARK: Environments

    /// Builds (once per machine, under a file lock) or reuses the environment for `model`.
    public func environment(for model: MLModel) throws(PyFuncError) -> PythonEnvironment {
        try prepare(for: model).environment
    }

    /// Builds or reuses the environment for `model`, saying whether this call built it.
    public func prepare(for model: MLModel) throws(PyFuncError) -> ModelEnvironment {
        let requirements = try requirements(for: model)
        for note in requirements.notes { log("virtualenv: note: \(note)") }
        let interpreter = try interpreterVersion()
        if let wanted = requirements.pythonVersion, wanted.split(separator: ".").count >= 3, wanted != interpreter {
            log("virtualenv: the model asks for Python \(wanted); building with \(basePython) (\(interpreter)), the same minor version")
        }
        let key = requirements.key(interpreterVersion: interpreter)
        let finalPath = cacheDirectory + "/" + key

        if let ready = try reuse(finalPath, key: key, requirements: requirements) { return ready }

        do {
            try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw PyFuncError("cannot create the environment cache directory \(cacheDirectory): \(error.localizedDescription); pass another with --env-cache")
        }
        let lockPath = finalPath + ".lock"
        let lock = try FileLock(path: lockPath) {
            log("virtualenv: waiting for another process that is building \(finalPath) (lock \(lockPath))")
        }
        defer { lock.unlock() }
        if let ready = try reuse(finalPath, key: key, requirements: requirements) { return ready }

        let fm = FileManager.default
        // Holding the lock, any directory of this key without a marker is a leftover of a build that died.
        if fm.fileExists(atPath: finalPath) {
            log("virtualenv: removing the incomplete environment \(finalPath)")
            try? fm.removeItem(atPath: finalPath)
        }
        let leftoverPrefix = ".building-\(key)-"
        for name in (try? fm.contentsOfDirectory(atPath: cacheDirectory)) ?? [] where name.hasPrefix(leftoverPrefix) {
            try? fm.removeItem(atPath: cacheDirectory + "/" + name)
        }

        let tempPath = cacheDirectory + "/" + leftoverPrefix + "\(getpid())-" + String(UInt32.random(in: 0 ... .max), radix: 16)
        let failedLog = finalPath + ".failed.log"
        let started = Date()
        log("""
            virtualenv: building \(finalPath) with \(basePython) (\(interpreter)) for \(model.directory): \
            \(requirements.requirements.count) requirement line(s) from \(requirements.origin); \
            this happens once per machine
            """)
        var transcript = BuildTranscript()
        do {
            try build(requirements, at: tempPath, finalPath: finalPath, key: key, interpreter: interpreter,
                      transcript: &transcript)
        } catch {
            try? fm.removeItem(atPath: tempPath)
            try? transcript.text.write(toFile: failedLog, atomically: true, encoding: .utf8)
            var message = error.message
            if fm.fileExists(atPath: failedLog) { message += "\nfull log: \(failedLog)" }
            throw PyFuncError(message)
        }
        guard rename(tempPath, finalPath) == 0 else {
            let why = String(cString: strerror(errno))
            try? fm.removeItem(atPath: tempPath)
            throw PyFuncError("cannot move the built environment \(tempPath) to \(finalPath): \(why)")
        }
        try? fm.removeItem(atPath: failedLog)
        let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
        log("virtualenv: environment ready: \(finalPath) (built in \(seconds) s)")
        return ModelEnvironment(environment: try PythonEnvironment(path: finalPath), requirements: requirements,
                                key: key, built: true)
    }

    /// The base interpreter's full version ("3.11.2"); throws unless it is the embedded minor version.
    public func interpreterVersion() throws(PyFuncError) -> String {
        guard FileManager.default.isExecutableFile(atPath: basePython) else {
            throw PyFuncError("""
                cannot build model environments: the interpreter \(basePython) does not exist; install Debian's \
                python\(PythonEnvironment.linkedMajorMinor) and python\(PythonEnvironment.linkedMajorMinor)-venv \
                (scripts/setup.sh does)
                """)
        }
        let result = Self.run(basePython, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                              directory: "/")
        let version = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, !version.isEmpty else {
            throw PyFuncError("cannot run \(basePython) to learn its version: \(result.output)")
        }
        let minor = version.split(separator: ".").prefix(2).joined(separator: ".")
        guard minor == PythonEnvironment.linkedMajorMinor else {
            throw PyFuncError("""
                \(basePython) is Python \(version), but score-cluster embeds Python \(PythonEnvironment.linkedMajorMinor); \
                environments must be built with python\(PythonEnvironment.linkedMajorMinor)
                """)
        }
        return version
    }

    // MARK: - Building

    /// The marker written last into a complete environment (before the rename that publishes it).
    static let markerPath = "score-cluster/env.json"

    private func reuse(_ finalPath: String, key: String, requirements: ModelRequirements) throws(PyFuncError) -> ModelEnvironment? {
        guard FileManager.default.fileExists(atPath: finalPath + "/" + Self.markerPath) else { return nil }
        log("virtualenv: using the environment \(finalPath)")
        return ModelEnvironment(environment: try PythonEnvironment(path: finalPath), requirements: requirements,
                                key: key, built: false)
    }

    private func build(_ requirements: ModelRequirements, at temp: String, finalPath: String, key: String,
                       interpreter: String, transcript: inout BuildTranscript) throws(PyFuncError) {
        let fm = FileManager.default
        let python = temp + "/bin/python"
        let pipInstall = ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]

        // 1. The virtual environment itself.
        let venv = transcript.run(basePython, ["-m", "venv", temp], directory: cacheDirectory)
        guard venv.status == 0 else {
            var hint = ""
            if venv.output.contains("ensurepip") {
                hint = "; install Debian's python\(PythonEnvironment.linkedMajorMinor)-venv (scripts/setup.sh does)"
            }
            throw PyFuncError("""
                cannot build the virtualenv for model \(requirements.modelDirectory): \(basePython) -m venv failed \
                (exit status \(venv.status))\(hint)
                \(Self.tail(venv.output))
                """)
        }

        // 2. Build dependencies (pip, setuptools, wheel pins), as MLflow installs them first.
        if !requirements.buildDependencies.isEmpty {
            let lines = requirements.buildDependencies
            log("virtualenv: installing build dependencies: \(lines.map(\.text).joined(separator: " "))")
            let result = transcript.run(python, pipInstall + lines.map(\.installText), directory: temp)
            guard result.status == 0 else {
                throw pipFailure(result, lines: lines, what: "the build dependencies from \(Self.sources(of: lines))",
                                 requirements: requirements)
            }
        }

        // 3. The requirements, from a file that notes where each line came from.
        let metaDir = temp + "/score-cluster"
        do { try fm.createDirectory(atPath: metaDir, withIntermediateDirectories: true) } catch {
            throw PyFuncError("cannot create \(metaDir): \(error.localizedDescription)")
        }
        var file = "# Requirements of \(requirements.modelDirectory), from \(requirements.origin)\n"
        if !requirements.constraints.isEmpty {
            let constraints = requirements.constraints.map { "\($0.installText)  # \($0.location)" }.joined(separator: "\n") + "\n"
            try Self.write(constraints, to: metaDir + "/constraints.txt")
            file += "-c \(metaDir)/constraints.txt\n"
        }
        file += requirements.requirements.map { "\($0.installText)  # \($0.location)" }.joined(separator: "\n") + "\n"
        let requirementsFile = metaDir + "/requirements.txt"
        try Self.write(file, to: requirementsFile)
        log("virtualenv: pip install: \(requirements.requirements.count) requirement line(s)"
            + (requirements.constraints.isEmpty ? "" : ", \(requirements.constraints.count) constraint(s)"))
        let install = transcript.run(python, pipInstall + ["-r", requirementsFile], directory: temp)
        guard install.status == 0 else {
            throw pipFailure(install, lines: requirements.requirements + requirements.constraints,
                             what: "the requirements from \(requirements.origin)", requirements: requirements)
        }

        // 4. What the worker imports must import.
        if !engineRequirements.isEmpty {
            let check = transcript.run(python, ["-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"]
                                        + engineRequirements, directory: temp)
            guard check.status == 0 else {
                throw PyFuncError("""
                    the virtualenv for model \(requirements.modelDirectory) installed, but \
                    \(engineRequirements.joined(separator: ", ")) do not import in it:
                    \(Self.tail(check.output))
                    """)
            }
        }

        // 5. venv and pip wrote the temporary path into scripts; point them at the final one.
        relocate(temp, to: finalPath)

        // 6. The marker, last: its presence in the final directory means complete.
        let marker: [String: Any] = [
            "key": key,
            "python": interpreter,
            "base_python": basePython,
            "model": requirements.modelDirectory,
            "origin": requirements.origin,
            "files": requirements.files,
            "hash_input": requirements.hashInput(interpreterVersion: interpreter),
            "built": ISO8601DateFormatter().string(from: Date()),
        ]
        try? transcript.text.write(toFile: metaDir + "/build.log", atomically: true, encoding: .utf8)
        guard let json = try? JSONSerialization.data(withJSONObject: marker, options: [.prettyPrinted, .sortedKeys]),
              (try? json.write(to: URL(fileURLWithPath: temp + "/" + Self.markerPath))) != nil else {
            throw PyFuncError("cannot write \(temp)/\(Self.markerPath)")
        }
    }

    /// An error for a failed `pip install`: the requirement(s) pip names, where each was declared, and pip's output tail.
    private func pipFailure(_ result: ProcessResult, lines: [ModelRequirements.Line], what: String,
                            requirements: ModelRequirements) -> PyFuncError {
        let culprits = Self.culprits(in: result.output, among: lines)
        var message = "cannot build the virtualenv for model \(requirements.modelDirectory): pip could not install \(what) (exit status \(result.status))"
        for line in culprits {
            message += "\n  failing requirement '\(line.text)' (\(line.location))"
        }
        message += "\npip's output (last lines):\n" + Self.tail(result.output)
        return PyFuncError(message)
    }

    /// The declared lines that pip's error lines mention: their full text first, else their project name.
    static func culprits(in output: String, among lines: [ModelRequirements.Line]) -> [ModelRequirements.Line] {
        let errorText = output.split(separator: "\n")
            .filter { $0.localizedCaseInsensitiveContains("error") || $0.contains("Cannot install") || $0.contains("conflict") }
            .joined(separator: "\n").lowercased()
        guard !errorText.isEmpty else { return [] }
        let byText = lines.filter { line in
            let spec = line.installText.split(separator: ";").first.map(String.init) ?? line.installText
            return containsWord(errorText, spec.trimmingCharacters(in: .whitespaces).lowercased())
        }
        if !byText.isEmpty { return byText }
        return lines.filter { line in
            guard let name = line.projectName else { return false }
            return containsWord(errorText.replacingOccurrences(of: "_", with: "-"), name)
        }
    }

    private static func containsWord(_ text: String, _ word: String) -> Bool {
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: word, range: searchRange) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            let isNameChar: (Character?) -> Bool = { c in c.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." } ?? false }
            if !isNameChar(before) && !isNameChar(after) { return true }
            searchRange = found.upperBound..<text.endIndex
        }
        return false
    }

    /// Rewrites the temporary path in the environment's scripts (`bin/pip` shebangs, `activate`)
    /// and `pyvenv.cfg` to the final path, so the renamed environment is consistent.
    private func relocate(_ temp: String, to finalPath: String) {
        let fm = FileManager.default
        let bin = temp + "/bin"
        var files = ((try? fm.contentsOfDirectory(atPath: bin)) ?? []).map { bin + "/" + $0 }
        files.append(temp + "/pyvenv.cfg")
        for path in files {
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  let size = attributes[.size] as? Int, size < 1 << 20,
                  let data = fm.contents(atPath: path),
                  let text = String(data: data, encoding: .utf8), text.contains(temp) else { continue }
            let fixed = text.replacingOccurrences(of: temp, with: finalPath)
            try? fixed.write(toFile: path, atomically: false, encoding: .utf8)
        }
    }

    // MARK: - Env file parsing

    struct PythonEnvFile {
        var python: String?
        var buildDependencies: [(String, Int?)] = []
        var dependencies: [(String, Int?)] = []
    }

    struct CondaFile {
        var python: String?
        var buildDependencies: [(String, Int?)] = []
        var pip: [(String, Int?)] = []
        var condaOnly: [String] = []
    }

    /// Loads a YAML file as nodes, so that scalars keep their text (`python: 3.10` stays "3.10").
    private static func loadYAML(_ path: String) throws(PyFuncError) -> Node.Mapping {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PyFuncError("cannot read \(path)")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw PyFuncError("cannot parse \(path) as YAML: \(error)")
        }
        guard let node else { return Node.Mapping([]) }
        guard let mapping = node.mapping else { throw PyFuncError("\(path) is not a YAML mapping") }
        return mapping
    }

    private static func stringList(_ node: Node?, key: String, file: String) throws(PyFuncError) -> [(String, Int?)] {
        guard let node, node.null == nil else { return [] }
        guard let sequence = node.sequence else {
            throw PyFuncError("\(file): '\(key)' must be a list of requirement strings")
        }
        var entries: [(String, Int?)] = []
        for item in sequence {
            guard let scalar = item.scalar else {
                throw PyFuncError("\(file): '\(key)' must be a list of requirement strings, found \(item.any)")
            }
            entries.append((scalar.string, item.mark?.line))
        }
        return entries
    }

    static func parsePythonEnv(_ path: String) throws(PyFuncError) -> PythonEnvFile {
        let map = try loadYAML(path)
        var file = PythonEnvFile()
        file.python = map["python"]?.scalar?.string.trimmingCharacters(in: .whitespaces)
        if file.python?.isEmpty == true { file.python = nil }
        file.buildDependencies = try stringList(map["build_dependencies"], key: "build_dependencies", file: path)
        file.dependencies = try stringList(map["dependencies"], key: "dependencies", file: path)
        return file
    }

    static func parseConda(_ path: String) throws(PyFuncError) -> CondaFile {
        let map = try loadYAML(path)
        var file = CondaFile()
        guard let deps = map["dependencies"], deps.null == nil else { return file }
        guard let sequence = deps.sequence else { throw PyFuncError("\(path): 'dependencies' must be a list") }
        for item in sequence {
            if let pipNode = item.mapping?["pip"] {
                file.pip += try stringList(pipNode, key: "pip", file: path)
                continue
            }
            guard let entry = item.scalar?.string.trimmingCharacters(in: .whitespaces), !entry.isEmpty else { continue }
            // A conda match spec: name, then an optional version ("python=3.11.7", "pip<=23.2.1", "wheel").
            let nameEnd = entry.firstIndex { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") } ?? entry.endIndex
            let name = String(entry[..<nameEnd]).lowercased()
            let spec = entry[nameEnd...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "python":
                if spec.hasPrefix("==") { file.python = String(spec.dropFirst(2)) }
                else if spec.hasPrefix("=") { file.python = String(spec.dropFirst()) }
                file.python = file.python?.trimmingCharacters(in: .whitespaces)
                // conda's "3.11.*" form.
                if let v = file.python, v.hasSuffix(".*") { file.python = String(v.dropLast(2)) }
            case "pip", "setuptools", "wheel":
                // conda's "=" means "==" in pip when the version is complete.
                var pipSpec = spec
                if spec.hasPrefix("=") && !spec.hasPrefix("==") { pipSpec = "=" + spec }
                file.buildDependencies.append((name + pipSpec, item.mark?.line))
            default:
                file.condaOnly.append(entry)
            }
        }
        return file
    }

    /// A different minor version is an error; the caller logs a different patch level.
    static func checkPythonVersion(_ version: String, source: String) throws(PyFuncError) {
        let parts = version.split(separator: ".")
        guard parts.count >= 2, Int(parts[0]) != nil, Int(parts[1]) != nil else { return }
        let minor = parts.prefix(2).joined(separator: ".")
        let linked = PythonEnvironment.linkedMajorMinor
        guard minor == linked else {
            throw PyFuncError("""
                the model asks for Python \(version) (\(source)), but score-cluster embeds Python \(linked) \
                (libpython\(linked)) and builds environments with python\(linked): a Python \(minor) environment \
                cannot be loaded. Save the model with Python \(linked), or use --env-manager local with a \
                Python \(linked) environment that has the model's packages
                """)
        }
    }

    // MARK: - Helpers

    /// PEP 503: lowercase, runs of -, _ and . become one -.
    static func normaliseName(_ name: String) -> String {
        var out = ""
        var lastWasSeparator = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastWasSeparator { out.append("-") }
                lastWasSeparator = true
            } else {
                out.append(c)
                lastWasSeparator = false
            }
        }
        return out
    }

    static func relative(_ path: String, to dir: String) -> String {
        path.hasPrefix(dir + "/") ? String(path.dropFirst(dir.count + 1)) : path
    }

    private static func sources(of lines: [ModelRequirements.Line]) -> String {
        var seen: [String] = []
        for line in lines where !seen.contains(line.source) { seen.append(line.source) }
        return seen.joined(separator: ", ")
    }

    static func tail(_ output: String, lines count: Int = 30) -> String {
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
        let shown = lines.suffix(count).map { "    " + $0 }
        return (lines.count > count ? ["    …"] + shown : shown).joined(separator: "\n")
    }

    private static func write(_ text: String, to path: String) throws(PyFuncError) {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw PyFuncError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    struct ProcessResult {
        var status: Int32
        var output: String
    }

    /// Every command of a build and its output, for the build log.
    struct BuildTranscript {
        var text = ""
        mutating func run(_ executable: String, _ arguments: [String], directory: String) -> ProcessResult {
            text += "$ \(([executable] + arguments).joined(separator: " "))\n"
            let result = ModelEnvironmentBuilder.run(executable, arguments, directory: directory)
            text += result.output
            if !result.output.hasSuffix("\n") && !result.output.isEmpty { text += "\n" }
            text += "[exit status \(result.status)]\n"
            return result
        }
    }

    /// The environment for venv and pip: the caller's, without what would redirect Python or pip elsewhere.
    static var childEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__",
                    "PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_REQUIRE_VIRTUALENV", "PIP_EDITABLE"] {
            env[key] = nil
        }
        env["PIP_NO_INPUT"] = "1"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PYTHONNOUSERSITE"] = "1"
        return env
    }

    /// Runs a process to completion with stdout and stderr captured together.
    static func run(_ executable: String, _ arguments: [String], directory: String) -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = childEnvironment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            return ProcessResult(status: -1, output: "cannot run \(executable): \(error.localizedDescription)")
        }
        // Our copy of the write end must close, or reading would never see end-of-file.
        try? pipe.fileHandleForWriting.close()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}

// MARK: - Requirement files

/// Reads requirement lines from YAML entries and requirements files, expanding `-r` and `-c`.
struct RequirementCollector {
    enum Target { case build, requirements, constraints }

    let modelDirectory: String
    var build: [ModelRequirements.Line] = []
    var requirements: [ModelRequirements.Line] = []
    var constraints: [ModelRequirements.Line] = []
    var files: [String] = []
    private var including: [String] = []

    init(modelDirectory: String) { self.modelDirectory = modelDirectory }

    /// Reads a requirements file: continuation lines joined, comments and blank lines dropped.
    mutating func addFile(_ path: String, into target: Target, includedFrom: String?) throws(PyFuncError) {
        let path = URL(fileURLWithPath: path).standardizedFileURL.path
        guard !including.contains(path) else {
            throw PyFuncError("\(path) includes itself (through \(including.joined(separator: " → ")))")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            let from = includedFrom.map { ", which \($0) includes," } ?? ""
            throw PyFuncError("the model's requirements file \(path)\(from) does not exist or cannot be read")
        }
        if !files.contains(path) { files.append(path) }
        including.append(path)
        defer { including.removeLast() }
        let baseDirectory = (path as NSString).deletingLastPathComponent
        var pending = ""
        var pendingLine = 0
        let physical = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in physical.enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if pending.isEmpty { pendingLine = index + 1 }
            if line.hasSuffix("\\") {
                pending += String(line.dropLast())
                continue
            }
            pending += line
            try add(pending, source: path, lineNumber: pendingLine, baseDirectory: baseDirectory, into: target)
            pending = ""
        }
        if !pending.isEmpty {
            try add(pending, source: path, lineNumber: pendingLine, baseDirectory: baseDirectory, into: target)
        }
    }

    /// Adds one entry (a YAML list item or a requirements file line).
    mutating func add(_ raw: String, source: String, lineNumber: Int?, baseDirectory: String,
                      into target: Target) throws(PyFuncError) {
        let entry = Self.collapse(Self.stripComment(raw))
        guard !entry.isEmpty else { return }
        let location = lineNumber.map { "\(source), line \($0)" } ?? source

        if entry.hasPrefix("-") {
            let (option, value) = Self.splitOption(entry)
            switch option {
            case "-r", "--requirement":
                guard !value.isEmpty else { throw PyFuncError("\(location): '\(entry)' names no file") }
                try addFile(resolve(value, against: baseDirectory), into: target, includedFrom: location)
                return
            case "-c", "--constraint":
                guard !value.isEmpty else { throw PyFuncError("\(location): '\(entry)' names no file") }
                try addFile(resolve(value, against: baseDirectory), into: .constraints, includedFrom: location)
                return
            case "-e", "--editable", "-f", "--find-links":
                let short = option.count == 2 ? option : (option == "--editable" ? "-e" : "-f")
                var line = ModelRequirements.Line(text: "\(short) \(value)", installText: "\(short) \(value)",
                                                  source: source, lineNumber: lineNumber)
                if Self.isLocalPath(value) {
                    line.installText = "\(short) \(resolve(value, against: baseDirectory))"
                }
                line.projectName = Self.eggName(value)
                append(line, to: target)
            default:
                append(.init(text: entry, installText: entry, source: source, lineNumber: lineNumber), to: target)
            }
            return
        }
        append(parseRequirement(entry, source: source, lineNumber: lineNumber, baseDirectory: baseDirectory), to: target)
    }

    private mutating func append(_ line: ModelRequirements.Line, to target: Target) {
        switch target {
        case .build: if !build.contains(where: { $0.hashText == line.hashText }) { build.append(line) }
        case .requirements: if !requirements.contains(where: { $0.hashText == line.hashText }) { requirements.append(line) }
        case .constraints: if !constraints.contains(where: { $0.hashText == line.hashText }) { constraints.append(line) }
        }
    }

    /// A PEP 508 requirement, a URL or a local archive/directory, normalised.
    func parseRequirement(_ entry: String, source: String, lineNumber: Int?, baseDirectory: String) -> ModelRequirements.Line {
        var specPart = entry
        var marker: String?
        if let semicolon = entry.firstIndex(of: ";") {
            specPart = entry[..<semicolon].trimmingCharacters(in: .whitespaces)
            let m = Self.collapse(String(entry[entry.index(after: semicolon)...]))
            marker = m.isEmpty ? nil : m
        }
        let withMarker: (String) -> String = { base in marker.map { "\(base); \($0)" } ?? base }

        // A URL or a path, without a "name @" prefix.
        if !Self.isNameAtURL(specPart) && (Self.isURL(specPart) || Self.isLocalPath(specPart)) {
            var line = ModelRequirements.Line(text: withMarker(specPart), installText: withMarker(specPart),
                                              source: source, lineNumber: lineNumber)
            line.projectName = Self.eggName(specPart) ?? Self.archiveName(specPart)
            if Self.isLocalPath(specPart) {
                var pathPart = specPart
                var fragment = ""
                if let hash = specPart.firstIndex(of: "#") {
                    pathPart = String(specPart[..<hash])
                    fragment = String(specPart[hash...])
                }
                let path = resolve(pathPart, against: baseDirectory)
                line.installText = withMarker(path + fragment)
                line.contentDigest = Self.fileDigest(path)
            }
            return line
        }

        // name [extras] (specifiers | @ url)
        let nameEnd = specPart.firstIndex { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") } ?? specPart.endIndex
        let rawName = String(specPart[..<nameEnd])
        guard !rawName.isEmpty else {
            return .init(text: entry, installText: entry, source: source, lineNumber: lineNumber)
        }
        let name = ModelEnvironmentBuilder.normaliseName(rawName)
        var rest = specPart[nameEnd...].trimmingCharacters(in: .whitespaces)
        var extras = ""
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            let list = rest[rest.index(after: rest.startIndex)..<close].split(separator: ",")
                .map { ModelEnvironmentBuilder.normaliseName($0.trimmingCharacters(in: .whitespaces)) }
                .filter { !$0.isEmpty }
            if !list.isEmpty { extras = "[" + Set(list).sorted().joined(separator: ",") + "]" }
            rest = rest[rest.index(after: close)...].trimmingCharacters(in: .whitespaces)
        }
        var text: String
        if rest.hasPrefix("@") {
            let url = rest.dropFirst().trimmingCharacters(in: .whitespaces)
            text = "\(name)\(extras) @ \(url)"
        } else {
            var spec = rest.filter { !$0.isWhitespace }
            if spec.hasPrefix("(") && spec.hasSuffix(")") { spec = String(spec.dropFirst().dropLast()) }
            let specifiers = spec.split(separator: ",").map(String.init).sorted()
            text = name + extras + specifiers.joined(separator: ",")
        }
        text = withMarker(text)
        return .init(text: text, installText: text, source: source, lineNumber: lineNumber, projectName: name)
    }

    private func resolve(_ path: String, against baseDirectory: String) -> String {
        if Self.isURL(path) { return path }
        var path = path
        if path.hasPrefix("file:") { path = String(path.dropFirst(5)) }
        if path.hasPrefix("~") { path = (path as NSString).expandingTildeInPath }
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
        // pip reads -r and -f relative to the including file; MLflow runs pip from the model directory.
        let first = URL(fileURLWithPath: baseDirectory + "/" + path).standardizedFileURL.path
        if FileManager.default.fileExists(atPath: first) { return first }
        return URL(fileURLWithPath: modelDirectory + "/" + path).standardizedFileURL.path
    }

    // MARK: Lexical helpers

    /// pip's comment rule: `#` at the start of a line or after whitespace.
    static func stripComment(_ line: String) -> String {
        var previous: Character = " "
        for index in line.indices {
            let c = line[index]
            if c == "#" && previous.isWhitespace { return String(line[..<index]) }
            previous = c
        }
        return line
    }

    static func collapse(_ text: String) -> String {
        text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// "-r file", "-rfile", "--requirement=file", "--requirement file" → (option, value).
    static func splitOption(_ entry: String) -> (String, String) {
        if entry.hasPrefix("--") {
            let end = entry.firstIndex { $0 == "=" || $0 == " " } ?? entry.endIndex
            let value = end == entry.endIndex ? "" : entry[entry.index(after: end)...].trimmingCharacters(in: .whitespaces)
            return (String(entry[..<end]), value)
        }
        let option = String(entry.prefix(2))
        return (option, entry.dropFirst(2).trimmingCharacters(in: .whitespaces))
    }

    /// "name @ url" and "name[extras] @ url" (PEP 508 direct references).
    static func isNameAtURL(_ value: String) -> Bool {
        guard let at = value.firstIndex(of: "@") else { return false }
        var head = value[..<at].trimmingCharacters(in: .whitespaces)
        if head.hasSuffix("]"), let open = head.firstIndex(of: "[") { head = String(head[..<open]) }
        return !head.isEmpty && head.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
    }

    static func isURL(_ value: String) -> Bool {
        value.contains("://") && !value.hasPrefix("file:")
            || ["git+", "hg+", "svn+", "bzr+"].contains { value.hasPrefix($0) }
    }

    static func isLocalPath(_ value: String) -> Bool {
        if isURL(value) { return false }
        if value.hasPrefix("file:") || value.hasPrefix(".") || value.hasPrefix("/") || value.hasPrefix("~") { return true }
        let path = value.split(separator: "#").first.map(String.init) ?? value
        if path.contains("/") { return true }
        return [".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"].contains { path.hasSuffix($0) }
    }

    static func eggName(_ value: String) -> String? {
        guard let range = value.range(of: "#egg=") else { return nil }
        let name = value[range.upperBound...].prefix { $0 != "&" && $0 != " " }
        return name.isEmpty ? nil : ModelEnvironmentBuilder.normaliseName(String(name))
    }

    /// `dist/foo_bar-1.0-py3-none-any.whl` → foo-bar; `foo-1.0.tar.gz` → foo.
    static func archiveName(_ value: String) -> String? {
        let file = (value.split(separator: "#").first.map(String.init) ?? value).split(separator: "/").last.map(String.init) ?? ""
        if file.hasSuffix(".whl") {
            return file.split(separator: "-").first.map { ModelEnvironmentBuilder.normaliseName(String($0)) }
        }
        for suffix in [".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"] where file.hasSuffix(suffix) {
            let stem = file.dropLast(suffix.count)
            guard let dash = stem.lastIndex(of: "-") else { return nil }
            return ModelEnvironmentBuilder.normaliseName(String(stem[..<dash]))
        }
        return nil
    }

    static func fileDigest(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = FileManager.default.contents(atPath: path) else { return nil }
        return SHA256.hex([UInt8](data))
    }
}
