import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Columnar

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
/// Reads go through a `ParquetByteSource` (a local file read with `pread`, or an object in a
/// store read by ranges), which allows concurrent reads, so `readRowGroup` may be called
/// concurrently from several threads (typically on different row groups).
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

    /// The file's size in bytes.
    public var byteCount: Int { fileSize }

    /// Total rows over all row groups (the row groups' counts; FileMetaData.num_rows can be wrong).
    public var rowCount: Int { rowGroupRowCounts.reduce(0, +) }

    /// What decoding needs to know about a leaf.
    struct Leaf {
        var physical: ParquetPhysicalType
        var typeLength: Int
        var maxDefinitionLevel: Int
        var maxRepetitionLevel: Int
        /// Its schema element, to tell whether its chunks can be copied as they are.
        var element: ParquetSchemaElement
    }

    /// Where the bytes are.
    let source: any ParquetByteSource
    let fileSize: Int
    /// Offset of the footer (FileMetaData); column data must lie before it.
    let footerStart: Int
    let metadata: ParquetFileMetaData
    let leaves: [Leaf]

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
    public convenience init(path: String, verifyChecksums: Bool) throws {
        try self.init(source: LocalParquetFile(path: path), verifyChecksums: verifyChecksums)
    }

    /// Reads and validates the footer of the file `source` holds (the first 4 bytes and the
    /// tail are asked for together: one round trip for a remote source when the footer is
    /// under 64 KiB).
    /// - Throws: `ParquetError` as `init(path:verifyChecksums:)`.
    public init(source: any ParquetByteSource, verifyChecksums: Bool) throws {
        let path = source.name
        self.path = path
        self.source = source
        self.verifyChecksums = verifyChecksums
        let size = source.size
        self.fileSize = size
        func fail(_ message: String) -> ParquetError { ParquetError(path: path, message: message) }
        guard size >= 12 else { throw fail("not a Parquet file: \(size) bytes is too small (truncated?)") }

        source.willRead([0..<4, max(4, size - (64 << 10))..<size])
        let head = try source.read(at: 0, count: 4)
        let tail = try source.read(at: size - 8, count: 8)
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
        let footer = try source.read(at: footerStart, count: footerLength)
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
    }

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

    /// Where a column chunk's pages are in the file.
    func byteRange(of meta: ParquetColumnMetaData) throws -> Range<Int> {
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
}
