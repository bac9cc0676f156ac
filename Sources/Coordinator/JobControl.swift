import Columnar
import Foundation
import Wire

/// The state of a running job, owned by the control thread: worker links, decoded partitions
/// waiting for results, the scheduler and the merger. Every other thread talks to it through
/// `JobEvent`s; it turns events into scheduler events and scheduler actions into I/O.
final class JobControl {
    private struct Link {
        var connection: Connection
        var hello: WorkerHello
        var name: String { "worker pid \(hello.pid) on \(hello.host) (\(connection.peer))" }
    }

    private let job: JobPreparation
    private let options: JobOptions
    private var spec: JobSpec
    private let events: BlockingQueue<JobEvent>
    private let log: @Sendable (String) -> Void
    private let started: Date
    private let trace = ProcessInfo.processInfo.environment["SCORE_CLUSTER_TRACE"] != nil

    var reader: PartitionReader?
    var writer: OutputWriter?
    var launcher: LocalWorkerLauncher?
    /// The model, packed, for workers that do not have it (remote workers).
    var modelArchive: ModelArchive? {
        didSet { spec.modelSHA256 = modelArchive?.sha256 }
    }
    /// Workers that loaded the model but wait until enough have (`--min-workers`).
    private var waitingReady: [WorkerID] = []
    private var minWorkers: Int {
        if case .listen(_, _, let minimum) = options.workerSource { return max(1, minimum) }
        return 1
    }

    private var scheduler: Scheduler
    private var merger: ResultMerger
    private var links: [WorkerID: Link] = [:]
    private var nextWorkerID = 0
    /// Decoded partitions whose rows are not written yet (the model's inputs and kept columns).
    private var partitions: [Int: RecordBatch] = [:]
    private var readyWorkers = 0
    private var failure: JobError?
    private var schedulingDone = false
    private var writerDone = false
    private(set) var rowsWritten = 0
    /// When each worker was last heard from, and which worker holds each batch since when.
    private var lastHeard: [WorkerID: Date] = [:]
    private var held: [TaskID: (worker: WorkerID, since: Date)] = [:]
    private var lastWatch = Date()
    /// Workers that connected and passed the handshake during the job.
    var workersJoined: Int { nextWorkerID }

    init(job: JobPreparation, options: JobOptions, jobID: String, started: Date, events: BlockingQueue<JobEvent>,
         log: @escaping @Sendable (String) -> Void) {
        self.job = job
        self.options = options
        self.events = events
        self.log = log
        self.started = started
        var spec = JobSpec(jobID: jobID, modelPath: job.model.directory, columnNames: job.binding.labels,
                            integerLabels: job.binding.integerLabels, enforcedTypes: job.binding.enforcedTypes,
                            modelConfigJSON: job.modelConfigJSON, paramsJSON: job.paramsJSON,
                            resultType: job.resultType.rawValue, outputField: options.outputField,
                            strictTypes: options.strictTypes)
        self.spec = spec
        self.scheduler = Scheduler(configuration: .init(maxAttempts: options.maxAttempts,
                                                        failWhenNoWorkers: options.workerSource == .local))
        self.merger = ResultMerger(plan: job.plan)
    }

    func workerLaunched() { perform(scheduler.handle(.workerLaunched)) }

    /// Handles events until every partition is written or the job fails; returns the failure.
    func runUntilDone() -> JobError? {
        mark("prepared")
        for warning in job.warnings { log("warning: \(warning)") }
        let startupDeadline = Date().addingTimeInterval(options.startupTimeout)
        while failure == nil && !(schedulingDone && writerDone) {
            guard let event = events.pop(timeout: 1.0) else {
                if readyWorkers == 0 && Date() > startupDeadline {
                    failure = JobError("no worker was ready after \(Int(options.startupTimeout)) seconds; check the worker messages above")
                }
                watch()
                continue
            }
            handle(event)
            watch()
        }
        return failure
    }

    func shutdownWorkers() {
        for link in links.values { try? link.connection.send(.shutdown) }
    }

    func closeConnections() {
        for link in links.values { link.connection.close() }
    }

    /// Workers silent past the heartbeat timeout, and batches held past the task timeout, are
    /// lost: their batches go to other workers (the scheduler counts the attempts).
    private func watch() {
        let now = Date()
        guard now.timeIntervalSince(lastWatch) >= 1 else { return }
        lastWatch = now
        for (id, heard) in lastHeard where now.timeIntervalSince(heard) > options.heartbeatTimeout {
            lose(id, "\(name(of: id)) sent nothing for \(Int(options.heartbeatTimeout)) s (no heartbeat): it is stuck or unreachable")
        }
        if let limit = options.taskTimeout {
            var late: [WorkerID: TaskID] = [:]
            for (task, holder) in held where now.timeIntervalSince(holder.since) > limit { late[holder.worker] = min(task, late[holder.worker] ?? task) }
            for (worker, task) in late.sorted(by: { $0.key < $1.key }) {
                lose(worker, "\(name(of: worker)) held \(job.describe(task: task)) for more than --task-timeout \(Int(limit)) s")
            }
        }
    }

    /// Gives up on a worker: closes its connection and tells the scheduler.
    private func lose(_ id: WorkerID, _ reason: String) {
        lastHeard[id] = nil
        held = held.filter { $0.value.worker != id }
        links[id]?.connection.shutdownReceive()
        log(reason)
        perform(scheduler.handle(.workerLost(id, reason: reason)))
    }

    private func handle(_ event: JobEvent) {
        switch event {
        case .heartbeat(let id):
            if lastHeard[id] != nil { lastHeard[id] = Date() }
        case .interrupted(let why):
            failure = JobError("stopped by \(why); nothing was committed (run again to redo the job)")
        case .accepted(let connection):
            WorkerConnections.handshake(connection, token: options.token, events: events, log: log)
        case .hello(let connection, let hello):
            mark("worker pid \(hello.pid) connected")
            let id = nextWorkerID
            nextWorkerID += 1
            links[id] = Link(connection: connection, hello: hello)
            lastHeard[id] = Date()
            perform(scheduler.handle(.workerJoined(id, capacity: hello.capacity)))
            do { try connection.send(.job, spec) } catch {
                perform(scheduler.handle(.workerLost(id, reason: "cannot send the job: \(error)")))
                return
            }
            WorkerConnections.startReceiving(id: id, connection: connection, events: events)
        case .ready(let id, let ready):
            readyWorkers += 1
            mark("worker \(id) ready (model loaded in \(String(format: "%.2f", ready.loadSeconds)) s)")
            if readyWorkers < minWorkers {
                log("\(name(of: id)) is ready; waiting for \(minWorkers - readyWorkers) more worker(s) (--min-workers \(minWorkers))")
                waitingReady.append(id)
            } else {
                for waiting in waitingReady + [id] { perform(scheduler.handle(.workerReady(waiting))) }
                waitingReady = []
            }
        case .modelRequested(let id):
            guard let archive = modelArchive else {
                perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) asked for the model, which this job does not send")))
                return
            }
            do { try links[id]?.connection.send(.modelArchive, payload: archive.buffer) } catch {
                links[id]?.connection.shutdownReceive()
            }
        case .result(let id, let decoded):
            received(decoded, from: id)
        case .failure(let id, let workerFailure):
            failed(workerFailure, on: id)
        case .disconnected(let id, let why):
            lastHeard[id] = nil
            held = held.filter { $0.value.worker != id }
            links[id]?.connection.close()
            perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) disconnected: \(why)")))
        case .workerExited(let index, let how):
            let pid = launcher?.pid(of: index)
            let label = "worker process \(index) (pid \(pid.map(String.init) ?? "?")) \(how)"
            if !links.values.contains(where: { $0.hello.pid == pid }) {
                perform(scheduler.handle(.workerLost(nil, reason: "\(label) before connecting")))
            } else if !schedulingDone {
                log(label)
            }
        case .reader(.decoded(let partition, let batch)):
            let p = job.plan.partitions[partition]
            partitions[partition] = batch
            merger.expect(partition: partition)
            perform(scheduler.handle(.tasksAvailable((0..<p.taskCount).map { p.firstTask + TaskID($0) })))
        case .reader(.finished):
            mark("input decoded")
            perform(scheduler.handle(.inputFinished))
        case .reader(.failed(let message)):
            failure = JobError("cannot read the input: \(message)")
        case .writer(.wrote(_, let rows)):
            rowsWritten += rows
            reader?.release()
        case .writer(.finished):
            mark("output written")
            writerDone = true
        case .writer(.failed(let message)):
            failure = JobError("cannot write the output: \(message)")
        }
    }

    private func received(_ decoded: ColumnBatchCodec.Decoded, from id: WorkerID) {
        if lastHeard[id] != nil { lastHeard[id] = Date() }
        if held[decoded.taskID]?.worker == id { held[decoded.taskID] = nil }
        let actions = scheduler.handle(.resultReceived(id, decoded.taskID))
        if actions.contains(.accept(decoded.taskID)) {
            let p = job.plan.partition(of: decoded.taskID)
            let expected = job.resultType.dataType
            guard decoded.columns.count == 1, decoded.rowCount == job.plan.rows(of: decoded.taskID, in: p).count,
                  decoded.columns[0].type.hasSameShape(as: expected) else {
                failure = JobError("\(name(of: id)) returned a malformed result for \(job.describe(task: decoded.taskID))")
                return
            }
            for (partition, prediction) in merger.add(decoded.columns[0].retyped(as: expected), for: decoded.taskID) {
                let batch = partitions.removeValue(forKey: partition)!
                let kept = job.keptColumns.map { batch.columns[$0] }
                writer?.submit(partition: partition, batch: RecordBatch(schema: job.outputSchema, columns: kept + [prediction]))
            }
        }
        perform(actions)
    }

    private func failed(_ workerFailure: WorkerFailure, on id: WorkerID) {
        let hadFailed = failure != nil
        switch workerFailure.kind {
        case .modelLoad, .environment:
            let message = "\(name(of: id)) could not load the model \(job.model.directory): \(workerFailure.message)"
            perform(scheduler.handle(.modelLoadFailed(id, reason: message)))
        case .predict:
            guard let task = workerFailure.taskID else { return }
            perform(scheduler.handle(.taskFailed(id, task, reason: "\(workerFailure.message) (on \(name(of: id)))")))
        case .protocolError:
            perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) broke the protocol: \(workerFailure.message)")))
        }
        if !hadFailed, failure != nil { failure!.traceback = workerFailure.traceback }
    }

    private func perform(_ actions: [Scheduler.Action]) {
        for action in actions {
            switch action {
            case .assign(let task, let worker):
                send(task, to: worker)
            case .accept:
                break  // stored by `received`, which saw the same action
            case .fail(let reason, let task):
                if failure == nil { failure = JobError(task.map { "\(job.describe(task: $0)): \(reason)" } ?? reason) }
            case .finish:
                schedulingDone = true
            }
        }
    }

    private func send(_ task: TaskID, to worker: WorkerID) {
        held[task] = (worker, Date())
        let p = job.plan.partition(of: task)
        let rows = job.plan.rows(of: task, in: p)
        let batch = partitions[p.id]!
        let columns = job.modelColumns.map { batch.columns[$0].slice(rows) }
        do {
            try links[worker]?.connection.send(.batch, batch: ColumnBatchCodec.encode(taskID: task, rowCount: rows.count, columns: columns))
        } catch {
            // Its receive thread reports the broken connection, and the scheduler requeues the batch.
            links[worker]?.connection.shutdownReceive()
        }
    }

    private func name(of id: WorkerID) -> String { links[id]?.name ?? "worker \(id)" }

    private func mark(_ what: String) {
        if trace { log(String(format: "trace %7.3f s: %@", Date().timeIntervalSince(started), what)) }
    }
}
