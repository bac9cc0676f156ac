import Testing
@testable import Coordinator

@Suite("Scheduler state machine")
struct SchedulerTests {
    /// A scheduler with `workers` ready workers of `capacity` and `tasks` available tasks.
    func started(workers: Int, capacity: Int, tasks: Int, maxAttempts: Int = 4) -> (Scheduler, [Scheduler.Action]) {
        var s = Scheduler(configuration: .init(maxAttempts: maxAttempts))
        var actions: [Scheduler.Action] = []
        for id in 0..<workers {
            actions += s.handle(.workerLaunched)
            actions += s.handle(.workerJoined(id, capacity: capacity))
            actions += s.handle(.workerReady(id))
        }
        actions += s.handle(.tasksAvailable((0..<tasks).map(TaskID.init)))
        actions += s.handle(.inputFinished)
        return (s, actions)
    }

    func assignments(_ actions: [Scheduler.Action]) -> [(TaskID, WorkerID)] {
        actions.compactMap { if case .assign(let t, let w) = $0 { (t, w) } else { nil } }
    }

    @Test("workers get at most their capacity, in task order, spread evenly")
    func respectsCapacity() {
        let (s, actions) = started(workers: 2, capacity: 2, tasks: 10)
        let given = assignments(actions)
        #expect(given.map(\.0) == [0, 1, 2, 3])
        #expect(Set(given.filter { $0.1 == 0 }.map(\.0)).count == 2)
        #expect(s.inFlightCount == 4)
    }

    @Test("each result frees a slot for the next task; the job finishes after the last result")
    func pullsWork() {
        var (s, actions) = started(workers: 1, capacity: 1, tasks: 3)
        #expect(assignments(actions).map(\.0) == [0])
        actions = s.handle(.resultReceived(0, 0))
        #expect(actions == [.accept(0), .assign(1, to: 0)])
        actions = s.handle(.resultReceived(0, 1))
        #expect(actions == [.accept(1), .assign(2, to: 0)])
        actions = s.handle(.resultReceived(0, 2))
        #expect(actions == [.accept(2), .finish])
        #expect(s.isDone)
    }

    @Test("a duplicate or late result is dropped, never accepted twice")
    func duplicatesDropped() {
        var (s, _) = started(workers: 2, capacity: 1, tasks: 4)
        #expect(s.handle(.resultReceived(0, 0)).contains(.accept(0)))
        #expect(!s.handle(.resultReceived(0, 0)).contains(.accept(0)))
        // Worker 1 holds task 1; a result for it from worker 0 is not accepted.
        #expect(!s.handle(.resultReceived(0, 1)).contains(.accept(1)))
    }

    @Test("a lost worker's tasks go to another worker, first in line")
    func lostWorkerRequeued() {
        var (s, actions) = started(workers: 2, capacity: 2, tasks: 6)
        let onWorker1 = assignments(actions).filter { $0.1 == 1 }.map(\.0).sorted()
        actions = s.handle(.workerLost(1, reason: "killed"))
        // Worker 0 is full; nothing to hand out yet.
        #expect(assignments(actions).isEmpty)
        let held0 = assignments(started(workers: 2, capacity: 2, tasks: 6).1).filter { $0.1 == 0 }.map(\.0)
        actions = s.handle(.resultReceived(0, held0[0]))
        #expect(assignments(actions).map(\.0) == [onWorker1[0]])
        // A late result from the lost worker is ignored.
        #expect(s.handle(.resultReceived(1, onWorker1[1])).filter { $0 == .accept(onWorker1[1]) }.isEmpty)
    }

    @Test("a task lost with its worker more than maxAttempts times fails the job")
    func attemptsExhausted() {
        var s = Scheduler(configuration: .init(maxAttempts: 2))
        _ = s.handle(.tasksAvailable([0]))
        _ = s.handle(.inputFinished)
        for _ in 0..<3 { _ = s.handle(.workerLaunched) }
        var failed = false
        for id in 0..<3 where !failed {
            _ = s.handle(.workerJoined(id, capacity: 1))
            #expect(s.handle(.workerReady(id)) == [.assign(0, to: id)])
            let actions = s.handle(.workerLost(id, reason: "boom \(id)"))
            failed = actions.contains { if case .fail(_, let task) = $0 { task == 0 } else { false } }
            if failed { #expect(id == 1) }
        }
        #expect(failed)
        #expect(s.isDone)
    }

    @Test("the job fails when the last worker is gone, even one that never connected")
    func noWorkersLeft() {
        var s = Scheduler()
        _ = s.handle(.workerLaunched)
        _ = s.handle(.workerLaunched)
        _ = s.handle(.tasksAvailable([0, 1]))
        #expect(s.handle(.workerLost(nil, reason: "exited with status 1")).isEmpty)
        let actions = s.handle(.workerLost(nil, reason: "exited with status 1"))
        #expect(actions.contains { if case .fail = $0 { true } else { false } })
    }

    @Test("a model error fails the job at once and names the task")
    func modelErrorFails() {
        var (s, actions) = started(workers: 1, capacity: 2, tasks: 5)
        #expect(assignments(actions).map(\.0) == [0, 1])
        actions = s.handle(.taskFailed(0, 1, reason: "ValueError"))
        #expect(actions == [.fail(reason: "ValueError", task: 1)])
        #expect(s.handle(.resultReceived(0, 0)).isEmpty)
    }

    @Test("workers that join before input is decoded get tasks as they arrive")
    func tasksArriveLater() {
        var s = Scheduler()
        _ = s.handle(.workerLaunched)
        _ = s.handle(.workerJoined(0, capacity: 3))
        #expect(s.handle(.workerReady(0)).isEmpty)
        #expect(s.handle(.tasksAvailable([0, 1])) == [.assign(0, to: 0), .assign(1, to: 0)])
        #expect(s.handle(.tasksAvailable([2, 3])) == [.assign(2, to: 0)])
        _ = s.handle(.resultReceived(0, 0))
        _ = s.handle(.resultReceived(0, 1))
        _ = s.handle(.resultReceived(0, 2))
        #expect(s.handle(.inputFinished).isEmpty)
        #expect(s.handle(.resultReceived(0, 3)) == [.accept(3), .finish])
    }
}

@Suite("Job plan")
struct JobPlanTests {
    @Test("row groups become partitions, large ones are split, tasks are numbered in input order")
    func planning() {
        let plan = JobPlan(rowGroups: [[25, 5], [], [12]], batchSize: 10, maxPartitionRows: 20)
        #expect(plan.partitions.map(\.rows) == [0..<20, 20..<25, 0..<5, 0..<12])
        #expect(plan.partitions.map(\.file) == [0, 0, 0, 2])
        #expect(plan.partitions.map(\.taskCount) == [2, 1, 1, 2])
        #expect(plan.partitions.map(\.firstTask) == [0, 2, 3, 4])
        #expect(plan.partitionsByFile == [[0, 1, 2], [], [3]])
        #expect(plan.taskCount == 6)
        #expect(plan.partition(of: 5).id == 3)
        #expect(plan.rows(of: 5, in: plan.partitions[3]) == 10..<12)
        #expect(plan.rows(of: 2, in: plan.partitions[1]) == 0..<5)
    }
}

@Suite("Result merger")
struct ResultMergerTests {
    @Test("partitions are released whole and in input order, whatever order batches finish in")
    func ordering() {
        let plan = JobPlan(rowGroups: [[3, 2], [4]], batchSize: 2)  // tasks: p0 {0,1}, p1 {2}, p2 {3,4}
        var merger = ResultMerger(plan: plan)
        for p in 0..<3 { merger.expect(partition: p) }
        #expect(merger.add(.fixed(.float64, [20.0]), for: 2).isEmpty)          // p1 done, waits for p0
        #expect(merger.add(.fixed(.float64, [30.0, 31.0]), for: 3).isEmpty)    // half of p2
        #expect(merger.add(.fixed(.float64, [2.0]), for: 1).isEmpty)           // half of p0
        let ready = merger.add(.fixed(.float64, [0.0, 1.0]), for: 0)           // p0 done: p0, p1 go
        #expect(ready.map(\.partition) == [0, 1])
        #expect(ready[0].prediction.array(of: Double.self) == [0, 1, 2])
        #expect(ready[1].prediction.array(of: Double.self) == [20])
        let last = merger.add(.fixed(.float64, [32.0, 33.0]), for: 4)
        #expect(last.map(\.partition) == [2])
        #expect(last[0].prediction.array(of: Double.self) == [30, 31, 32, 33])
        #expect(merger.nextPartition == 3)
    }
}
