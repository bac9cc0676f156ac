import Testing
import Columnar
import PartitionIO
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
        actions = s.handle(.taskFailed(0, 1, partition: 0, reason: "ValueError"))
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
    @Test("a large file becomes partitions (large row groups in pieces), partitions become blocks, tasks are numbered in input order")
    func planning() {
        let plan = JobPlan(rowGroups: [[25, 5], [], [12]], batchSize: 10, partitionRows: 20, blockRows: 10)
        #expect(plan.partitions.map(\.inputs) == [
            [.init(file: 0, rows: 0..<20, rowGroups: nil)], [.init(file: 0, rows: 20..<25, rowGroups: nil)],
            [.init(file: 0, rows: 25..<30, rowGroups: 1..<2)], [.init(file: 2, rows: 0..<12, rowGroups: 0..<1)],
        ])
        #expect(plan.partitions.map(\.isWholeRowGroups) == [false, false, true, true])
        #expect(plan.partitions.map(\.blocks) == [0..<2, 2..<3, 3..<4, 4..<6])
        #expect(plan.blocks.map(\.rows) == [0..<10, 10..<20, 20..<25, 25..<30, 0..<10, 10..<12])
        #expect(plan.blocks.map(\.partition) == [0, 0, 1, 2, 3, 3])
        #expect(plan.blocks.map(\.firstTask) == [0, 1, 2, 3, 4, 5])
        #expect(plan.taskCount == 6)
        #expect(plan.partition(of: 5).id == 3)
        #expect(plan.rows(of: 5, in: plan.blocks[5]) == 0..<2)
        #expect(plan.fileRows(of: 5) == 10..<12)
        #expect(plan.blocks[2].segments == [.init(rowGroup: 0, rows: 20..<25)])
        #expect(plan.blocks[3].segments == [.init(rowGroup: 1, rows: 0..<5)])
    }

    @Test("whole row groups of a large file are gathered into one partition while they fit")
    func gathers() {
        let plan = JobPlan(rowGroups: [[4, 4, 4, 0, 6, 9], [3]], batchSize: 5, partitionRows: 10, blockRows: 5)
        #expect(plan.partitions.map { $0.inputs.map(\.rows) } == [[0..<8], [8..<18], [18..<27], [0..<3]])
        #expect(plan.partitions.map { $0.inputs.map(\.rowGroups) } == [[0..<2], [2..<5], [5..<6], [0..<1]])
        // A block may still straddle row groups of its partition.
        #expect(plan.blocks[0].segments == [.init(rowGroup: 0, rows: 0..<4), .init(rowGroup: 1, rows: 0..<1)])
        #expect(plan.blocks[1].segments == [.init(rowGroup: 1, rows: 1..<4)])
        #expect(plan.blocks[2].segments == [.init(rowGroup: 2, rows: 0..<4), .init(rowGroup: 4, rows: 0..<1)])
        #expect(plan.blocks.map(\.taskCount) == [1, 1, 1, 1, 1, 1, 1])
        #expect(plan.taskCount == 7)
    }

    @Test("small files are gathered into shared partitions while they fit; a block never spans two files")
    func gathersSmallFiles() {
        let plan = JobPlan(rowGroups: [[3], [4], [0], [2, 2], [12], [5]], batchSize: 2, partitionRows: 10, blockRows: 4)
        #expect(plan.partitions.map { $0.inputs.map(\.file) } == [[0, 1], [3], [4], [4], [5]])
        #expect(plan.partitions.map(\.rowCount) == [7, 4, 10, 2, 5])
        #expect(plan.partitions.map(\.isWholeRowGroups) == [true, true, false, false, true])
        #expect(plan.blocks.map(\.file) == [0, 1, 3, 4, 4, 4, 4, 5, 5])
        #expect(plan.blocks.map(\.partition) == [0, 0, 1, 2, 2, 2, 3, 4, 4])
        #expect(plan.blocks[2].segments == [.init(rowGroup: 0, rows: 0..<2), .init(rowGroup: 1, rows: 0..<2)])
        #expect(plan.taskCount == 15)
        #expect(plan.block(of: 3).file == 1)
        #expect(plan.fileRows(of: 3) == 2..<4)
        #expect(plan.partition(of: 3).id == 0)
    }

    @Test("block rows are rounded down to whole batches")
    func blockRounding() {
        let plan = JobPlan(rowGroups: [[100]], batchSize: 30, partitionRows: 100, blockRows: 65)
        #expect(plan.blocks.map(\.rows) == [0..<60, 60..<100])
        #expect(plan.blocks.map(\.taskCount) == [2, 2])
    }

    @Test("output files are numbered in input order, wide enough for every partition")
    func names() {
        let small = JobPlan(rowGroups: [[3]], batchSize: 1, partitionRows: 1)
        #expect(small.outputFileName(of: 2) == "part-00002.parquet")
        let large = JobPlan(rowGroups: [[123_456]], batchSize: 1000, partitionRows: 1)
        #expect(large.outputFileName(of: 7) == "part-000007.parquet")
        #expect(large.outputFileName(of: 123_455) == "part-123455.parquet")
    }
}

extension ResultMerger.Completed {
    var prediction: Column? { if case .scored(_, let p) = self { p } else { nil } }
}

@Suite("Result merger")
struct ResultMergerTests {
    @Test("blocks are released whole and in input order, whatever order batches finish in")
    func ordering() {
        let plan = JobPlan(rowGroups: [[3], [2], [4]], batchSize: 2)  // tasks: b0 {0,1}, b1 {2}, b2 {3,4}
        var merger = ResultMerger(plan: plan)
        for b in 0..<3 { merger.expect(block: b) }
        #expect(merger.add(.fixed(.float64, [20.0]), for: 2).isEmpty)          // b1 done, waits for b0
        #expect(merger.add(.fixed(.float64, [30.0, 31.0]), for: 3).isEmpty)    // half of b2
        #expect(merger.add(.fixed(.float64, [2.0]), for: 1).isEmpty)           // half of b0
        let ready = merger.add(.fixed(.float64, [0.0, 1.0]), for: 0)           // b0 done: b0, b1 go
        #expect(ready.map(\.block) == [0, 1])
        #expect(ready[0].prediction!.array(of: Double.self) == [0, 1, 2])
        #expect(ready[1].prediction!.array(of: Double.self) == [20])
        let last = merger.add(.fixed(.float64, [32.0, 33.0]), for: 4)
        #expect(last.map(\.block) == [2])
        #expect(last[0].prediction!.array(of: Double.self) == [30, 31, 32, 33])
        #expect(merger.nextBlock == nil)
    }

    @Test("only the named blocks are expected; a failed batch fails its block, released in order")
    func subsetAndFailures() {
        let plan = JobPlan(rowGroups: [[2], [2], [2]], batchSize: 1)  // b0 {0,1}, b1 {2,3}, b2 {4,5}
        var merger = ResultMerger(plan: plan, blocks: [1, 2])
        merger.expect(block: 1)
        merger.expect(block: 2)
        #expect(merger.nextBlock == 1)
        #expect(merger.add(.fixed(.float64, [4.0]), for: 4).isEmpty)
        #expect(merger.add(.fixed(.float64, [5.0]), for: 5).isEmpty)  // b2 done, waits for b1
        #expect(merger.fail(3, reason: "boom", traceback: "tb").isEmpty)
        let ready = merger.add(.fixed(.float64, [2.0]), for: 2)
        #expect(ready.map(\.block) == [1, 2])
        if case .failed(_, let batches) = ready[0] {
            #expect(batches == [.init(task: 3, reason: "boom", traceback: "tb")])
        } else {
            Issue.record("block 1 should have failed")
        }
        #expect(ready[1].prediction?.array(of: Double.self) == [4, 5])
        #expect(merger.nextBlock == nil)
    }
}

@Suite("Scheduler: model errors and quarantine")
struct SchedulerFailurePolicyTests {
    func started(_ configuration: Scheduler.Configuration, tasks: Int) -> (Scheduler, [Scheduler.Action]) {
        var s = Scheduler(configuration: configuration)
        var actions = s.handle(.workerLaunched)
        actions += s.handle(.workerJoined(0, capacity: 1))
        actions += s.handle(.workerReady(0))
        actions += s.handle(.tasksAvailable((0..<tasks).map(TaskID.init)))
        actions += s.handle(.inputFinished)
        return (s, actions)
    }

    @Test("by default a model error fails the job")
    func failsByDefault() {
        var (s, _) = started(.init(), tasks: 2)
        let actions = s.handle(.taskFailed(0, 0, partition: 0, reason: "ValueError"))
        #expect(actions == [.fail(reason: "ValueError", task: 0)])
    }

    @Test("--retry-model-errors gives the batch out again, then fails after max attempts")
    func retries() {
        var (s, _) = started(.init(maxAttempts: 2, retryModelErrors: true), tasks: 1)
        #expect(s.handle(.taskFailed(0, 0, partition: 0, reason: "flaky")) == [.assign(0, to: 0)])
        let second = s.handle(.taskFailed(0, 0, partition: 0, reason: "flaky"))
        #expect(second == [.fail(reason: "flaky", task: 0)])
    }

    @Test("quarantine up to N partitions; more batches of a quarantined partition do not count again")
    func quarantine() {
        var (s, _) = started(.init(maxFailedPartitions: 1), tasks: 4)
        // Tasks 0 and 1 are partition 0; task 2 is partition 1.
        #expect(s.handle(.taskFailed(0, 0, partition: 0, reason: "bad row")) == [.quarantine(0, reason: "bad row"), .assign(1, to: 0)])
        #expect(s.handle(.taskFailed(0, 1, partition: 0, reason: "bad row")) == [.quarantine(1, reason: "bad row"), .assign(2, to: 0)])
        let over = s.handle(.taskFailed(0, 2, partition: 1, reason: "bad row"))
        #expect(over.count == 1)
        if case .fail(let reason, let task) = over[0] {
            #expect(task == 2 && reason.contains("--max-failed-partitions 1"))
        } else {
            Issue.record("expected the job to fail, got \(over)")
        }
    }

    @Test("quarantined batches count as answered: the job finishes")
    func quarantineFinishes() {
        var (s, _) = started(.init(maxFailedPartitions: 1), tasks: 2)
        _ = s.handle(.taskFailed(0, 0, partition: 0, reason: "x"))
        #expect(s.handle(.resultReceived(0, 1)) == [.accept(1), .finish])
    }
}

@Suite("Job fingerprint")
struct JobFingerprintTests {
    @Test("differences name the input file, the model and the option that changed")
    func differences() {
        let a = JobFingerprint(inputFiles: [.init(path: "a.parquet", bytes: 10, rows: 5), .init(path: "b.parquet", bytes: 20, rows: 7)],
                               modelSHA256: String(repeating: "a", count: 64), settings: ["result type": "double"])
        var b = a
        #expect(a.differences(from: b).isEmpty)
        b.inputFiles[1].bytes = 21
        b.inputFiles.append(.init(path: "c.parquet", bytes: 1, rows: 1))
        b.modelSHA256 = String(repeating: "b", count: 64)
        b.settings["result type"] = "float"
        let found = b.differences(from: a)
        #expect(found.contains { $0.contains("b.parquet changed") && $0.contains("20 bytes") && $0.contains("21 bytes") })
        #expect(found.contains { $0.contains("c.parquet is new") })
        #expect(found.contains { $0.contains("model changed") })
        #expect(found.contains("result type was double, is float"))
        #expect(a.differences(from: b).contains { $0.contains("c.parquet was part of the job and is gone") })
    }
}
