import Columnar

/// Collects batch results per block and releases whole blocks in input order.
///
/// A plain value: the control thread feeds it accepted results (and batches given up on); it
/// answers with the blocks that are now complete, never one before its predecessors. Only the
/// blocks named at creation are expected (a resumed job skips committed partitions).
struct ResultMerger {
    /// A batch the model failed on, kept out of the output (`--max-failed-partitions`).
    struct FailedBatch: Sendable, Equatable {
        var task: TaskID
        var reason: String
        var traceback: String?
    }

    /// A block whose batches are all answered.
    enum Completed {
        /// Every batch was scored: the block's whole prediction column.
        case scored(block: Int, prediction: Column)
        /// At least one batch failed: the block's partition is quarantined.
        case failed(block: Int, batches: [FailedBatch])

        var block: Int {
            switch self {
            case .scored(let b, _), .failed(let b, _): b
            }
        }
    }

    private let plan: JobPlan
    /// The blocks to produce, in order, and the position of the next one to release.
    private let order: [Int]
    private var nextIndex = 0
    private var pending: [Int: [Column?]] = [:]
    private var missing: [Int: Int] = [:]
    private var failures: [Int: [FailedBatch]] = [:]
    private var completed: [Int: Completed] = [:]

    init(plan: JobPlan, blocks: [Int]? = nil) {
        self.plan = plan
        self.order = blocks ?? plan.blocks.map(\.id)
    }

    /// The next block to hand to the writer, if any is left.
    var nextBlock: Int? { nextIndex < order.count ? order[nextIndex] : nil }

    /// Starts collecting `block`'s batches.
    mutating func expect(block: Int) {
        let count = plan.blocks[block].taskCount
        pending[block] = Array(repeating: nil, count: count)
        missing[block] = count
    }

    /// Records the (accepted) result of `task`; returns the blocks that are now complete.
    mutating func add(_ result: Column, for task: TaskID) -> [Completed] {
        let block = plan.block(of: task)
        guard pending[block.id] != nil else { return [] }
        pending[block.id]![Int(task - block.firstTask)] = result
        return answered(block.id)
    }

    /// Records that `task` failed for good; its block (and partition) will be quarantined.
    mutating func fail(_ task: TaskID, reason: String, traceback: String?) -> [Completed] {
        let id = plan.block(of: task).id
        guard pending[id] != nil else { return [] }
        failures[id, default: []].append(FailedBatch(task: task, reason: reason, traceback: traceback))
        return answered(id)
    }

    private mutating func answered(_ id: Int) -> [Completed] {
        missing[id]! -= 1
        guard missing[id] == 0 else { return [] }
        let columns = pending.removeValue(forKey: id)!
        missing[id] = nil
        if let failed = failures.removeValue(forKey: id) {
            completed[id] = .failed(block: id, batches: failed.sorted { $0.task < $1.task })
        } else {
            completed[id] = .scored(block: id, prediction: Column.concatenate(columns.map { $0! }))
        }
        var ready: [Completed] = []
        while let next = nextBlock, let done = completed.removeValue(forKey: next) {
            ready.append(done)
            nextIndex += 1
        }
        return ready
    }
}
