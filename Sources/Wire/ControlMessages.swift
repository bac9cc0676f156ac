import MLflowModel

/// worker → coordinator, first frame on a connection.
public struct WorkerHello: Codable, Sendable, Equatable {
    /// Process id and host, for logs and error messages.
    public var pid: Int32
    public var host: String
    /// How many batches the worker can hold at once (one being scored, the rest queued).
    public var capacity: Int
    /// The embedded interpreter's version, e.g. "3.11.2".
    public var pythonVersion: String
    /// The Python environment the worker uses.
    public var pythonEnvironment: String
    /// The process that started this one as one of its workers (`worker --processes N`,
    /// which `run` launches for its local workers), so that the coordinator knows which of the
    /// workers a launched process stands for have joined; nil for a worker started on its own.
    public var launchedBy: Int32?

    public init(pid: Int32, host: String, capacity: Int, pythonVersion: String, pythonEnvironment: String, launchedBy: Int32? = nil) {
        self.pid = pid
        self.host = host
        self.capacity = capacity
        self.pythonVersion = pythonVersion
        self.pythonEnvironment = pythonEnvironment
        self.launchedBy = launchedBy
    }
}

/// coordinator → worker: what to load and how to call it.
public struct JobSpec: Codable, Sendable, Equatable {
    public var jobID: String
    /// Directory of the MLflow model, as the worker sees it.
    public var modelPath: String
    /// Labels of the model's DataFrame columns, in batch column order ("0", "1", ... by default).
    public var columnNames: [String]
    /// The labels are the integers 0, 1, ... (a model with an unnamed signature).
    public var integerLabels: Bool
    /// Per column, the signature type enforced on each batch (nil: as it is).
    public var enforcedTypes: [String?]
    /// The loader's model_config, when it gets one.
    public var modelConfig: [String: JSONValue]?
    /// Params for the model's predict, when it declares them.
    public var params: [String: JSONValue]?
    /// The declared result type (on the wire as its Spark DDL text, checked when decoded).
    public var resultType: ResultType
    /// `--output-field`: the column of a DataFrame result to take.
    public var outputField: String?
    /// `--strict-types`: exact casts or errors instead of spark_udf's silent choices.
    public var strictTypes: Bool
    /// When set, the worker takes the model from its cache by this hash (asking the coordinator
    /// for the archive when it lacks it) rather than from `modelPath`.
    public var modelSHA256: String?
    /// A digest of the model directory's files (names, sizes, contents), so that a kept-alive
    /// worker never reuses a loaded model that changed on disk under the same path.
    public var modelContentDigest: String?
    /// `--worker-memory`: the most resident memory, in MB, a worker may use while it serves
    /// this job (nil: no limit). A worker started with its own `--memory-limit` applies the smaller.
    public var memoryLimitMB: Int?
    /// `--workers-read`: the worker reads and writes partitions itself (nil: rows come as batches).
    public var workersRead: WorkersReadSpec?

    public init(jobID: String, modelPath: String, columnNames: [String], integerLabels: Bool = false,
                enforcedTypes: [String?]? = nil, modelConfig: [String: JSONValue]? = nil, params: [String: JSONValue]? = nil,
                resultType: ResultType, outputField: String? = nil, strictTypes: Bool = false) {
        self.jobID = jobID
        self.modelPath = modelPath
        self.columnNames = columnNames
        self.integerLabels = integerLabels
        self.enforcedTypes = enforcedTypes ?? Array(repeating: nil, count: columnNames.count)
        self.modelConfig = modelConfig
        self.params = params
        self.resultType = resultType
        self.outputField = outputField
        self.strictTypes = strictTypes
    }
}

/// worker → coordinator: the model is loaded.
public struct WorkerReady: Codable, Sendable, Equatable {
    public var loadSeconds: Double
    public init(loadSeconds: Double) { self.loadSeconds = loadSeconds }
}

/// worker → coordinator: where one batch's time went on the worker, for `--report`.
public struct BatchTimings: Codable, Sendable, Equatable {
    public var taskID: UInt64
    /// Reading the batch frame into column buffers.
    public var decodeSeconds: Double
    /// Building the DataFrame, predict, and converting the result (the Python side).
    public var predictSeconds: Double
    /// Encoding and sending the result.
    public var encodeSeconds: Double

    public init(taskID: UInt64, decodeSeconds: Double, predictSeconds: Double, encodeSeconds: Double) {
        self.taskID = taskID
        self.decodeSeconds = decodeSeconds
        self.predictSeconds = predictSeconds
        self.encodeSeconds = encodeSeconds
    }
}

/// worker → coordinator: the job cannot go on on this worker.
public struct WorkerFailure: Codable, Sendable, Equatable, Error {
    public enum Kind: String, Codable, Sendable {
        /// The model could not be loaded (import error, loader raised, bad MLmodel).
        case modelLoad
        /// predict raised, or its result could not be converted to the result type.
        case predict
        /// The worker's environment is unusable (interpreter, venv).
        case environment
        /// The conversation broke (bad frame, unexpected message).
        case protocolError
        /// The worker's resident memory went over its limit (`--worker-memory`, `--memory-limit`)
        /// while it scored `taskID` (or between batches, without one); the worker stops.
        case memoryLimit
        /// `--workers-read`: the worker cannot open a partition's input (`partition`); the message names it.
        case inputUnreachable
        /// `--workers-read`: an input file is unreadable or corrupt.
        case input
        /// `--workers-read`: the worker cannot write the part file.
        case output
    }
    public var kind: Kind
    /// The batch being scored, when the failure is about one.
    public var taskID: UInt64?
    public var message: String
    /// The Python traceback, when Python raised.
    public var traceback: String?
    /// `--workers-read`: the partition the failure is about.
    public var partition: Int?

    public init(kind: Kind, taskID: UInt64? = nil, message: String, traceback: String? = nil, partition: Int? = nil) {
        self.kind = kind
        self.taskID = taskID
        self.message = message
        self.traceback = traceback
        self.partition = partition
    }
}
