import ArgumentParser
import Worker

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

    @Option(name: .long, help: ArgumentHelp("The coordinator's address.", valueName: "host:port"))
    var connect: String

    @Option(name: .customLong("python-env"),
            help: ArgumentHelp("Python virtual environment to use (default: $VIRTUAL_ENV, else the project's .venv).", valueName: "dir"))
    var pythonEnv: String?

    @Option(name: .long, help: ArgumentHelp("Batches held at once: one being scored, the rest queued.", valueName: "n"))
    var capacity: Int = 3

    func validate() throws {
        guard parsedAddress != nil else { throw ValidationError("--connect must be HOST:PORT, got '\(connect)'") }
        guard capacity >= 1 else { throw ValidationError("--capacity must be at least 1") }
    }

    private var parsedAddress: (host: String, port: Int)? {
        guard let colon = connect.lastIndex(of: ":"), let port = Int(connect[connect.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        var host = String(connect[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() throws {
        let address = parsedAddress!
        let status = WorkerProcess(options: .init(host: address.host, port: address.port,
                                                  pythonEnvironment: pythonEnv, capacity: capacity)).run()
        if status != 0 { throw ExitCode(status) }
    }
}
