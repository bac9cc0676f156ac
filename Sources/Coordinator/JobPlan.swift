import Columnar

/// How a dataset is cut into partitions, blocks and batches.
///
/// - A **partition** is a run of consecutive rows of one input file, at most `partitionRows`:
///   whole row groups gathered while they fit, or a piece of a larger row group. It is the unit
///   of output and of commit: one output file, committed atomically and recorded in the job
///   manifest, so a resumed job skips it. A partition of whole row groups can have its kept
///   columns copied to the output chunk by chunk, without decoding them.
/// - A **block** is a run of at most `blockRows` rows of a partition: the unit the coordinator
///   decodes, holds in memory and writes (one row group of the output file). Coordinator memory
///   is a few blocks, whatever the sizes of files, row groups and partitions.
/// - A **batch** (task) is up to `batchSize` rows of a block: the unit sent to a worker and
///   handed to predict. Tasks are numbered in input order, so ordering results is sorting by
///   task id.
public struct JobPlan: Sendable {
    /// Rows of one row group that belong to a block.
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
        /// Its blocks' ids (consecutive).
        public var blocks: Range<Int>
        /// The row groups it covers whole; nil when it is a piece of a row group larger than
        /// `partitionRows`.
        public var rowGroups: Range<Int>?
    }

    public struct Block: Sendable, Equatable {
        public var id: Int
        public var partition: Int
        public var file: Int
        /// Rows of the file this block covers.
        public var rows: Range<Int>
        /// Where those rows are, row group by row group.
        public var segments: [Segment]
        /// The first task id of this block; its tasks are consecutive.
        public var firstTask: TaskID
        public var taskCount: Int
    }

    public let partitions: [Partition]
    public let blocks: [Block]
    public let batchSize: Int
    public let taskCount: Int
    /// Partition ids of each file, in order (a file with no rows has none).
    public let partitionsByFile: [[Int]]

    /// Plans row-group row counts per file (`rowGroups[file][rowGroup]`). `blockRows` is
    /// rounded down to a multiple of `batchSize` (at least one batch).
    public init(rowGroups: [[Int]], batchSize: Int, partitionRows: Int = 1 << 20, blockRows: Int = 65_536) {
        precondition(batchSize > 0 && partitionRows > 0 && blockRows > 0)
        let blockRows = max(batchSize, blockRows / batchSize * batchSize)
        var partitions: [Partition] = []
        var blocks: [Block] = []
        var byFile: [[Int]] = []
        var nextTask: TaskID = 0
        for (f, counts) in rowGroups.enumerated() {
            // Row group boundaries of the file, to find the segments of a range of file rows.
            var starts: [Int] = []
            var total = 0
            for rows in counts {
                starts.append(total)
                total += rows
            }
            func segments(_ rows: Range<Int>) -> [Segment] {
                var out: [Segment] = []
                for (g, start) in starts.enumerated() {
                    let low = max(start, rows.lowerBound), high = min(start + counts[g], rows.upperBound)
                    if low < high { out.append(Segment(rowGroup: g, rows: (low - start)..<(high - start))) }
                }
                return out
            }
            var ids: [Int] = []
            func addPartition(_ rows: Range<Int>, rowGroups: Range<Int>?) {
                let start = rows.lowerBound, end = rows.upperBound
                let firstBlock = blocks.count
                var blockStart = start
                while blockStart < end {
                    let blockEnd = min(end, blockStart + blockRows)
                    let tasks = (blockEnd - blockStart + batchSize - 1) / batchSize
                    blocks.append(Block(id: blocks.count, partition: partitions.count, file: f, rows: blockStart..<blockEnd,
                                        segments: segments(blockStart..<blockEnd), firstTask: nextTask, taskCount: tasks))
                    nextTask += TaskID(tasks)
                    blockStart = blockEnd
                }
                ids.append(partitions.count)
                partitions.append(Partition(id: partitions.count, file: f, rows: rows, blocks: firstBlock..<blocks.count,
                                            rowGroups: rowGroups))
            }
            // Whole row groups while they fit (empty ones go along); a larger row group in pieces.
            var g = 0
            while g < counts.count {
                if counts[g] > partitionRows {
                    var start = starts[g]
                    while start < starts[g] + counts[g] {
                        addPartition(start..<min(starts[g] + counts[g], start + partitionRows), rowGroups: nil)
                        start += partitionRows
                    }
                    g += 1
                    continue
                }
                var end = g, rows = 0
                while end < counts.count && rows + counts[end] <= partitionRows {
                    rows += counts[end]
                    end += 1
                }
                if rows > 0 { addPartition(starts[g]..<(starts[g] + rows), rowGroups: g..<end) }
                g = end
            }
            byFile.append(ids)
        }
        self.partitions = partitions
        self.blocks = blocks
        self.batchSize = batchSize
        self.taskCount = Int(nextTask)
        self.partitionsByFile = byFile
    }

    /// The block a task belongs to.
    public func block(of task: TaskID) -> Block {
        // Binary search over first task ids.
        var low = 0, high = blocks.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if blocks[mid].firstTask <= task { low = mid } else { high = mid - 1 }
        }
        return blocks[low]
    }

    /// The partition a task belongs to.
    public func partition(of task: TaskID) -> Partition { partitions[block(of: task).partition] }

    /// The tasks of a block.
    public func tasks(of block: Block) -> [TaskID] {
        (0..<block.taskCount).map { block.firstTask + TaskID($0) }
    }

    /// The rows of `task` within its block.
    public func rows(of task: TaskID, in block: Block) -> Range<Int> {
        let index = Int(task - block.firstTask)
        let start = index * batchSize
        return start..<min(block.rows.count, start + batchSize)
    }

    /// The rows of the input file that `task` covers.
    public func fileRows(of task: TaskID) -> Range<Int> {
        let b = block(of: task)
        let rows = self.rows(of: task, in: b)
        return (b.rows.lowerBound + rows.lowerBound)..<(b.rows.lowerBound + rows.upperBound)
    }

    /// The name of a partition's output file: numbered in input order, so that listing the
    /// output directory by name lists rows in input order.
    public func outputFileName(of partition: Int) -> String {
        let digits = max(5, String(max(0, partitions.count - 1)).count)
        let number = String(partition)
        return "part-" + String(repeating: "0", count: max(0, digits - number.count)) + number + ".parquet"
    }
}
