/// Identifies a worker connection within one job.
public typealias WorkerID = Int
/// Identifies one batch of rows: its position in the job's batch order.
public typealias TaskID = UInt64

/// Who does which batch: a plain state machine, `(event) -> [action]`, that knows nothing of
/// sockets or threads, so that retries, duplicates and late results can be driven by tests.
///
/// Workers pull: each advertises a capacity (batches it can hold), and is given at most that
/// many batches at once. A batch lost with its worker goes back to the front of the queue and
/// is attempted at most `maxAttempts` times. A result is accepted once; a late or duplicate one
/// is dropped. A batch the model fails on fails the job, unless model errors are retried
/// (`retryModelErrors`) or its partition may be quarantined (`maxFailedPartitions`). A worker
/// that stopped over its memory limit is lost, and the batch it was scoring counts as failed by
/// the model; the batches it only held wait for another worker, no attempt counted.
public struct Scheduler: Sendable {
    public struct Configuration: Sendable {
        /// Attempts per batch before the job fails (Spark's spark.task.maxFailures is 4).
        public var maxAttempts: Int
        /// Fail when no worker is left alive (local runs, where nobody else will come).
        public var failWhenNoWorkers: Bool
        /// Give a batch the model failed on to a worker again (up to `maxAttempts`).
        public var retryModelErrors: Bool
        /// Partitions whose failed batches are set aside instead of failing the job.
        public var maxFailedPartitions: Int

        public init(maxAttempts: Int = 4, failWhenNoWorkers: Bool = true, retryModelErrors: Bool = false,
                    maxFailedPartitions: Int = 0) {
            self.maxAttempts = maxAttempts
            self.failWhenNoWorkers = failWhenNoWorkers
            self.retryModelErrors = retryModelErrors
            self.maxFailedPartitions = maxFailedPartitions
        }
    }

    public enum Event: Sendable, Equatable {
        /// A worker process was started (it has not connected yet).
        case workerLaunched
        /// A worker connected and said hello.
        case workerJoined(WorkerID, capacity: Int)
        /// The worker loaded the model and can take batches.
        case workerReady(WorkerID)
        /// Batches that are decoded and can be sent, in order.
        case tasksAvailable([TaskID])
        /// No batches will be added after those already available.
        case inputFinished
        /// A worker returned the result of a batch.
        case resultReceived(WorkerID, TaskID)
        /// The model failed on a batch of `partition` (it raised, or its result could not be converted).
        case taskFailed(WorkerID, TaskID, partition: Int, reason: String)
        /// The model could not be loaded on a worker.
        case modelLoadFailed(WorkerID, reason: String)
        /// A worker died, disconnected or broke the protocol (or a launched one never joined).
        case workerLost(WorkerID?, reason: String)
        /// A worker stopped because its memory went over its limit while it scored `task` of
        /// `partition` (nil: between batches). The worker is lost; that batch is failed as by the
        /// model (retried, quarantined or failing the job as the configuration says).
        case workerOverMemory(WorkerID, task: TaskID?, partition: Int?, reason: String)
    }

    public enum Action: Sendable, Equatable {
        /// Send batch `task` to `worker`.
        case assign(TaskID, to: WorkerID)
        /// The result of `task` is accepted (exactly once per task).
        case accept(TaskID)
        /// `task` failed for good and its partition is set aside (counts as answered).
        case quarantine(TaskID, reason: String)
        /// The job cannot succeed.
        case fail(reason: String, task: TaskID?)
        /// Every batch has an accepted result.
        case finish
    }

    private enum WorkerState: Equatable { case loading, ready, gone }
    private struct WorkerInfo {
        var state: WorkerState
        var capacity: Int
        var inFlight: Set<TaskID> = []
    }

    public let configuration: Configuration
    private var workers: [WorkerID: WorkerInfo] = [:]
    private var launchedNotJoined = 0
    /// Batches waiting for a worker, lowest id first (retries go back to the front).
    private var pending: [TaskID] = []
    private var pendingHead = 0
    private var attempts: [TaskID: Int] = [:]
    private var outstanding = 0
    private var inputFinished = false
    private var failedPartitions: Set<Int> = []
    public private(set) var isDone = false

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Number of batches given to workers and not yet answered.
    public var inFlightCount: Int { workers.values.reduce(0) { $0 + $1.inFlight.count } }

    public mutating func handle(_ event: Event) -> [Action] {
        guard !isDone else { return [] }
        var actions: [Action] = []
        switch event {
        case .workerLaunched:
            launchedNotJoined += 1
        case .workerJoined(let id, let capacity):
            launchedNotJoined = max(0, launchedNotJoined - 1)
            workers[id] = WorkerInfo(state: .loading, capacity: max(1, capacity))
        case .workerReady(let id):
            if workers[id]?.state == .loading { workers[id]!.state = .ready }
        case .tasksAvailable(let tasks):
            pending.append(contentsOf: tasks)
            outstanding += tasks.count
        case .inputFinished:
            inputFinished = true
        case .resultReceived(let id, let task):
            // Only the worker that holds the task may answer it; anything else is late or duplicate.
            if workers[id]?.inFlight.remove(task) != nil {
                outstanding -= 1
                actions.append(.accept(task))
            }
        case .taskFailed(let id, let task, let partition, let reason):
            guard workers[id]?.inFlight.remove(task) != nil else { break }
            guard let quarantined = modelFailed(task, partition: partition, reason: reason) else {
                return finish(with: [.fail(reason: failureReason(reason), task: task)])
            }
            actions += quarantined
        case .workerOverMemory(let id, let task, let partition, let reason):
            guard var worker = workers[id], worker.state != .gone else { break }
            let culprit = task.flatMap { worker.inFlight.remove($0) }
            worker.state = .gone
            // The batches it held but had not started were not at fault: first in line again.
            requeue(worker.inFlight.sorted())
            worker.inFlight = []
            workers[id] = worker
            if let culprit, let partition {
                guard let quarantined = modelFailed(culprit, partition: partition, reason: reason) else {
                    return finish(with: [.fail(reason: failureReason(reason), task: culprit)])
                }
                actions += quarantined
            }
            if let failed = failIfNoWorkers(reason) { return actions + failed }
        case .modelLoadFailed(_, let reason):
            return finish(with: [.fail(reason: reason, task: nil)])
        case .workerLost(let id, let reason):
            if let id, var worker = workers[id], worker.state != .gone {
                worker.state = .gone
                let lost = worker.inFlight.sorted()
                worker.inFlight = []
                workers[id] = worker
                for task in lost {
                    attempts[task, default: 1] += 1
                    if attempts[task]! > configuration.maxAttempts {
                        return finish(with: [.fail(reason: "attempted \(configuration.maxAttempts) times (--max-attempts); last failure: \(reason)", task: task)])
                    }
                }
                requeue(lost)
            } else if id == nil {
                launchedNotJoined = max(0, launchedNotJoined - 1)
            }
            if let failed = failIfNoWorkers(reason) { return failed }
        }
        actions.append(contentsOf: dispatch())
        if inputFinished && outstanding == 0 {
            return finish(with: actions + [.finish])
        }
        return actions
    }

    /// A batch the model failed on: given again (`retryModelErrors`, within `maxAttempts`) or set
    /// aside with its partition (`maxFailedPartitions`), returning the actions; nil when the job fails.
    private mutating func modelFailed(_ task: TaskID, partition: Int, reason: String) -> [Action]? {
        if configuration.retryModelErrors {
            attempts[task, default: 1] += 1
            if attempts[task]! <= configuration.maxAttempts {
                requeue([task])
                return []
            }
        }
        guard failedPartitions.contains(partition) || failedPartitions.count < configuration.maxFailedPartitions else { return nil }
        failedPartitions.insert(partition)
        outstanding -= 1
        return [.quarantine(task, reason: reason)]
    }

    /// The reason a model failure fails the job, naming the quarantine limit when there is one.
    private func failureReason(_ reason: String) -> String {
        let limit = configuration.maxFailedPartitions
        return limit == 0 ? reason : "\(reason) (\(limit) partition(s) already failed: --max-failed-partitions \(limit))"
    }

    /// Fails the job when no worker is left and work remains (`failWhenNoWorkers`).
    private mutating func failIfNoWorkers(_ reason: String) -> [Action]? {
        let alive = launchedNotJoined + workers.values.filter { $0.state != .gone }.count
        guard configuration.failWhenNoWorkers && alive == 0 && !(inputFinished && outstanding == 0) else { return nil }
        return finish(with: [.fail(reason: "no worker is left: \(reason)", task: nil)])
    }

    private mutating func finish(with actions: [Action]) -> [Action] {
        isDone = true
        return actions
    }

    private mutating func requeue(_ tasks: [TaskID]) {
        guard !tasks.isEmpty else { return }
        pending = tasks + pending[pendingHead...]
        pendingHead = 0
    }

    /// Gives pending batches to ready workers with free capacity, the emptiest worker first.
    private mutating func dispatch() -> [Action] {
        var actions: [Action] = []
        while pendingHead < pending.count {
            let candidates = workers.filter { $0.value.state == .ready && $0.value.inFlight.count < $0.value.capacity }
            guard let (id, _) = candidates.min(by: { ($0.value.inFlight.count, $0.key) < ($1.value.inFlight.count, $1.key) }) else { break }
            let task = pending[pendingHead]
            pendingHead += 1
            workers[id]!.inFlight.insert(task)
            actions.append(.assign(task, to: id))
        }
        if pendingHead > 4096 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        return actions
    }
}
