import Testing
import Columnar
@testable import PartitionIO
import Wire
@testable import Coordinator

/// `--workers-read` without sockets: which partitions are handed out, attempts, and parts put
/// back in order exactly once; and the worker's blocks, which must be the coordinator's.
@Suite("Partition hand-out (--workers-read)")
struct PartitionHandoutTests {
    static func written(_ partition: Int, attempt: Int = 1) -> PartitionHandout.Finished {
        .written(PartitionWritten(partition: partition, attempt: attempt, path: "p\(partition)", rows: 10, bytes: 100,
                                  readSeconds: 0, predictSeconds: 0, writeSeconds: 0, bytesRead: 0))
    }

    @Test("as many partitions under way as workers; finished ones leave in order, each once")
    func order() {
        var handout = PartitionHandout(order: [2, 3, 5, 7])
        #expect(handout.release(workers: 0) == [2])  // one under way even before a worker is ready
        #expect(handout.release(workers: 2) == [3])
        #expect(handout.release(workers: 2) == [])
        // 3 finishes first: it waits for 2.
        #expect(handout.finish(3, Self.written(3)).isEmpty)
        #expect(handout.release(workers: 2) == [5])
        #expect(handout.finish(3, Self.written(3)).isEmpty)  // a second report is ignored
        let left = handout.finish(2, Self.written(2))
        #expect(left.map(\.partition) == [2, 3])
        #expect(handout.release(workers: 2) == [7])
        #expect(handout.allReleased && !handout.isComplete)
        #expect(handout.finish(7, .failed(.init(task: 70, reason: "boom", traceback: nil))).isEmpty)
        #expect(handout.finish(9, Self.written(9)).isEmpty)  // not a partition of this job
        let last = handout.finish(5, Self.written(5))
        #expect(last.map(\.partition) == [5, 7] && handout.isComplete)
        if case .failed(let batch) = last[1].how { #expect(batch.task == 70) } else { Issue.record("7 should have failed") }
    }

    @Test("each hand-out is a new attempt; once paused nothing more is released")
    func attemptsAndPause() {
        var handout = PartitionHandout(order: [0, 1, 2])
        #expect(handout.release(workers: 1) == [0])
        #expect(handout.nextAttempt(of: 0) == 1)
        #expect(handout.nextAttempt(of: 0) == 2)
        #expect(handout.attempt(of: 0) == 2 && handout.attempt(of: 1) == 0)
        handout.pause()
        _ = handout.finish(0, Self.written(0, attempt: 2))
        #expect(handout.release(workers: 4) == [] && handout.underWay == 0 && !handout.allReleased)
    }

    @Test("a worker cuts its partition into the coordinator's blocks and segments", arguments: [
        ([[25, 5], [], [12]], 10, 20, 10),
        ([[4, 4, 4, 0, 6, 9], [3]], 5, 10, 5),
        ([[3], [4], [0], [2, 2], [12], [5]], 2, 10, 4),
        ([[1500, 1500, 1500, 500], [1500, 800], [1]], 97, 1000, 485),
    ])
    func blocksMatchThePlan(_ rowGroups: [[Int]], _ batchSize: Int, _ partitionRows: Int, _ blockRows: Int) {
        let plan = JobPlan(rowGroups: rowGroups, batchSize: batchSize, partitionRows: partitionRows, blockRows: blockRows)
        for partition in plan.partitions {
            let planned = plan.blocks[partition.blocks].map { PartitionBlocks.Block(rows: $0.rows, segments: $0.segments) }
            let cut = partition.inputs.flatMap { PartitionBlocks(rows: $0.rows, rowGroupRows: rowGroups[$0.file], blockRows: plan.blockRows).blocks }
            #expect(cut == planned, "partition \(partition.id)")
        }
    }
}
