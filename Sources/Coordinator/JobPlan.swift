import Columnar

/// How a dataset is cut into partitions and batches.
///
/// A partition is a run of consecutive rows of one input file: small row groups are gathered
/// until `partitionRows`, a larger row group is sliced. It is the unit of output and of commit:
/// it becomes one output file, committed atomically and recorded in the job manifest, so a
/// resumed job skips it. A batch (task) is up to `batchSize` consecutive rows of a partition:
/// the unit sent to a worker and handed to predict. Tasks are numbered in input order, so
/// ordering results is sorting by task id.
public struct JobPlan: Sendable {
    /// Rows of one row group that belong to a partition.
    public struct Segment: Sendable, Equatable {
        public var rowGroup: Int
        /// Rows of the row group.
        public var rows: Range<Int>
    }

    public struct Partition: Sendable, Equatable {
        public var id: Int
        /// Index into the dataset's files.
        public var file: Int
        /// Rows of the file this partition covers.
        public var rows: Range<Int>
        /// Where those rows are, row group by row group.
        public var segments: [Segment]
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
    public init(rowGroups: [[Int]], batchSize: Int, partitionRows: Int = 1 << 20) {
        precondition(batchSize > 0 && partitionRows > 0)
        var partitions: [Partition] = []
        var byFile: [[Int]] = []
        var nextTask: TaskID = 0
        for (f, counts) in rowGroups.enumerated() {
            var ids: [Int] = []
            var segments: [Segment] = []
            var start = 0, gathered = 0
            func close() {
                guard gathered > 0 else { return }
                let tasks = (gathered + batchSize - 1) / batchSize
                ids.append(partitions.count)
                partitions.append(Partition(id: partitions.count, file: f, rows: start..<(start + gathered), segments: segments,
                                            firstTask: nextTask, taskCount: tasks))
                nextTask += TaskID(tasks)
                start += gathered
                gathered = 0
                segments = []
            }
            for (g, rows) in counts.enumerated() {
                var taken = 0
                while taken < rows {
                    if gathered == partitionRows { close() }
                    let piece = min(rows - taken, partitionRows - gathered)
                    segments.append(Segment(rowGroup: g, rows: taken..<(taken + piece)))
                    gathered += piece
                    taken += piece
                }
            }
            close()
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

    /// The tasks of a partition.
    public func tasks(of partition: Partition) -> [TaskID] {
        (0..<partition.taskCount).map { partition.firstTask + TaskID($0) }
    }

    /// The rows of `task` within its partition.
    public func rows(of task: TaskID, in partition: Partition) -> Range<Int> {
        let index = Int(task - partition.firstTask)
        let start = index * batchSize
        return start..<min(partition.rows.count, start + batchSize)
    }

    /// The name of a partition's output file: numbered in input order, so that listing the
    /// output directory by name lists rows in input order.
    public func outputFileName(of partition: Int) -> String {
        let digits = max(5, String(max(0, partitions.count - 1)).count)
        let number = String(partition)
        return "part-" + String(repeating: "0", count: max(0, digits - number.count)) + number + ".parquet"
    }
}
