import Columnar
import Foundation
import Logging
import MLflowModel
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
    private let logger: Logger
    private let progress: (@Sendable (JobProgress) -> Void)?
    private let started: Date

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
    /// Decoded blocks whose rows are not written yet (the model's inputs and kept columns).
    private var blocks: [Int: RecordBatch] = [:]
    private var readyWorkers = 0
    private var failure: JobError?
    private var schedulingDone = false
    private var writerDone = false
    /// Blocks decoded and not yet written.
    private var blocksHeld = 0
    private var readerPaused = false
    /// After SIGINT/SIGTERM: when to stop waiting for batches in flight.
    private var drainDeadline: Date?
    private var interruption = ""
    /// When each worker was last heard from, and which worker holds each batch since when.
    private var lastHeard: [WorkerID: Date] = [:]
    private var held: [TaskID: (worker: WorkerID, since: Date)] = [:]
    private var lastWatch = Date()
    private var lastBeat = Date()
    private var lastProgress: [(time: Date, rows: Int)] = []
    /// Batches handed out at least once, and how many hand-outs were second or later attempts.
    private var assigned: Set<TaskID> = []
    /// Partitions set aside (`--max-failed-partitions`).
    private var quarantined: Set<Int> = []
    private var retries = 0
    private var answered = 0
    private var lastTraceback: String?
    private(set) var report = JobReport()
    private var workerReports: [WorkerID: JobReport.Worker] = [:]
    /// Rows committed by the run that is being resumed.
    private let resumedRows: Int
    /// Workers that connected and passed the handshake during the job.
    var workersJoined: Int { nextWorkerID }
    /// Process ids of the workers that loaded the model (the others have no work to finish).
    var readyPIDs: Set<Int32> { Set(readyIDs.compactMap { links[$0]?.hello.pid }) }
    /// Process ids of the workers this job gave up on (silent, too slow, broke the protocol, went away).
    var lostPIDs: Set<Int32> { Set(workerReports.values.filter { $0.lost != nil }.map(\.pid)) }
    /// Starts a worker in place of a kept one that ended before joining (`run --keep-workers`).
    var replaceKeptWorker: (() -> Void)?
    private var readyIDs: Set<WorkerID> = []

    /// Runs the partitions `todo` of `job` (all of them, unless resuming); `modelDigest` is
    /// `JobFingerprint.digest(ofModel:)` of the model.
    init(job: JobPreparation, options: JobOptions, todo: [Int], resumedRows: Int, jobID: String, modelDigest: String,
         started: Date, events: BlockingQueue<JobEvent>, logger: Logger, progress: (@Sendable (JobProgress) -> Void)?) {
        self.job = job
        self.options = options
        self.events = events
        var logger = logger
        logger[metadataKey: "job"] = "\(jobID)"
        self.logger = logger
        self.progress = progress
        self.started = started
        self.resumedRows = resumedRows
        var spec = JobSpec(jobID: jobID, modelPath: job.model.directory, columnNames: job.binding.labels,
                           integerLabels: job.binding.integerLabels, enforcedTypes: job.binding.enforcedTypes,
                           modelConfigJSON: job.modelConfigJSON, paramsJSON: job.paramsJSON,
                           resultType: job.resultType.rawValue, outputField: options.outputField,
                           strictTypes: options.strictTypes)
        spec.modelContentDigest = modelDigest
        self.spec = spec
        self.scheduler = Scheduler(configuration: .init(maxAttempts: options.maxAttempts,
                                                        failWhenNoWorkers: options.workerSource == .local,
                                                        retryModelErrors: options.retryModelErrors,
                                                        maxFailedPartitions: options.maxFailedPartitions))
        self.merger = ResultMerger(plan: job.plan, blocks: todo.flatMap { Array(job.plan.partitions[$0].blocks) })
        report.partitions = job.plan.partitions.count
        report.partitionsResumed = job.plan.partitions.count - todo.count
        report.rows = resumedRows
    }

    func workerLaunched() { perform(scheduler.handle(.workerLaunched)) }

    /// Handles events until every partition is written or the job fails; returns the failure.
    func runUntilDone() -> JobError? {
        mark("prepared")
        for warning in job.warnings { logger.warning("\(warning)") }
        if job.plan.partitions.isEmpty && report.partitionsResumed == 0 { writer?.submit(.empty) }
        if merger.nextBlock == nil { writer?.submit(.finish) }
        let startupDeadline = Date().addingTimeInterval(options.startupTimeout)
        while failure == nil && !(schedulingDone && writerDone) {
            guard let event = events.pop(timeout: 1.0) else {
                if readyWorkers == 0 && Date() > startupDeadline {
                    failure = JobError("no worker was ready after \(Int(options.startupTimeout)) seconds; check the worker messages above",
                                       resumable: true)
                }
                watch()
                continue
            }
            handle(event)
            watch()
        }
        finishReport()
        return failure
    }

    func shutdownWorkers() {
        for link in links.values { try? link.connection.send(.shutdown) }
    }

    func closeConnections() {
        for link in links.values { link.connection.close() }
    }

    /// Workers silent past the heartbeat timeout, and batches held past the task timeout, are
    /// lost: their batches go to other workers (the scheduler counts the attempts). Also ends a
    /// drain, and reports progress.
    private func watch() {
        let now = Date()
        if let deadline = drainDeadline, failure == nil {
            // Done draining when the partitions under way are written, or at the deadline.
            if (readerPaused && blocksHeld == 0) || now > deadline {
                let abandoned = scheduler.inFlightCount
                failure = JobError("stopped by \(interruption)"
                    + (abandoned > 0 ? " (\(abandoned) batch(es) in flight abandoned after the \(Int(options.gracePeriod)) s grace period)" : ""),
                    resumable: true)
                return
            }
        }
        guard now.timeIntervalSince(lastWatch) >= 1 else { return }
        lastWatch = now
        // Heartbeats the other way: a worker that hears nothing from the coordinator for long
        // stops (and, kept alive, waits for the next job) instead of waiting for ever.
        if now.timeIntervalSince(lastBeat) >= Double(Heartbeat.intervalSeconds) {
            lastBeat = now
            for id in lastHeard.keys { try? links[id]?.connection.send(.heartbeat) }
        }
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
        reportProgress(now)
    }

    private func reportProgress(_ now: Date) {
        guard let progress else { return }
        let rows = resumedRows + report.rowsScored
        lastProgress.append((now, rows))
        if lastProgress.count > 6 { lastProgress.removeFirst() }
        let first = lastProgress[0]
        let span = now.timeIntervalSince(first.time)
        progress(JobProgress(rowsDone: rows, rowsTotal: job.dataset.rowCount, seconds: now.timeIntervalSince(started),
                             rowsPerSecond: span > 0 ? Double(rows - first.rows) / span : 0,
                             workersAlive: lastHeard.count, retries: retries,
                             quarantined: quarantined.count, stopping: drainDeadline != nil))
    }

    /// Gives up on a worker: closes its connection and tells the scheduler.
    private func lose(_ id: WorkerID, _ reason: String) {
        lastHeard[id] = nil
        held = held.filter { $0.value.worker != id }
        links[id]?.connection.shutdownReceive()
        logger.warning("\(reason)", metadata: ["worker": "\(id)"])
        markLost(id, reason)
        perform(scheduler.handle(.workerLost(id, reason: reason)), resumable: true)
    }

    private func markLost(_ id: WorkerID, _ reason: String) {
        guard workerReports[id] != nil, workerReports[id]!.lost == nil else { return }
        workerReports[id]!.lost = reason
        report.workersLost += 1
    }

    private func handle(_ event: JobEvent) {
        switch event {
        case .heartbeat(let id):
            if lastHeard[id] != nil { lastHeard[id] = Date() }
        case .timings(let id, let timings):
            workerReports[id]?.decodeSeconds += timings.decodeSeconds
            workerReports[id]?.predictSeconds += timings.predictSeconds
            workerReports[id]?.encodeSeconds += timings.encodeSeconds
            workerReports[id]?.networkSeconds -= timings.decodeSeconds + timings.predictSeconds + timings.encodeSeconds
        case .interrupted(let why):
            if drainDeadline != nil || options.gracePeriod == 0 {
                failure = JobError("stopped by \(why)", resumable: true)
            } else {
                // Finish the partitions under way (so that they are committed) and start no other.
                interruption = why
                drainDeadline = Date().addingTimeInterval(options.gracePeriod)
                reader?.pauseAtPartitionBoundary()
                logger.notice("\(why): finishing the partitions under way for up to \(Int(options.gracePeriod)) s, starting no other (interrupt again to stop now)")
            }
        case .hello(let connection, let hello):
            mark("worker pid \(hello.pid) connected")
            let id = nextWorkerID
            nextWorkerID += 1
            links[id] = Link(connection: connection, hello: hello)
            workerReports[id] = JobReport.Worker(id: id, host: hello.host, pid: hello.pid, peer: connection.peer)
            lastHeard[id] = Date()
            perform(scheduler.handle(.workerJoined(id, capacity: hello.capacity)))
            do { try connection.send(.job, spec) } catch {
                markLost(id, "cannot send the job: \(error)")
                perform(scheduler.handle(.workerLost(id, reason: "cannot send the job: \(error)")), resumable: true)
                return
            }
            WorkerConnections.startReceiving(id: id, connection: connection, events: events)
        case .ready(let id, let ready):
            readyWorkers += 1
            readyIDs.insert(id)
            workerReports[id]?.loadSeconds = ready.loadSeconds
            mark("worker \(id) ready (model loaded in \(String(format: "%.2f", ready.loadSeconds)) s)")
            if readyWorkers < minWorkers {
                logger.info("\(name(of: id)) is ready; waiting for \(minWorkers - readyWorkers) more worker(s) (--min-workers \(minWorkers))")
                waitingReady.append(id)
            } else {
                for waiting in waitingReady + [id] { perform(scheduler.handle(.workerReady(waiting))) }
                waitingReady = []
            }
        case .modelRequested(let id):
            guard let archive = modelArchive else {
                perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) asked for the model, which this job does not send")), resumable: true)
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
            // Each loss is told when it happens, naming the peer: at the end it is only a count.
            if !schedulingDone, workerReports[id]?.lost == nil {
                logger.warning("lost \(name(of: id)): it disconnected (\(why)); its batches go to other workers",
                               metadata: ["worker": "\(id)", "peer": "\(links[id]?.connection.peer ?? "?")"])
            }
            lastHeard[id] = nil
            held = held.filter { $0.value.worker != id }
            links[id]?.connection.close()
            markLost(id, "disconnected: \(why)")
            perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) disconnected: \(why)")), resumable: true)
        case .workerExited(let index, let how):
            let pid = launcher?.pid(of: index)
            let label = "worker process \(index) (pid \(pid.map(String.init) ?? "?")) \(how)"
            if !links.values.contains(where: { $0.hello.pid == pid }) {
                perform(scheduler.handle(.workerLost(nil, reason: "\(label) before connecting")), resumable: true)
            } else if !schedulingDone {
                logger.warning("\(label)")
            }
        case .keptWorkerGone(let pid):
            // Its idle timeout came just as this job started: another takes its place. One that
            // had joined is handled as any worker that goes away.
            guard !workerReports.values.contains(where: { $0.pid == pid }), !schedulingDone else { return }
            logger.info("kept worker pid \(pid) ended before joining; starting another")
            if let replace = replaceKeptWorker {
                workerLaunched()
                replace()
            }
            perform(scheduler.handle(.workerLost(nil, reason: "kept worker pid \(pid) ended before joining")), resumable: true)
        case .reader(.decoded(let block, let batch, let seconds)):
            report.readSeconds += seconds
            blocks[block] = batch
            blocksHeld += 1
            merger.expect(block: block)
            perform(scheduler.handle(.tasksAvailable(job.plan.tasks(of: job.plan.blocks[block]))))
        case .reader(.paused):
            readerPaused = true
        case .reader(.finished):
            mark("input decoded")
            perform(scheduler.handle(.inputFinished))
        case .reader(.failed(let message)):
            failure = JobError("cannot read the input: \(message)")
        case .writer(.wroteBlock(_, let seconds)):
            report.writeSeconds += seconds
            blocksHeld -= 1
            reader?.release()
        case .writer(.finished):
            mark("output written")
            writerDone = true
        case .writer(.failed(let message)):
            failure = JobError("cannot write the output: \(message)", resumable: true)
        case .writer(.inputFailed(let message)):
            failure = JobError("cannot read the input: \(message)")
        }
    }

    private func received(_ decoded: ColumnBatchCodec.Decoded, from id: WorkerID) {
        if lastHeard[id] != nil { lastHeard[id] = Date() }
        if let holder = held[decoded.taskID], holder.worker == id {
            held[decoded.taskID] = nil
            workerReports[id]?.networkSeconds += Date().timeIntervalSince(holder.since)
        }
        let actions = scheduler.handle(.resultReceived(id, decoded.taskID))
        if actions.contains(.accept(decoded.taskID)) {
            answered += 1
            let b = job.plan.block(of: decoded.taskID)
            let expected = job.resultType.dataType
            guard decoded.columns.count == 1, decoded.rowCount == job.plan.rows(of: decoded.taskID, in: b).count,
                  decoded.columns[0].type.hasSameShape(as: expected) else {
                failure = JobError("\(name(of: id)) returned a malformed result for \(job.describe(task: decoded.taskID))")
                return
            }
            report.rowsScored += decoded.rowCount
            workerReports[id]?.rows += decoded.rowCount
            workerReports[id]?.batches += 1
            completed(merger.add(decoded.columns[0].retyped(as: expected), for: decoded.taskID))
        }
        perform(actions)
    }

    /// Hands blocks whose batches are all answered to the writer, in order.
    private func completed(_ done: [ResultMerger.Completed]) {
        for item in done {
            let batch = blocks.removeValue(forKey: item.block)!
            switch item {
            case .scored(let block, let prediction):
                if job.copiesKeptColumns[job.plan.blocks[block].partition] {
                    writer?.submit(.scored(block: block, batch: RecordBatch(schema: job.predictionSchema, columns: [prediction])))
                } else {
                    let kept = job.keptColumns.map { batch.columns[$0] }
                    writer?.submit(.scored(block: block, batch: RecordBatch(schema: job.outputSchema, columns: kept + [prediction])))
                }
            case .failed(let block, let batches):
                quarantined.insert(job.plan.blocks[block].partition)
                writer?.submit(.failed(block: block, batches: batches))
            }
        }
        if !done.isEmpty && merger.nextBlock == nil { writer?.submit(.finish) }
    }

    /// The JSON written to `_failed/` for a quarantined partition: its input rows, and each
    /// failed batch's rows, error and traceback.
    static func quarantineRecord(job: JobPreparation, _ partition: Int, _ batches: [ResultMerger.FailedBatch]) -> Data {
        struct Record: Encodable {
            struct Batch: Encodable {
                var input: String
                var rows: [Int]
                var error: String
                var traceback: String?
            }
            var partition: Int
            /// The partition's rows: input files and rows of each (`[first, end)`).
            var inputs: [JobManifest.InputRows]
            var failedBatches: [Batch]
        }
        let p = job.plan.partitions[partition]
        let files = job.dataset.files
        let record = Record(partition: partition,
                            inputs: p.inputs.map { .init(file: files[$0.file].path, rows: [$0.rows.lowerBound, $0.rows.upperBound]) },
                            failedBatches: batches.map { batch in
                                let rows = job.plan.fileRows(of: batch.task)
                                return .init(input: files[job.plan.block(of: batch.task).file].path, rows: [rows.lowerBound, rows.upperBound],
                                             error: batch.reason, traceback: batch.traceback)
                            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(record)) ?? Data()
    }

    private func failed(_ workerFailure: WorkerFailure, on id: WorkerID) {
        let hadFailed = failure != nil
        switch workerFailure.kind {
        case .modelLoad, .environment:
            let message = "\(name(of: id)) could not load the model \(job.model.directory): \(workerFailure.message)"
            perform(scheduler.handle(.modelLoadFailed(id, reason: message)))
        case .predict:
            guard let task = workerFailure.taskID else { return }
            if let holder = held[task], holder.worker == id { held[task] = nil }
            workerReports[id]?.failures += 1
            lastTraceback = workerFailure.traceback
            perform(scheduler.handle(.taskFailed(id, task, partition: job.plan.partition(of: task).id,
                                                 reason: "\(workerFailure.message) (on \(name(of: id)))")))
        case .protocolError:
            perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) broke the protocol: \(workerFailure.message)")))
        }
        if !hadFailed, failure != nil { failure!.traceback = workerFailure.traceback }
    }

    private func perform(_ actions: [Scheduler.Action], resumable: Bool = false) {
        for action in actions {
            switch action {
            case .assign(let task, let worker):
                if !assigned.insert(task).inserted { retries += 1 }
                send(task, to: worker)
            case .accept:
                break  // stored by `received`, which saw the same action
            case .quarantine(let task, let reason):
                answered += 1
                logger.error("set aside \(job.describe(task: task)): \(reason)", metadata: ["task": "\(task)"])
                completed(merger.fail(task, reason: reason, traceback: lastTraceback))
            case .fail(let reason, let task):
                if failure == nil {
                    failure = JobError(task.map { "\(job.describe(task: $0)): \(reason)" } ?? reason, resumable: resumable)
                }
            case .finish:
                schedulingDone = true
            }
        }
    }

    private func send(_ task: TaskID, to worker: WorkerID) {
        held[task] = (worker, Date())
        let p = job.plan.block(of: task)
        let rows = job.plan.rows(of: task, in: p)
        let batch = blocks[p.id]!
        let columns = job.modelColumns.map { batch.columns[$0].slice(rows) }
        do {
            try links[worker]?.connection.send(.batch, batch: ColumnBatchCodec.encode(taskID: task, rowCount: rows.count, columns: columns))
        } catch {
            // Its receive thread reports the broken connection, and the scheduler requeues the batch.
            links[worker]?.connection.shutdownReceive()
        }
    }

    private func finishReport() {
        report.seconds = Date().timeIntervalSince(started)
        report.rows = resumedRows + report.rowsScored
        report.batches = answered
        report.retries = retries
        report.partitionsQuarantined = quarantined.count
        report.workers = workerReports.keys.sorted().map { workerReports[$0]! }
        if let failure {
            report.status = failure.resumable && drainDeadline != nil ? "interrupted" : "failed"
            report.error = failure.message
        } else {
            report.status = report.partitionsQuarantined > 0 ? "partial" : "succeeded"
        }
    }

    private func name(of id: WorkerID) -> String { links[id]?.name ?? "worker \(id)" }

    private func mark(_ what: String) {
        logger.debug("\(what)", metadata: ["seconds": "\(String(format: "%.3f", Date().timeIntervalSince(started)))"])
    }
}
