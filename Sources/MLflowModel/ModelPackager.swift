import Foundation
import Yams

/// Writes pyfunc model directories: the seed API's `save_model` and `add_to_model`.
///
/// `save` copies the model's data, code and conda environment into a new directory and writes
/// its `MLmodel`; `addFlavor` adds (or replaces) the `python_function` flavor of an existing
/// directory, keeping every other flavor and top-level key of its `MLmodel`. Both write the
/// flavor as MLflow does (docs/spark-udf.md §3.2): `loader_module`, `code`, `data`, `env`
/// (`{conda: …, virtualenv: …}`, MLflow 2's form) and `python_version`, keys sorted, paths
/// relative to the model directory. MLflow itself can load what they write.
public enum ModelPackager {
    /// The arguments of `save` (the seed's `save_model(dst_path, loader_module, data_path, code_path, conda_env)`).
    public struct SaveRequest: Sendable {
        /// The new model directory; it must not exist.
        public var destination: String
        /// The module whose `_load_pyfunc(path)` (or `load_pyfunc(path)`) loads the model.
        public var loaderModule: String
        /// A file or directory copied to `data/<name>`; the loader gets its path.
        public var dataPath: String?
        /// Files or directories copied to `code/<name>`; `code/` goes first on `sys.path` before the import.
        public var codePaths: [String]
        /// A conda environment file copied to `conda.yaml`.
        public var condaEnvironment: String?
        /// The `python_version` to record (default: the embedded interpreter's).
        public var pythonVersion: String?

        public init(destination: String, loaderModule: String, dataPath: String? = nil, codePaths: [String] = [],
                    condaEnvironment: String? = nil, pythonVersion: String? = nil) {
            self.destination = destination
            self.loaderModule = loaderModule
            self.dataPath = dataPath
            self.codePaths = codePaths
            self.condaEnvironment = condaEnvironment
            self.pythonVersion = pythonVersion
        }
    }

    /// The arguments of `addFlavor` (the seed's `add_to_model(model, loader_module, data, code, env)`).
    public struct FlavorRequest: Sendable {
        /// The existing model directory.
        public var directory: String
        public var loaderModule: String
        /// Paths inside `directory`: relative to it, or absolute and inside it.
        public var data: String?
        public var code: String?
        /// Environment files inside `directory`; each is recorded as `conda` or `virtualenv` by its content.
        public var environmentFiles: [String]
        /// The `python_version` to record (default: the embedded interpreter's).
        public var pythonVersion: String?

        public init(directory: String, loaderModule: String, data: String? = nil, code: String? = nil,
                    environmentFiles: [String] = [], pythonVersion: String? = nil) {
            self.directory = directory
            self.loaderModule = loaderModule
            self.data = data
            self.code = code
            self.environmentFiles = environmentFiles
            self.pythonVersion = pythonVersion
        }
    }

    /// What was written.
    public struct Written: Sendable {
        /// The model directory, absolute.
        public var directory: String
        /// The `MLmodel` text written.
        public var mlmodel: String
        /// Whether an existing `python_function` flavor was replaced (`addFlavor` only).
        public var replacedFlavor: Bool
        /// The flavors the MLmodel now declares, sorted.
        public var flavors: [String]
    }

    // MARK: - save

    /// Creates the model directory `request.destination` with its data, code, conda environment and `MLmodel`.
    ///
    /// The directory is assembled next to the destination and renamed into place last, so a
    /// failure leaves nothing behind.
    ///
    /// - Returns: The directory and the MLmodel written.
    /// - Throws: `PyFuncError` when the destination exists, an input is missing, or a copy fails.
    public static func save(_ request: SaveRequest) throws(PyFuncError) -> Written {
        try validate(loaderModule: request.loaderModule)
        let fm = FileManager.default
        let destination = absolute(request.destination)
        guard !fm.fileExists(atPath: destination) else {
            throw PyFuncError("""
                '\(destination)' already exists; choose a new directory (use `score-cluster model add-flavor` \
                to add the python_function flavor to an existing model directory)
                """)
        }
        var sources: [(label: String, path: String)] = []
        if let data = request.dataPath { sources.append(("--data", absolute(data))) }
        sources += request.codePaths.map { ("--code", absolute($0)) }
        if let env = request.condaEnvironment { sources.append(("--conda-env", absolute(env))) }
        for source in sources where !fm.fileExists(atPath: source.path) {
            throw PyFuncError("\(source.label) \(source.path) does not exist")
        }
        if let env = request.condaEnvironment, isDirectory(absolute(env)) {
            throw PyFuncError("--conda-env \(absolute(env)) is a directory; pass the conda environment file (conda.yaml)")
        }
        let codeNames = request.codePaths.map { URL(fileURLWithPath: absolute($0)).lastPathComponent }
        if let clash = Dictionary(grouping: codeNames, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw PyFuncError("two --code paths are named '\(clash)'; both would be copied to code/\(clash)")
        }

        let parent = URL(fileURLWithPath: destination).deletingLastPathComponent().path
        do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw PyFuncError("cannot create \(parent): \(error.localizedDescription)")
        }
        let staging = parent + "/.\(URL(fileURLWithPath: destination).lastPathComponent).partial-\(UUID().uuidString.prefix(8))"
        var data: String?, code: String?, env: [(String, String)] = []
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: false)
            if let source = request.dataPath {
                data = "data/" + URL(fileURLWithPath: absolute(source)).lastPathComponent
                try fm.createDirectory(atPath: staging + "/data", withIntermediateDirectories: false)
                try fm.copyItem(atPath: absolute(source), toPath: staging + "/" + data!)
            }
            if !request.codePaths.isEmpty {
                code = "code"
                try fm.createDirectory(atPath: staging + "/code", withIntermediateDirectories: false)
                for (source, name) in zip(request.codePaths, codeNames) {
                    try fm.copyItem(atPath: absolute(source), toPath: staging + "/code/" + name)
                }
            }
            if let source = request.condaEnvironment {
                try fm.copyItem(atPath: absolute(source), toPath: staging + "/conda.yaml")
                env = [("conda", "conda.yaml")]
            }
        } catch {
            try? fm.removeItem(atPath: staging)
            throw PyFuncError("cannot assemble the model in \(staging): \(error.localizedDescription)")
        }
        let flavor = flavorNode(loaderModule: request.loaderModule, code: code, data: data, env: env,
                                pythonVersion: request.pythonVersion ?? EmbeddedPython.majorMinor)
        let text: String
        do {
            text = try serialize(.mapping(newRoot(flavors: Node.Mapping([(Node("python_function"), flavor)]))))
            try text.write(toFile: staging + "/MLmodel", atomically: true, encoding: .utf8)
            try fm.moveItem(atPath: staging, toPath: destination)
        } catch {
            try? fm.removeItem(atPath: staging)
            throw PyFuncError("cannot write the model to \(destination): \(error.localizedDescription)")
        }
        return Written(directory: destination, mlmodel: text, replacedFlavor: false, flavors: ["python_function"])
    }

    // MARK: - add-flavor

    /// Adds the `python_function` flavor to the model directory `request.directory`, replacing
    /// one it already has; other flavors and top-level keys of an existing `MLmodel` are kept as
    /// they are. A directory without an `MLmodel` gets a new one.
    ///
    /// - Returns: The directory, the MLmodel written, and whether a flavor was replaced.
    /// - Throws: `PyFuncError` when the directory or a named path does not exist, a path lies
    ///   outside the directory, or the existing MLmodel is not a YAML mapping.
    public static func addFlavor(_ request: FlavorRequest) throws(PyFuncError) -> Written {
        try validate(loaderModule: request.loaderModule)
        let directory = absolute(request.directory)
        guard isDirectory(directory) else {
            throw PyFuncError("the model directory \(directory) does not exist (or is not a directory)")
        }
        let data = try request.data.map { (path) throws(PyFuncError) in try relative(path, in: directory, option: "--data") }
        let code = try request.code.map { (path) throws(PyFuncError) in try relative(path, in: directory, option: "--code") }
        if let code, !isDirectory(directory + "/" + code) {
            throw PyFuncError("--code \(code) is a file; code must be a directory inside the model (it is put on sys.path)")
        }
        var env: [(String, String)] = []
        for file in request.environmentFiles {
            let path = try relative(file, in: directory, option: "--env")
            let kind = environmentKind(of: directory + "/" + path)
            if env.contains(where: { $0.0 == kind }) {
                throw PyFuncError("two --env files are \(kind) environments; pass at most one conda.yaml and one python_env.yaml")
            }
            env.append((kind, path))
        }
        let flavor = flavorNode(loaderModule: request.loaderModule, code: code, data: data, env: env,
                                pythonVersion: request.pythonVersion ?? EmbeddedPython.majorMinor)

        let file = directory + "/MLmodel"
        var root: Node.Mapping
        var replaced = false
        if FileManager.default.fileExists(atPath: file) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw PyFuncError("cannot read \(file)") }
            let node: Node?
            do { node = try Yams.compose(yaml: text) } catch { throw PyFuncError("cannot parse \(file) as YAML: \(error)") }
            guard let mapping = node?.mapping else { throw PyFuncError("\(file) is not a YAML mapping; fix or remove it first") }
            root = mapping
            var flavors = root["flavors"]?.mapping ?? Node.Mapping([])
            replaced = flavors["python_function"] != nil
            flavors = inserting(flavor, as: "python_function", into: flavors)
            root = inserting(.mapping(flavors), as: "flavors", into: root)
        } else {
            root = newRoot(flavors: Node.Mapping([(Node("python_function"), flavor)]))
        }
        let text: String
        do {
            text = try serialize(.mapping(root))
            try text.write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            throw PyFuncError("cannot write \(file): \(error.localizedDescription)")
        }
        let flavorNames = (root["flavors"]?.mapping?.keys.compactMap(\.string) ?? []).sorted()
        return Written(directory: directory, mlmodel: text, replacedFlavor: replaced, flavors: flavorNames)
    }

    // MARK: - Building the MLmodel

    /// `flavors.python_function`, keys sorted as MLflow writes them; absent parts are left out.
    static func flavorNode(loaderModule: String, code: String?, data: String?, env: [(String, String)],
                           pythonVersion: String) -> Node {
        var pairs: [(Node, Node)] = []
        if let code { pairs.append((Node("code"), string(code))) }
        if let data { pairs.append((Node("data"), string(data))) }
        if !env.isEmpty {
            pairs.append((Node("env"), .mapping(Node.Mapping(env.sorted { $0.0 < $1.0 }.map { (Node($0.0), string($0.1)) }))))
        }
        pairs.append((Node("loader_module"), string(loaderModule)))
        pairs.append((Node("python_version"), string(pythonVersion)))
        return .mapping(Node.Mapping(pairs))
    }

    /// A new MLmodel's top level: `flavors`, `model_uuid` and `utc_time_created`, as MLflow's `Model()` writes them.
    static func newRoot(flavors: Node.Mapping) -> Node.Mapping {
        let now = Date().timeIntervalSince1970
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let seconds = now.rounded(.down)
        let created = formatter.string(from: Date(timeIntervalSince1970: seconds))
            + String(format: ".%06d", min(999_999, Int(((now - seconds) * 1_000_000).rounded())))
        let uuid = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        return Node.Mapping([
            (Node("flavors"), .mapping(flavors)),
            (Node("model_uuid"), string(uuid)),
            (Node("utc_time_created"), string(created)),
        ])
    }

    /// `mapping` with `key` set to `value`: in place when present, else at its sorted position.
    static func inserting(_ value: Node, as key: String, into mapping: Node.Mapping) -> Node.Mapping {
        var pairs = mapping.map { ($0.key, $0.value) }
        if let index = pairs.firstIndex(where: { $0.0.string == key }) {
            pairs[index].1 = value
        } else {
            let index = pairs.firstIndex(where: { ($0.0.string ?? "") > key }) ?? pairs.count
            pairs.insert((Node(key), value), at: index)
        }
        return Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark)
    }

    /// A YAML string scalar, quoted when it would otherwise read as another type ("3.10", "null", a date).
    static func string(_ value: String) -> Node { .scalar(value.represented()) }

    static func serialize(_ node: Node) throws -> String {
        try Yams.serialize(node: node, width: -1, allowUnicode: true)
    }

    // MARK: - Paths

    /// Rejects what Python cannot import, with the usual mistake spelled out.
    static func validate(loaderModule module: String) throws(PyFuncError) {
        func isIdentifier(_ part: Substring) -> Bool {
            guard let first = part.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
            return part.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        }
        // "loader.py" is a valid dotted name (module py of package loader), but never what was meant.
        let valid = !module.hasSuffix(".py") && module.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isIdentifier)
        guard valid else {
            var message = "--loader-module '\(module)' is not a Python module name (dotted identifiers, e.g. my_loader or mlflow.sklearn)"
            if module.hasSuffix(".py") {
                let name = URL(fileURLWithPath: module).deletingPathExtension().lastPathComponent
                message += "; for a loader in \(module), pass --loader-module \(name) --code \(module)"
            }
            throw PyFuncError(message)
        }
    }

    /// `path` relative to `directory`: a relative path is taken as relative to the model directory
    /// (add_to_model's convention); an absolute one must lie inside it. The path must exist.
    static func relative(_ path: String, in directory: String, option: String) throws(PyFuncError) -> String {
        let resolved = path.hasPrefix("/") ? URL(fileURLWithPath: path).standardizedFileURL.path
                                           : URL(fileURLWithPath: directory + "/" + path).standardizedFileURL.path
        guard resolved.hasPrefix(directory + "/") else {
            throw PyFuncError("\(option) \(path) is outside the model directory \(directory); paths are relative to the model directory and must stay inside it")
        }
        guard FileManager.default.fileExists(atPath: resolved) else {
            throw PyFuncError("\(option) \(path): \(resolved) does not exist (paths are relative to the model directory \(directory))")
        }
        return String(resolved.dropFirst(directory.count + 1))
    }

    /// `virtualenv` for a python_env.yaml (a mapping with `python` and no `channels`), else `conda`.
    static func environmentKind(of file: String) -> String {
        if URL(fileURLWithPath: file).lastPathComponent == "python_env.yaml" { return "virtualenv" }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              let map = (try? Yams.load(yaml: text)) as? [String: Any] else { return "conda" }
        return map["python"] != nil && map["channels"] == nil && map["name"] == nil ? "virtualenv" : "conda"
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/"))
            .standardizedFileURL.path
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
