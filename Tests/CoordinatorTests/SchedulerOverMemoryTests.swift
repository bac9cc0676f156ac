import Testing
@testable import Coordinator

/// A worker that stopped over its memory limit: lost, with the batch it was scoring failed as
/// by the model and the batches it only held handed out again without an attempt counted.
@Suite("Scheduler: workers over their memory limit")
struct SchedulerOverMemoryTests {
    /// `workers` ready workers of `capacity` and `tasks` tasks (one partition each), input finished.
    func started(workers: Int, capacity: Int, tasks: Int, _ configuration: Scheduler.Configuration = .init())
        -> (Scheduler, [(TaskID, WorkerID)]) {
        var s = Scheduler(configuration: configuration)
        var actions: [Scheduler.Action] = []
        for id in 0..<workers {
            actions += s.handle(.workerLaunched)
            actions += s.handle(.workerJoined(id, capacity: capacity))
            actions += s.handle(.workerReady(id))
        }
        actions += s.handle(.tasksAvailable((0..<tasks).map(TaskID.init)))
        actions += s.handle(.inputFinished)
        return (s, assignments(actions))
    }

    func assignments(_ actions: [Scheduler.Action]) -> [(TaskID, WorkerID)] {
        actions.compactMap { if case .assign(let t, let w) = $0 { (t, w) } else { nil } }
    }

    func failure(_ actions: [Scheduler.Action]) -> (reason: String, task: TaskID?)? {
        for action in actions { if case .fail(let reason, let task) = action { return (reason, task) } }
        return nil
    }

    @Test("by default the job fails naming the batch the worker was scoring")
    func failsOnTheBatch() {
        var (s, given) = started(workers: 2, capacity: 2, tasks: 6)
        #expect(given.filter { $0.1 == 1 }.map(\.0) == [1, 3])
        let actions = s.handle(.workerOverMemory(1, task: 1, partition: 1, reason: "the model used more than 300 MB"))
        #expect(failure(actions)?.task == 1)
        #expect(failure(actions)?.reason == "the model used more than 300 MB")
        #expect(s.isDone)
    }

    @Test("with --max-failed-partitions the batch is set aside; the batches the worker only held go to another worker, no attempt counted")
    func quarantinesAndRequeues() {
        var (s, given) = started(workers: 3, capacity: 2, tasks: 6, .init(maxAttempts: 2, maxFailedPartitions: 1))
        #expect(given.filter { $0.1 == 1 }.map(\.0) == [1, 4])
        var actions = s.handle(.workerOverMemory(1, task: 1, partition: 1, reason: "over 300 MB"))
        #expect(actions == [.quarantine(1, reason: "over 300 MB")])
        actions = s.handle(.resultReceived(0, 0))
        #expect(actions == [.accept(0), .assign(4, to: 0)])
        // Task 4's first attempt is on worker 0: losing it is within --max-attempts 2.
        actions = s.handle(.workerLost(0, reason: "killed"))
        #expect(failure(actions) == nil)
        #expect(s.handle(.resultReceived(2, 2)) == [.accept(2), .assign(3, to: 2)])
        #expect(s.handle(.resultReceived(2, 5)) == [.accept(5), .assign(4, to: 2)])
        _ = s.handle(.resultReceived(2, 3))
        #expect(s.handle(.resultReceived(2, 4)) == [.accept(4), .finish])
    }

    @Test("with --retry-model-errors the batch is given again, up to --max-attempts, then the job fails")
    func retried() {
        var (s, _) = started(workers: 1, capacity: 1, tasks: 2, .init(maxAttempts: 2, retryModelErrors: true))
        // The lost worker is replaced: launched before the scheduler hears of the loss.
        _ = s.handle(.workerLaunched)
        var actions = s.handle(.workerOverMemory(0, task: 0, partition: 0, reason: "over"))
        #expect(actions.isEmpty && !s.isDone)
        _ = s.handle(.workerJoined(1, capacity: 1))
        #expect(assignments(s.handle(.workerReady(1))).map(\.0) == [0])
        _ = s.handle(.workerLaunched)
        actions = s.handle(.workerOverMemory(1, task: 0, partition: 0, reason: "over again"))
        #expect(failure(actions)?.task == 0 && failure(actions)?.reason == "over again")
    }

    @Test("the last worker over its limit: no worker is left, unless one was launched in its place")
    func lastWorker() {
        var (s, _) = started(workers: 1, capacity: 1, tasks: 2, .init(retryModelErrors: true))
        let actions = s.handle(.workerOverMemory(0, task: 0, partition: 0, reason: "over"))
        #expect(failure(actions)?.reason == "no worker is left: over")

        var (replaced, _) = started(workers: 1, capacity: 1, tasks: 2, .init(retryModelErrors: true))
        _ = replaced.handle(.workerLaunched)
        #expect(failure(replaced.handle(.workerOverMemory(0, task: 0, partition: 0, reason: "over"))) == nil)
        #expect(!replaced.isDone)
    }

    @Test("over the limit between batches, or after its batch was answered: the worker is lost and nothing fails")
    func noCulprit() {
        var (s, given) = started(workers: 2, capacity: 1, tasks: 3, .init(maxAttempts: 1))
        #expect(given.map(\.0) == [0, 1])
        _ = s.handle(.resultReceived(1, 1))  // worker 1 now holds task 2
        var actions = s.handle(.workerOverMemory(1, task: 1, partition: 1, reason: "over"))
        #expect(failure(actions) == nil && !actions.contains { if case .quarantine = $0 { true } else { false } })
        actions = s.handle(.resultReceived(0, 0))
        #expect(actions == [.accept(0), .assign(2, to: 0)])
        // A second report, or a disconnect, of the same worker changes nothing.
        #expect(s.handle(.workerOverMemory(1, task: nil, partition: nil, reason: "over")).isEmpty)
        #expect(s.handle(.workerLost(1, reason: "disconnected")).isEmpty)
        #expect(s.handle(.resultReceived(0, 2)) == [.accept(2), .finish])
    }
}
