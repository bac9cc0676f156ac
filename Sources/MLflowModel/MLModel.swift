import Foundation

/// The parts of an MLflow model directory score-cluster acts on: its `MLmodel` file's
/// `python_function` flavor (docs/spark-udf.md §3.2).
public struct MLModel: Sendable, Equatable {
    /// The model directory (absolute).
    public var directory: String
    /// Every flavor the model declares, e.g. ["python_function", "sklearn"].
    public var flavors: [String]
    public var mlflowVersion: String?
    public var pyfunc: PyFuncFlavor
    /// The model's signature, when it declares one.
    public var signature: ModelSignature?

    /// Reads `directory/MLmodel`; errors name the file and say what to do.
    public init(directory: String) throws(PyFuncError) {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        let file = dir + "/MLmodel"
        let document: MLmodelDocument
        do {
            document = try MLmodelDocument(directory: dir)
        } catch {
            switch error {
            case .noDirectory:
                throw PyFuncError("model '\(dir)' does not exist; pass the directory that mlflow's save_model wrote (it holds an MLmodel file)")
            case .notADirectory:
                throw PyFuncError("model '\(dir)' is a file; pass the model's directory (the one holding its MLmodel file)")
            case .noMLmodel:
                throw PyFuncError("'\(dir)' has no MLmodel file, so it is not an MLflow model directory; pass the directory that mlflow's save_model wrote")
            case .notYAML(let why):
                throw PyFuncError("cannot parse \(file) as YAML: \(why)")
            case .invalid(let why):
                throw PyFuncError("cannot read \(file): \(why)")
            case .noFlavors:
                throw PyFuncError("\(file) has no 'flavors' section; it is not a valid MLmodel file")
            }
        }
        self.directory = dir
        self.flavors = document.flavors
        self.mlflowVersion = document.mlflowVersion
        guard let conf = document.pyfunc else {
            throw PyFuncError("""
                Model does not have the "python_function" flavor (\(file) declares: \(self.flavors.joined(separator: ", "))); \
                score-cluster scores pyfunc models: save the model with an MLflow flavor that adds python_function
                """)
        }
        self.pyfunc = try PyFuncFlavor(conf, modelDirectory: dir, file: file)
        self.signature = document.signature
    }

    /// Checks the Python version the model was saved with against the embedded one ("3.11"):
    /// another minor version is an error (compiled packages and pickles may not load); another
    /// patch level only a warning, returned for the caller to show.
    /// - Parameter runtimeVersion: the full version of the interpreter that will load it, e.g. "3.11.2".
    public func checkPythonVersion(runtimeVersion: String) throws(PyFuncError) -> String? {
        guard let saved = pyfunc.pythonVersion else { return nil }
        let savedMinor = saved.split(separator: ".").prefix(2).joined(separator: ".")
        let embedded = runtimeVersion.split(separator: ".").prefix(2).joined(separator: ".")
        guard savedMinor == embedded else {
            throw PyFuncError("""
                the model \(directory) was saved with Python \(saved), but score-cluster embeds Python \(embedded); \
                its pickles and compiled packages may not load. Save the model with Python \(embedded), or run \
                score-cluster built against Python \(savedMinor)
                """)
        }
        if saved != runtimeVersion {
            return "the model was saved with Python \(saved) and is loaded by Python \(runtimeVersion) (same minor version; usually harmless)"
        }
        return nil
    }
}

/// `flavors.python_function` of an MLmodel file.
public struct PyFuncFlavor: Sendable, Equatable {
    /// The module whose `_load_pyfunc(path)` (or seed-format `load_pyfunc(path)`) loads the model.
    public var loaderModule: String
    /// Absolute directory put first on `sys.path` before importing the loader, if any.
    public var codeDirectory: String?
    /// Absolute path passed to the loader: `data` if present, else the model directory.
    public var dataPath: String
    /// The flavor-specific model file (`model_path`), recorded for messages.
    public var modelPath: String?
    /// The method called on the loaded model (`predict_fn`, default "predict").
    public var predictFunction: String
    /// `env` as declared: a conda.yaml path (old string form) or `{conda, virtualenv}`; recorded, not acted on.
    public var environmentFiles: [String: String]
    /// The Python version the model was saved with, if recorded.
    public var pythonVersion: String?
    /// `config`: the model's inference configuration and the keys `--model-config` may override.
    public var config: [String: JSONValue]?
    public var configKeys: [String]

    init(_ conf: PythonFunctionFlavor, modelDirectory dir: String, file: String) throws(PyFuncError) {
        guard let loader = conf.loaderModule else {
            throw PyFuncError("\(file): python_function has no loader_module; the MLmodel file is incomplete")
        }
        loaderModule = loader
        if let code = conf.code {
            let path = dir + "/" + code
            guard FileManager.default.fileExists(atPath: path) else {
                throw PyFuncError("\(file): python_function.code names '\(code)', but \(path) does not exist")
            }
            codeDirectory = path
        }
        dataPath = conf.data.map { dir + "/" + $0 } ?? dir
        modelPath = conf.modelPath
        predictFunction = conf.predictFn ?? "predict"
        environmentFiles = conf.env ?? [:]
        pythonVersion = conf.pythonVersion
        config = conf.config
        configKeys = conf.config?.keys.sorted() ?? []
    }
}
