import Foundation
import Columnar

/// Reading whole row groups, or rows of one, column by column.
extension ParquetFileReader {
    /// Scratch buffers of finished reads, reused by later ones, so that every row group does not
    /// page-fault fresh chunk and page buffers in. Shared by every file: a job reads a few files
    /// at a time, and buffers kept per file would grow with the number of files read.
    nonisolated(unsafe) private static var scratchPool: [DecodeScratch] = []
    private static let scratchLock = NSLock()
    /// Scratch buffers kept for reuse at most (one per thread decoding at once).
    private static let maxPooledScratch = 4

    /// Decodes columns `columns` (indices into `self.columns`, in the order wanted) of row
    /// group `index`. Safe to call concurrently.
    /// - Throws: `ParquetError` naming the column and row group if a column cannot be read or
    ///   its data is corrupt.
    public func readRowGroup(_ index: Int, columns wanted: [Int]) throws -> RecordBatch {
        try readRowGroup(index, columns: wanted, rows: nil)
    }

    /// Decodes rows `rows` of columns `columns` of row group `index`, reading and decoding only
    /// the pages that hold them (and the dictionary page): memory and work follow the rows
    /// asked for, not the row group's size.
    /// - Throws: `ParquetError` as `readRowGroup(_:columns:)`, and for rows outside the row group.
    public func readRowGroup(_ index: Int, columns wanted: [Int], rows: Range<Int>?) throws -> RecordBatch {
        guard index >= 0 && index < metadata.rowGroups.count else {
            throw ParquetError(path: path, message: "row group \(index) does not exist (the file has \(metadata.rowGroups.count))")
        }
        let group = metadata.rowGroups[index]
        let numRows = Int(group.numRows)
        if let rows, rows.lowerBound < 0 || rows.upperBound > numRows {
            throw ParquetError(path: path, rowGroup: index, message: "rows \(rows) are outside the row group's \(numRows) rows")
        }
        if wanted.isEmpty { return RecordBatch(rowCount: rows?.count ?? numRows) }
        if let rows, rows != 0..<numRows, !rows.isEmpty {
            return try ParquetRangeReader(file: self, columns: wanted).read(rowGroup: index, rows: rows)
        }
        return try readColumns(wanted, rowGroup: index) { c, type, scratch in
            let column = try readColumnChunk(group.columns[c], leaf: leaves[c], type: type, numRows: numRows, scratch: scratch)
            return rows?.isEmpty == true ? column.slice(0..<0) : column
        }
    }

    /// Whether the bytes are in a local file (read with `pread`), not in an object store.
    public var isLocal: Bool { source.fileDescriptor != nil }

    /// Starts fetching the column chunks of `columns` in row group `index` in the background
    /// (a read-ahead: the reads of them later wait less or not at all): a remote file into its
    /// source's cache, a local one into the kernel's page cache.
    public func prefetch(rowGroup index: Int, columns: [Int]) {
        source.prefetch(chunkRanges(rowGroup: index, columns: columns))
    }

    /// Where the chunks of `columns` of row group `index` are (those that can be found).
    private func chunkRanges(rowGroup index: Int, columns: [Int]) -> [Range<Int>] {
        guard index >= 0 && index < metadata.rowGroups.count else { return [] }
        let chunks = metadata.rowGroups[index].columns
        return columns.compactMap { c in
            guard c >= 0 && c < chunks.count, let meta = chunks[c].metaData else { return nil }
            return try? byteRange(of: meta)
        }
    }

    /// Reads each column of `wanted` with `read`, given its type and the scratch buffers of
    /// this call: checks the index and that the type can be read, and names the file, column
    /// and row group in errors.
    func readColumns(_ wanted: [Int], rowGroup index: Int,
                     _ read: (_ column: Int, _ type: DataType, _ scratch: DecodeScratch) throws -> Column) throws -> RecordBatch {
        let scratch = Self.scratchLock.withLock { Self.scratchPool.popLast() } ?? DecodeScratch()
        defer { Self.scratchLock.withLock { if Self.scratchPool.count < Self.maxPooledScratch { Self.scratchPool.append(scratch) } } }
        var fields: [Field] = []
        var decoded: [Column] = []
        // A remote source fetches the chunks together rather than page by page.
        source.willRead(chunkRanges(rowGroup: index, columns: wanted))
        for c in wanted {
            guard c >= 0 && c < columns.count else {
                throw ParquetError(path: path, rowGroup: index, message: "column index \(c) does not exist (the file has \(columns.count))")
            }
            let descriptor = columns[c]
            do {
                guard let type = descriptor.dataType else {
                    throw ParquetFormatError("cannot be read: \(descriptor.unsupportedReason ?? "unsupported type")")
                }
                decoded.append(try read(c, type, scratch))
                fields.append(Field(name: descriptor.name, type: type, nullable: descriptor.nullable))
            } catch let e as ParquetFormatError {
                throw ParquetError(path: path, column: descriptor.name, rowGroup: index, message: e.message)
            } catch var e as ParquetError {
                e.column = descriptor.name
                e.rowGroup = index
                throw e
            }
        }
        return RecordBatch(schema: Schema(fields), columns: decoded)
    }

    private func readColumnChunk(_ chunk: ParquetColumnChunk, leaf: Leaf, type: DataType, numRows: Int,
                                 scratch: DecodeScratch) throws -> Column {
        guard chunk.filePath == nil else { throw ParquetFormatError("column data in another file (\(chunk.filePath!)) is not supported") }
        let meta = chunk.metaData!
        if numRows == 0 {
            // Empty row groups may have chunks without pages (and offsets of 0).
            let offsets: ColumnBuffer? = type.isVariableWidth ? ColumnBuffer(zeroedCount: 8) : nil
            return Column(type: type, count: 0, values: ColumnBuffer(zeroedCount: 0), offsets: offsets)
        }
        // ColumnMetaData.num_values is informative only: the page walk checks that the pages hold
        // exactly the row group's rows.
        let bytes = try byteRange(of: meta)
        let start = bytes.lowerBound, length = bytes.count
        let decoder = try ColumnChunkDecoder(physical: leaf.physical, typeLength: leaf.typeLength,
                                             maxDefinitionLevel: leaf.maxDefinitionLevel, outputType: type, codec: meta.codec,
                                             numRows: numRows, verifyChecksums: verifyChecksums, scratch: scratch)
        let buffer = scratch.chunkBuffer(length)
        try source.read(at: start, into: buffer)
        return try decoder.decode(UnsafeRawBufferPointer(buffer))
    }
}
