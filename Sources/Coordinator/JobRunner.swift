#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Foundation
import PyFunc
import Wire

/// Runs one scoring job on this machine: validates everything up front, starts local worker
/// processes that connect back over TCP, feeds them batches, merges their results in input
/// order and commits the output.
///
/// One control thread (the caller's) owns all job state and acts on events that the other
/// threads post: the partition reader, the output writer, one receive thread per worker
/// connection, the listener and the process launcher. Who gets which batch is decided by the
/// `Scheduler` state machine.
public final class JobRunner: @unchecked Sendable {
    /// What a finished job reports.
    public struct Summary: Sendable {
        public var rows: Int
        public var files: Int
        public var partitions: Int
        public var workers: Int
        public var seconds: Double
        public var outputDirectory: String
        public var outputFiles: [String]
    }

    public let options: JobOptions
    private let log: @Sendable (String) -> Void

    public init(options: JobOptions, log: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.log = log
    }

    // MARK: Validation

    /// Everything checked before any worker starts.
    struct Prepared {
        var model: MLModel
        var resultType: ResultType
        var dataset: ParquetDataset
        /// The columns decoded from the input: model inputs first, then kept columns not among them.
        var decodeSchema: Schema
        var decodeIndices: [[Int]]
        /// Positions in `decodeSchema` of the model's inputs and of the kept columns.
        var modelColumns: [Int]
        var keptColumns: [Int]
        var outputSchema: Schema
        var plan: JobPlan
        var pythonEnvironment: PythonEnvironment
    }

    func prepare() throws(JobError) -> Prepared {
        let resultType: ResultType
        let model: MLModel
        let environment: PythonEnvironment
        do {
            resultType = try ResultType(parsing: options.resultType)
            model = try MLModel(directory: options.modelPath)
            environment = try PythonEnvironment.resolve(explicit: options.pythonEnvironment)
        } catch {
            throw JobError(error.message)
        }
        guard options.batchSize > 0 else { throw JobError("--batch-size must be at least 1 (got \(options.batchSize))") }
        guard options.workers > 0 else { throw JobError("--workers must be at least 1 (got \(options.workers))") }
        let dataset: ParquetDataset
        do { dataset = try ParquetDataset(path: options.inputPath) } catch { throw JobError(error.message) }

        let allNames = dataset.columnNames
        let modelNames = options.columns ?? allNames
        guard !modelNames.isEmpty else { throw JobError("no input columns to score: the dataset has no columns and --columns is empty") }
        let keptNames: [String]
        switch options.keepColumns {
        case .all: keptNames = allNames
        case .none: keptNames = []
        case .some(let names): keptNames = names
        }
        if let clash = keptNames.first(where: { $0 == options.outputColumn }) {
            throw JobError("the output column '\(clash)' is also an input column kept in the output; choose another --output-column, or leave '\(clash)' out with --keep-columns")
        }
        var decodeNames = modelNames
        for name in keptNames where !decodeNames.contains(name) { decodeNames.append(name) }
        let resolved: (schema: Schema, indices: [[Int]])
        do { resolved = try dataset.resolve(columns: decodeNames) } catch { throw JobError(error.message) }
        let modelColumns = modelNames.map { name in decodeNames.firstIndex(of: name)! }
        let keptColumns = keptNames.map { name in decodeNames.firstIndex(of: name)! }
        let outputFields = keptColumns.map { resolved.schema.fields[$0] }
            + [Field(name: options.outputColumn, type: resultType.dataType, nullable: resultType.nullable)]
        let plan = JobPlan(rowGroups: dataset.files.map(\.rowGroupRowCounts), batchSize: options.batchSize,
                           maxPartitionRows: options.maxPartitionRows)
        return Prepared(model: model, resultType: resultType, dataset: dataset, decodeSchema: resolved.schema,
                        decodeIndices: resolved.indices, modelColumns: modelColumns, keptColumns: keptColumns,
                        outputSchema: Schema(outputFields), plan: plan, pythonEnvironment: environment)
    }

    // MARK: Running

    enum Event: Sendable {
        case accepted(Connection)
        case hello(Connection, WorkerHello)
        case ready(WorkerID, WorkerReady)
        case result(WorkerID, ColumnBatchCodec.Decoded)
        case failure(WorkerID, WorkerFailure)
        case disconnected(WorkerID, String)
        case workerExited(index: Int, how: String)
        case reader(PartitionReader.Output)
        case writer(OutputWriter.Output)
    }

    private struct Link {
        var connection: Connection
        var hello: WorkerHello
        var name: String { "worker pid \(hello.pid) on \(hello.host) (\(connection.peer))" }
    }

    /// Runs the job to completion; throws a `JobError` naming what failed. On failure no
    /// `_SUCCESS` is written and the job's partial output is removed.
    public func run() throws(JobError) -> Summary {
        let started = Date()
        let prepared = try prepare()
        let plan = prepared.plan
        let jobID = UUID().uuidString.lowercased().prefix(12).description
        let committer = try OutputCommitter(directory: options.outputPath, overwrite: options.overwrite,
                                            jobID: jobID, inputPath: prepared.dataset.path)
        let events = BlockingQueue<Event>()
        let listener: Listener
        do { listener = try Listener(host: "127.0.0.1", port: 0) } catch {
            committer.abort()
            throw JobError("cannot open a port for workers: \(error)")
        }

        // Workers.
        let launcher = LocalWorkerLauncher()
        let executable = Self.executablePath()
        var workerArguments = ["worker", "--connect", "127.0.0.1:\(listener.port)",
                               "--python-env", prepared.pythonEnvironment.root]
        workerArguments += ["--capacity", String(options.workerCapacity)]
        var scheduler = Scheduler(configuration: .init(maxAttempts: options.maxAttempts, failWhenNoWorkers: true))
        for index in 0..<options.workers {
            _ = scheduler.handle(.workerLaunched)
            launcher.launch(index: index, executable: executable, arguments: workerArguments) { index, how in
                events.push(.workerExited(index: index, how: how))
            }
        }
        let acceptor = Acceptor(listener: listener, events: events, log: log)
        acceptor.start()

        // Input and output pipelines.
        let fileNames = Self.outputFileNames(prepared.dataset)
        let maxBuffered = options.maxBufferedPartitions ?? (options.workers + 2)
        let reader = PartitionReader(dataset: prepared.dataset, plan: plan, columnIndices: prepared.decodeIndices,
                                     schema: prepared.decodeSchema, maxBuffered: maxBuffered) { events.push(.reader($0)) }
        let writer = OutputWriter(plan: plan, fileNames: fileNames, schema: prepared.outputSchema, committer: committer,
                                  compression: options.compression) { events.push(.writer($0)) }
        reader.start()
        writer.start()

        let job = JobSpec(jobID: jobID, modelPath: prepared.model.directory,
                          columnNames: prepared.modelColumns.indices.map(String.init),
                          resultType: prepared.resultType.rawValue)

        var links: [WorkerID: Link] = [:]
        var nextWorkerID = 0
        var partitions: [Int: RecordBatch] = [:]
        var results: [Int: [Column?]] = [:]
        var remaining: [Int: Int] = [:]
        var nextToWrite = 0
        var completed: [Int: Column] = [:]
        var readyCount = 0
        var failure: JobError?
        var finishedScheduling = false
        var writerDone = false
        var rowsWritten = 0
        let startupDeadline = Date().addingTimeInterval(options.startupTimeout)
        let trace = ProcessInfo.processInfo.environment["SCORE_CLUSTER_TRACE"] != nil
        func mark(_ what: String) {
            if trace { log(String(format: "trace %7.3f s: %@", Date().timeIntervalSince(started), what)) }
        }
        mark("prepared")

        func describe(task: TaskID) -> String {
            let p = plan.partition(of: task)
            let rows = plan.rows(of: task, in: p)
            let file = prepared.dataset.files[p.file].path
            let first = p.rows.lowerBound + rows.lowerBound
            return "partition \(p.id) (\(file), row group \(p.rowGroup), rows \(first)..<\(p.rows.lowerBound + rows.upperBound) of the row group)"
        }

        func perform(_ actions: [Scheduler.Action]) {
            for action in actions {
                switch action {
                case .assign(let task, let worker):
                    let p = plan.partition(of: task)
                    let rows = plan.rows(of: task, in: p)
                    let batch = partitions[p.id]!
                    let columns = prepared.modelColumns.map { batch.columns[$0].slice(rows) }
                    let encoded = ColumnBatchCodec.encode(taskID: task, rowCount: rows.count, columns: columns)
                    do { try links[worker]?.connection.send(.batch, batch: encoded) } catch {
                        // The receive thread reports the broken connection; the scheduler requeues.
                        links[worker]?.connection.shutdownReceive()
                    }
                case .accept:
                    break  // results are stored when they arrive (see .result)
                case .fail(let reason, let task):
                    if failure == nil {
                        failure = JobError(task.map { "\(describe(task: $0)): \(reason)" } ?? reason)
                    }
                case .finish:
                    finishedScheduling = true
                }
            }
        }

        func flushCompleted() {
            while let prediction = completed.removeValue(forKey: nextToWrite) {
                let batch = partitions[nextToWrite]!
                let kept = prepared.keptColumns.map { batch.columns[$0] }
                let output = RecordBatch(schema: prepared.outputSchema, columns: kept + [prediction])
                writer.submit(partition: nextToWrite, batch: output)
                partitions[nextToWrite] = nil
                nextToWrite += 1
            }
        }

        while failure == nil && !(finishedScheduling && writerDone) {
            guard let event = events.pop(timeout: 1.0) else {
                if readyCount == 0 && Date() > startupDeadline {
                    failure = JobError("no worker was ready after \(Int(options.startupTimeout)) seconds; check the worker messages above")
                }
                continue
            }
            switch event {
            case .accepted(let connection):
                let peerConnection = connection
                // The handshake runs on the connection's own thread; strangers never reach the scheduler.
                Thread.detachNewThread { [log] in
                    Self.handshake(peerConnection, events: events, log: log)
                }
            case .hello(let connection, let hello):
                mark("worker pid \(hello.pid) connected")
                let id = nextWorkerID
                nextWorkerID += 1
                links[id] = Link(connection: connection, hello: hello)
                perform(scheduler.handle(.workerJoined(id, capacity: hello.capacity)))
                do { try connection.send(.job, job) } catch {
                    perform(scheduler.handle(.workerLost(id, reason: "cannot send the job: \(error)")))
                    continue
                }
                Self.startReceiving(id: id, connection: connection, events: events)
            case .ready(let id, let ready):
                readyCount += 1
                mark("worker \(id) ready (model loaded in \(String(format: "%.2f", ready.loadSeconds)) s)")
                perform(scheduler.handle(.workerReady(id)))
            case .result(let id, let decoded):
                let actions = scheduler.handle(.resultReceived(id, decoded.taskID))
                if actions.contains(.accept(decoded.taskID)) {
                    let p = plan.partition(of: decoded.taskID)
                    let expected = plan.rows(of: decoded.taskID, in: p).count
                    guard decoded.columns.count == 1, decoded.rowCount == expected,
                          decoded.columns[0].type == prepared.resultType.dataType else {
                        failure = JobError("\(links[id]?.name ?? "a worker") returned a malformed result for \(describe(task: decoded.taskID))")
                        break
                    }
                    results[p.id]![Int(decoded.taskID - p.firstTask)] = decoded.columns[0]
                    remaining[p.id]! -= 1
                    if remaining[p.id] == 0 {
                        completed[p.id] = Column.concatenate(results.removeValue(forKey: p.id)!.map { $0! })
                        remaining[p.id] = nil
                        flushCompleted()
                    }
                }
                perform(actions)
            case .failure(let id, let workerFailure):
                let name = links[id]?.name ?? "a worker"
                switch workerFailure.kind {
                case .modelLoad, .environment:
                    let message = "\(name) could not load the model \(prepared.model.directory): \(workerFailure.message)"
                    perform(scheduler.handle(.modelLoadFailed(id, reason: message)))
                    failure?.traceback = workerFailure.traceback
                case .predict:
                    if let task = workerFailure.taskID {
                        perform(scheduler.handle(.taskFailed(id, task, reason: "\(workerFailure.message) (on \(name))")))
                        failure?.traceback = workerFailure.traceback
                    }
                case .protocolError:
                    perform(scheduler.handle(.workerLost(id, reason: "\(name) broke the protocol: \(workerFailure.message)")))
                }
            case .disconnected(let id, let why):
                let name = links[id]?.name ?? "a worker"
                links[id]?.connection.close()
                perform(scheduler.handle(.workerLost(id, reason: "\(name) disconnected: \(why)")))
            case .workerExited(let index, let how):
                let pid = launcher.pid(of: index)
                let connected = links.values.contains { $0.hello.pid == pid }
                if !connected {
                    perform(scheduler.handle(.workerLost(nil, reason: "worker process \(index) (pid \(pid.map(String.init) ?? "?")) \(how) before connecting")))
                } else if !finishedScheduling {
                    log("worker process \(index) (pid \(pid.map(String.init) ?? "?")) \(how)")
                }
            case .reader(let output):
                switch output {
                case .decoded(let partition, let batch):
                    let p = plan.partitions[partition]
                    partitions[partition] = batch
                    results[partition] = Array(repeating: nil, count: p.taskCount)
                    remaining[partition] = p.taskCount
                    perform(scheduler.handle(.tasksAvailable((0..<p.taskCount).map { p.firstTask + TaskID($0) })))
                case .finished:
                    mark("input decoded")
                    perform(scheduler.handle(.inputFinished))
                case .failed(let message):
                    failure = JobError("cannot read the input: \(message)")
                }
            case .writer(let output):
                switch output {
                case .wrote(_, let rows):
                    rowsWritten += rows
                    reader.release()
                case .finished:
                    mark("output written")
                    writerDone = true
                case .failed(let message):
                    failure = JobError("cannot write the output: \(message)")
                }
            }
        }

        // Wind down: workers first, then the pipelines.
        for link in links.values { try? link.connection.send(.shutdown) }
        acceptor.stop()
        reader.stop()
        if var failure {
            launcher.settle(seconds: 1, expected: options.workers)
            let exits = launcher.abnormalExits
            if !exits.isEmpty {
                failure.message += ". Worker processes that ended: \(exits.joined(separator: "; ")). A worker ends like this when the model crashes the interpreter (a segfault, os._exit, running out of memory); see the worker messages above"
            }
            writer.stop()
            launcher.signalAll(SIGTERM)
            launcher.waitForExit(seconds: 5, expected: options.workers)
            for link in links.values { link.connection.close() }
            committer.abort()
            throw failure
        }
        do { try committer.markSuccess() } catch {
            launcher.waitForExit(seconds: 10, expected: options.workers)
            committer.abort()
            throw error
        }
        launcher.waitForExit(seconds: 10, expected: options.workers)
        for link in links.values { link.connection.close() }
        return Summary(rows: rowsWritten, files: fileNames.count, partitions: plan.partitions.count,
                       workers: options.workers, seconds: Date().timeIntervalSince(started),
                       outputDirectory: committer.directory, outputFiles: fileNames)
    }

    // MARK: Connections

    /// Reads the first frame of a new connection: a worker's hello, or a refusal.
    private static func handshake(_ connection: Connection, events: BlockingQueue<Event>, log: @Sendable (String) -> Void) {
        connection.setReceiveTimeout(seconds: 30)
        do {
            let frame = try connection.receive()
            switch frame.header.type {
            case .hello:
                connection.setReceiveTimeout(seconds: 0)
                events.push(.hello(connection, try frame.decode(WorkerHello.self)))
            case .failure:
                let failure = try frame.decode(WorkerFailure.self)
                log("a worker (\(connection.peer)) could not start: \(failure.message)")
                connection.close()
            default:
                log("refused \(connection.peer): it sent \(frame.header.type) before hello")
                connection.close()
            }
        } catch {
            log("refused connection from \(connection.peer): \(error)")
            connection.close()
        }
    }

    private static func startReceiving(id: WorkerID, connection: Connection, events: BlockingQueue<Event>) {
        let thread = Thread {
            while true {
                do {
                    let frame = try connection.receive()
                    switch frame.header.type {
                    case .ready: events.push(.ready(id, try frame.decode(WorkerReady.self)))
                    case .result: events.push(.result(id, try ColumnBatchCodec.decode(frame.payload)))
                    case .failure: events.push(.failure(id, try frame.decode(WorkerFailure.self)))
                    default: throw WireError.unexpected("\(frame.header.type) from a worker")
                    }
                } catch {
                    events.push(.disconnected(id, "\(error)"))
                    return
                }
            }
        }
        thread.name = "worker-\(id)"
        thread.start()
    }

    // MARK: Helpers

    /// This process's executable, to start workers with.
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments[0]
    }

    /// One output file per input file, named like it.
    static func outputFileNames(_ dataset: ParquetDataset) -> [String] {
        var seen: [String: Int] = [:]
        return dataset.files.map { file in
            var name = URL(fileURLWithPath: file.path).lastPathComponent
            if let n = seen[name] {
                seen[name] = n + 1
                name = "\(n)-" + name
            } else {
                seen[name] = 1
            }
            return name
        }
    }
}

/// Accepts connections on its own thread and posts them to the control thread.
private final class Acceptor: @unchecked Sendable {
    private let listener: Listener
    private let events: BlockingQueue<JobRunner.Event>
    private let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var stopped = false

    init(listener: Listener, events: BlockingQueue<JobRunner.Event>, log: @escaping @Sendable (String) -> Void) {
        self.listener = listener
        self.events = events
        self.log = log
    }

    func start() {
        let thread = Thread { [self] in
            while !lock.withLock({ stopped }) {
                do {
                    if let connection = try listener.accept(timeoutMilliseconds: 200) { events.push(.accepted(connection)) }
                } catch {
                    log("listener: \(error)")
                    return
                }
            }
        }
        thread.name = "acceptor"
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }
}
