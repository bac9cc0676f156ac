import Columnar

/// Collects batch results per partition and releases whole partitions in input order.
///
/// A plain value: the control thread feeds it accepted results; it answers with the
/// partitions that can now be written, never one before its predecessors.
struct ResultMerger {
    private let plan: JobPlan
    private var pending: [Int: [Column?]] = [:]
    private var missing: [Int: Int] = [:]
    private var completed: [Int: Column] = [:]
    /// The next partition to hand to the writer.
    private(set) var nextPartition = 0

    init(plan: JobPlan) { self.plan = plan }

    /// Starts collecting `partition`'s batches.
    mutating func expect(partition: Int) {
        let count = plan.partitions[partition].taskCount
        pending[partition] = Array(repeating: nil, count: count)
        missing[partition] = count
    }

    /// Records the (accepted) result of `task`; returns the partitions that are now ready,
    /// in order, each with its whole prediction column.
    mutating func add(_ result: Column, for task: TaskID) -> [(partition: Int, prediction: Column)] {
        let partition = plan.partition(of: task)
        let id = partition.id
        guard pending[id] != nil else { return [] }
        pending[id]![Int(task - partition.firstTask)] = result
        missing[id]! -= 1
        guard missing[id] == 0 else { return [] }
        completed[id] = Column.concatenate(pending.removeValue(forKey: id)!.map { $0! })
        missing[id] = nil
        var ready: [(partition: Int, prediction: Column)] = []
        while let prediction = completed.removeValue(forKey: nextPartition) {
            ready.append((nextPartition, prediction))
            nextPartition += 1
        }
        return ready
    }
}
