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
    }

    public struct Block: Sendable, Equatable {
        /// Rows of the file.
        public var rows: Range<Int>
        public var segments: [Segment]
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
