import Columnar

/// How a dataset is cut into partitions and batches.
///
/// A partition is one row group, or a slice of one when the row group is larger than
/// `maxPartitionRows`; it becomes one row group of the output. A batch (task) is up to
/// `batchSize` consecutive rows of a partition: the unit sent to a worker and handed to
/// predict. Tasks are numbered in input order, so ordering results is sorting by task id.
public struct JobPlan: Sendable {
    public struct Partition: Sendable, Equatable {
        public var id: Int
        /// Index into the dataset's files.
        public var file: Int
        public var rowGroup: Int
        /// Rows of the row group this partition covers.
        public var rows: Range<Int>
        /// The first task id of this partition; its tasks are consecutive.
        public var firstTask: TaskID
        public var taskCount: Int
    }

    public let partitions: [Partition]
    public let batchSize: Int
    public let taskCount: Int
    /// Partition ids of each file, in order (a file with no rows has none).
    public let partitionsByFile: [[Int]]

    /// Plans row-group row counts per file (`rowGroups[file][rowGroup]`).
    public init(rowGroups: [[Int]], batchSize: Int, maxPartitionRows: Int = 1 << 20) {
        precondition(batchSize > 0 && maxPartitionRows > 0)
        var partitions: [Partition] = []
        var byFile: [[Int]] = []
        var nextTask: TaskID = 0
        for (f, counts) in rowGroups.enumerated() {
            var ids: [Int] = []
            for (g, rows) in counts.enumerated() {
                var start = 0
                while start < rows {
                    let end = min(rows, start + maxPartitionRows)
                    let tasks = (end - start + batchSize - 1) / batchSize
                    ids.append(partitions.count)
                    partitions.append(Partition(id: partitions.count, file: f, rowGroup: g, rows: start..<end,
                                                firstTask: nextTask, taskCount: tasks))
                    nextTask += TaskID(tasks)
                    start = end
                }
            }
            byFile.append(ids)
        }
        self.partitions = partitions
        self.batchSize = batchSize
        self.taskCount = Int(nextTask)
        self.partitionsByFile = byFile
    }

    /// The partition a task belongs to.
    public func partition(of task: TaskID) -> Partition {
        // Binary search over first task ids.
        var low = 0, high = partitions.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if partitions[mid].firstTask <= task { low = mid } else { high = mid - 1 }
        }
        return partitions[low]
    }

    /// The rows of `task` within its partition.
    public func rows(of task: TaskID, in partition: Partition) -> Range<Int> {
        let index = Int(task - partition.firstTask)
        let start = index * batchSize
        return start..<min(partition.rows.count, start + batchSize)
    }
}
