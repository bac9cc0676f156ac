import Foundation
import Yams

extension ModelEnvironmentBuilder {
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
    static func loadYAML(_ path: String) throws(PyFuncError) -> Node.Mapping {
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

    static func stringList(_ node: Node?, key: String, file: String) throws(PyFuncError) -> [(String, Int?)] {
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
}
