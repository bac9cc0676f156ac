import Foundation
import Yams

/// An `MLmodel` file decoded into types, before any check on the files it names: the one
/// reader behind ``MLModel`` (which stops at the first problem, for scoring) and
/// ``ModelInspection`` (which lists every problem).
public struct MLmodelDocument: Sendable, Equatable {
    /// The model directory (absolute).
    public var directory: String
    /// `directory/MLmodel`.
    public var path: String
    /// Every flavor the file declares, sorted.
    public var flavors: [String]
    public var mlflowVersion: String?
    /// `flavors.python_function`, when declared.
    public var pyfunc: PythonFunctionFlavor?
    /// The signature, when declared and not empty.
    public var signature: ModelSignature?

    /// Why a directory could not be read as an MLflow model, for each caller to put in its words.
    public enum Failure: Error, Sendable, Equatable {
        case noDirectory
        case notADirectory
        case noMLmodel
        /// Not YAML at all (the parser's reason).
        case notYAML(String)
        /// YAML, but not a mapping or with a key of the wrong shape (the reason says which).
        case invalid(String)
        case noFlavors

        /// A stable code for scripts (as ``ModelInspection/Problem`` has).
        public var code: String {
            switch self {
            case .noDirectory, .notADirectory: "no_model_directory"
            case .noMLmodel: "no_mlmodel"
            case .notYAML, .invalid, .noFlavors: "invalid_mlmodel"
            }
        }

        /// What is wrong with the model directory `directory`, for people.
        public func message(directory: String) -> String {
            let file = directory + "/MLmodel"
            return switch self {
            case .noDirectory: "the model directory \(directory) does not exist"
            case .notADirectory: "\(directory) is a file; pass the model's directory (the one holding its MLmodel file)"
            case .noMLmodel: "\(directory) has no MLmodel file, so it is not an MLflow model directory"
            case .notYAML(let why): "cannot parse \(file) as YAML: \(why)"
            case .invalid(let why): "\(file) is not a valid MLmodel file: \(why)"
            case .noFlavors: "\(file) has no 'flavors' section; it is not a valid MLmodel file"
            }
        }
    }

    /// Reads and decodes `directory/MLmodel`.
    public init(directory: String) throws(Failure) {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) else { throw .noDirectory }
        guard isDirectory.boolValue else { throw .notADirectory }
        let path = dir + "/MLmodel"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .noMLmodel }
        let raw: Raw
        do {
            raw = try YAMLDecoder().decode(Raw.self, from: text)
        } catch let error as DecodingError {
            // Yams reports a syntax error as corrupted data at the top, with the parser's error beneath.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty, let underlying = context.underlyingError {
                throw .notYAML("\(underlying)")
            }
            throw .invalid(SignatureDocument.reason(error))
        } catch {
            throw .notYAML("\(error)")
        }
        guard let flavors = raw.flavors else { throw .noFlavors }
        self.directory = dir
        self.path = path
        self.flavors = flavors.keys.sorted()
        mlflowVersion = raw.mlflowVersion
        pyfunc = raw.pythonFunction
        signature = raw.signature.map(\.signature).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The file's top level; only the keys score-cluster reads.
    private struct Raw: Decodable {
        var flavors: [String: JSONValue]?
        var mlflowVersion: String?
        var signature: SignatureDocument?
        var pythonFunction: PythonFunctionFlavor?

        private enum Keys: String, CodingKey {
            case flavors, signature
            case mlflowVersion = "mlflow_version"
        }
        private enum FlavorKeys: String, CodingKey { case pythonFunction = "python_function" }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            flavors = try container.decodeIfPresent([String: JSONValue].self, forKey: .flavors)
            mlflowVersion = try container.decodeIfPresent(String.self, forKey: .mlflowVersion)
            signature = try container.decodeIfPresent(SignatureDocument.self, forKey: .signature)
            if flavors != nil {
                let flavorContainer = try container.nestedContainer(keyedBy: FlavorKeys.self, forKey: .flavors)
                pythonFunction = try flavorContainer.decodeIfPresent(PythonFunctionFlavor.self, forKey: .pythonFunction)
            }
        }
    }
}

/// `flavors.python_function` as declared, paths relative to the model directory.
public struct PythonFunctionFlavor: Sendable, Equatable, Decodable {
    /// `loader_module` (or the seed format's `main`); nil when absent or empty.
    public var loaderModule: String?
    /// `code`: a directory put first on `sys.path`.
    public var code: String?
    /// `data`: the path handed to the loader.
    public var data: String?
    /// `model_path`: the flavor-specific model file.
    public var modelPath: String?
    /// `predict_fn`, nil when absent (MLflow's default is `predict`).
    public var predictFn: String?
    /// `python_model`: a PythonModel's pickle.
    public var pythonModel: String?
    /// `artifacts`: name → path.
    public var artifacts: [String: String]?
    /// `config`: the model's inference configuration.
    public var config: [String: JSONValue]?
    /// `python_version`: the Python the model was saved with.
    public var pythonVersion: String?
    /// `env`: kind (`conda`, `virtualenv`) → file (an old-style string is the conda file).
    public var env: [String: String]?

    private enum Keys: String, CodingKey {
        case main, code, data, artifacts, config, env
        case loaderModule = "loader_module"
        case modelPath = "model_path"
        case predictFn = "predict_fn"
        case pythonModel = "python_model"
        case pythonVersion = "python_version"
    }

    /// An artifact entry: `{path: ..., uri: ...}` as MLflow writes it, or a bare path.
    private struct Artifact: Decodable {
        var path: String
        private enum Keys: String, CodingKey { case path }
        init(from decoder: any Decoder) throws {
            if let path = try? decoder.singleValueContainer().decode(String.self) {
                self.path = path
            } else {
                path = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .path)
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        func text(_ key: Keys) throws -> String? {
            try container.decodeIfPresent(String.self, forKey: key).flatMap { $0.isEmpty ? nil : $0 }
        }
        loaderModule = try text(.loaderModule) ?? text(.main)
        code = try text(.code)
        data = try text(.data)
        modelPath = try text(.modelPath)
        predictFn = try text(.predictFn)
        pythonModel = try text(.pythonModel)
        pythonVersion = try text(.pythonVersion)
        artifacts = try container.decodeIfPresent([String: Artifact].self, forKey: .artifacts)?.mapValues(\.path)
        config = try container.decodeIfPresent([String: JSONValue].self, forKey: .config)
        if let path = try? container.decodeIfPresent(String.self, forKey: .env) {
            env = ["conda": path]
        } else {
            env = try container.decodeIfPresent([String: String].self, forKey: .env)
        }
    }
}
