import Columnar
import Wire
import MLflowModel
import Parquet

/// Everything a scoring job is told by its user.
public struct JobOptions: Sendable {
    /// Which input columns the output keeps next to the prediction.
    public enum KeepColumns: Sendable, Equatable {
        case all
        case none
        case some([String])

        /// Parses `all`, `none` or a comma-separated list of column names.
        public init(parsing text: String) {
            switch text {
            case "all": self = .all
            case "none": self = .none
            default: self = .some(text.split(separator: ",").map { String($0).trimmed })
            }
        }
    }

    /// The model's directory on this machine.
    public var modelPath: String
    /// When the model was named by an MLflow URI: what it resolved to and how it got here
    /// (recorded in the report and the manifest; `--resume` refuses another version).
    public var modelOrigin: ModelOrigin?
    public var inputPath: String
    public var outputPath: String
    public var workers: Int
    /// spark_udf's result type name; nil infers it from the model's output signature as spark_udf
    /// does, and is "double" for a model without one.
    public var resultType: String?
    /// The column of a DataFrame result to take (instead of the leftmost compatible one).
    public var outputField: String?
    /// Exact casts, or errors that show sample values, instead of spark_udf's silent choices.
    public var strictTypes: Bool = false
    /// Columns handed to the model, in order; nil means every column in schema order.
    public var columns: [String]?
    public var batchSize: Int = 10_000
    public var outputColumn: String = "prediction"
    public var keepColumns: KeepColumns = .all
    /// `--python-env` for the workers; nil means VIRTUAL_ENV or the project's `.venv`.
    public var pythonEnvironment: String?
    /// Where the model's Python environment comes from.
    public var environmentManager: EnvironmentManager = .local
    /// `--env-cache`: where virtualenv environments are kept (nil: the user's cache directory).
    public var environmentCache: String?
    public var overwrite: Bool = false
    public var compression: ParquetCompression = .snappy
    /// Check the CRC of every input page that has one (Spark writes them).
    public var verifyChecksums: Bool = false
    /// `--merge-schema` (Spark's `mergeSchema`): a column missing from some files is null there,
    /// and types widen (int32 to int64, float to double) instead of failing the job.
    public var mergeSchema: Bool = false
    /// `--input-filter`: a condition on the input's partition directories (`PartitionFilter`);
    /// the directories it rejects are not opened.
    public var inputFilter: String?
    /// How the output lays out files of a partitioned input.
    public var outputLayout: OutputLayout = .mirror
    /// `--workers-read`: workers read their partitions from the input and write their part files
    /// into the output themselves (both must be at the same path on every machine, or the input
    /// in object storage); the coordinator hands out partitions and commits the parts, and no row
    /// passes through it. Off: the coordinator streams rows to the workers.
    public var workersRead = false
    /// `--head-start` (the default): with `workersRead` and an output directory, the coordinator
    /// writes the part files' starts that do not depend on the predictions while the workers
    /// start (`HeadStart`).
    public var headStart = true
    /// Attempts per batch when workers are lost.
    public var maxAttempts: Int = 4
    /// Batches a worker holds at once.
    public var workerCapacity: Int = 3
    /// Blocks decoded and not yet written, at most (bounds coordinator memory); nil: enough to
    /// keep every worker's queue full.
    public var maxBufferedBlocks: Int? = nil
    /// Rows per partition (the unit of output and commit): smaller row groups of a file are
    /// gathered up to this, larger ones are split.
    public var partitionRows: Int = 1 << 20
    /// Rows per block: the unit the coordinator decodes, holds and writes (a row group of the
    /// output), rounded down to a multiple of the batch size.
    public var blockRows: Int = 65_536
    /// Continue the unfinished job recorded in the output directory.
    public var resume: Bool = false
    /// Give a batch the model failed on to a worker again (up to `maxAttempts`).
    public var retryModelErrors: Bool = false
    /// Partitions the model may fail on, set aside under `_failed/`, before the job fails.
    public var maxFailedPartitions: Int = 0
    /// After SIGINT/SIGTERM, seconds to let batches in flight finish (and their partitions commit).
    public var gracePeriod: Double = 10
    /// Labels of the model's columns when it has no named signature.
    public var columnNaming: InputBinding.Naming = .ordinal
    /// `--model-config KEY=VALUE` overrides of the model's declared `config`.
    public var modelConfig: [(key: String, value: String)] = []
    /// `--params KEY=VALUE` for a model whose signature declares params.
    public var params: [(key: String, value: String)] = []
    /// Where workers come from: started here, or connecting to `listen` from anywhere.
    public var workerSource: WorkerSource = .local
    /// `run --keep-workers`: leave the local workers running, model loaded, for the next job on
    /// this machine, until they have been idle this many seconds (see `WarmWorkerPool`).
    public var keepWorkers: Double?
    /// `run --fork-workers` (the default): the local workers are one process that loads the
    /// model and forks the others (`worker --processes N`), so that they share its memory.
    public var forkWorkers = true
    /// Local workers' `--log-level` and `--log-format` (the job's own).
    public var workerLogLevel: String?
    public var workerLogFormat: String?
    /// The shared secret workers must prove they know (remote workers need one).
    public var token: ClusterToken?
    /// TLS for workers' connections (`coordinator --tls-certificate/--tls-key`); nil: plain TCP.
    public var tls: TLSContext?
    /// A batch a worker holds longer than this (seconds) counts as lost with its worker; nil: no limit.
    public var taskTimeout: Double?
    /// A worker silent for longer than this (seconds; workers send heartbeats) counts as lost.
    public var heartbeatTimeout: Double = 30
    /// `--worker-memory`: the most resident memory each worker may use (sent to every worker in
    /// its job; a worker over it stops and the batch it was scoring fails). nil: no limit.
    public var workerMemory: MemoryLimit?
    /// Seconds to wait for the first worker to be ready before giving up.
    public var startupTimeout: Double = 300

    public init(modelPath: String, inputPath: String, outputPath: String, workers: Int) {
        self.modelPath = modelPath
        self.inputPath = inputPath
        self.outputPath = outputPath
        self.workers = workers
    }
}

/// Where a job's workers come from.
public enum WorkerSource: Sendable, Equatable {
    /// `score-cluster run`: `workers` local processes started by the job, connecting over loopback.
    case local
    /// `score-cluster coordinator`: workers started elsewhere connect to `host:port`; scoring starts
    /// once `minWorkers` are ready. The model is sent to each worker that lacks it.
    case listen(host: String, port: Int, minWorkers: Int)
}

/// `--env-manager`: the environment the workers' embedded Python uses.
public enum EnvironmentManager: String, Sendable, CaseIterable {
    /// `--python-env`, `VIRTUAL_ENV` or the project's `.venv`, as it is.
    case local
    /// An environment built from the model's own requirements (python_env.yaml, requirements.txt
    /// or conda.yaml), once per machine, cached by their content.
    case virtualenv
    /// The same, its packages installed by uv (MLflow's `env_manager="uv"`).
    case uv
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}

/// Where the output's files go when the input lies in partition directories (`key=value/`).
public enum OutputLayout: String, Sendable, CaseIterable {
    /// The same directories as the input (`date=2026-12-01/part-00003.parquet`), the partition
    /// columns in the paths and not in the files, as Spark's `partitionBy` writes them.
    case mirror
    /// Every file at the top of the output, the partition columns kept in the files as columns.
    case flat
}
