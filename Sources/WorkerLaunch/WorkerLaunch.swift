/// How a coordinator starts a worker process on its own machine: `score-cluster worker` with
/// these settings. One value, rendered to the command line in one place (`arguments`);
/// `score-cluster worker` declares the options it parses with the same names (`Option`), so
/// what `run` starts and what `worker` parses cannot drift apart.
public struct WorkerLaunch: Sendable, Equatable {
    /// The long names (without `--`) of the options `score-cluster worker` parses.
    public enum Option {
        public static let connect = "connect"
        public static let pythonEnvironment = "python-env"
        public static let capacity = "capacity"
        public static let connectTimeout = "connect-timeout"
        public static let tokenFile = "token-file"
        public static let keepAlive = "keep-alive"
        public static let idleTimeout = "idle-timeout"
        public static let record = "record"
        public static let processes = "processes"
        /// Internal: given by a `--processes` worker to the siblings it spawns.
        public static let launchedBy = "launched-by"
        public static let logLevel = "log-level"
        public static let logFormat = "log-format"
    }

    /// A worker kept running after the job (`run --keep-workers`).
    public struct KeepAlive: Sendable, Equatable {
        /// Seconds without a job after which it exits.
        public var idleTimeout: Double
        /// The record it writes and holds while it lives (`KeptWorkerRecord`), by which the next
        /// job knows it is still there.
        public var recordPath: String

        public init(idleTimeout: Double, recordPath: String) {
            self.idleTimeout = idleTimeout
            self.recordPath = recordPath
        }
    }

    /// The score-cluster executable.
    public var executable: String
    /// The coordinator's port on loopback.
    public var port: Int
    public var pythonEnvironment: String
    /// Batches held at once.
    public var capacity: Int
    /// The secret the worker proves it knows; nil for a loopback worker of a job without one.
    public var tokenFile: String?
    public var keepAlive: KeepAlive?
    /// Worker processes the launched one stands for (`--processes`): it loads the model and forks the others.
    public var processes = 1
    /// `--log-level` and `--log-format`, as the job's own.
    public var logLevel: String?
    public var logFormat: String?

    public init(executable: String, port: Int, pythonEnvironment: String, capacity: Int, tokenFile: String? = nil,
                keepAlive: KeepAlive? = nil, logLevel: String? = nil, logFormat: String? = nil) {
        self.executable = executable
        self.port = port
        self.pythonEnvironment = pythonEnvironment
        self.capacity = capacity
        self.tokenFile = tokenFile
        self.keepAlive = keepAlive
        self.logLevel = logLevel
        self.logFormat = logFormat
    }

    /// The command line after the executable. The port is open before workers start, so a local
    /// worker that cannot connect has nothing to wait for (`--connect-timeout 0`).
    public var arguments: [String] {
        func option(_ name: String) -> String { "--" + name }
        var arguments = ["worker", option(Option.pythonEnvironment), pythonEnvironment, option(Option.capacity), String(capacity),
                         option(Option.connectTimeout), "0"]
        if let logLevel { arguments += [option(Option.logLevel), logLevel] }
        if let logFormat { arguments += [option(Option.logFormat), logFormat] }
        if let tokenFile { arguments += [option(Option.tokenFile), tokenFile] }
        if processes > 1 { arguments += [option(Option.processes), String(processes)] }
        arguments += [option(Option.connect), "127.0.0.1:\(port)"]
        if let keepAlive {
            arguments += [option(Option.keepAlive), option(Option.idleTimeout), String(keepAlive.idleTimeout),
                          option(Option.record), keepAlive.recordPath]
        }
        return arguments
    }

    /// The arguments of a plain worker like the one started with `arguments` (`worker ...`), for
    /// the siblings a `--processes` worker spawns where it cannot fork: without `--processes`
    /// and what belongs to the one process that is kept alive, with `--launched-by` it.
    public static func siblingArguments(_ arguments: [String], launchedBy: Int32) -> [String] {
        let dropped = [Option.processes, Option.record, Option.idleTimeout, Option.launchedBy].map { "--" + $0 }
        var kept: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--" + Option.keepAlive { continue }
            if dropped.contains(argument) { _ = rest.popFirst(); continue }
            if dropped.contains(where: { argument.hasPrefix($0 + "=") }) { continue }
            kept.append(argument)
        }
        return kept + ["--" + Option.launchedBy, String(launchedBy)]
    }

    /// What makes two launches' workers interchangeable, for naming a pool of kept workers: the
    /// settings, without the port, the idle timeout, the record and the processes (which do not change what a worker does).
    public var identity: [String] {
        var same = self
        same.port = 0
        same.keepAlive = nil
        same.processes = 1
        return [same.executable] + same.arguments
    }
}
