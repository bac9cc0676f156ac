import ArgumentParser
import Foundation
import Logging
import MLflowModel
import Wire
import Worker
import WorkerLaunch

/// `score-cluster worker`: join a coordinator and score the batches it sends.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker process that connects to a coordinator and scores batches.",
        discussion: """
            The worker embeds CPython, loads the job's model once, and scores every batch the coordinator \
            sends until the job ends. `score-cluster run` starts its workers with this very command.
            """
    )

    @Option(name: .customLong(WorkerLaunch.Option.connect), help: ArgumentHelp("The coordinator's address.", valueName: "host:port"))
    var connect: String

    @Option(name: .customLong(WorkerLaunch.Option.pythonEnvironment),
            help: ArgumentHelp("Python virtual environment to use (default: $VIRTUAL_ENV, else the project's .venv).", valueName: "dir"))
    var pythonEnv: String?

    @Option(name: .customLong(WorkerLaunch.Option.capacity), help: ArgumentHelp("Batches held at once: one being scored, the rest queued.", valueName: "n"))
    var capacity: Int = 3

    @Option(name: .customLong(WorkerLaunch.Option.tokenFile),
            help: ArgumentHelp("File holding the shared secret (mode 0600); default: $SCORE_CLUSTER_TOKEN.", valueName: "file"))
    var tokenFile: String?

    @Option(name: .customLong("tls-ca"),
            help: ArgumentHelp("Connect with TLS, trusting the coordinator's certificate if it is in (or signed by one in) this PEM file.", valueName: "file"))
    var tlsCA: String?

    @Option(name: .customLong("tls-server-name"),
            help: ArgumentHelp("With --tls-ca: the name (or IP address) the coordinator's certificate must carry (default: the --connect host).", valueName: "name"))
    var tlsServerName: String?

    @Option(name: .customLong("model-cache"),
            help: ArgumentHelp("Where models received from coordinators are kept (default: ~/.cache/score-cluster/models).", valueName: "dir"))
    var modelCache: String?

    @Option(name: .customLong(WorkerLaunch.Option.connectTimeout),
            help: ArgumentHelp("Seconds to keep retrying while the coordinator is not reachable yet.", valueName: "seconds"))
    var connectTimeout: Double = 60

    @Flag(name: .customLong(WorkerLaunch.Option.keepAlive),
          help: "After a job, wait for the next coordinator on the same address, keeping the interpreter and the model loaded (reused when the next job has the same model).")
    var keepAlive = false

    @Option(name: .customLong(WorkerLaunch.Option.idleTimeout),
            help: ArgumentHelp("With --keep-alive: exit after this many seconds without a job (default: wait for ever).", valueName: "seconds"))
    var idleTimeout: Double?

    @Option(name: .customLong(WorkerLaunch.Option.record),
            help: ArgumentHelp("With --keep-alive: a file this worker writes and keeps locked while it runs, by which `run --keep-workers` knows it is still there.", valueName: "file"))
    var record: String?

    @Option(name: .customLong("coordinator-timeout"),
            help: ArgumentHelp("Seconds without a word from the coordinator (it beats every 2) after which the worker takes it for gone.", valueName: "seconds"))
    var coordinatorTimeout: Int = Heartbeat.coordinatorSilenceSeconds

    @Option(name: .customLong("memory-limit"),
            help: ArgumentHelp("The most resident memory this worker may use, in MB (or 512m, 2g): over it, it reports the batch it was scoring and exits with status 12. A job's smaller --worker-memory applies instead (default: the job's, if any).", valueName: "MB"))
    var memoryLimit: String?

    @Option(name: .customLong(WorkerLaunch.Option.processes),
            help: ArgumentHelp("Worker processes to run: this one loads the model for each job and forks the others, which share its memory and start at once (spawned instead, each loading the model, when forking is unsafe).", valueName: "n"))
    var processes: Int = 1

    @Option(name: .customLong(WorkerLaunch.Option.launchedBy), help: .hidden)
    var launchedBy: Int32?

    @OptionGroup var logging: LoggingArguments

    func validate() throws {
        if let memoryLimit, MemoryLimit(parsing: memoryLimit) == nil {
            throw invalidOption("--memory-limit must be a positive number of MB (or 512m, 2g, ...), got '\(memoryLimit)'")
        }
        guard coordinatorTimeout > 2 else { throw invalidOption("--coordinator-timeout must be more than 2 seconds (the coordinator beats every 2)") }
        guard HostPort(connect) != nil else { throw invalidOption("--connect must be HOST:PORT, got '\(connect)'") }
        guard capacity >= 1 else { throw invalidOption("--capacity must be at least 1") }
        guard processes >= 1 else { throw invalidOption("--processes must be at least 1") }
        guard tlsServerName == nil || tlsCA != nil else { throw invalidOption("--tls-server-name applies with --tls-ca") }
        guard tlsServerName?.isEmpty != true else { throw invalidOption("--tls-server-name must not be empty") }
        guard record == nil || keepAlive else { throw invalidOption("--record applies to --keep-alive workers") }
        if let idleTimeout {
            guard keepAlive else { throw invalidOption("--idle-timeout applies to --keep-alive workers") }
            guard idleTimeout > 0 else { throw invalidOption("--idle-timeout must be positive") }
        }
    }

    func run() throws {
        logging.bootstrap { "score-cluster worker \(getpid()): " }
        let address = HostPort(connect)!
        let token: ClusterToken?
        do { token = try ClusterToken.load(tokenFile: tokenFile) } catch { throw invalidOption("\(error)") }
        var options = WorkerProcess.Options(host: address.host, port: address.port, pythonEnvironment: pythonEnv,
                                            capacity: capacity, token: token, modelCache: modelCache ?? ModelCache.defaultDirectory())
        options.connectTimeout = connectTimeout
        options.keepAlive = keepAlive
        options.idleTimeout = idleTimeout
        options.coordinatorTimeout = coordinatorTimeout
        options.memoryLimit = memoryLimit.flatMap(MemoryLimit.init(parsing:))
        options.processes = processes
        options.launchedBy = launchedBy
        if processes > 1 { options.siblingArguments = WorkerLaunch.siblingArguments(Array(CommandLine.arguments.dropFirst()), launchedBy: getpid()) }
        if let tlsCA {
            do { options.tls = try TLSContext.client(trustFile: tlsCA, serverName: tlsServerName) } catch {
                throw invalidOption("\(error)")
            }
        }
        var logger = Logger(label: "score-cluster.worker")
        logger[metadataKey: "pid"] = "\(getpid())"
        // Held (locked) until the process ends, however it ends.
        let held: KeptWorkerRecord.Held?
        do throws(KeptWorkerRecord.RecordError) {
            held = try record.map { (path) throws(KeptWorkerRecord.RecordError) in
                try KeptWorkerRecord.hold(path: path, record: .init(pid: getpid(), port: address.port, processes: processes))
            }
        } catch {
            throw invalidOption(error.message)
        }
        let status = withExtendedLifetime(held) { WorkerProcess(options: options, logger: logger).run() }
        if status != 0 { throw ExitCode(status) }
    }
}
