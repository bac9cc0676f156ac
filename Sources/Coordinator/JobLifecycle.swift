import Foundation

/// The life of a job on the coordinator, as a plain state machine: when it may start handing
/// out batches (`--min-workers`), when it gives up waiting for workers (`--startup-timeout`),
/// which workers are lost for silence (`--heartbeat-timeout`) or for holding a batch too long
/// (`--task-timeout`), how an interruption drains (`--grace-period`), and how it ends.
///
/// Like ``Scheduler``, it does no I/O and reads no clock: `JobControl` feeds it events, the
/// current time among them (`tick`), and carries out the actions it returns. Every failure of
/// the job is an action (`.fail`), decided here once; the state then stays failed.
///
/// ```swift
/// var life = JobLifecycle(configuration: .init(minWorkers: 2, startupTimeout: 60, ...), now: start)
/// life.handle(.workerJoined(0, at: start))          // []
/// life.handle(.workerReady(0))                       // [] (waiting for a second)
/// life.handle(.workerJoined(1, at: start)); life.handle(.workerReady(1))   // [.startScoring([0, 1])]
/// ```
struct JobLifecycle {
    struct Configuration: Equatable {
        /// Workers that must have loaded the model before any batch is handed out.
        var minWorkers = 1
        /// How long to wait for the first worker to load the model.
        var startupTimeout: TimeInterval = 300
        /// Silence after which a worker is lost.
        var heartbeatTimeout: TimeInterval = 60
        /// How long a worker may hold one batch; nil: for ever.
        var taskTimeout: TimeInterval?
        /// After an interruption, how long to finish the partitions under way; 0: stop at once.
        var gracePeriod: TimeInterval = 30
        /// How often the coordinator shows workers it is alive.
        var heartbeatInterval: TimeInterval = 2
        /// How often timeouts are checked and progress is reported.
        var watchInterval: TimeInterval = 1
    }

    enum State: Equatable {
        /// No batch handed out yet: waiting until `minWorkers` workers are ready (those ready
        /// wait in `ready`), failing if none is by `deadline`.
        case starting(ready: [WorkerID], deadline: Date)
        /// Handing out batches.
        case running
        /// Interrupted by `reason`: finishing the partitions under way until `deadline`.
        case draining(reason: String, deadline: Date)
        /// Ended by `error` (the first failure; later ones are not reported).
        case failed(JobError)
        /// Every partition handed out is answered and the output is written.
        case done
    }

    enum Event: Equatable {
        case workerJoined(WorkerID, at: Date)
        /// Any message from the worker (heartbeat, result, failure).
        case workerHeard(WorkerID, at: Date)
        /// The worker loaded the model.
        case workerReady(WorkerID)
        /// The worker is gone (disconnected, or lost by the coordinator).
        case workerGone(WorkerID)
        case taskSent(TaskID, to: WorkerID, at: Date)
        /// The worker answered the batch (a result or a failure), or gave it back.
        case taskAnswered(TaskID, by: WorkerID)
        /// SIGINT or SIGTERM.
        case interrupted(String, at: Date)
        case blockDecoded
        case blockWritten
        /// The reader stopped at a partition boundary after `.pauseReader`.
        case readerPaused
        /// The scheduler has nothing more to hand out; the writer wrote everything.
        case schedulingFinished
        case outputFinished
        /// Something the job cannot go on after (unreadable input, unwritable output, the scheduler's verdict).
        case failed(JobError)
        /// The time now: timeouts are checked, heartbeats and progress fall due.
        case tick(Date)
    }

    /// Why a worker is given up on.
    enum Loss: Equatable {
        /// Nothing heard for `seconds` (no heartbeat).
        case silent(seconds: Int)
        /// It held `task` past `--task-timeout` `seconds`.
        case heldTooLong(TaskID, seconds: Int)
    }

    enum Action: Equatable {
        /// The `--min-workers` gate is open: these workers may be given batches.
        case startScoring([WorkerID])
        /// Give up on the worker (close it; its batches go to others).
        case loseWorker(WorkerID, Loss)
        /// Interrupted: start no other partition; `notice` tells the user.
        case pauseReader(notice: String)
        case sendHeartbeats([WorkerID])
        case reportProgress(stopping: Bool)
        /// The job ends with `error`.
        case fail(JobError)
        /// The job ends successfully.
        case finish
    }

    let configuration: Configuration
    private(set) var state: State
    /// When each joined worker was last heard from.
    private(set) var lastHeard: [WorkerID: Date] = [:]
    /// Which worker holds each batch handed out, since when.
    private(set) var held: [TaskID: (worker: WorkerID, since: Date)] = [:]
    /// Workers that loaded the model (also those gone since).
    private(set) var readyCount = 0
    /// Ready workers held back until `minWorkers` are ready; nil once the gate is open. Apart
    /// from the state, so that an interruption while starting keeps the gate as it was.
    private var waitingAtGate: [WorkerID]? = []
    private var blocksHeld = 0
    private var readerPaused = false
    private(set) var schedulingFinished = false
    private var outputFinished = false
    private var lastWatch: Date
    private var lastBeat: Date

    init(configuration: Configuration, now: Date) {
        self.configuration = configuration
        state = .starting(ready: [], deadline: now.addingTimeInterval(configuration.startupTimeout))
        lastWatch = now
        lastBeat = now
    }

    /// Whether the job has ended, failed or done.
    var isOver: Bool {
        switch state {
        case .failed, .done: true
        case .starting, .running, .draining: false
        }
    }

    /// What interrupted the job (SIGINT, SIGTERM), if anything did.
    private(set) var interruption: String?

    mutating func handle(_ event: Event) -> [Action] {
        guard !isOver else { return [] }
        switch event {
        case .workerJoined(let id, let now):
            lastHeard[id] = now
            return []
        case .workerHeard(let id, let now):
            if lastHeard[id] != nil { lastHeard[id] = now }
            return []
        case .workerReady(let id):
            readyCount += 1
            guard let waiting = waitingAtGate.map({ $0 + [id] }) else { return [.startScoring([id])] }
            guard waiting.count >= configuration.minWorkers else {
                waitingAtGate = waiting
                if case .starting(_, let deadline) = state { state = .starting(ready: waiting, deadline: deadline) }
                return []
            }
            waitingAtGate = nil
            if case .starting = state { state = .running }
            return [.startScoring(waiting)]
        case .workerGone(let id):
            lastHeard[id] = nil
            held = held.filter { $0.value.worker != id }
            if let waiting = waitingAtGate, waiting.contains(id) {
                // Gone before the gate opened: it no longer counts toward it.
                waitingAtGate = waiting.filter { $0 != id }
                if case .starting(_, let deadline) = state { state = .starting(ready: waitingAtGate!, deadline: deadline) }
            }
            return []
        case .taskSent(let task, let worker, let now):
            held[task] = (worker, now)
            return []
        case .taskAnswered(let task, let worker):
            if held[task]?.worker == worker { held[task] = nil }
            return []
        case .interrupted(let why, let now):
            interruption = interruption ?? why
            if case .draining = state { return fail(JobError("stopped by \(why)", resumable: true)) }
            guard configuration.gracePeriod > 0 else { return fail(JobError("stopped by \(why)", resumable: true)) }
            state = .draining(reason: why, deadline: now.addingTimeInterval(configuration.gracePeriod))
            return [.pauseReader(notice: "\(why): finishing the partitions under way for up to \(Int(configuration.gracePeriod)) s, starting no other (interrupt again to stop now)")]
        case .blockDecoded:
            blocksHeld += 1
            return []
        case .blockWritten:
            blocksHeld -= 1
            return finishIfDone()
        case .readerPaused:
            readerPaused = true
            return []
        case .schedulingFinished:
            schedulingFinished = true
            return finishIfDone()
        case .outputFinished:
            outputFinished = true
            return finishIfDone()
        case .failed(let error):
            return fail(error)
        case .tick(let now):
            return watch(now)
        }
    }

    private mutating func fail(_ error: JobError) -> [Action] {
        state = .failed(error)
        return [.fail(error)]
    }

    private mutating func finishIfDone() -> [Action] {
        guard schedulingFinished && outputFinished else { return [] }
        state = .done
        return [.finish]
    }

    /// Timeouts, the drain's end, heartbeats and progress, as of `now`.
    private mutating func watch(_ now: Date) -> [Action] {
        switch state {
        case .starting(_, let deadline) where readyCount == 0 && now > deadline:
            return fail(JobError("no worker was ready after \(Int(configuration.startupTimeout)) seconds; check the worker messages above",
                                 resumable: true))
        case .draining(let why, let deadline) where (readerPaused && blocksHeld == 0) || now > deadline:
            let abandoned = held.count
            return fail(JobError("stopped by \(why)"
                + (abandoned > 0 ? " (\(abandoned) batch(es) in flight abandoned after the \(Int(configuration.gracePeriod)) s grace period)" : ""),
                resumable: true))
        default:
            break
        }
        guard now.timeIntervalSince(lastWatch) >= configuration.watchInterval else { return [] }
        lastWatch = now
        var actions: [Action] = []
        if now.timeIntervalSince(lastBeat) >= configuration.heartbeatInterval, !lastHeard.isEmpty {
            lastBeat = now
            actions.append(.sendHeartbeats(lastHeard.keys.sorted()))
        }
        var lost: Set<WorkerID> = []
        for (id, heard) in lastHeard.sorted(by: { $0.key < $1.key }) where now.timeIntervalSince(heard) > configuration.heartbeatTimeout {
            lost.insert(id)
            actions.append(.loseWorker(id, .silent(seconds: Int(configuration.heartbeatTimeout))))
        }
        if let limit = configuration.taskTimeout {
            // One loss per worker, naming its oldest late batch.
            var late: [WorkerID: TaskID] = [:]
            for (task, holder) in held where now.timeIntervalSince(holder.since) > limit && !lost.contains(holder.worker) {
                late[holder.worker] = min(task, late[holder.worker] ?? task)
            }
            for (worker, task) in late.sorted(by: { $0.key < $1.key }) {
                actions.append(.loseWorker(worker, .heldTooLong(task, seconds: Int(limit))))
            }
        }
        for case .loseWorker(let id, _) in actions { _ = handle(.workerGone(id)) }
        var stopping = false
        if case .draining = state { stopping = true }
        actions.append(.reportProgress(stopping: stopping))
        return actions
    }
}
