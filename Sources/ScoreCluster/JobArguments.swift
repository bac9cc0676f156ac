#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Columnar
import Parquet
import Coordinator
import Foundation
import Logging
import MLflowModel
import ModelRegistry
import PyFunc
import Wire

/// The options of a scoring job, shared by `run` and `coordinator`.
struct JobArguments: ParsableArguments {
    @OptionGroup var logging: LoggingArguments

    @Option(name: .long, help: ArgumentHelp("The MLflow model: a registry URI (models:/NAME@ALIAS, models:/NAME/VERSION, models:/NAME/latest, models:/MODEL_ID), runs:/RUN_ID/PATH, mlflow-artifacts:/PATH, or a directory holding an MLmodel file. URIs are resolved once, before any worker starts, and the model cached on this machine.", valueName: "uri|path"))
    var model: String

    @OptionGroup var modelSource: ModelSourceArguments

    @Option(name: .long, help: ArgumentHelp("A Parquet file, or a directory of Parquet part files.", valueName: "path"))
    var input: String

    @Option(name: .long, help: ArgumentHelp("Directory to write the scored dataset to.", valueName: "dir"))
    var output: String

    @Option(name: .customLong("result-type"),
            help: ArgumentHelp("Type of the prediction column: double, float, int, long, string or boolean (default: from the model's output signature, else double).", valueName: "type"))
    var resultType: String?

    @Option(name: .customLong("output-field"),
            help: ArgumentHelp("The column of a DataFrame result to take, instead of spark_udf's leftmost compatible one.", valueName: "name"))
    var outputField: String?

    @Flag(name: .customLong("strict-types"),
          help: "Exact casts, or errors that show sample values, instead of spark_udf's silent choices (leftmost column, 'nan' strings, int64 refused for int).")
    var strictTypes = false

    @Option(name: .long, help: ArgumentHelp("Comma-separated input columns handed to the model, in order (default: all columns).", valueName: "a,b,..."))
    var columns: String?

    @Option(name: .customLong("column-names"),
            help: ArgumentHelp("Labels of the model's columns when its signature names none: ordinal (\"0\", \"1\", ..., as spark_udf) or dataset (the dataset's own names).", valueName: "ordinal|dataset"))
    var columnNames: String = "ordinal"

    @Option(name: .customLong("model-config"), parsing: .singleValue,
            help: ArgumentHelp("Override a key of the model's declared config (repeatable).", valueName: "key=value"))
    var modelConfig: [String] = []

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("An inference param the model's signature declares (repeatable).", valueName: "key=value"))
    var params: [String] = []

    @Option(name: .customLong("batch-size"), help: ArgumentHelp("Rows per predict call.", valueName: "rows"))
    var batchSize: Int = 10_000

    @Option(name: .customLong("output-column"), help: ArgumentHelp("Name of the prediction column.", valueName: "name"))
    var outputColumn: String = "prediction"

    @Option(name: .customLong("keep-columns"),
            help: ArgumentHelp("Input columns copied to the output: all, none, or a comma-separated list.", valueName: "all|none|a,b,..."))
    var keepColumns: String = "all"

    @Option(name: .customLong("python-env"),
            help: ArgumentHelp("Python virtual environment the workers use (default: $VIRTUAL_ENV, else the project's .venv).", valueName: "dir"))
    var pythonEnv: String?

    @Option(name: .customLong("env-manager"),
            help: ArgumentHelp("local: use --python-env as it is; virtualenv: build (once, cached) an environment from the model's python_env.yaml, requirements.txt or conda.yaml with venv and pip; uv: the same built with uv.", valueName: "local|virtualenv|uv"))
    var envManager: String = "local"

    @Option(name: .customLong("env-cache"),
            help: ArgumentHelp("Where virtualenv and uv environments are kept (default: ~/.cache/score-cluster/envs).", valueName: "dir"))
    var envCache: String?

    @Option(name: .long, help: ArgumentHelp("Compression of the output files: snappy, zstd, gzip or none.", valueName: "codec"))
    var compression: String = "snappy"

    @Option(name: .customLong("max-attempts"), help: ArgumentHelp("Attempts per batch when a worker is lost.", valueName: "n"))
    var maxAttempts: Int = 4

    @Option(name: .long, help: ArgumentHelp("Print the first rows of the output when done (0 to skip).", valueName: "rows"))
    var preview: Int = 5

    @Option(name: .customLong("task-timeout"),
            help: ArgumentHelp("A worker holding a batch (with --workers-read, a whole partition) longer than this many seconds is lost; its work goes to others (default: no limit).", valueName: "seconds"))
    var taskTimeout: Double?

    @Option(name: .customLong("heartbeat-timeout"),
            help: ArgumentHelp("A worker silent for this many seconds (no heartbeat) is lost.", valueName: "seconds"))
    var heartbeatTimeout: Double = 30

    @Option(name: .customLong("worker-memory"),
            help: ArgumentHelp("The most resident memory each worker may use, in MB (or with a unit: 512m, 2g), or none: a worker over it stops and the batch it was scoring fails as a model error (default for run: 80% of this machine's memory, or of its control group's limit, shared among the workers; for coordinator: none).", valueName: "MB"))
    var workerMemory: String?

    @Flag(name: .customLong("merge-schema"),
          help: "Read files whose schemas differ as one dataset, as Spark's mergeSchema: a column missing from some files is null there, and types widen (int32 to int64, float to double).")
    var mergeSchema = false

    @Option(name: .customLong("input-filter"),
            help: ArgumentHelp("Read only the partition directories (key=value) that pass this condition, before any file is opened: comparisons, IN, IS NULL, AND, OR, NOT on partition columns, e.g. \"date >= '2026-12-01' AND country IN ('FR', 'DE')\".", valueName: "condition"))
    var inputFilter: String?

    @Option(name: .customLong("output-layout"),
            help: ArgumentHelp("For an input in partition directories: 'mirror' writes the output in the same directories, the partition columns in the paths (as Spark's partitionBy); 'flat' writes every file at the top, the partition columns in the files.", valueName: "mirror|flat"))
    var outputLayout: OutputLayout = .mirror

    @Flag(name: .customLong("workers-read"), inversion: .prefixedNo,
          help: "Workers read their partitions from the input and write their part files into the output themselves; the coordinator only hands out partitions and commits the parts, so no row passes through it. Every worker must see the input (the same path, or the object store) and the output directory (a shared file system) as the coordinator does. Default: on for run (faster on one machine), off for coordinator; --no-workers-read streams rows through the coordinator.")
    var workersRead: Bool?

    @Flag(name: .customLong("head-start"), inversion: .prefixedNo,
          help: "With --workers-read and an output directory: while the workers start, the coordinator copies the kept columns of each partition's first row group into its part file (they do not depend on the predictions) and reads the model's columns into the page cache, until the first partition is handed out. The files are the same either way; --no-head-start leaves all of it to the workers.")
    var headStart = true

    @Flag(name: .customLong("verify-checksums"), help: "Check the CRC of every input page that carries one.")
    var verifyChecksums = false

    @Flag(name: .long, help: "Replace the output directory if it exists.")
    var overwrite = false

    @Flag(name: .long, help: "Finish the unfinished job recorded in --output (same input, model and options): committed partitions are kept.")
    var resume = false

    @Flag(name: .customLong("retry-model-errors"), help: "Give a batch the model raised on to a worker again (up to --max-attempts) instead of failing at once.")
    var retryModelErrors = false

    @Option(name: .customLong("max-failed-partitions"),
            help: ArgumentHelp("Partitions the model may fail on before the job fails: they are left out of the output and described under _failed/ (exit status 3).", valueName: "n"))
    var maxFailedPartitions: Int = 0

    @Option(name: .customLong("partition-rows"),
            help: ArgumentHelp("Rows per partition, the unit of output file and commit: smaller whole files, and whole row groups of a larger file, are gathered up to this; a larger row group is cut in pieces.", valueName: "rows"))
    var partitionRows: Int = 1 << 20

    @Option(name: .customLong("block-rows"),
            help: ArgumentHelp("Rows the coordinator decodes and holds at a time (whole batches; an output row group when kept columns are re-encoded).", valueName: "rows"))
    var blockRows: Int = 65_536

    @Option(name: .customLong("grace-period"),
            help: ArgumentHelp("After SIGINT/SIGTERM, seconds to let batches in flight finish and commit.", valueName: "seconds"))
    var gracePeriod: Double = 10

    @Option(name: .long, help: ArgumentHelp("Write a JSON report (per-worker rows, batches, time in decode, predict, encode and network, retries, failures) to this file.", valueName: "file"))
    var report: String?

    @Flag(name: .long, help: "No progress line or periodic progress messages.")
    var quiet = false

    func validate() throws {
        guard batchSize >= 1 else { throw invalidOption("--batch-size must be at least 1") }
        guard partitionRows >= 1 else { throw invalidOption("--partition-rows must be at least 1") }
        guard blockRows >= 1 else { throw invalidOption("--block-rows must be at least 1") }
        guard maxFailedPartitions >= 0 else { throw invalidOption("--max-failed-partitions cannot be negative") }
        guard gracePeriod >= 0 else { throw invalidOption("--grace-period cannot be negative") }
        if resume && overwrite { throw invalidOption("--resume and --overwrite exclude each other") }
        guard maxAttempts >= 1 else { throw invalidOption("--max-attempts must be at least 1") }
        if let taskTimeout, taskTimeout <= 0 { throw invalidOption("--task-timeout must be positive") }
        guard heartbeatTimeout > Double(2 * 2) else { throw invalidOption("--heartbeat-timeout must be more than 4 seconds (workers beat every 2)") }
        guard ParquetCompression(rawValue: compression) != nil else {
            throw invalidOption("--compression must be one of: \(ParquetCompression.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let columns, columns.split(separator: ",").isEmpty { throw invalidOption("--columns names no column") }
        guard EnvironmentManager(rawValue: envManager) != nil else { throw invalidOption("--env-manager must be local, virtualenv or uv") }
        if envManager != "local" && pythonEnv != nil { throw invalidOption("--python-env and --env-manager \(envManager) exclude each other") }
        guard InputBinding.Naming(rawValue: columnNames) != nil else { throw invalidOption("--column-names must be ordinal or dataset") }
        if let workerMemory, workerMemory.lowercased() != "none", MemoryLimit(parsing: workerMemory) == nil {
            throw invalidOption("--worker-memory must be a positive number of MB (or 512m, 2g, ...) or none, got '\(workerMemory)'")
        }
        for pair in modelConfig + params where JobArguments.keyValue(pair) == nil {
            throw invalidOption("'\(pair)' is not KEY=VALUE")
        }
    }


    /// The job these arguments describe, with `workers` local workers (ignored by a coordinator);
    /// workers read their own partitions unless told otherwise when `workersReadByDefault`.
    func options(workers: Int, workersReadByDefault: Bool) -> JobOptions {
        var options = JobOptions(modelPath: model, inputPath: input, outputPath: output, workers: workers)
        options.resultType = resultType
        options.outputField = outputField
        options.strictTypes = strictTypes
        options.columns = columns.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        options.batchSize = batchSize
        options.outputColumn = outputColumn
        options.keepColumns = JobOptions.KeepColumns(parsing: keepColumns)
        options.pythonEnvironment = pythonEnv
        options.environmentManager = EnvironmentManager(rawValue: envManager)!
        options.environmentCache = envCache
        options.overwrite = overwrite
        options.compression = ParquetCompression(rawValue: compression)!
        options.verifyChecksums = verifyChecksums
        options.mergeSchema = mergeSchema
        options.inputFilter = inputFilter
        options.outputLayout = outputLayout
        options.workersRead = workersRead ?? workersReadByDefault
        options.headStart = headStart
        options.maxAttempts = maxAttempts
        options.taskTimeout = taskTimeout
        options.heartbeatTimeout = heartbeatTimeout
        options.columnNaming = InputBinding.Naming(rawValue: columnNames)!
        options.modelConfig = modelConfig.compactMap(Self.keyValue)
        options.params = params.compactMap(Self.keyValue)
        options.resume = resume
        options.retryModelErrors = retryModelErrors
        options.maxFailedPartitions = maxFailedPartitions
        options.partitionRows = partitionRows
        options.blockRows = blockRows
        options.gracePeriod = gracePeriod
        options.workerLogLevel = logging.logLevel.rawValue
        options.workerLogFormat = logging.logFormat.rawValue
        return options
    }

    /// Runs `options`, prints the summary and preview, or the error. Exit status: 0 done, 1 failed,
    /// 3 done except partitions set aside under `_failed/` (--max-failed-partitions).
    func execute(_ options: JobOptions) throws {
        logging.bootstrap()
        let logger = Logger(label: "score-cluster.coordinator")
        let display = logging.logFormat == .json
            ? ProgressDisplay(quiet: quiet, plainLine: { logger.info("progress: \($0)") })
            : ProgressDisplay(quiet: quiet)
        var options = options
        do {
            let resolved = try modelSource.fetch(options.modelPath, pythonEnvironment: options.pythonEnvironment, warn: { logger.warning("\($0)") })
            options.modelPath = resolved.directory
            options.modelOrigin = resolved.origin
        } catch {
            writeReport(JobReport(failedBeforeStart: error.description))
            if logging.logFormat == .json { logger.error("\(error.description)") } else { Console.error("error: \(error.description)") }
            throw ExitCode(1)
        }
        display.activate()
        let runner = JobRunner(options: options, logger: logger, progress: { display.show($0) })
        let summary: JobRunner.Summary
        do {
            summary = try runner.run()
        } catch {
            display.end()
            // A job that failed before it started (its input could not be read, say) has no report of its own.
            writeReport(runner.report ?? JobReport(failedBeforeStart: error.message))
            if logging.logFormat == .json {
                logger.error("\(error.message)", metadata: error.traceback.map { ["traceback": "\($0)"] })
            } else {
                Console.error("error: \(error.message)")
                if let traceback = error.traceback { Console.error(traceback) }
            }
            throw ExitCode(1)
        }
        display.end()
        writeReport(summary.report)
        let r = summary.report
        let rate = summary.seconds > 0 ? Double(r.rowsScored) / summary.seconds : 0
        var lines = ["scored \(r.rowsScored) rows from \(summary.files) file(s) in \(String(format: "%.2f", summary.seconds)) s "
            + "(\(String(format: "%.0f", rate)) rows/s) with \(summary.workers) worker(s)"]
        if r.partitionsResumed > 0 { lines.append("resumed: \(r.partitionsResumed) of \(r.partitions) partitions (\(r.rows - r.rowsScored) rows) were already committed") }
        if r.retries > 0 || r.workersLost > 0 { lines.append("retries: \(r.retries) batch(es) sent again; \(r.workersLost) worker(s) lost") }
        lines.append("output: \(summary.outputDirectory)")
        print(lines.joined(separator: "\n"))
        if r.partitionsQuarantined > 0 {
            logger.warning("\(r.partitionsQuarantined) partition(s) failed and are not in the output; their rows and errors are in \(summary.outputDirectory)/_failed/ (no _SUCCESS written)")
            throw ExitCode(3)
        }
        if preview > 0 { OutputPreview.print(summary: summary, rows: preview) }
    }

    private func writeReport(_ report: JobReport?) {
        guard let path = self.report, let report else { return }
        do { try report.write(to: path) } catch {
            Logger(label: "score-cluster.coordinator").warning("cannot write the report \(path): \(error.localizedDescription)")
        }
    }

    /// `--worker-memory` as given (nil for `none`), or `fallback` when it is not given.
    func workerMemoryLimit(default fallback: @autoclosure () -> MemoryLimit?) -> MemoryLimit? {
        guard let workerMemory else { return fallback() }
        return workerMemory.lowercased() == "none" ? nil : MemoryLimit(parsing: workerMemory)
    }

    static func keyValue(_ text: String) -> (key: String, value: String)? {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return nil }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }
}

/// Writes to standard error, ignoring failure: a log line that cannot be written (standard
/// error on a full disk, `/dev/full` or a closed pipe) must never change a job's outcome.
/// (Foundation's `FileHandle.write` traps on such errors.)
enum Console {
    static func error(_ message: String) {
        write(message.hasSuffix("\n") ? message : message + "\n")
    }

    /// Writes `text` as it is.
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(STDERR_FILENO, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                done += n
            }
        }
    }
}

/// An invalid option value or option file (a token file with the wrong mode, a bad certificate):
/// the message alone on standard error, exit status 64 (EX_USAGE). ArgumentParser's
/// `ValidationError` would follow it with the whole usage text, which says nothing about the value.
func invalidOption(_ message: String) -> ExitCode {
    Console.error("error: " + message)
    return .validationFailure
}

extension OutputLayout: ExpressibleByArgument {}
