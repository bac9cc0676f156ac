#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Columnar

// Free functions, because the writer's own `close()` / `write(_:)` shadow the libc names.
private func posixClose(_ fd: Int32) -> Int32 { close(fd) }
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// Writes Parquet files that pyarrow, pandas, polars, DuckDB and Spark read back
/// (docs/parquet.md §5): each `write` call becomes one row group whose chunks hold an optional
/// PLAIN dictionary page and DATA_PAGE v1 pages (RLE_DICTIONARY or PLAIN values, RLE definition
/// levels for OPTIONAL columns only), compressed with SNAPPY by default; `close` writes the footer
/// (FileMetaData version 1, LogicalType plus ConvertedType annotations, statistics with null
/// counts and min/max, TYPE_ORDER column orders, `created_by` as given).
///
/// Every type the reader produces is written so that reading the file back gives the same type,
/// nullability and values: timestamps keep their unit (TIMESTAMP(NANOS) has no ConvertedType),
/// decimals go to INT32 (p <= 9), INT64 (p <= 18) or the smallest FIXED_LEN_BYTE_ARRAY, float16
/// to FLBA(2) FLOAT16, uuid to FLBA(16) UUID, null to an all-null OPTIONAL INT32 UNKNOWN.
///
/// Nested columns (lists, structs, maps of any depth; models' compound results) are written as
/// the spec's LogicalTypes.md describes (3-level LIST, MAP with REQUIRED string keys, structs as
/// groups; every node below the top OPTIONAL), shredded into repetition and definition levels
/// by `NestedShredder`: one column chunk per leaf, pages holding whole rows.
///
/// Not thread-safe: use a writer from one thread at a time.
public final class ParquetFileWriter {
    /// The file being written.
    public let path: String
    /// The schema every batch must have.
    public let schema: Schema
    public let compression: ParquetCompression
    public let createdBy: String

    private var fd: Int32
    private var offset = 0
    /// Bytes at the start of the file that another writer already wrote, exactly as this one
    /// would (`init(continuing:)`): writes that fall within them are skipped.
    private var prefix = 0
    private var rowGroups: [ParquetRowGroup] = []
    private var totalRows = 0
    private var closed = false
    /// Every field's schema elements, depth first (one leaf for a flat field).
    private let fieldElements: [[ParquetSchemaElement]]
    private let elements: [ParquetSchemaElement]
    private let leafCount: Int
    private let encoder: ColumnChunkEncoder
    private let chunk = GrowableBuffer(capacity: 1 << 20)
    /// The row group `beginRowGroup` started, until `endRowGroup`.
    private var streaming: StreamedRowGroup?

    /// A row group whose last column is written piece by piece.
    private struct StreamedRowGroup {
        var group: ParquetRowGroup
        var start: Int
        var rows: Int
        var appended = 0
        var meta: ParquetColumnMetaData?
        var nullCount: Int64 = 0
        var extremes: ParquetStatisticsBuilder.Running
    }

    /// Rows per data page at most (20,000 by default); internal so that tests can force many pages.
    var maxRowsPerPage: Int {
        get { encoder.maxRowsPerPage }
        set { encoder.maxRowsPerPage = max(1, newValue) }
    }

    /// Creates (or truncates) `path` and writes the leading magic.
    /// - Parameters:
    ///   - createdBy: stored as FileMetaData.created_by, e.g. "score-cluster version 1.0.0 (build abc)".
    ///   - dictionary: try dictionary encoding (one PLAIN dictionary page, RLE_DICTIONARY data
    ///     pages) for every column but booleans; a chunk whose dictionary would exceed 1 MB, or
    ///     would not be smaller than PLAIN, is written PLAIN.
    public convenience init(path: String, schema: Schema, compression: ParquetCompression = .snappy, createdBy: String,
                            dictionary: Bool = true) throws {
        try Self.checkWritable(schema, path: path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ParquetError(path: path, message: "cannot create: \(String(cString: strerror(errno)))")
        }
        try self.init(fd: fd, path: path, prefix: 0, schema: schema, compression: compression, createdBy: createdBy, dictionary: dictionary)
    }

    /// Continues `path`, whose first `prefix` bytes a writer of the same schema, compression
    /// and `createdBy` wrote and left with `closeAsPrefix()`: this writer is then used exactly
    /// as that one would have been from the start, and skips writing what the file already
    /// holds, so the file ends byte for byte as one writer would have made it. The prefix is
    /// checked by its length (the file holds exactly `prefix` bytes, starting with the magic)
    /// and by where the writes fall: one that would cross its end throws, as `close` does when
    /// the writes never reached it.
    /// - Throws: `ParquetError` when the file cannot be opened or is not such a prefix.
    public convenience init(continuing path: String, prefix: Int, schema: Schema, compression: ParquetCompression = .snappy,
                            createdBy: String, dictionary: Bool = true) throws {
        try Self.checkWritable(schema, path: path)
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw ParquetError(path: path, message: "cannot open to continue it: \(String(cString: strerror(errno)))") }
        var status = stat()
        var magic = [UInt8](repeating: 0, count: 4)
        guard fstat(fd, &status) == 0, Int(status.st_size) == prefix, prefix >= 4, pread(fd, &magic, 4, 0) == 4,
              magic == Array("PAR1".utf8), lseek(fd, off_t(prefix), SEEK_SET) == off_t(prefix) else {
            _ = posixClose(fd)
            throw ParquetError(path: path, message: "holds \(status.st_size) bytes, not the \(prefix)-byte start of a Parquet file to continue")
        }
        try self.init(fd: fd, path: path, prefix: prefix, schema: schema, compression: compression, createdBy: createdBy, dictionary: dictionary)
    }

    private static func checkWritable(_ schema: Schema, path: String) throws {
        for field in schema.fields {
            if let problem = ParquetTypeMapping.writeProblem(field.type) {
                throw ParquetError(path: path, column: field.name, message: problem)
            }
        }
    }

    /// Takes `fd` (open for writing, at offset `prefix`) and writes the magic, unless the prefix holds it.
    private init(fd: Int32, path: String, prefix: Int, schema: Schema, compression: ParquetCompression, createdBy: String,
                 dictionary: Bool) throws {
        self.path = path
        self.schema = schema
        self.compression = compression
        self.createdBy = createdBy
        self.fieldElements = schema.fields.map { ParquetTypeMapping.writeElements(name: $0.name, type: $0.type, nullable: $0.nullable) }
        self.elements = fieldElements.flatMap { $0 }
        self.leafCount = elements.count { $0.type != nil }
        self.encoder = ColumnChunkEncoder(compressor: Compressor(codec: compression.codec))
        self.encoder.useDictionary = dictionary
        self.fd = fd
        self.prefix = prefix
        do {
            try writeAll(Array("PAR1".utf8))
        } catch {
            _ = posixClose(fd)
            self.fd = -1
            throw error
        }
    }

    deinit {
        // An unclosed writer leaves an incomplete file (no footer); readers reject it.
        if !closed && fd >= 0 { _ = posixClose(fd) }
    }

    /// Closes the file without a footer, leaving what was written as the start of a file that a
    /// `ParquetFileWriter(continuing:prefix:...)` finishes, and asks the kernel to start writing
    /// it back (the continuing writer's `fsync` then waits for less). Returns its length. A row
    /// group begun with `beginRowGroup(rows:copying:)` may be under way: its copied chunks are
    /// what a continuing writer skips.
    public func closeAsPrefix() -> Int {
        guard !closed else { return offset }
        closed = true
        #if canImport(Glibc)
        // Linux starts writing back a range's dirty pages when told they are not needed
        // (sync_file_range is not in the Glibc module); they stay cached until written.
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        #endif
        _ = posixClose(fd)
        fd = -1
        return offset
    }

    /// Writes `batch` as one row group. Its schema must equal the writer's; a column whose field
    /// is not nullable must hold no nulls. Empty batches write nothing.
    /// - Throws: `ParquetError` on a schema mismatch, nulls in a non-nullable column or I/O failure.
    public func write(_ batch: RecordBatch) throws {
        guard !closed else { throw ParquetError(path: path, message: "write after close") }
        guard streaming == nil else { throw ParquetError(path: path, rowGroup: rowGroups.count, message: "a row group is under way") }
        guard batch.schema == schema else {
            throw ParquetError(path: path, rowGroup: rowGroups.count,
                               message: "batch schema \(describe(batch.schema)) differs from the writer's \(describe(schema))")
        }
        guard batch.rowCount > 0 else { return }
        try write(batch, fieldOffset: 0, groupStart: offset, leading: [], leadingBytes: 0)
    }

    /// Encodes `batch`'s columns as fields `fieldOffset...` of a row group that starts at
    /// `groupStart` with the chunks `leading` (already written).
    private func write(_ batch: RecordBatch, fieldOffset: Int, groupStart: Int, leading: [ParquetColumnChunk],
                       leadingBytes: Int64) throws {
        let groupIndex = rowGroups.count
        var group = ParquetRowGroup()
        group.numRows = Int64(batch.rowCount)
        group.fileOffset = Int64(groupStart)
        group.ordinal = Int16(truncatingIfNeeded: groupIndex)
        group.columns = leading
        group.totalByteSize = leadingBytes
        for (j, column) in batch.columns.enumerated() {
            let i = fieldOffset + j
            let field = schema.fields[i]
            if !field.nullable && column.nullCount > 0 && field.type != .null {
                throw ParquetError(path: path, column: field.name, rowGroup: groupIndex,
                                   message: "column is declared non-nullable but holds \(column.nullCount) nulls")
            }
            do {
                func append(_ encode: () throws -> ParquetColumnMetaData) throws {
                    chunk.removeAll()
                    let meta = try encode()
                    try writeAll(chunk.bytes)
                    var cc = ParquetColumnChunk()
                    cc.fileOffset = 0  // deprecated; readers locate data by ColumnMetaData offsets
                    cc.metaData = meta
                    group.columns.append(cc)
                    group.totalByteSize += meta.totalUncompressedSize
                }
                if field.type.isNested {
                    // One chunk per leaf, in schema order.
                    for leaf in try NestedShredder.shred(column, name: field.name, nullable: field.nullable) {
                        try append { try encoder.encodeNested(leaf, fileOffset: offset, into: chunk) }
                    }
                } else {
                    let element = fieldElements[i][0]
                    try append {
                        try encoder.encode(column, element: element, nullable: element.repetition == .optional,
                                           fileOffset: offset, into: chunk)
                    }
                }
            } catch let e as ParquetFormatError {
                throw ParquetError(path: path, column: field.name, rowGroup: groupIndex, message: e.message)
            } catch var e as ParquetError {
                e.column = field.name
                e.rowGroup = groupIndex
                throw e
            }
        }
        group.totalCompressedSize = Int64(offset - groupStart)
        rowGroups.append(group)
        totalRows += batch.rowCount
    }

    /// Why input column `column` of `reader` cannot be copied into this writer's field `field`
    /// (nil when every row group's chunk of it can): see `write(_:copying:)`.
    public static func copyProblem(field: Field, compression: ParquetCompression, reader: ParquetFileReader,
                                   column: Int) -> String? {
        guard !field.type.isNested else { return "nested columns are re-encoded" }
        let element = ParquetTypeMapping.writeElements(name: field.name, type: field.type, nullable: field.nullable)[0]
        return reader.copyProblem(column: column, as: element, codec: compression.codec)
    }

    /// Writes one row group whose first `copies.count` fields are the given chunks of input
    /// files, copied byte for byte (their pages, encodings, compression and statistics as they
    /// are), and whose other fields are `batch`'s columns, encoded. Every chunk must hold
    /// `batch.rowCount` rows and be one that `copyProblem` accepts for its field.
    /// - Throws: `ParquetError` on a mismatch or I/O failure.
    public func write(_ batch: RecordBatch, copying copies: [ParquetChunkCopy]) throws {
        guard !closed else { throw ParquetError(path: path, message: "write after close") }
        guard streaming == nil else { throw ParquetError(path: path, rowGroup: rowGroups.count, message: "a row group is under way") }
        guard copies.count <= schema.fields.count,
              batch.schema == Schema(Array(schema.fields[copies.count...])) else {
            throw ParquetError(path: path, rowGroup: rowGroups.count,
                               message: "\(copies.count) copied chunks and batch schema \(describe(batch.schema)) do not make the writer's \(describe(schema))")
        }
        for copy in copies where copy.rows != batch.rowCount {
            throw ParquetError(path: path, column: copy.column, rowGroup: rowGroups.count,
                               message: "copied chunk (row group \(copy.rowGroup) of \(copy.source.path)) holds \(copy.rows) rows, the batch \(batch.rowCount)")
        }
        guard batch.rowCount > 0 else { return }
        let groupStart = offset
        var copied: [ParquetColumnChunk] = []
        var copiedBytes: Int64 = 0
        for (i, copy) in copies.enumerated() {
            let (chunk, bytes) = try copyChunk(copy, field: i)
            copied.append(chunk)
            copiedBytes += bytes
        }
        try write(batch, fieldOffset: copies.count, groupStart: groupStart, leading: copied, leadingBytes: copiedBytes)
    }

    /// Starts a row group of `rows` rows whose first fields are the given chunks of input files,
    /// copied now (as `write(_:copying:)` copies them), and whose last field, the only other
    /// one, is then written by `append(_:)` as its values arrive: each piece's pages go to the
    /// file at once, so the writer never holds the row group's values. `endRowGroup()` ends it.
    /// The last field must be flat (not a list, struct or map).
    /// - Throws: `ParquetError` on a mismatch or I/O failure.
    public func beginRowGroup(rows: Int, copying copies: [ParquetChunkCopy]) throws {
        guard !closed else { throw ParquetError(path: path, message: "write after close") }
        guard streaming == nil else { throw ParquetError(path: path, rowGroup: rowGroups.count, message: "a row group is under way") }
        guard copies.count == schema.fields.count - 1, let last = schema.fields.last, !last.type.isNested, rows > 0 else {
            throw ParquetError(path: path, rowGroup: rowGroups.count,
                               message: "\(copies.count) copied chunks and one flat column to stream do not make the writer's \(describe(schema)) (or no rows)")
        }
        for copy in copies where copy.rows != rows {
            throw ParquetError(path: path, column: copy.column, rowGroup: rowGroups.count,
                               message: "copied chunk (row group \(copy.rowGroup) of \(copy.source.path)) holds \(copy.rows) rows, the row group \(rows)")
        }
        var group = ParquetRowGroup()
        group.numRows = Int64(rows)
        group.fileOffset = Int64(offset)
        group.ordinal = Int16(truncatingIfNeeded: rowGroups.count)
        let start = offset
        for (i, copy) in copies.enumerated() {
            let (chunk, bytes) = try copyChunk(copy, field: i)
            group.columns.append(chunk)
            group.totalByteSize += bytes
        }
        streaming = StreamedRowGroup(group: group, start: start, rows: rows, extremes: .init(type: last.type))
    }

    /// Writes the next values of the streamed row group's last field (`batch` has that one
    /// column), as data pages of their own.
    /// - Throws: `ParquetError` on a mismatch, too many rows, nulls in a non-nullable column, I/O failure.
    public func append(_ batch: RecordBatch) throws {
        guard var open = streaming else { throw ParquetError(path: path, message: "append without beginRowGroup") }
        let field = schema.fields[schema.fields.count - 1]
        guard batch.schema == Schema([field]), open.appended + batch.rowCount <= open.rows else {
            throw ParquetError(path: path, column: field.name, rowGroup: rowGroups.count,
                               message: "\(batch.rowCount) rows of \(describe(batch.schema)) do not fit the row group (\(open.appended) of \(open.rows) rows written)")
        }
        guard batch.rowCount > 0 else { return }
        let column = batch.columns[0]
        if !field.nullable && column.nullCount > 0 && field.type != .null {
            throw ParquetError(path: path, column: field.name, rowGroup: rowGroups.count,
                               message: "column is declared non-nullable but holds \(column.nullCount) nulls")
        }
        let element = fieldElements[schema.fields.count - 1][0]
        // Pages only: a dictionary page would have to come before every piece's pages.
        let dictionary = encoder.useDictionary
        encoder.useDictionary = false
        defer { encoder.useDictionary = dictionary }
        chunk.removeAll()
        let piece: ParquetColumnMetaData
        do {
            piece = try encoder.encode(column, element: element, nullable: element.repetition == .optional,
                                       fileOffset: offset, into: chunk)
        } catch let e as ParquetFormatError {
            throw ParquetError(path: path, column: field.name, rowGroup: rowGroups.count, message: e.message)
        }
        try writeAll(chunk.bytes)
        if var meta = open.meta {
            meta.numValues += piece.numValues
            meta.totalCompressedSize += piece.totalCompressedSize
            meta.totalUncompressedSize += piece.totalUncompressedSize
            open.meta = meta
        } else {
            open.meta = piece
        }
        open.nullCount += piece.statistics?.nullCount ?? 0
        let values = piece.statistics.flatMap { s in s.minValue.flatMap { lo in s.maxValue.map { (min: lo, max: $0) } } }
        open.extremes.add(values, hadValues: column.count > column.nullCount)
        open.appended += batch.rowCount
        streaming = open
    }

    /// Ends the row group `beginRowGroup` started, once `append` has written all its rows.
    /// - Throws: `ParquetError` when rows are missing.
    public func endRowGroup() throws {
        guard let open = streaming, var meta = open.meta, open.appended == open.rows else {
            throw ParquetError(path: path, rowGroup: rowGroups.count,
                               message: "the row group ends with \(streaming?.appended ?? 0) of \(streaming?.rows ?? 0) rows written")
        }
        streaming = nil
        var stats = ParquetStatistics()
        stats.nullCount = open.nullCount
        if let (lo, hi) = open.extremes.result {
            stats.minValue = lo
            stats.maxValue = hi
        }
        meta.statistics = stats
        var cc = ParquetColumnChunk()
        cc.metaData = meta
        var group = open.group
        group.columns.append(cc)
        group.totalByteSize += meta.totalUncompressedSize
        group.totalCompressedSize = Int64(offset - open.start)
        rowGroups.append(group)
        totalRows += open.rows
    }

    /// Copies `copy`'s bytes to the end of the file as field `field`'s chunk; returns its
    /// ColumnChunk (offsets moved to where it now lies) and uncompressed size.
    private func copyChunk(_ copy: ParquetChunkCopy, field: Int) throws -> (ParquetColumnChunk, Int64) {
        let start = offset
        if try !skipped(copy.bytes.count) {
            try copy.source.copyBytes(copy.bytes, to: fd, destination: path)
            offset += copy.bytes.count
        }
        var meta = copy.metaData
        meta.dataPageOffset += Int64(start)
        if meta.dictionaryPageOffset != nil { meta.dictionaryPageOffset = Int64(start) }
        meta.pathInSchema = [schema.fields[field].name]
        var cc = ParquetColumnChunk()
        cc.metaData = meta
        return (cc, meta.totalUncompressedSize)
    }

    /// Writes the footer, flushes the file to disk and closes it.
    public func close() throws {
        guard !closed else { return }
        closed = true
        defer { _ = posixClose(fd); fd = -1 }
        if let open = streaming {
            // No footer: the file stays unreadable rather than missing the row group's rows.
            throw ParquetError(path: path, rowGroup: rowGroups.count,
                               message: "closed with a row group under way (\(open.appended) of \(open.rows) rows written)")
        }
        guard offset >= prefix else {
            throw ParquetError(path: path, message: "closed after \(offset) bytes, inside the \(prefix) bytes written before: the file's start was written for other data")
        }
        // A closed writer may wait a while for fsync (or for its commit): it holds no chunk.
        chunk.reset(keeping: 0)
        var meta = ParquetFileMetaData()
        meta.version = 1
        var root = ParquetSchemaElement()
        root.name = "schema"
        root.numChildren = Int32(schema.fields.count)
        meta.schema = [root] + elements
        meta.numRows = Int64(totalRows)
        meta.rowGroups = rowGroups
        meta.createdBy = createdBy
        meta.typeOrderColumnCount = leafCount
        var w = ThriftCompactWriter()
        meta.encode(&w)
        var footer = w.bytes
        let length = UInt32(footer.count)
        footer += [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
        footer += Array("PAR1".utf8)
        try writeAll(footer)
        guard fsync(fd) == 0 else {
            throw ParquetError(path: path, message: "fsync failed: \(String(cString: strerror(errno)))")
        }
    }

    private func describe(_ s: Schema) -> String {
        "[" + s.fields.map { "\($0.name): \($0.type)\($0.nullable ? "?" : "")" }.joined(separator: ", ") + "]"
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll($0) }
    }

    /// Whether the next `count` bytes lie in the prefix another writer wrote (`init(continuing:)`),
    /// and so are only counted.
    /// - Throws: `ParquetError` when they would cross its end: the prefix is not what this writer writes.
    private func skipped(_ count: Int) throws -> Bool {
        guard offset < prefix else { return false }
        guard offset + count <= prefix else {
            throw ParquetError(path: path, message: "the \(prefix) bytes written before end inside what this writer writes from \(offset) to \(offset + count): the file's start was written for other data")
        }
        offset += count
        return true
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        if try skipped(bytes.count) { return }
        var done = 0
        while done < bytes.count {
            let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ParquetError(path: path, message: "write failed: \(String(cString: strerror(errno)))")
            }
            done += n
        }
        offset += bytes.count
    }
}
