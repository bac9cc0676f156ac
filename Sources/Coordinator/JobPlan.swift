import Columnar
import PartitionIO

/// How a dataset is cut into partitions, blocks and batches.
///
/// - A **partition** is the unit of output and of commit: one output file, committed
///   atomically and recorded in the job manifest, so a resumed job skips it. It holds at most
///   `partitionRows` rows: whole files smaller than that gathered while they fit (so that many
///   tiny files do not cost a file, a commit and an fsync each), or whole row groups of a
///   larger file gathered while they fit, or a piece of a row group larger than that. A
///   partition of whole row groups can have its kept columns copied to the output chunk by
///   chunk, without decoding them.
/// - A **block** is a run of at most `blockRows` rows of one input file of a partition: the
///   unit the coordinator decodes and holds in memory. Coordinator memory is a few blocks,
///   whatever the sizes of files, row groups and partitions.
/// - A **batch** (task) is up to `batchSize` rows of a block: the unit sent to a worker and
///   handed to predict. Tasks are numbered in input order, so ordering results is sorting by
///   task id.
public struct JobPlan: Sendable {
    /// Rows of one row group that belong to a block.
    public typealias Segment = PartitionBlocks.Segment

    /// Rows of one input file that belong to a partition.
    public struct Input: Sendable, Equatable {
        /// Index into the dataset's files.
        public var file: Int
        /// Rows of the file.
        public var rows: Range<Int>
        /// The row groups these rows are, whole; nil when they are a piece of a row group larger
        /// than `partitionRows`.
        public var rowGroups: Range<Int>?
    }

    public struct Partition: Sendable, Equatable {
        public var id: Int
        /// Its rows, file by file in input order (several files only when they are small).
        public var inputs: [Input]
        /// Its blocks' ids (consecutive).
        public var blocks: Range<Int>
        public var rowCount: Int { inputs.reduce(0) { $0 + $1.rows.count } }
        /// Whether it is made of whole row groups (its kept columns may be copied).
        public var isWholeRowGroups: Bool { inputs.allSatisfy { $0.rowGroups != nil } }
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
    /// Rows per block at most (whole batches).
    public let blockRows: Int
    public let taskCount: Int
    /// Per input file, the directory its partitions' output files are named in (empty: none).
    let outputDirectories: [String]

    /// Plans row-group row counts per file (`rowGroups[file][rowGroup]`). `blockRows` is
    /// rounded down to a multiple of `batchSize` (at least one batch).
    ///
    /// `directories` gives each file's partition directory (`date=2026-12-01`, or empty): small
    /// files are gathered only with files of the same directory, and with `mirrorDirectories`
    /// a partition's output file is named inside its directory.
    public init(rowGroups: [[Int]], batchSize: Int, partitionRows: Int = 1 << 20, blockRows: Int = 65_536,
                directories: [String] = [], mirrorDirectories: Bool = false) {
        precondition(batchSize > 0 && partitionRows > 0 && blockRows > 0)
        precondition(directories.isEmpty || directories.count == rowGroups.count)
        self.outputDirectories = mirrorDirectories ? directories : []
        let blockRows = max(batchSize, blockRows / batchSize * batchSize)
        // Row group boundaries of each file.
        let starts: [[Int]] = rowGroups.map { counts in
            var total = 0
            return counts.map { rows in defer { total += rows }; return total }
        }
        var partitions: [Partition] = []
        var blocks: [Block] = []
        var nextTask: TaskID = 0
        func addPartition(_ inputs: [Input]) {
            let firstBlock = blocks.count
            // The cut a worker makes too (`--workers-read`), so that both write the same files.
            for input in inputs {
                for cut in PartitionBlocks(rows: input.rows, rowGroupRows: rowGroups[input.file], blockRows: blockRows).blocks {
                    let tasks = (cut.rows.count + batchSize - 1) / batchSize
                    blocks.append(Block(id: blocks.count, partition: partitions.count, file: input.file, rows: cut.rows,
                                        segments: cut.segments, firstTask: nextTask, taskCount: tasks))
                    nextTask += TaskID(tasks)
                }
            }
            partitions.append(Partition(id: partitions.count, inputs: inputs, blocks: firstBlock..<blocks.count))
        }
        // Small whole files, gathered across files.
        var gathered: [Input] = []
        var gatheredRows = 0
        func flushGathered() {
            if !gathered.isEmpty { addPartition(gathered) }
            gathered = []
            gatheredRows = 0
        }
        for (f, counts) in rowGroups.enumerated() {
            let total = counts.reduce(0, +)
            guard total > 0 else { continue }
            if total <= partitionRows {
                let otherDirectory = !directories.isEmpty && gathered.last.map { directories[$0.file] != directories[f] } == true
                if gatheredRows + total > partitionRows || otherDirectory { flushGathered() }
                gathered.append(Input(file: f, rows: 0..<total, rowGroups: 0..<counts.count))
                gatheredRows += total
                continue
            }
            flushGathered()
            // A larger file: whole row groups while they fit (empty ones go along); a larger row group in pieces.
            var g = 0
            while g < counts.count {
                let start = starts[f][g]
                if counts[g] > partitionRows {
                    var piece = start
                    while piece < start + counts[g] {
                        addPartition([Input(file: f, rows: piece..<min(start + counts[g], piece + partitionRows), rowGroups: nil)])
                        piece += partitionRows
                    }
                    g += 1
                    continue
                }
                var end = g, rows = 0
                while end < counts.count && rows + counts[end] <= partitionRows {
                    rows += counts[end]
                    end += 1
                }
                if rows > 0 { addPartition([Input(file: f, rows: start..<(start + rows), rowGroups: g..<end)]) }
                g = end
            }
        }
        flushGathered()
        self.partitions = partitions
        self.blocks = blocks
        self.batchSize = batchSize
        self.blockRows = blockRows
        self.taskCount = Int(nextTask)
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
        let name = "part-" + String(repeating: "0", count: max(0, digits - number.count)) + number + ".parquet"
        guard !outputDirectories.isEmpty, partition < partitions.count, let first = partitions[partition].inputs.first,
              !outputDirectories[first.file].isEmpty else { return name }
        return outputDirectories[first.file] + "/" + name
    }
}
