import Columnar

/// Reads consecutive row ranges of one Parquet file, decoding each page about once.
///
/// A range smaller than the file's pages would otherwise decode whole pages for a few of their
/// rows, again for the next range: this reader keeps, per column, the rows last decoded (one
/// run of pages) and serves the next range from them, decoding only the pages that follow.
/// Ranges returned have buffers of their own, sized to their rows.
public final class ParquetRangeReader {
    public let file: ParquetFileReader
    /// The columns it reads (indices into `file.columns`), in the order returned.
    public let columns: [Int]
    private var rowGroup = -1
    private var layouts: [Int: ParquetFileReader.PageLayout] = [:]
    private var decoded: [Int: (covered: Range<Int>, column: Column)] = [:]
    private var dictionaries: [Int: ParquetDictionary] = [:]

    /// Reads `columns` (indices into `file.columns`, in the order wanted).
    public init(file: ParquetFileReader, columns: [Int]) {
        self.file = file
        self.columns = columns
    }

    /// Rows `rows` of row group `index`. Best when each call asks for rows after the last.
    /// - Throws: `ParquetError` naming the column and row group.
    public func read(rowGroup index: Int, rows: Range<Int>) throws -> RecordBatch {
        let counts = file.rowGroupRowCounts
        guard index >= 0 && index < counts.count, rows.lowerBound >= 0, rows.upperBound <= counts[index] else {
            throw ParquetError(path: file.path, rowGroup: index, message: "rows \(rows) of row group \(index) do not exist")
        }
        if rows == 0..<counts[index] || rows.isEmpty || columns.isEmpty {
            return try file.readRowGroup(index, columns: columns, rows: rows)
        }
        if index != rowGroup {
            rowGroup = index
            layouts = [:]
            decoded = [:]
            dictionaries = [:]
        }
        return try file.readColumns(columns, rowGroup: index) { c, type, scratch in
            try read(column: c, type: type, rows: rows, scratch: scratch)
        }
    }

    private func read(column c: Int, type: DataType, rows: Range<Int>, scratch: DecodeScratch) throws -> Column {
        var parts: [Column] = []
        var from = rows.lowerBound
        if let kept = decoded[c], kept.covered.contains(from) {
            let upto = min(rows.upperBound, kept.covered.upperBound)
            parts.append(kept.column.slice((from - kept.covered.lowerBound)..<(upto - kept.covered.lowerBound)))
            from = upto
        }
        if from < rows.upperBound {
            let layout = try layouts[c] ?? file.pageLayout(rowGroup: rowGroup, column: c)
            layouts[c] = layout
            let fresh = try file.decodePages(layout, rowGroup: rowGroup, column: c, type: type, rows: from..<rows.upperBound,
                                             scratch: scratch, dictionary: dictionaries[c])
            decoded[c] = (fresh.covered, fresh.column)
            dictionaries[c] = fresh.dictionary
            parts.append(fresh.column.slice((from - fresh.covered.lowerBound)..<(rows.upperBound - fresh.covered.lowerBound)))
        }
        // Buffers of its own: the decoded pages are dropped when the reader moves on.
        return parts.count == 1 ? parts[0].compacted() : Column.concatenate(parts)
    }
}
