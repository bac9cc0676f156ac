import Columnar
import Foundation
import Logging
import MLflowModel
import Wire
import ObjectStore
import Parquet

/// The running job, owned by the control thread: an interpreter of two state machines. Every
/// other thread talks to it through `JobEvent`s; it turns them into events of the `Scheduler`
/// (who scores which batch) and the `JobLifecycle` (when the job starts, loses workers, drains
/// and ends), and carries out their actions: sending batches, losing workers, handing scored
/// blocks in order (`ResultMerger`) to the writer. It keeps what those two do not: the links to
/// workers, the decoded blocks waiting for results, and the report.
final class JobControl {
    /// What the job works with, made before it starts.
    struct Collaborators {
        var pipeline: Pipeline
        /// The local worker processes (`run`); nil when workers connect from elsewhere.
        var launcher: LocalWorkerLauncher?
        /// The model, packed, for workers that do not have it (remote workers).
        var modelArchive: ModelArchive?
        /// Local workers started before the job (the scheduler counts them as coming).
        var launchedWorkers: Int
        /// Starts a process standing for this many workers in place of a kept one that ended
        /// before joining (`run --keep-workers`).
        var replaceKeptWorker: ((Int) -> Void)?
        /// Starts a local worker in place of one that stopped over its memory limit (`run`).
        var replaceLocalWorker: (() -> Void)?
        /// `--workers-read`'s I/O while the workers start: stopped at the first hand-out, its
        /// heads given to their partitions' first attempts.
        var headStart: HeadStart?
    }

    /// How rows reach the workers and scored rows the output.
    enum Pipeline {
        /// Through the coordinator: it decodes blocks, sends batches, merges results and writes.
        case streamed(reader: PartitionReader, writer: OutputWriter)
        /// `--workers-read`: workers read and write whole partitions in `temporaryDirectory`
        /// (or, for an output in object storage, upload them below `uploadPrefix`); the
        /// coordinator hands them out and commits their part files.
        case workersRead(parts: PartCommitter, temporaryDirectory: String, uploadPrefix: S3Location?)
    }

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

    private let pipeline: Pipeline
    /// `--workers-read`: partitions handed out and finished (nil when streaming).
    private var handout: PartitionHandout?
    /// `--workers-read`: per partition, the batch the model last failed on (for `_failed/`).
    private var failedBatch: [Int: TaskID] = [:]
    /// `--workers-read`: what workers fetched from an object store for the partitions accepted.
    private var workersFetched = (bytes: 0, requests: 0, retries: 0)
    /// `--workers-read`: the scheduler was told that every partition is handed out.
    private var releasedAll = false
    private let launcher: LocalWorkerLauncher?
    private let modelArchive: ModelArchive?
    private let replaceKeptWorker: ((Int) -> Void)?
    private let replaceLocalWorker: (() -> Void)?

    private var lifecycle: JobLifecycle
    private var scheduler: Scheduler
    private var merger: ResultMerger
    private var links: [WorkerID: Link] = [:]
    private var nextWorkerID = 0
    /// Decoded blocks whose rows are not written yet (the model's inputs and kept columns).
    private var blocks: [Int: RecordBatch] = [:]
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
    /// Workers joined per process that launched them (`WorkerHello.launchedBy`, else their own
    /// pid): how many of those a `worker --processes` stands for have come.
    private var joinedPerProcess: [Int32: Int] = [:]
    /// Rows committed by the run that is being resumed.
    private let resumedRows: Int
    /// Workers that connected and passed the handshake during the job.
    var workersJoined: Int { nextWorkerID }
    /// Process ids of the workers that loaded the model (the others have no work to finish).
    var readyPIDs: Set<Int32> { Set(readyIDs.compactMap { links[$0]?.hello.pid }) }
    /// Process ids of the workers this job gave up on (silent, too slow, broke the protocol, went away).
    var lostPIDs: Set<Int32> { Set(workerReports.values.filter { $0.lost != nil }.map(\.pid)) }
    /// Local workers replaced after stopping over their memory limit, by pid (each once), and
    /// how many in a row without a batch answered in between (bounded, so that workers that go
    /// over the limit before doing any work are not started for ever).
    private var replacedPIDs: Set<Int32> = []
    private var replacementsWithoutProgress = 0
    private var readyIDs: Set<WorkerID> = []
    private let headStart: HeadStart?
    /// Parts written by continuing a head the head start wrote.
    private var headsContinued = 0

    /// Runs the partitions `todo` of `job` (all of them, unless resuming); `modelDigest` is
    /// `JobFingerprint.digest(ofModel:)` of the model.
    init(job: JobPreparation, options: JobOptions, todo: [Int], resumedRows: Int, jobID: String, modelDigest: String,
         collaborators: Collaborators, started: Date, events: BlockingQueue<JobEvent>, logger: Logger,
         progress: (@Sendable (JobProgress) -> Void)?) {
        self.job = job
        pipeline = collaborators.pipeline
        if case .workersRead = pipeline { handout = PartitionHandout(order: todo) }
        launcher = collaborators.launcher
        modelArchive = collaborators.modelArchive
        replaceKeptWorker = collaborators.replaceKeptWorker
        replaceLocalWorker = collaborators.replaceLocalWorker
        headStart = collaborators.headStart
        self.options = options
        self.events = events
        var logger = logger
        logger[metadataKey: "job"] = "\(jobID)"
        self.logger = logger
        self.progress = progress
        self.started = started
        self.resumedRows = resumedRows
        report.model = options.modelOrigin
        var spec = JobSpec(jobID: jobID, modelPath: job.model.directory, columnNames: job.binding.labels,
                           integerLabels: job.binding.integerLabels, enforcedTypes: job.binding.enforcedTypes,
                           modelConfig: job.modelConfig, params: job.params,
                           resultType: job.resultType, outputField: options.outputField,
                           strictTypes: options.strictTypes)
        spec.modelContentDigest = modelDigest
        spec.memoryLimitMB = options.workerMemory?.megabytes
        spec.modelSHA256 = collaborators.modelArchive?.sha256
        if handout != nil { spec.workersRead = job.workersReadSpec(options: options, createdBy: OutputWriter.createdBy) }
        self.spec = spec
        var minWorkers = 1
        if case .listen(_, _, let minimum) = options.workerSource { minWorkers = max(1, minimum) }
        lifecycle = JobLifecycle(configuration: .init(minWorkers: minWorkers, startupTimeout: options.startupTimeout,
                                                      heartbeatTimeout: options.heartbeatTimeout, taskTimeout: options.taskTimeout,
                                                      gracePeriod: options.gracePeriod,
                                                      heartbeatInterval: Double(Heartbeat.intervalSeconds)),
                                 now: Date())
        self.scheduler = Scheduler(configuration: .init(maxAttempts: options.maxAttempts,
                                                        failWhenNoWorkers: options.workerSource == .local,
                                                        retryModelErrors: options.retryModelErrors,
                                                        maxFailedPartitions: options.maxFailedPartitions))
        self.merger = ResultMerger(plan: job.plan, blocks: todo.flatMap { Array(job.plan.partitions[$0].blocks) })
        report.partitions = job.plan.partitions.count
        report.partitionsResumed = job.plan.partitions.count - todo.count
        report.rows = resumedRows
        for _ in 0..<collaborators.launchedWorkers { workerLaunched() }
    }

    private func workerLaunched() { perform(scheduler.handle(.workerLaunched)) }

    /// The job's failure, once it has one.
    private var failure: JobError? {
        if case .failed(let error) = lifecycle.state { return error }
        return nil
    }

    /// Whether the job is still handing out work (not ended, not draining, not finished scheduling).
    private var goesOn: Bool {
        switch lifecycle.state {
        case .starting, .running: !lifecycle.schedulingFinished
        case .draining, .failed, .done: false
        }
    }

    /// Handles events until every partition is written or the job fails; returns the failure.
    func runUntilDone() -> JobError? {
        mark("prepared")
        for warning in job.warnings { logger.warning("\(warning)") }
        if case .streamed(_, let writer) = pipeline {
            if job.plan.partitions.isEmpty && report.partitionsResumed == 0 { writer.submit(.empty) }
            if merger.nextBlock == nil { writer.submit(.finish) }
        }
        releasePartitions()
        while !lifecycle.isOver {
            if let event = events.pop(timeout: 1.0) { handle(event) }
            apply(lifecycle.handle(.tick(Date())))
        }
        finishReport()
        return failure
    }

    /// Records what the job read from object storage (after the reads, on the caller's thread),
    /// with what workers that read their own partitions fetched for the parts committed.
    func record(input: JobReport.InputStorage) {
        var input = input
        input.bytesFetched += workersFetched.bytes
        input.requests += workersFetched.requests
        input.retries += workersFetched.retries
        report.input = input
    }

    func shutdownWorkers() {
        for link in links.values { try? link.connection.send(CoordinatorMessage.shutdown) }
    }

    func closeConnections() {
        for link in links.values { link.connection.close() }
    }

    /// Carries out the lifecycle's actions.
    private func apply(_ actions: [JobLifecycle.Action]) {
        for action in actions {
            switch action {
            case .startScoring(let ids):
                for id in ids { perform(scheduler.handle(.workerReady(id))) }
                releasePartitions()
            case .loseWorker(let id, let loss):
                let reason = switch loss {
                case .silent(let seconds): "\(name(of: id)) sent nothing for \(seconds) s (no heartbeat): it is stuck or unreachable"
                case .heldTooLong(let task, let seconds): "\(name(of: id)) held \(describe(task)) for more than --task-timeout \(seconds) s"
                }
                lose(id, reason)
            case .pauseReader(let notice):
                switch pipeline {
                case .streamed(let reader, _): reader.pauseAtPartitionBoundary()
                case .workersRead:
                    handout?.pause()
                    apply(lifecycle.handle(.readerPaused))
                }
                logger.notice("\(notice)")
            case .sendHeartbeats(let ids):
                // Heartbeats the other way: a worker that hears nothing from the coordinator for long
                // stops (and, kept alive, waits for the next job) instead of waiting for ever.
                for id in ids { try? links[id]?.connection.send(CoordinatorMessage.heartbeat) }
            case .reportProgress(let stopping):
                reportProgress(Date(), stopping: stopping)
            case .fail, .finish:
                break  // the loop in runUntilDone ends
            }
        }
    }

    private func reportProgress(_ now: Date, stopping: Bool) {
        guard let progress else { return }
        let rows = resumedRows + report.rowsScored
        lastProgress.append((now, rows))
        if lastProgress.count > 6 { lastProgress.removeFirst() }
        let first = lastProgress[0]
        let span = now.timeIntervalSince(first.time)
        progress(JobProgress(rowsDone: rows, rowsTotal: job.dataset.rowCount, seconds: now.timeIntervalSince(started),
                             rowsPerSecond: span > 0 ? Double(rows - first.rows) / span : 0,
                             workersAlive: lifecycle.lastHeard.count, retries: retries,
                             quarantined: quarantined.count, stopping: stopping))
    }

    /// Gives up on a worker: closes its connection and tells the scheduler.
    private func lose(_ id: WorkerID, _ reason: String) {
        apply(lifecycle.handle(.workerGone(id)))
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
            apply(lifecycle.handle(.workerHeard(id, at: Date())))
        case .timings(let id, let timings):
            workerReports[id]?.decodeSeconds += timings.decodeSeconds
            workerReports[id]?.predictSeconds += timings.predictSeconds
            workerReports[id]?.encodeSeconds += timings.encodeSeconds
            workerReports[id]?.networkSeconds -= timings.decodeSeconds + timings.predictSeconds + timings.encodeSeconds
        case .interrupted(let why):
            apply(lifecycle.handle(.interrupted(why, at: Date())))
        case .hello(let connection, let hello):
            mark("worker pid \(hello.pid) connected")
            let id = nextWorkerID
            nextWorkerID += 1
            links[id] = Link(connection: connection, hello: hello)
            workerReports[id] = JobReport.Worker(id: id, host: hello.host, pid: hello.pid, peer: connection.peer)
            joinedPerProcess[hello.launchedBy ?? hello.pid, default: 0] += 1
            apply(lifecycle.handle(.workerJoined(id, at: Date())))
            // A worker that reads its own partitions holds one at a time (it reads the next as fast as it is told).
            perform(scheduler.handle(.workerJoined(id, capacity: handout == nil ? hello.capacity : 1)))
            do { try connection.send(CoordinatorMessage.job(spec)) } catch {
                markLost(id, "cannot send the job: \(error)")
                perform(scheduler.handle(.workerLost(id, reason: "cannot send the job: \(error)")), resumable: true)
                return
            }
            WorkerConnections.startReceiving(id: id, connection: connection, events: events)
        case .ready(let id, let ready):
            readyIDs.insert(id)
            workerReports[id]?.loadSeconds = ready.loadSeconds
            mark("worker \(id) ready (model loaded in \(String(format: "%.2f", ready.loadSeconds)) s)")
            let actions = lifecycle.handle(.workerReady(id))
            if actions.isEmpty, case .starting(let waiting, _) = lifecycle.state {
                logger.info("\(name(of: id)) is ready; waiting for \(lifecycle.configuration.minWorkers - waiting.count) more worker(s) (--min-workers \(lifecycle.configuration.minWorkers))")
            }
            apply(actions)
        case .modelRequested(let id):
            guard let archive = modelArchive else {
                perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) asked for the model, which this job does not send")), resumable: true)
                return
            }
            do { try links[id]?.connection.send(CoordinatorMessage.modelArchive(archive.buffer)) } catch {
                links[id]?.connection.shutdownReceive()
            }
        case .result(let id, let decoded):
            received(decoded, from: id)
        case .partitionWritten(let id, let written):
            received(written, from: id)
        case .failure(let id, let workerFailure):
            failed(workerFailure, on: id)
        case .disconnected(let id, let why):
            // Each loss is told when it happens, naming the peer: at the end it is only a count.
            if !lifecycle.schedulingFinished, workerReports[id]?.lost == nil {
                logger.warning("lost \(name(of: id)): it disconnected (\(why)); its batches go to other workers",
                               metadata: ["worker": "\(id)", "peer": "\(links[id]?.connection.peer ?? "?")"])
            }
            apply(lifecycle.handle(.workerGone(id)))
            links[id]?.connection.close()
            markLost(id, "disconnected: \(why)")
            perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) disconnected: \(why)")), resumable: true)
        case .workerExited(let index, let exit, let how):
            let pid = launcher?.pid(of: index)
            let label = "worker process \(index) (pid \(pid.map(String.init) ?? "?")) \(how)"
            // One that stopped over its memory limit without a word reaching us is replaced here.
            if exit?.verdict == .overMemoryLimit, reserveReplacement(for: pid, label) { startReplacement(for: label) }
            // The workers it stood for that never joined (itself, or those it was to fork) never will.
            let processes = launcher?.processes(of: index) ?? 1
            let joined = pid.map { joinedPerProcess[$0, default: 0] } ?? 0
            for _ in 0..<max(0, processes - joined) {
                perform(scheduler.handle(.workerLost(nil, reason: "\(label) before connecting")), resumable: true)
            }
            if joined > 0 && !lifecycle.schedulingFinished {
                logger.warning("\(label)")
            }
        case .keptWorkerGone(let pid, let processes):
            // Its idle timeout came just as this job started: another takes its place. One that
            // had joined is handled as any worker that goes away.
            guard !workerReports.values.contains(where: { $0.pid == pid }), !lifecycle.schedulingFinished else { return }
            logger.info("kept worker pid \(pid) ended before joining; starting another")
            if let replace = replaceKeptWorker {
                for _ in 0..<processes { workerLaunched() }
                replace(processes)
            }
            for _ in 0..<processes {
                perform(scheduler.handle(.workerLost(nil, reason: "kept worker pid \(pid) ended before joining")), resumable: true)
            }
        case .parts(.committed(_, let seconds)):
            report.writeSeconds += seconds
            apply(lifecycle.handle(.blockWritten))
        case .parts(.finished):
            mark("output committed")
            apply(lifecycle.handle(.outputFinished))
        case .parts(.failed(let message)):
            apply(lifecycle.handle(.failed(JobError("cannot write the output: \(message)", resumable: true))))
        case .reader(.decoded(let block, let batch, let seconds)):
            report.readSeconds += seconds
            blocks[block] = batch
            apply(lifecycle.handle(.blockDecoded))
            merger.expect(block: block)
            perform(scheduler.handle(.tasksAvailable(job.plan.tasks(of: job.plan.blocks[block]))))
        case .reader(.paused):
            apply(lifecycle.handle(.readerPaused))
        case .reader(.finished):
            mark("input decoded")
            perform(scheduler.handle(.inputFinished))
        case .reader(.failed(let message)):
            apply(lifecycle.handle(.failed(JobError("cannot read the input: \(message)"))))
        case .writer(.wroteBlock(_, let seconds)):
            report.writeSeconds += seconds
            if case .streamed(let reader, _) = pipeline { reader.release() }
            apply(lifecycle.handle(.blockWritten))
        case .writer(.finished):
            mark("output written")
            apply(lifecycle.handle(.outputFinished))
        case .writer(.failed(let message)):
            apply(lifecycle.handle(.failed(JobError("cannot write the output: \(message)", resumable: true))))
        case .writer(.inputFailed(let message)):
            apply(lifecycle.handle(.failed(JobError("cannot read the input: \(message)"))))
        }
    }

    private func received(_ decoded: ColumnBatch, from id: WorkerID) {
        apply(lifecycle.handle(.workerHeard(id, at: Date())))
        if let holder = lifecycle.held[decoded.taskID], holder.worker == id {
            workerReports[id]?.networkSeconds += Date().timeIntervalSince(holder.since)
        }
        apply(lifecycle.handle(.taskAnswered(decoded.taskID, by: id)))
        let actions = scheduler.handle(.resultReceived(id, decoded.taskID))
        if actions.contains(.accept(decoded.taskID)) {
            answered += 1
            replacementsWithoutProgress = 0
            let b = job.plan.block(of: decoded.taskID)
            let expected = job.resultType.dataType
            guard decoded.columns.count == 1, decoded.rowCount == job.plan.rows(of: decoded.taskID, in: b).count,
                  decoded.columns[0].type.hasSameShape(as: expected) else {
                apply(lifecycle.handle(.failed(JobError("\(name(of: id)) returned a malformed result for \(job.describe(task: decoded.taskID))"))))
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
        guard case .streamed(_, let writer) = pipeline else { return }
        for item in done {
            let batch = blocks.removeValue(forKey: item.block)!
            switch item {
            case .scored(let block, let prediction):
                if job.copiesKeptColumns[job.plan.blocks[block].partition] {
                    writer.submit(.scored(block: block, batch: RecordBatch(schema: job.predictionSchema, columns: [prediction])))
                } else {
                    let kept = job.keptColumns.map { batch.columns[$0] }
                    writer.submit(.scored(block: block, batch: RecordBatch(schema: job.outputSchema, columns: kept + [prediction])))
                }
            case .failed(let block, let batches):
                quarantined.insert(job.plan.blocks[block].partition)
                writer.submit(.failed(block: block, batches: batches))
            }
        }
        if !done.isEmpty && merger.nextBlock == nil { writer.submit(.finish) }
    }

    private func failed(_ workerFailure: WorkerFailure, on id: WorkerID) {
        let traceback = workerFailure.traceback
        switch workerFailure.kind {
        case .modelLoad, .environment:
            let message = "\(name(of: id)) could not load the model \(job.model.directory): \(workerFailure.message)"
            perform(scheduler.handle(.modelLoadFailed(id, reason: message)), traceback: traceback)
        case .predict:
            guard let batch = workerFailure.taskID else { return }
            let partition = job.plan.partition(of: batch).id
            // The scheduler's task: the batch, or under --workers-read the partition.
            let task = handout == nil ? batch : TaskID(partition)
            if handout != nil { failedBatch[partition] = batch }
            apply(lifecycle.handle(.taskAnswered(task, by: id)))
            workerReports[id]?.failures += 1
            lastTraceback = traceback
            perform(scheduler.handle(.taskFailed(id, task, partition: partition,
                                                 reason: "\(workerFailure.message) (on \(name(of: id)))")), traceback: traceback)
        case .inputUnreachable:
            let message = "\(name(of: id)) cannot read the input: \(workerFailure.message). With --workers-read every worker reads the input itself, "
                + "at the same path (a shared file system) or in the object store; run without --workers-read to stream the rows through the coordinator"
            // Not the data's fault: what is committed stays, for --resume once the workers can see the input.
            apply(lifecycle.handle(.failed(JobError(message, resumable: true))))
        case .input:
            apply(lifecycle.handle(.failed(JobError("cannot read the input (on \(name(of: id))): \(workerFailure.message)"))))
        case .output:
            apply(lifecycle.handle(.failed(JobError("\(name(of: id)) cannot write the output: \(workerFailure.message)", resumable: true))))
        case .protocolError:
            if handout != nil {
                lose(id, "\(name(of: id)) broke the protocol: \(workerFailure.message)")
                return
            }
            perform(scheduler.handle(.workerLost(id, reason: "\(name(of: id)) broke the protocol: \(workerFailure.message)")),
                    traceback: traceback)
        case .memoryLimit:
            overMemory(id, task: workerFailure.taskID, workerFailure.message)
        }
    }

    /// A worker stopped over its memory limit (it said so, and exits): it is lost, the batch it
    /// was scoring is failed as by the model (retried, set aside or failing the job, as
    /// `--retry-model-errors` and `--max-failed-partitions` say) and, in a local run, another
    /// worker starts in its place. The failure is resumable: the model may fit a larger limit.
    private func overMemory(_ id: WorkerID, task: TaskID?, _ message: String) {
        let advice = "raise that limit if the model needs more memory, or pass --retry-model-errors to score the batch again "
            + "on a fresh worker (a model whose memory grows with every batch is leaking)"
        let reason = "\(message) (on \(name(of: id))); \(advice)"
        apply(lifecycle.handle(.workerGone(id)))
        if task != nil { workerReports[id]?.failures += 1 }
        lastTraceback = nil
        logger.warning("\(name(of: id)) went over its memory limit\(task.map { " scoring \(job.describe(task: $0))" } ?? ""): \(message)",
                       metadata: ["worker": "\(id)"])
        markLost(id, message)
        // The new worker is counted before the scheduler hears of the loss, so that a run with one
        // worker does not fail for want of workers; it is started only if the job goes on.
        let replacing = links[id].map { reserveReplacement(for: $0.hello.pid, name(of: id)) } ?? false
        let partition = task.map { job.plan.partition(of: $0).id }
        var scheduled = task
        if handout != nil, let partition, let task {
            failedBatch[partition] = task
            scheduled = TaskID(partition)
        }
        perform(scheduler.handle(.workerOverMemory(id, task: scheduled, partition: partition, reason: reason)), resumable: true)
        if replacing { startReplacement(for: name(of: id)) }
    }

    /// Whether a local worker is to start in place of `pid`, which stopped over its memory
    /// limit (then the scheduler counts it as launched): once per process, while the job goes
    /// on, and at most twice the workers times `--max-attempts` in a row without a batch answered.
    private func reserveReplacement(for pid: Int32?, _ label: String) -> Bool {
        guard options.workerSource == .local, replaceLocalWorker != nil,
              goesOn else { return false }
        if let pid { guard replacedPIDs.insert(pid).inserted else { return false } }
        guard replacementsWithoutProgress < 2 * max(1, options.workers) * options.maxAttempts else {
            logger.warning("not starting another worker in place of \(label): \(replacementsWithoutProgress) workers in a row went over the memory limit without finishing a batch")
            return false
        }
        replacementsWithoutProgress += 1
        workerLaunched()
        return true
    }

    /// Starts the worker `reserveReplacement` counted, unless the job has failed meanwhile.
    private func startReplacement(for label: String) {
        guard goesOn, let replace = replaceLocalWorker else { return }
        logger.info("starting a worker in place of \(label), which went over its memory limit")
        replace()
    }

    /// Carries out the scheduler's actions; a failure it decides is `resumable` when caused by
    /// lost workers, and carries `traceback` when a worker's Python raised.
    private func perform(_ actions: [Scheduler.Action], resumable: Bool = false, traceback: String? = nil) {
        for action in actions {
            switch action {
            case .assign(let task, let worker):
                if !assigned.insert(task).inserted { retries += 1 }
                send(task, to: worker)
            case .accept:
                break  // stored by `received`, which saw the same action
            case .quarantine(let task, let reason):
                answered += 1
                logger.error("set aside \(describe(task)): \(reason)", metadata: ["task": "\(task)"])
                if handout != nil {
                    let partition = Int(task)
                    let batch = failedBatch[partition] ?? job.plan.blocks[job.plan.partitions[partition].blocks.lowerBound].firstTask
                    partitionFinished(partition, .failed(.init(task: batch, reason: reason, traceback: lastTraceback)))
                } else {
                    completed(merger.fail(task, reason: reason, traceback: lastTraceback))
                }
            case .fail(let reason, let task):
                apply(lifecycle.handle(.failed(JobError(task.map { "\(describe($0)): \(reason)" } ?? reason,
                                                        traceback: traceback, resumable: resumable))))
            case .finish:
                apply(lifecycle.handle(.schedulingFinished))
            }
        }
    }

    private func send(_ task: TaskID, to worker: WorkerID) {
        apply(lifecycle.handle(.taskSent(task, to: worker, at: Date())))
        if case .workersRead(_, let temporaryDirectory, let uploadPrefix) = pipeline {
            let message = CoordinatorMessage.partition(partitionTask(Int(task), temporaryDirectory: temporaryDirectory, uploadPrefix: uploadPrefix))
            do { try links[worker]?.connection.send(message) } catch { links[worker]?.connection.shutdownReceive() }
            return
        }
        let p = job.plan.block(of: task)
        let rows = job.plan.rows(of: task, in: p)
        let batch = blocks[p.id]!
        let columns = job.modelColumns.map { batch.columns[$0].slice(rows) }
        do {
            try links[worker]?.connection.send(CoordinatorMessage.batch(ColumnBatch(taskID: task, rowCount: rows.count, columns: columns)))
        } catch {
            // Its receive thread reports the broken connection, and the scheduler requeues the batch.
            links[worker]?.connection.shutdownReceive()
        }
    }

    // MARK: - --workers-read

    /// Hands the scheduler as many partitions as there are workers to take them (nothing when streaming).
    private func releasePartitions() {
        guard handout != nil, !releasedAll else { return }
        let workers = readyIDs.filter { workerReports[$0]?.lost == nil }.count
        let partitions = handout!.release(workers: workers)
        for _ in partitions { apply(lifecycle.handle(.blockDecoded)) }
        if !partitions.isEmpty { perform(scheduler.handle(.tasksAvailable(partitions.map { TaskID($0) }))) }
        if handout!.allReleased && !releasedAll {
            releasedAll = true
            mark("every partition handed out")
            perform(scheduler.handle(.inputFinished))
        }
    }

    /// The message that hands `partition` to a worker: its rows, and its part file's name for this attempt.
    private func partitionTask(_ partition: Int, temporaryDirectory: String, uploadPrefix: S3Location?) -> PartitionTask {
        let p = job.plan.partitions[partition]
        let attempt = handout!.nextAttempt(of: partition)
        let files = job.dataset.files
        let inputs = p.inputs.map { input in
            PartitionTask.Input(path: files[input.file].path, bytes: files[input.file].byteCount, rows: input.rows,
                                directory: job.dataset.partitioning?.directories[input.file] ?? "")
        }
        let name = job.plan.outputFileName(of: partition)
        var task = PartitionTask(partition: partition, attempt: attempt, inputs: inputs, firstBatch: job.plan.blocks[p.blocks.lowerBound].firstTask,
                                 copiesKeptColumns: job.copiesKeptColumns[partition], temporaryDirectory: temporaryDirectory,
                                 outputName: attemptName(partition, attempt: attempt))
        if let uploadPrefix { task.upload = .init(bucket: uploadPrefix.bucket, key: uploadPrefix.directoryPrefix + name) }
        else { task.head = headStart?.take(partition) }
        // A worker is ready: the I/O is the workers' from now on.
        headStart?.stop()
        return task
    }

    /// Where workers upload their parts (an output in object storage), if anywhere.
    private var uploadPrefix: S3Location? {
        if case .workersRead(_, _, let prefix) = pipeline { return prefix }
        return nil
    }

    /// The part file of attempt `attempt` of `partition`, within the temporary area.
    private func attemptName(_ partition: Int, attempt: Int) -> String {
        String(job.plan.outputFileName(of: partition).dropLast(".parquet".count)) + ".attempt-\(attempt).parquet"
    }

    /// Where attempt `attempt` of `partition` is written in a shared output directory.
    private func partitionTaskPath(_ partition: Int, attempt: Int) -> String {
        guard case .workersRead(_, let temporaryDirectory, _) = pipeline else { return "" }
        return temporaryDirectory + "/" + attemptName(partition, attempt: attempt)
    }

    /// A worker wrote a partition's part file: accepted once, from the worker that holds the
    /// partition, for the attempt it was given; then committed in order.
    private func received(_ written: PartitionWritten, from id: WorkerID) {
        apply(lifecycle.handle(.workerHeard(id, at: Date())))
        guard handout != nil, job.plan.partitions.indices.contains(written.partition) else {
            apply(lifecycle.handle(.failed(JobError("\(name(of: id)) reported a partition this job did not hand out"))))
            return
        }
        let task = TaskID(written.partition)
        let current = handout!.attempt(of: written.partition)
        // A late report of an earlier attempt is not this worker's to make: left to the scheduler to drop.
        guard written.attempt == current else {
            logger.debug("dropped attempt \(written.attempt) of partition \(written.partition) from \(name(of: id)) (attempt \(current) is under way)")
            return
        }
        apply(lifecycle.handle(.taskAnswered(task, by: id)))
        let actions = scheduler.handle(.resultReceived(id, task))
        if actions.contains(.accept(task)) {
            let p = job.plan.partitions[written.partition]
            guard written.rows == p.rowCount else {
                apply(lifecycle.handle(.failed(JobError("\(name(of: id)) wrote \(written.rows) rows for \(describe(task)), which has \(p.rowCount)"))))
                return
            }
            let expected = uploadPrefix.map { "s3://\($0.bucket)/\($0.directoryPrefix)\(job.plan.outputFileName(of: written.partition))" }
                ?? partitionTaskPath(written.partition, attempt: written.attempt)
            guard written.path == expected, (written.upload != nil) == (uploadPrefix != nil) else {
                apply(lifecycle.handle(.failed(JobError("\(name(of: id)) reported \(written.path) for \(describe(task)), not the part it was given (\(expected))"))))
                return
            }
            failedBatch[written.partition] = nil
            let batches = p.blocks.reduce(0) { $0 + job.plan.blocks[$1].taskCount }
            answered += batches
            replacementsWithoutProgress = 0
            report.rowsScored += written.rows
            workerReports[id]?.rows += written.rows
            workerReports[id]?.batches += batches
            workerReports[id]?.decodeSeconds += written.readSeconds
            workerReports[id]?.predictSeconds += written.predictSeconds
            workerReports[id]?.encodeSeconds += written.writeSeconds
            if written.continuedHead { headsContinued += 1 }
            workersFetched.bytes += written.bytesRead
            workersFetched.requests += written.storeRequests
            workersFetched.retries += written.storeRetries
            partitionFinished(written.partition, .written(written))
        }
        perform(actions)
    }

    /// A partition is done (written or set aside): the partitions now in order go to the committer.
    private func partitionFinished(_ partition: Int, _ how: PartitionHandout.Finished) {
        guard case .workersRead(let parts, _, _) = pipeline else { return }
        let files = job.dataset.files
        for (id, finished) in handout!.finish(partition, how) {
            let p = job.plan.partitions[id]
            let name = job.plan.outputFileName(of: id)
            switch finished {
            case .written(let written):
                var entry = JobManifest.Entry(partition: id, file: name, rows: written.rows, bytes: written.bytes,
                                              inputs: p.inputs.map { .init(file: files[$0.file].path, rows: [$0.rows.lowerBound, $0.rows.upperBound]) })
                if let upload = written.upload {
                    entry.upload = .init(key: upload.key, uploadID: upload.uploadID, partETags: upload.partETags, bytes: upload.bytes)
                    parts.submit(.uploaded(entry: entry))
                } else {
                    parts.submit(.written(entry: entry, path: written.path, bytes: written.bytes))
                }
            case .failed(let batch):
                quarantined.insert(id)
                parts.submit(.failed(partition: id, name: name.replacingOccurrences(of: ".parquet", with: ".json"),
                                     contents: QuarantineRecord.json(job: job, id, [batch])))
            }
        }
        if handout!.isComplete { parts.submit(.finish) }
        releasePartitions()
    }

    private func finishReport() {
        report.seconds = Date().timeIntervalSince(started)
        report.rows = resumedRows + report.rowsScored
        report.batches = answered
        report.retries = retries
        report.partitionsQuarantined = quarantined.count
        report.workers = workerReports.keys.sorted().map { workerReports[$0]! }
        if let work = headStart?.summary, work.heads > 0 {
            report.headStart = .init(heads: work.heads, bytes: work.bytes, seconds: work.seconds, continued: headsContinued)
        }
        if let failure {
            report.status = failure.resumable && lifecycle.interruption != nil ? "interrupted" : "failed"
            report.error = failure.message
        } else {
            report.status = report.partitionsQuarantined > 0 ? "partial" : "succeeded"
        }
    }

    private func name(of id: WorkerID) -> String { links[id]?.name ?? "worker \(id)" }

    /// A scheduler task for messages: a batch, or under --workers-read a partition (named by
    /// the batch the model failed on, when it did).
    private func describe(_ task: TaskID) -> String {
        guard handout != nil else { return job.describe(task: task) }
        let partition = Int(task)
        if let batch = failedBatch[partition] { return job.describe(task: batch) }
        let inputs = job.plan.partitions[partition].inputs.map { "\(job.dataset.files[$0.file].path), rows \($0.rows.lowerBound)..<\($0.rows.upperBound)" }
        return "partition \(partition) (\(inputs.joined(separator: "; ")))"
    }

    private func mark(_ what: String) {
        logger.debug("\(what)", metadata: ["seconds": "\(String(format: "%.3f", Date().timeIntervalSince(started)))"])
    }
}
