import Foundation

/// What `score-cluster model inspect` reports about a model directory, found without starting Python.
///
/// The inspection reads the `MLmodel` file itself (not through ``MLModel``, which stops at the
/// first problem) so that it can list *every* blocker at once: no MLmodel, no `python_function`
/// flavor, a missing `code` directory or `data` path, a missing flavor file (`model_path`,
/// `python_model`, an artifact), a `python_version` whose minor version differs from the embedded
/// interpreter's, or a loader module found neither in `code/` nor in the Python environment.
/// Problems that do not stop loading (a different patch level, a missing environment file) are
/// warnings.
///
/// ```swift
/// let report = ModelInspection(directory: "models/seed_linear", environment: try? PythonEnvironment.resolve(explicit: nil))
/// if !report.loadable { print(report.blockers.map(\.message)) }
/// ```
public struct ModelInspection: Sendable, Codable {
    /// The model directory, absolute.
    public var directory: String
    /// Where the model came from, when it was named by an MLflow URI (set by the caller that
    /// fetched it): the resolved version, run and digest.
    public var origin: ModelOrigin?
    /// Whether nothing found would stop the model from loading (`blockers` is empty).
    public var loadable: Bool
    /// Every flavor the MLmodel declares, sorted.
    public var flavors: [String]
    public var mlflowVersion: String?
    /// The `python_function` flavor, when the MLmodel declares one.
    public var pyfunc: Flavor?
    /// The model's signature, when the MLmodel has one.
    public var signature: Signature?
    /// Environment files the flavor declares (`env`), and `requirements.txt` when present.
    public var environmentFiles: [EnvironmentFile]
    /// The Python version score-cluster embeds, e.g. "3.11.2".
    public var embeddedPython: String
    /// The Python environment the loader module was looked up in, if one was found.
    public var pythonEnvironment: String?
    /// What would stop the model from loading.
    public var blockers: [Problem]
    /// What may go wrong or deserves a look, without stopping the load.
    public var warnings: [Problem]

    /// `flavors.python_function` as declared, with the paths it resolves to.
    public struct Flavor: Sendable, Codable {
        /// `loader_module` (or the seed format's `main`).
        public var loaderModule: String?
        /// Whether the loader module is part of MLflow (`mlflow.*`): loading then needs MLflow installed.
        public var loaderIsMlflow: Bool
        /// Where the loader module was found: `code`, `environment` or `stdlib`; nil when not found or not checked.
        public var loaderFoundIn: String?
        /// The loader module's file (or package directory).
        public var loaderFile: String?
        /// `code` as declared (relative to the model directory).
        public var code: String?
        /// `data` as declared (relative to the model directory).
        public var data: String?
        /// The path handed to the loader: the model directory joined with `data`, else the model directory.
        public var dataPath: String
        /// `model_path`: the flavor-specific model file.
        public var modelPath: String?
        /// `predict_fn`, default `predict`.
        public var predictFn: String
        /// `python_model`: a PythonModel's pickle.
        public var pythonModel: String?
        /// `artifacts`: name → path relative to the model directory.
        public var artifacts: [String: String]?
        /// The keys of `config` (the only keys a load-time model_config may override).
        public var configKeys: [String]?
        /// `python_version`: the Python the model was saved with.
        public var pythonVersion: String?
        /// `env`: kind (`conda`, `virtualenv`) → file relative to the model directory.
        public var env: [String: String]?
    }

    /// The model's `signature`: each part is a JSON string in the MLmodel file.
    public struct Signature: Sendable, Codable {
        public var inputs: [ColumnSpec]?
        public var outputs: [ColumnSpec]?
        public var params: [ParamSpec]?
    }

    /// One input or output of a signature: a named (or unnamed) column or a tensor.
    public struct ColumnSpec: Sendable, Codable, Equatable {
        /// nil for unnamed columns and tensors.
        public var name: String?
        /// MLflow's type, rendered: `double`, `long`, `array<string>`, `tensor<float64>[-1, 4]`, `object<a: double>`, `map<string, long>`, `any`.
        public var type: String
        public var required: Bool
    }

    /// One parameter of a signature's params schema.
    public struct ParamSpec: Sendable, Codable, Equatable {
        public var name: String
        public var type: String
        /// The default, as JSON text.
        public var `default`: String?
        public var shape: [Int]?
    }

    /// An environment file the model carries.
    public struct EnvironmentFile: Sendable, Codable, Equatable {
        /// `conda`, `virtualenv` or `requirements`.
        public var kind: String
        /// Relative to the model directory.
        public var path: String
        public var exists: Bool
    }

    /// A blocker or a warning: a stable `code` for scripts and a message for people.
    public struct Problem: Sendable, Codable, Equatable, CustomStringConvertible {
        public var code: String
        public var message: String
        public var description: String { message }
    }

    /// Inspects the model at `directory`, looking the loader module up in `environment`
    /// (its site-packages, `.pth` entries and the standard library) when it is not in `code/`.
    ///
    /// - Parameters:
    ///   - directory: The model directory (it should hold an `MLmodel` file).
    ///   - environment: The Python environment the model would be scored with; nil when none was
    ///     found, in which case a loader module outside `code/` is reported as not checked.
    ///   - embeddedPython: The full version of the Python the workers embed, e.g. "3.11.2"
    ///     (`PythonRuntime.libraryVersion`); the major.minor alone when not known.
    public init(directory: String, environment: PythonEnvironment?, embeddedPython: String = EmbeddedPython.majorMinor) {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.directory = dir
        loadable = false
        flavors = []
        environmentFiles = []
        self.embeddedPython = embeddedPython
        pythonEnvironment = environment?.root
        blockers = []
        warnings = []
        inspect(environment: environment)
        loadable = blockers.isEmpty
    }

    // MARK: - Inspection

    private mutating func block(_ code: String, _ message: String) { blockers.append(Problem(code: code, message: message)) }
    private mutating func warn(_ code: String, _ message: String) { warnings.append(Problem(code: code, message: message)) }

    private mutating func inspect(environment: PythonEnvironment?) {
        let document: MLmodelDocument
        do {
            document = try MLmodelDocument(directory: directory)
        } catch {
            block(error.code, error.message(directory: directory))
            return
        }
        flavors = document.flavors
        mlflowVersion = document.mlflowVersion
        signature = document.signature.map(Signature.init)
        guard let conf = document.pyfunc else {
            block("no_python_function_flavor", """
                the MLmodel declares no python_function flavor (it declares: \(flavors.isEmpty ? "none" : flavors.joined(separator: ", "))); \
                add one with `score-cluster model add-flavor \(directory) --loader-module MODULE`
                """)
            return
        }
        let flavor = Flavor(conf, directory: directory)
        pyfunc = flavor
        checkPaths(flavor)
        checkEnvironmentFiles(flavor)
        checkPythonVersion(flavor, environment: environment)
        if let module = flavor.loaderModule {
            locateLoader(module, flavor: flavor, environment: environment)
        } else {
            block("no_loader_module", "flavors.python_function has no loader_module, so nothing says how to load the model")
        }
    }

    /// Whether `module` is MLflow's own (`mlflow` or `mlflow.*`).
    public static func isMLflowModule(_ module: String) -> Bool { module == "mlflow" || module.hasPrefix("mlflow.") }

    private mutating func checkPaths(_ flavor: Flavor) {
        let fm = FileManager.default
        if let code = flavor.code {
            var isDirectory: ObjCBool = false
            if !fm.fileExists(atPath: directory + "/" + code, isDirectory: &isDirectory) {
                block("missing_code_directory", "python_function.code names '\(code)', but \(directory)/\(code) does not exist")
            } else if !isDirectory.boolValue {
                block("code_not_a_directory", "python_function.code names '\(code)', but \(directory)/\(code) is a file; code must be a directory put on sys.path")
            }
        }
        if let data = flavor.data, !fm.fileExists(atPath: flavor.dataPath) {
            block("missing_data_path", "python_function.data names '\(data)', but \(flavor.dataPath) does not exist; the loader would get a path to nothing")
        }
        if let modelPath = flavor.modelPath, !fm.fileExists(atPath: directory + "/" + modelPath),
           !fm.fileExists(atPath: flavor.dataPath + "/" + modelPath) {
            block("missing_model_file", "python_function.model_path names '\(modelPath)', but \(directory)/\(modelPath) does not exist")
        }
        if let pickle = flavor.pythonModel, !fm.fileExists(atPath: directory + "/" + pickle) {
            block("missing_python_model", "python_function.python_model names '\(pickle)', but \(directory)/\(pickle) does not exist")
        }
        for (name, path) in (flavor.artifacts ?? [:]).sorted(by: { $0.key < $1.key }) where !fm.fileExists(atPath: directory + "/" + path) {
            block("missing_artifact", "artifact '\(name)' is '\(path)', but \(directory)/\(path) does not exist")
        }
    }

    private mutating func checkEnvironmentFiles(_ flavor: Flavor) {
        let fm = FileManager.default
        for (kind, path) in (flavor.env ?? [:]).sorted(by: { $0.key < $1.key }) {
            let exists = fm.fileExists(atPath: directory + "/" + path)
            environmentFiles.append(EnvironmentFile(kind: kind, path: path, exists: exists))
            if !exists {
                warn("missing_environment_file", "python_function.env declares \(kind) '\(path)', but \(directory)/\(path) does not exist")
            }
        }
        if fm.fileExists(atPath: directory + "/requirements.txt"), !environmentFiles.contains(where: { $0.path == "requirements.txt" }) {
            environmentFiles.append(EnvironmentFile(kind: "requirements", path: "requirements.txt", exists: true))
        }
    }

    private mutating func checkPythonVersion(_ flavor: Flavor, environment: PythonEnvironment?) {
        guard let saved = flavor.pythonVersion else { return }
        let linked = EmbeddedPython.majorMinor
        let savedMinor = saved.split(separator: ".").prefix(2).joined(separator: ".")
        if savedMinor != linked {
            block("python_version_mismatch", """
                the model was saved with Python \(saved), but score-cluster embeds Python \(linked) (libpython\(linked)); \
                its pickles and compiled code may not load: re-save the model with Python \(linked)
                """)
        } else if let environment, environment.version != saved {
            warn("python_patch_mismatch", "the model was saved with Python \(saved); the environment \(environment.root) has \(environment.version)")
        }
    }

    // MARK: - Finding the loader module

    private mutating func locateLoader(_ module: String, flavor: Flavor, environment: PythonEnvironment?) {
        // Python searches code/ first: the bridge and MLflow put it at the front of sys.path.
        var found: (place: String, file: String)?
        if let code = flavor.code, let file = ModuleLookup.file(of: module, in: directory + "/" + code) {
            found = ("code", file)
        }
        if found == nil, let environment {
            for (place, root) in ModuleLookup.searchRoots(of: environment) {
                if let file = ModuleLookup.file(of: module, in: root) {
                    found = (place, file)
                    break
                }
            }
        }
        if let found {
            pyfunc?.loaderFoundIn = found.place
            pyfunc?.loaderFile = found.file
            checkLoaderFunctions(module, file: found.file)
        } else {
            reportMissingLoader(module, flavor: flavor, environment: environment)
        }
        if flavor.loaderIsMlflow {
            warn("mlflow_loader", "the loader module \(module) is part of MLflow: loading this model needs MLflow installed in the Python environment")
        }
    }

    private mutating func checkLoaderFunctions(_ module: String, file: String) {
        guard file.hasSuffix(".py") else {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
                block("loader_is_namespace", "the loader module \(module) is the directory \(file) without __init__.py, which defines no _load_pyfunc")
            }
            return
        }
        guard let source = try? String(contentsOfFile: file, encoding: .utf8) else { return }
        // A loader defines (or imports) one of the two names; star imports and __getattr__ may hide them.
        if !source.contains("load_pyfunc") && !source.contains("import *") && !source.contains("__getattr__") {
            block("no_loader_function", "the loader module \(module) (\(file)) defines neither _load_pyfunc(path) nor the seed format's load_pyfunc(path)")
        }
    }

    private mutating func reportMissingLoader(_ module: String, flavor: Flavor, environment: PythonEnvironment?) {
        if let code = flavor.code, let nested = ModuleLookup.nestedFile(of: module, under: directory + "/" + code) {
            block("loader_in_code_subdirectory", """
                the loader module \(module) is at \(nested), in a subdirectory of \(code)/: only \(code)/ itself is put on sys.path \
                (as MLflow 2 and later do; the seed format also added its subdirectories). Move it to \(code)/, or re-save the \
                model with --code pointing at the module file or package
                """)
            return
        }
        let place = flavor.code.map { "found neither in \($0)/ nor " } ?? "not "
        guard let environment else {
            let message = "the loader module \(module) is not \(flavor.code == nil ? "in the model" : "in \(flavor.code!)/"); no Python environment was found to look it up in"
            if flavor.loaderIsMlflow || flavor.code == nil {
                warn("loader_not_checked", message + " (pass --python-env DIR)")
            } else {
                block("loader_not_found", message)
            }
            return
        }
        let hint = flavor.loaderIsMlflow
            ? "install MLflow into it (pip install mlflow)"
            : "install the package that provides it there, or save the model with --code pointing at the module"
        block("loader_not_found", "the loader module \(module) is \(place)in the Python environment \(environment.root); \(hint)")
    }
}

extension ModelInspection.Flavor {
    /// The flavor as the report shows it, with the paths it resolves to.
    init(_ conf: PythonFunctionFlavor, directory: String) {
        self.init(
            loaderModule: conf.loaderModule,
            loaderIsMlflow: conf.loaderModule.map(ModelInspection.isMLflowModule) ?? false,
            loaderFoundIn: nil, loaderFile: nil,
            code: conf.code, data: conf.data,
            dataPath: conf.data.map { directory + "/" + $0 } ?? directory,
            modelPath: conf.modelPath,
            predictFn: conf.predictFn ?? "predict",
            pythonModel: conf.pythonModel,
            artifacts: conf.artifacts,
            configKeys: conf.config.map { $0.keys.sorted() },
            pythonVersion: conf.pythonVersion,
            env: conf.env)
    }
}

extension ModelInspection.Signature {
    /// The signature as the report shows it: each type rendered in one line.
    init(_ signature: ModelSignature) {
        func columns(_ specs: [ModelSignature.Spec]?) -> [ModelInspection.ColumnSpec]? {
            specs?.map { ModelInspection.ColumnSpec(name: $0.name, type: $0.schemaType.description, required: $0.required) }
        }
        self.init(inputs: columns(signature.inputs), outputs: columns(signature.outputs),
                  params: signature.params?.map {
                      ModelInspection.ParamSpec(name: $0.name, type: $0.type, default: $0.defaultValue?.jsonText, shape: $0.shape)
                  })
    }
}

// MARK: - Rendering

extension ModelInspection {
    /// The report as pretty-printed JSON with snake_case keys (absent values are omitted).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        // Encoding plain strings, numbers and arrays cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// The report for people, one fact per line, blockers and warnings last.
    public func formatted() -> String {
        var lines: [String] = []
        func line(_ label: String, _ value: String) { lines.append(label.padding(toLength: 14, withPad: " ", startingAt: 0) + value) }
        if let origin {
            let source = origin.provenance
            line("model", source.uri)
            line("resolved", source.resolvedName + " on " + source.trackingServer)
            if let run = source.runID { line("run", run) }
            if let logged = source.loggedModelID { line("logged model", logged) }
            line("source", source.source)
            line("sha256", source.sha256)
            line("fetched", origin.fetch.downloaded
                 ? "downloaded \(origin.fetch.files) files, \(origin.fetch.bytes) bytes in \(String(format: "%.2f", origin.fetch.seconds)) s"
                 : "from this machine's cache (\(origin.fetch.files) files unchanged on the server)")
            line("directory", directory)
        } else {
            line("model", directory)
        }
        if !flavors.isEmpty {
            line("flavors", flavors.joined(separator: ", ") + (mlflowVersion.map { " (saved by MLflow \($0))" } ?? ""))
        }
        if let flavor = pyfunc {
            var loader = flavor.loaderModule ?? "none"
            if let place = flavor.loaderFoundIn, let file = flavor.loaderFile { loader += " (found in \(place): \(file))" }
            if flavor.loaderIsMlflow { loader += "; an MLflow module: needs MLflow installed" }
            line("loader", loader)
            line("code", flavor.code.map { "\($0)/ (put first on sys.path)" } ?? "none")
            line("data path", flavor.dataPath + (flavor.data == nil ? " (no data key: the model directory)" : ""))
            if let modelPath = flavor.modelPath { line("model file", modelPath) }
            if let pickle = flavor.pythonModel { line("python_model", pickle) }
            if let artifacts = flavor.artifacts, !artifacts.isEmpty {
                line("artifacts", artifacts.sorted(by: { $0.key < $1.key }).map { "\($0.key): \($0.value)" }.joined(separator: ", "))
            }
            if let keys = flavor.configKeys { line("config keys", keys.joined(separator: ", ")) }
            line("predict_fn", flavor.predictFn)
            line("python", (flavor.pythonVersion.map { "saved with \($0)" } ?? "version not recorded") + "; score-cluster embeds \(embeddedPython)")
        }
        line("environment", environmentFiles.isEmpty ? "none declared"
             : environmentFiles.map { "\($0.kind): \($0.path)\($0.exists ? "" : " (missing)")" }.joined(separator: ", "))
        if let signature {
            func columns(_ specs: [ColumnSpec]?) -> String {
                guard let specs else { return "none" }
                return specs.enumerated().map { i, spec in
                    "\(spec.name ?? "#\(i)"): \(spec.type)\(spec.required ? "" : " (optional)")"
                }.joined(separator: ", ")
            }
            line("inputs", columns(signature.inputs))
            line("outputs", columns(signature.outputs))
            if let params = signature.params {
                line("params", params.map { "\($0.name): \($0.type)\($0.default.map { " = \($0)" } ?? "")" }.joined(separator: ", "))
            }
        } else {
            line("signature", "none")
        }
        if blockers.isEmpty {
            line("status", "loadable")
        } else {
            line("status", "will not load:")
            lines += blockers.map { "  - [\($0.code)] \($0.message)" }
        }
        if !warnings.isEmpty {
            lines.append("warnings:")
            lines += warnings.map { "  - [\($0.code)] \($0.message)" }
        }
        return lines.joined(separator: "\n")
    }
}

// MARK: - Finding modules on disk

/// Finds Python modules the way the import system would, by looking at files only.
enum ModuleLookup {
    /// The file (or package directory) of the dotted `module` directly under `root`, if any.
    static func file(of module: String, in root: String) -> String? {
        let fm = FileManager.default
        let parts = module.split(separator: ".").map(String.init)
        var dir = root
        for (i, part) in parts.enumerated() {
            let base = dir + "/" + part
            var isDirectory: ObjCBool = false
            let exists = fm.fileExists(atPath: base, isDirectory: &isDirectory)
            if i < parts.count - 1 {
                guard exists, isDirectory.boolValue else { return nil }
                dir = base
                continue
            }
            if fm.fileExists(atPath: base + "/__init__.py") { return base + "/__init__.py" }
            if fm.fileExists(atPath: base + ".py") { return base + ".py" }
            if let names = try? fm.contentsOfDirectory(atPath: dir),
               let compiled = names.sorted().first(where: { $0 == part + ".pyc" || ($0.hasPrefix(part + ".") && $0.hasSuffix(".so")) }) {
                return dir + "/" + compiled
            }
            if exists, isDirectory.boolValue { return base }  // a namespace package
        }
        return nil
    }

    /// The module's file in a subdirectory of `root` (up to three levels down), if any.
    static func nestedFile(of module: String, under root: String) -> String? {
        let fm = FileManager.default
        var level = [root]
        for _ in 0..<3 {
            var next: [String] = []
            for dir in level {
                for name in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where name != "__pycache__" && !name.hasPrefix(".") {
                    let sub = dir + "/" + name
                    var isDirectory: ObjCBool = false
                    guard fm.fileExists(atPath: sub, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
                    if let file = file(of: module, in: sub), file.hasSuffix(".py") || file.hasSuffix(".so") { return file }
                    next.append(sub)
                }
            }
            level = next
        }
        return nil
    }

    /// Where `environment`'s interpreter imports from: site-packages, directories its `.pth` files
    /// name, the system site-packages when the environment includes them, and the standard library.
    static func searchRoots(of environment: PythonEnvironment) -> [(place: String, root: String)] {
        let fm = FileManager.default
        let version = environment.version.split(separator: ".").prefix(2).joined(separator: ".")
        var config: [String: String] = [:]
        if let cfg = try? String(contentsOfFile: environment.root + "/pyvenv.cfg", encoding: .utf8) {
            for line in cfg.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { config[parts[0]] = parts[1] }
            }
        }
        var sitePackages = [environment.root + "/lib/python\(version)/site-packages"]
        if config["include-system-site-packages"] == "true" {
            sitePackages += ["/usr/local/lib/python\(version)/dist-packages", "/usr/lib/python3/dist-packages"]
        }
        var roots: [(String, String)] = []
        for site in sitePackages where fm.fileExists(atPath: site) {
            roots.append(("environment", site))
            for name in ((try? fm.contentsOfDirectory(atPath: site)) ?? []).sorted() where name.hasSuffix(".pth") {
                guard let text = try? String(contentsOfFile: site + "/" + name, encoding: .utf8) else { continue }
                for raw in text.split(separator: "\n") {
                    let entry = raw.trimmingCharacters(in: .whitespaces)
                    if entry.isEmpty || entry.hasPrefix("#") || entry.hasPrefix("import ") || entry.hasPrefix("import\t") { continue }
                    let path = entry.hasPrefix("/") ? entry : site + "/" + entry
                    var isDirectory: ObjCBool = false
                    if fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { roots.append(("environment", path)) }
                }
            }
        }
        // `home` is the directory of the base interpreter (/usr/bin); its prefix holds the standard library.
        let prefix = URL(fileURLWithPath: config["home"] ?? "/usr/bin").deletingLastPathComponent().path
        for stdlib in [prefix + "/lib/python\(version)", prefix + "/lib/python\(version)/lib-dynload"] where fm.fileExists(atPath: stdlib) {
            roots.append(("stdlib", stdlib))
        }
        return roots
    }
}
