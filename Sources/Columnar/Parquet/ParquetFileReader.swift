import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads flat Parquet files: the footer on open, then whole row groups of chosen columns.
///
/// Every flat column of the eight physical types is read, with its LogicalType or ConvertedType
/// (see `ParquetTypeMapping.readMapping` for the mapping to `DataType`, which is pyarrow's),
/// in the encodings PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, RLE, BIT_PACKED (levels),
/// DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT, from v1
/// and v2 pages compressed with SNAPPY, GZIP, ZSTD, LZ4 (Hadoop-framed or raw) or LZ4_RAW.
/// Nested leaves are listed (with a reason) but refused when selected; BROTLI, LZO and encrypted
/// files are refused with errors that name the file and column.
///
/// Memory: one row group's selected columns at a time, plus scratch reused across reads. No
/// allocation is sized from a number in the file before it is checked against the bytes present:
/// the footer against the file size, list counts and strings against the footer's bytes, chunk
/// reads against the file, page buffers against the compressed bytes and the codec's maximum
/// ratio, dictionary entry counts against the dictionary page. Decoded output is sized from the
/// row group's row count, once the page headers in the chunk account for exactly that many
/// values; it is capped at 4 GiB per column chunk (`ColumnChunkDecoder.maxOutputBytes`), byte
/// arrays included, and estimates reserve at most 256 MiB ahead of the bytes actually decoded.
/// Freed decode buffers of 1 MiB or more are kept for reuse, up to 256 MiB
/// (`BlockRecycler.limit`).
///
/// Reads use `pread` on a descriptor opened once, with no shared cursor, so `readRowGroup`
/// may be called concurrently from several threads (typically on different row groups).
public final class ParquetFileReader: @unchecked Sendable {
    /// The file being read.
    public let path: String
    /// Every leaf column in schema order; nested or otherwise unreadable leaves carry an
    /// `unsupportedReason` and a nil `dataType`.
    public let columns: [ParquetColumnDescriptor]
    /// Rows in each row group.
    public let rowGroupRowCounts: [Int]
    /// The writer's `created_by` string, if any.
    public let createdBy: String?

    /// Total rows over all row groups (the row groups' counts; FileMetaData.num_rows can be wrong).
    public var rowCount: Int { rowGroupRowCounts.reduce(0, +) }

    /// What decoding needs to know about a leaf.
    private struct Leaf {
        var physical: ParquetPhysicalType
        var typeLength: Int
        var maxDefinitionLevel: Int
        var maxRepetitionLevel: Int
        /// Its schema element, to tell whether its chunks can be copied as they are.
        var element: ParquetSchemaElement
    }

    private let fd: Int32
    /// Scratch buffers of finished reads, reused by later ones, so that every row group does not
    /// page-fault fresh chunk and page buffers in. Shared by every file: a job reads a few files
    /// at a time, and buffers kept per file would grow with the number of files read.
    nonisolated(unsafe) private static var scratchPool: [DecodeScratch] = []
    private static let scratchLock = NSLock()
    /// Scratch buffers kept for reuse at most (one per thread decoding at once).
    private static let maxPooledScratch = 4
    private let fileSize: Int
    /// Offset of the footer (FileMetaData); column data must lie before it.
    private let footerStart: Int
    private let metadata: ParquetFileMetaData
    private let leaves: [Leaf]

    /// Whether page CRCs (PageHeader.crc, zlib's CRC-32 of the stored page bytes) are checked
    /// when a page has one.
    public let verifyChecksums: Bool

    /// Opens `path` and reads and validates its footer; page checksums are not verified.
    /// - Throws: `ParquetError` if the file cannot be opened, is not Parquet, is encrypted or has
    ///   a corrupt footer or schema.
    public convenience init(path: String) throws {
        try self.init(path: path, verifyChecksums: false)
    }

    /// Opens `path` and reads and validates its footer.
    /// - Parameter verifyChecksums: check the CRC of every page that has one (Spark and
    ///   parquet-mr write them); a mismatch is an error naming the column and row group.
    /// - Throws: `ParquetError` if the file cannot be opened, is not Parquet, is encrypted or has
    ///   a corrupt footer or schema.
    public init(path: String, verifyChecksums: Bool) throws {
        self.path = path
        self.verifyChecksums = verifyChecksums
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ParquetError(path: path, message: "cannot open: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        var closeOnFailure = true
        defer { if closeOnFailure { close(fd) } }

        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ParquetError(path: path, message: "cannot stat: \(String(cString: strerror(errno)))")
        }
        let size = Int(st.st_size)
        self.fileSize = size
        func fail(_ message: String) -> ParquetError { ParquetError(path: path, message: message) }
        guard size >= 12 else { throw fail("not a Parquet file: \(size) bytes is too small (truncated?)") }

        let head = try Self.preadAll(fd: fd, path: path, offset: 0, count: 4)
        let tail = try Self.preadAll(fd: fd, path: path, offset: size - 8, count: 8)
        let tailMagic = Array(tail[4..<8])
        if tailMagic == Array("PARE".utf8) || head == Array("PARE".utf8) {
            throw fail("encrypted Parquet files (PARE magic) are not supported")
        }
        guard head == Array("PAR1".utf8) else { throw fail("not a Parquet file: missing PAR1 magic at the start") }
        guard tailMagic == Array("PAR1".utf8) else {
            throw fail("not a Parquet file or truncated: missing PAR1 magic at the end")
        }
        let footerLength = Int(UInt32(tail[0]) | UInt32(tail[1]) << 8 | UInt32(tail[2]) << 16 | UInt32(tail[3]) << 24)
        guard footerLength > 0, footerLength <= size - 12 else {
            throw fail("footer length \(footerLength) does not fit in a file of \(size) bytes (truncated or corrupt)")
        }
        footerStart = size - 8 - footerLength
        let footer = try Self.preadAll(fd: fd, path: path, offset: footerStart, count: footerLength)
        do {
            metadata = try footer.withUnsafeBytes { bytes in
                var reader = ThriftCompactReader(bytes)
                return try ParquetFileMetaData.decode(&reader)
            }
        } catch let e as ParquetFormatError {
            throw fail("corrupt footer: \(e.message)")
        }
        if metadata.isEncrypted { throw fail("encrypted Parquet files are not supported (footer names an encryption algorithm)") }
        createdBy = metadata.createdBy

        // Schema: a depth-first list whose first element is the root group.
        var descriptors: [ParquetColumnDescriptor] = []
        var leaves: [Leaf] = []
        do {
            try Self.walkSchema(metadata.schema, descriptors: &descriptors, leaves: &leaves)
        } catch let e as ParquetFormatError {
            throw fail("invalid schema: \(e.message)")
        }
        self.columns = descriptors
        self.leaves = leaves

        var counts: [Int] = []
        for (g, group) in metadata.rowGroups.enumerated() {
            func groupFail(_ m: String) -> ParquetError { ParquetError(path: path, rowGroup: g, message: m) }
            guard group.numRows >= 0, group.numRows <= Int64(Int32.max) else {
                throw groupFail("row count \(group.numRows) is out of range")
            }
            guard group.columns.count == leaves.count else {
                throw groupFail("has \(group.columns.count) column chunks, schema has \(leaves.count) leaf columns")
            }
            for (c, chunk) in group.columns.enumerated() {
                if chunk.isEncrypted { throw groupFail("column \(descriptors[c].name) is encrypted; encrypted files are not supported") }
                guard let meta = chunk.metaData else {
                    throw ParquetError(path: path, column: descriptors[c].name, rowGroup: g, message: "column chunk has no metadata")
                }
                guard meta.type == leaves[c].physical else {
                    throw ParquetError(path: path, column: descriptors[c].name, rowGroup: g,
                                       message: "column chunk type \(meta.type.name) differs from the schema's \(leaves[c].physical.name)")
                }
            }
            counts.append(Int(group.numRows))
        }
        rowGroupRowCounts = counts
        closeOnFailure = false
    }

    deinit { close(fd) }

    private static func walkSchema(_ schema: [ParquetSchemaElement], descriptors: inout [ParquetColumnDescriptor],
                                   leaves: inout [Leaf]) throws {
        guard let root = schema.first else { throw ParquetFormatError("the schema is empty") }
        var index = 1
        func walk(children: Int, path: [String], definition: Int, repetition: Int, depth: Int) throws {
            guard depth <= 64 else { throw ParquetFormatError("schema nested deeper than 64 levels") }
            for _ in 0..<children {
                guard index < schema.count else {
                    throw ParquetFormatError("schema declares more children than its \(schema.count) elements")
                }
                let e = schema[index]
                index += 1
                let rep = e.repetition ?? .required
                let def = definition + (rep == .required ? 0 : 1)
                let repLevel = repetition + (rep == .repeated ? 1 : 0)
                let name = (path + [e.name]).joined(separator: ".")
                if let n = e.numChildren, n > 0 || e.type == nil {
                    guard n >= 0, Int(n) <= schema.count - index else {
                        throw ParquetFormatError("group \(name) declares \(n) children, only \(schema.count - index) elements follow")
                    }
                    try walk(children: Int(n), path: path + [e.name], definition: def, repetition: repLevel, depth: depth + 1)
                    continue
                }
                guard let physical = e.type else { throw ParquetFormatError("leaf \(name) has no physical type") }
                var mapping = ParquetTypeMapping.readMapping(e)
                if depth > 0 {
                    mapping = .init(dataType: nil, unsupportedReason: "nested column (inside group \(path.joined(separator: "."))) is not supported: score-cluster reads flat columns only")
                } else if rep == .repeated {
                    mapping = .init(dataType: nil, unsupportedReason: "REPEATED (nested) column is not supported: score-cluster reads flat columns only")
                }
                descriptors.append(ParquetColumnDescriptor(
                    name: name, physicalType: physical.name,
                    logicalTypeDescription: ParquetTypeMapping.annotationDescription(e),
                    // The null type holds nothing but nulls, even in a REQUIRED leaf.
                    dataType: mapping.dataType, nullable: def > 0 || mapping.dataType == .null,
                    unsupportedReason: mapping.unsupportedReason))
                leaves.append(Leaf(physical: physical, typeLength: Int(e.typeLength ?? 0), maxDefinitionLevel: def,
                                   maxRepetitionLevel: repLevel, element: e))
            }
        }
        try walk(children: Int(max(root.numChildren ?? 0, 0)), path: [], definition: 0, repetition: 0, depth: 0)
        guard index == schema.count else {
            throw ParquetFormatError("schema has \(schema.count) elements but its tree uses \(index)")
        }
    }

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

    /// Reads each column of `wanted` with `read`, given its type and the scratch buffers of
    /// this call: checks the index and that the type can be read, and names the file, column
    /// and row group in errors.
    func readColumns(_ wanted: [Int], rowGroup index: Int,
                     _ read: (_ column: Int, _ type: DataType, _ scratch: DecodeScratch) throws -> Column) throws -> RecordBatch {
        let scratch = Self.scratchLock.withLock { Self.scratchPool.popLast() } ?? DecodeScratch()
        defer { Self.scratchLock.withLock { if Self.scratchPool.count < Self.maxPooledScratch { Self.scratchPool.append(scratch) } } }
        var fields: [Field] = []
        var decoded: [Column] = []
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
        try Self.preadInto(fd: fd, path: path, offset: start, buffer: buffer)
        return try decoder.decode(UnsafeRawBufferPointer(buffer))
    }

    /// Where a column chunk's pages are, from its page headers (read with small reads): what a
    /// reader of row ranges needs to read only the pages that hold them.
    struct PageLayout {
        /// Dictionary pages' bytes (header included).
        var dictionary: [Range<Int>] = []
        /// Data pages' bytes (header included) and the rows they hold.
        var pages: [(bytes: Range<Int>, rows: Range<Int>)] = []
    }

    /// Where a column chunk's pages are in the file.
    private func byteRange(of meta: ParquetColumnMetaData) throws -> Range<Int> {
        // Start at the dictionary page only when its offset is plausible (Dremio writes 0, Polars
        // omits it; the page walk finds dictionary pages by type either way).
        var start = Int(meta.dataPageOffset)
        if let d = meta.dictionaryPageOffset, d > 0, d < meta.dataPageOffset { start = Int(d) }
        guard start >= 4, start < footerStart, meta.totalCompressedSize >= 0 else {
            throw ParquetFormatError("column chunk offset \(start) lies outside the file's data (footer at \(footerStart))")
        }
        // A few writers overstate total_compressed_size; the page walk checks every page anyway.
        return start..<(start + Int(min(meta.totalCompressedSize, Int64(footerStart - start))))
    }

    /// Walks the page headers of column `column` of row group `rowGroup`. (Flat columns only,
    /// as every column this reader decodes: a data page's value count is its row count.)
    func pageLayout(rowGroup: Int, column: Int) throws -> PageLayout {
        let chunk = metadata.rowGroups[rowGroup].columns[column]
        let numRows = Int(metadata.rowGroups[rowGroup].numRows)
        guard chunk.filePath == nil else { throw ParquetFormatError("column data in another file (\(chunk.filePath!)) is not supported") }
        let bytes = try byteRange(of: chunk.metaData!)
        let end = bytes.upperBound
        var layout = PageLayout()
        var position = bytes.lowerBound
        var rowAt = 0
        while rowAt < numRows {
            guard position < end else { throw ParquetFormatError("column chunk ends after \(rowAt) of \(numRows) values") }
            let (header, headerLength) = try readPageHeader(at: position, end: end)
            let size = Int(header.compressedPageSize)
            guard size >= 0, size <= end - position - headerLength else {
                throw ParquetFormatError("page at file offset \(position) needs \(size) bytes, column chunk has \(end - position - headerLength) left")
            }
            let page = position..<(position + headerLength + size)
            switch ParquetPageType(rawValue: header.type) {
            case .dictionaryPage:
                layout.dictionary.append(page)
            case .dataPage, .dataPageV2:
                guard let n = header.dataPageHeader?.numValues ?? header.dataPageHeaderV2?.numValues, n >= 0 else {
                    throw ParquetFormatError("data page at file offset \(position) has no valid value count")
                }
                let rows = rowAt..<(rowAt + Int(n))
                guard rows.upperBound <= numRows else {
                    throw ParquetFormatError("data pages hold more values (at least \(rows.upperBound)) than the row group's \(numRows) rows")
                }
                if n > 0 { layout.pages.append((page, rows)) }
                rowAt = rows.upperBound
            default:
                break
            }
            position = page.upperBound
        }
        return layout
    }

    /// Decodes the data pages of `layout` that overlap `rows` (with the dictionary): returns the
    /// rows they cover and their column (all of those rows).
    func decodePages(_ layout: PageLayout, rowGroup: Int, column: Int, type: DataType, rows: Range<Int>,
                     scratch: DecodeScratch, dictionary: ParquetDictionary? = nil)
        throws -> (covered: Range<Int>, column: Column, dictionary: ParquetDictionary?) {
        let selected = layout.pages.filter { $0.rows.overlaps(rows) }
        guard let first = selected.first, let last = selected.last else { throw ParquetFormatError("no data page holds rows \(rows)") }
        let covered = first.rows.lowerBound..<last.rows.upperBound
        // Read the kept pages (adjacent ones in one read) into one buffer: to the decoder, a
        // column chunk of `covered.count` rows.
        // A dictionary decoded for an earlier range of the chunk is not read again.
        let keep = (dictionary == nil ? layout.dictionary : []) + selected.map(\.bytes)
        let total = keep.reduce(0) { $0 + $1.count }
        let buffer = scratch.chunkBuffer(total)
        var at = 0, i = 0
        while i < keep.count {
            var run = keep[i]
            while i + 1 < keep.count && keep[i + 1].lowerBound == run.upperBound {
                i += 1
                run = run.lowerBound..<keep[i].upperBound
            }
            try Self.preadInto(fd: fd, path: path, offset: run.lowerBound,
                               buffer: UnsafeMutableRawBufferPointer(rebasing: buffer[at..<(at + run.count)]))
            at += run.count
            i += 1
        }
        let leaf = leaves[column]
        let decoder = try ColumnChunkDecoder(physical: leaf.physical, typeLength: leaf.typeLength,
                                             maxDefinitionLevel: leaf.maxDefinitionLevel, outputType: type,
                                             codec: metadata.rowGroups[rowGroup].columns[column].metaData!.codec,
                                             numRows: covered.count, verifyChecksums: verifyChecksums, scratch: scratch,
                                             dictionary: dictionary)
        let column = try decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<total]))
        return (covered, column, decoder.decodedDictionary)
    }

    /// The page header at `offset`, read with a small window that grows for headers that carry
    /// large statistics; and its length in bytes.
    private func readPageHeader(at offset: Int, end: Int) throws -> (ParquetPageHeader, Int) {
        var window = min(1024, end - offset)
        while true {
            let bytes = try Self.preadAll(fd: fd, path: path, offset: offset, count: window)
            let parsed: (ParquetPageHeader, Int)? = bytes.withUnsafeBytes { raw in
                var reader = ThriftCompactReader(raw)
                guard let header = try? ParquetPageHeader.decode(&reader) else { return nil }
                return (header, reader.position)
            }
            if let parsed { return parsed }
            guard window < end - offset, window < 16 << 20 else {
                throw ParquetFormatError("corrupt page header at file offset \(offset)")
            }
            window = min(window * 4, end - offset)
        }
    }

    // MARK: Copying chunks

    /// Why column `column`'s chunks cannot be copied into a file that declares `element` and
    /// compresses with `codec` (nil when every row group's chunk can be): a copied chunk must
    /// be a flat leaf with the same physical type, repetition and annotations, and the same codec.
    func copyProblem(column: Int, as element: ParquetSchemaElement, codec: CompressionCodec) -> String? {
        let leaf = leaves[column]
        guard columns[column].dataType != nil, leaf.maxRepetitionLevel == 0 else { return "not a flat column" }
        let e = leaf.element
        guard e.type == element.type, (e.typeLength ?? 0) == (element.typeLength ?? 0),
              (e.repetition ?? .required) == (element.repetition ?? .required) else {
            return "stored as \(e.type?.name ?? "?") \(e.repetition ?? .required), written as \(element.type?.name ?? "?") \(element.repetition ?? .required)"
        }
        guard e.convertedType == element.convertedType, e.unknownConvertedType == nil, e.scale == element.scale,
              e.precision == element.precision, e.logicalType == element.logicalType else {
            return "annotated differently from what score-cluster writes"
        }
        for (g, group) in metadata.rowGroups.enumerated() {
            let chunk = group.columns[column]
            guard chunk.filePath == nil, let meta = chunk.metaData else { return "row group \(g): data in another file" }
            // parquet-mr reads DELTA_BYTE_ARRAY pages of parquet-mr < 1.8 with a workaround chosen by
            // created_by (PARQUET-246), which a copy under score-cluster's name would lose.
            guard !meta.encodings.contains(7) else { return "row group \(g) uses DELTA_BYTE_ARRAY" }
            guard meta.codec == codec.rawValue else {
                return "row group \(g) is compressed with \(CompressionCodec.name(meta.codec)), the output with \(CompressionCodec.name(codec.rawValue))"
            }
        }
        return nil
    }

    /// Column `column` of row group `rowGroup` as a chunk to copy: its page headers are walked
    /// and checked (they must hold exactly the row group's rows), its metadata kept with offsets
    /// relative to the chunk's first byte.
    /// - Throws: `ParquetError` naming the file, column and row group if the pages are corrupt.
    public func chunkCopy(rowGroup: Int, column: Int) throws -> ParquetChunkCopy {
        do {
            let layout = try pageLayout(rowGroup: rowGroup, column: column)
            guard let last = layout.pages.last else { throw ParquetFormatError("column chunk has no data pages") }
            let start = layout.dictionary.first?.lowerBound ?? layout.pages[0].bytes.lowerBound
            guard layout.dictionary.allSatisfy({ $0.upperBound <= layout.pages[0].bytes.lowerBound }) else {
                throw ParquetFormatError("dictionary page after a data page")
            }
            var meta = metadata.rowGroups[rowGroup].columns[column].metaData!
            meta.totalCompressedSize = Int64(last.bytes.upperBound - start)
            meta.dictionaryPageOffset = layout.dictionary.isEmpty ? nil : 0
            meta.dataPageOffset = Int64(layout.pages[0].bytes.lowerBound - start)
            meta.indexPageOffset = nil
            meta.pathInSchema = [columns[column].name]
            if var stats = meta.statistics {
                // The deprecated min/max (field 1, 2) used a signed byte order some readers reject.
                stats.min = nil
                stats.max = nil
                meta.statistics = stats
            }
            return ParquetChunkCopy(source: self, bytes: start..<last.bytes.upperBound, rows: Int(metadata.rowGroups[rowGroup].numRows),
                                    metaData: meta, column: columns[column].name, rowGroup: rowGroup)
        } catch let e as ParquetFormatError {
            throw ParquetError(path: path, column: columns[column].name, rowGroup: rowGroup, message: e.message)
        } catch var e as ParquetError {
            e.column = columns[column].name
            e.rowGroup = rowGroup
            throw e
        }
    }

    /// Appends bytes `range` of this file to the file open as `out` at its current position
    /// (`sendfile`, which copies within the kernel; `pread` and `write` where it is refused).
    /// A failure to write names `destination` (a full disk is the output's problem, not this file's).
    func copyBytes(_ range: Range<Int>, to out: Int32, destination: String) throws {
        var offset = range.lowerBound
        #if os(Linux)
        var useSendfile = true
        #else
        var useSendfile = false  // Darwin's sendfile writes to sockets only
        #endif
        var buffer: UnsafeMutableRawBufferPointer?
        defer { buffer?.deallocate() }
        while offset < range.upperBound {
            let want = min(range.upperBound - offset, 1 << 30)
            if useSendfile {
                var at = offset
                #if os(Linux)
                let n = sendfile(out, fd, &at, want)
                #else
                let n = -1
                #endif
                if n > 0 { offset = at; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EINVAL || errno == ENOSYS) { useSendfile = false; continue }
                if n == 0 { throw ParquetError(path: path, message: "unexpected end of file at offset \(offset)") }
                // sendfile does not say which side failed; these errors are the destination's.
                if [ENOSPC, EDQUOT, EFBIG, EROFS].contains(errno) { throw Self.writeFailure(destination, copying: path) }
                throw ParquetError(path: path, message: "copying bytes from offset \(offset) into \(destination) failed: \(String(cString: strerror(errno)))")
            }
            if buffer == nil { buffer = .allocate(byteCount: 1 << 20, alignment: 16) }
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer![0..<min(want, 1 << 20)])
            try Self.preadInto(fd: fd, path: path, offset: offset, buffer: piece)
            var done = 0
            while done < piece.count {
                let n = write(out, piece.baseAddress! + done, piece.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Self.writeFailure(destination, copying: path) }
                done += n
            }
            offset += piece.count
        }
    }

    private static func writeFailure(_ destination: String, copying source: String) -> ParquetError {
        ParquetError(path: destination, message: "cannot write the output file (copying column chunks from \(source)): \(String(cString: strerror(errno)))")
    }

    // MARK: I/O

    private static func preadAll(fd: Int32, path: String, offset: Int, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try preadInto(fd: fd, path: path, offset: offset, buffer: $0) }
        return out
    }

    private static func preadInto(fd: Int32, path: String, offset: Int, buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ParquetError(path: path, message: "read failed at offset \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw ParquetError(path: path, message: "unexpected end of file at offset \(offset + done)") }
            done += n
        }
    }
}
