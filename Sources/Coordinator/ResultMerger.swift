import Columnar

/// Collects batch results per partition and releases whole partitions in input order.
///
/// A plain value: the control thread feeds it accepted results (and batches given up on); it
/// answers with the partitions that are now complete, never one before its predecessors. Only
/// the partitions named at creation are expected (a resumed job skips committed ones).
struct ResultMerger {
    /// A batch the model failed on, kept out of the output (`--max-failed-partitions`).
    struct FailedBatch: Sendable, Equatable {
        var task: TaskID
        var reason: String
        var traceback: String?
    }

    /// A partition whose batches are all answered.
    enum Completed {
        /// Every batch was scored: the partition's whole prediction column.
        case scored(partition: Int, prediction: Column)
        /// At least one batch failed: the partition is quarantined, not written.
        case failed(partition: Int, batches: [FailedBatch])

        var partition: Int {
            switch self {
            case .scored(let p, _), .failed(let p, _): p
            }
        }
    }

    private let plan: JobPlan
    /// The partitions to produce, in order, and the position of the next one to release.
    private let order: [Int]
    private var nextIndex = 0
    private var pending: [Int: [Column?]] = [:]
    private var missing: [Int: Int] = [:]
    private var failures: [Int: [FailedBatch]] = [:]
    private var completed: [Int: Completed] = [:]

    init(plan: JobPlan, partitions: [Int]? = nil) {
        self.plan = plan
        self.order = partitions ?? plan.partitions.map(\.id)
    }

    /// The next partition to hand to the writer, if any is left.
    var nextPartition: Int? { nextIndex < order.count ? order[nextIndex] : nil }

    /// Starts collecting `partition`'s batches.
    mutating func expect(partition: Int) {
        let count = plan.partitions[partition].taskCount
        pending[partition] = Array(repeating: nil, count: count)
        missing[partition] = count
    }

    /// Records the (accepted) result of `task`; returns the partitions that are now complete.
    mutating func add(_ result: Column, for task: TaskID) -> [Completed] {
        let partition = plan.partition(of: task)
        guard pending[partition.id] != nil else { return [] }
        pending[partition.id]![Int(task - partition.firstTask)] = result
        return answered(partition.id)
    }

    /// Records that `task` failed for good; its partition will be quarantined.
    mutating func fail(_ task: TaskID, reason: String, traceback: String?) -> [Completed] {
        let id = plan.partition(of: task).id
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
            completed[id] = .failed(partition: id, batches: failed.sorted { $0.task < $1.task })
        } else {
            completed[id] = .scored(partition: id, prediction: Column.concatenate(columns.map { $0! }))
        }
        var ready: [Completed] = []
        while let next = nextPartition, let done = completed.removeValue(forKey: next) {
            ready.append(done)
            nextIndex += 1
        }
        return ready
    }
}
