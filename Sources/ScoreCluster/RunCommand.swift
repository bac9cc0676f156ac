import ArgumentParser
import Columnar
import Coordinator
import MLflowModel
import PyFunc
import Foundation

/// `score-cluster run`: score a dataset on this machine with local worker processes.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Score a Parquet dataset with a pyfunc model using local worker processes.",
        discussion: """
            Each batch reaches the model's predict as a pandas DataFrame whose columns are named "0", "1", ... \
            in the order of --columns, as spark_udf names them. Predictions are converted to --result-type \
            exactly as spark_udf converts them. The output directory receives one Parquet file per partition \
            (part-00000.parquet, ... in input order; the kept input columns, then the prediction column), each \
            committed atomically and recorded in _manifest.jsonl, and _SUCCESS last. A run that fails because of \
            its model or input leaves no output behind; an interrupted one (a signal, lost workers) keeps its \
            committed partitions, and --resume finishes it.
            """
    )

    @OptionGroup var job: JobArguments

    @Option(name: .long, help: ArgumentHelp("Number of worker processes (default: the number of cores).", valueName: "n"))
    var workers: Int?

    @Option(name: .long, help: ArgumentHelp("Batches each worker holds at once: one being scored, the rest queued (bounds the work in flight; a slow worker gets less).", valueName: "n"))
    var capacity: Int = 3

    @Option(name: .customLong("keep-workers"),
            help: ArgumentHelp("Leave the workers running after the job, interpreter started and model loaded, until they have been idle this many seconds; the next run on this machine with --keep-workers and the same --workers, --python-env and --capacity uses them and skips start-up and model load. `score-cluster stop-workers` stops them at once.", valueName: "seconds"))
    var keepWorkers: Double?

    @Flag(name: .customLong("fork-workers"), inversion: .prefixedNo,
          help: "Start one worker process, which loads the model and forks the others: they share its memory (the model's arrays, the libraries) and start scoring at once. Where forking is unsafe (the model started threads) they are spawned instead, each loading the model; --no-fork-workers always spawns them.")
    var forkWorkers = true

    func validate() throws {
        if let keepWorkers, keepWorkers <= 0 { throw invalidOption("--keep-workers must be a positive number of seconds") }
        if let workers, workers < 1 { throw invalidOption("--workers must be at least 1") }
        guard capacity >= 1 else { throw invalidOption("--capacity must be at least 1") }
    }

    func run() throws {
        var options = job.options(workers: workers ?? ProcessInfo.processInfo.activeProcessorCount, workersReadByDefault: true)
        // By default the workers share 80% of the machine's memory (or its control group's).
        options.workerMemory = job.workerMemoryLimit(default: MachineMemory.current()?.workerShare(workers: options.workers))
        options.workerCapacity = capacity
        options.keepWorkers = keepWorkers
        options.forkWorkers = forkWorkers
        try job.execute(options)
    }
}
