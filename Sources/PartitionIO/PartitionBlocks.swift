import Columnar
import Parquet

/// How the rows of one input file of a partition are cut into blocks (decoded at once, at most
/// `blockRows` rows) and each block into row-group segments: the same cut the coordinator's
/// `JobPlan` makes, so that a partition scored by a worker (`--workers-read`) has the same
/// batches, batch ids and output row groups as one streamed through the coordinator.
public struct PartitionBlocks: Sendable, Equatable {
    /// Rows of one row group that belong to a block.
    public struct Segment: Sendable, Equatable {
        public var rowGroup: Int
        /// Rows of the row group.
        public var rows: Range<Int>

        public init(rowGroup: Int, rows: Range<Int>) {
            self.rowGroup = rowGroup
            self.rows = rows
        }
    }

    public struct Block: Sendable, Equatable {
        /// Rows of the file.
        public var rows: Range<Int>
        public var segments: [Segment]

        public init(rows: Range<Int>, segments: [Segment]) {
            self.rows = rows
            self.segments = segments
        }
    }

    public let blocks: [Block]

    /// Cuts `rows` of a file whose row groups hold `rowGroupRows` rows each.
    public init(rows: Range<Int>, rowGroupRows: [Int], blockRows: Int) {
        precondition(blockRows > 0)
        var starts: [Int] = []
        var total = 0
        for count in rowGroupRows {
            starts.append(total)
            total += count
        }
        var blocks: [Block] = []
        var start = rows.lowerBound
        while start < rows.upperBound {
            let end = min(rows.upperBound, start + blockRows)
            var segments: [Segment] = []
            for (g, first) in starts.enumerated() {
                let low = max(first, start), high = min(first + rowGroupRows[g], end)
                if low < high { segments.append(Segment(rowGroup: g, rows: (low - first)..<(high - first))) }
            }
            blocks.append(Block(rows: start..<end, segments: segments))
            start = end
        }
        self.blocks = blocks
    }
}

/// Writing the predictions of one block into output row groups that mirror its input row
/// groups, the kept columns' chunks copied from the input when a segment starts a row group:
/// what the coordinator's `OutputWriter` and a worker's `PartitionScorer` both do.
public enum KeptChunkCopy {
    /// A kept column chunk could not be read for copying: the input is at fault, not the output.
    public struct CorruptInput: Error, CustomStringConvertible {
        public let error: any Error
        public var description: String { "\(error)" }
    }

    /// Appends `predictions` (the block's rows, in order) segment by segment; `columns` are the
    /// file's columns copied as the kept ones.
    /// - Throws: `CorruptInput` for a chunk that cannot be read, the writer's error otherwise.
    public static func append(_ predictions: RecordBatch, segments: [PartitionBlocks.Segment], copying columns: [Int],
                              from file: ParquetFileReader, into writer: ParquetFileWriter) throws {
        var at = 0
        for segment in segments {
            let rowGroupRows = file.rowGroupRowCounts[segment.rowGroup]
            if segment.rows.lowerBound == 0 {
                let copies: [ParquetChunkCopy]
                do { copies = try columns.map { try file.chunkCopy(rowGroup: segment.rowGroup, column: $0) } } catch {
                    throw CorruptInput(error: error)
                }
                try writer.beginRowGroup(rows: rowGroupRows, copying: copies)
            }
            try writer.append(segments.count == 1 ? predictions : predictions.slice(at..<(at + segment.rows.count)))
            at += segment.rows.count
            if segment.rows.upperBound == rowGroupRows { try writer.endRowGroup() }
        }
    }
}
