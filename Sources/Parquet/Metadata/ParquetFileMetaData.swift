import Columnar

// Part of the subset of parquet.thrift (apache/parquet-format) that score-cluster reads and writes.
// Field ids are quoted from the spec; fields not listed are skipped by wire type on read.

/// Metadata of one column chunk (struct `ColumnMetaData`).
struct ParquetColumnMetaData: Sendable {
    var type: ParquetPhysicalType = .int32
    var encodings: [Int32] = []
    var pathInSchema: [String] = []
    var codec: Int32 = 0
    var numValues: Int64 = 0
    var totalUncompressedSize: Int64 = 0
    var totalCompressedSize: Int64 = 0
    var dataPageOffset: Int64 = 0
    var indexPageOffset: Int64?
    var dictionaryPageOffset: Int64?
    var statistics: ParquetStatistics?

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetColumnMetaData {
        var m = ParquetColumnMetaData()
        var seenType = false
        try r.readStruct { r, id, t in
            switch id {
            case 1:
                if let v = try r.i32(t) {
                    guard let pt = ParquetPhysicalType(rawValue: v) else { throw ParquetFormatError("unknown physical type \(v) in column metadata") }
                    m.type = pt
                    seenType = true
                }
            case 2: m.encodings = try r.list(t, of: .i32) { try $0.readI32() } ?? []
            case 3: m.pathInSchema = try r.list(t, of: .binary) { try $0.readString() } ?? []
            case 4: m.codec = try r.i32(t) ?? 0
            case 5: m.numValues = try r.i64(t) ?? 0
            case 6: m.totalUncompressedSize = try r.i64(t) ?? 0
            case 7: m.totalCompressedSize = try r.i64(t) ?? 0
            case 9: m.dataPageOffset = try r.i64(t) ?? 0
            case 10: m.indexPageOffset = try r.i64(t)
            case 11: m.dictionaryPageOffset = try r.i64(t)
            case 12: m.statistics = try r.structValue(t, ParquetStatistics.decode)
            default: try r.skip(t)
            }
        }
        guard seenType else { throw ParquetFormatError("column metadata without a physical type") }
        return m
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.beginStruct()
        w.i32Field(1, type.rawValue)
        w.listField(2, .i32, count: encodings.count)
        for e in encodings { w.writeZigzag(Int64(e)) }
        w.listField(3, .binary, count: pathInSchema.count)
        for p in pathInSchema { w.writeBinaryValue(Array(p.utf8)) }
        w.i32Field(4, codec)
        w.i64Field(5, numValues)
        w.i64Field(6, totalUncompressedSize)
        w.i64Field(7, totalCompressedSize)
        w.i64Field(9, dataPageOffset)
        if let indexPageOffset { w.i64Field(10, indexPageOffset) }
        if let dictionaryPageOffset { w.i64Field(11, dictionaryPageOffset) }
        if let statistics {
            w.fieldHeader(12, .struct)
            statistics.encode(&w)
        }
        w.endStruct()
    }
}

/// One column of one row group (struct `ColumnChunk`).
struct ParquetColumnChunk: Sendable {
    var filePath: String?
    var fileOffset: Int64 = 0
    var metaData: ParquetColumnMetaData?
    /// Set when the chunk carries `crypto_metadata` or `encrypted_column_metadata`.
    var isEncrypted = false

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetColumnChunk {
        var c = ParquetColumnChunk()
        try r.readStruct { r, id, t in
            switch id {
            case 1: c.filePath = try r.string(t)
            case 2: c.fileOffset = try r.i64(t) ?? 0
            case 3: c.metaData = try r.structValue(t, ParquetColumnMetaData.decode)
            case 8, 9: c.isEncrypted = true; try r.skip(t)
            default: try r.skip(t)
            }
        }
        return c
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.beginStruct()
        w.i64Field(2, fileOffset)
        if let metaData {
            w.fieldHeader(3, .struct)
            metaData.encode(&w)
        }
        w.endStruct()
    }
}

/// One row group (struct `RowGroup`).
struct ParquetRowGroup: Sendable {
    var columns: [ParquetColumnChunk] = []
    var totalByteSize: Int64 = 0
    var numRows: Int64 = 0
    var fileOffset: Int64?
    var totalCompressedSize: Int64?
    var ordinal: Int16?

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetRowGroup {
        var g = ParquetRowGroup()
        try r.readStruct { r, id, t in
            switch id {
            case 1: g.columns = try r.list(t, of: .struct, ParquetColumnChunk.decode) ?? []
            case 2: g.totalByteSize = try r.i64(t) ?? 0
            case 3: g.numRows = try r.i64(t) ?? 0
            case 5: g.fileOffset = try r.i64(t)
            case 6: g.totalCompressedSize = try r.i64(t)
            case 7: if let v = try r.i32(t) { g.ordinal = Int16(truncatingIfNeeded: v) }
            default: try r.skip(t)
            }
        }
        return g
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.beginStruct()
        w.listField(1, .struct, count: columns.count)
        for c in columns { c.encode(&w) }
        w.i64Field(2, totalByteSize)
        w.i64Field(3, numRows)
        if let fileOffset { w.i64Field(5, fileOffset) }
        if let totalCompressedSize { w.i64Field(6, totalCompressedSize) }
        if let ordinal { w.i16Field(7, ordinal) }
        w.endStruct()
    }
}

/// The file footer (struct `FileMetaData`).
struct ParquetFileMetaData: Sendable {
    var version: Int32 = 1
    var schema: [ParquetSchemaElement] = []
    var numRows: Int64 = 0
    var rowGroups: [ParquetRowGroup] = []
    var keyValueMetadata: [(key: String, value: String?)] = []
    var createdBy: String?
    /// Number of `column_orders` entries, all written as TYPE_ORDER.
    var typeOrderColumnCount: Int = 0
    /// Set when the footer names an encryption algorithm or footer signing key (plaintext-footer
    /// encrypted files).
    var isEncrypted = false

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetFileMetaData {
        var m = ParquetFileMetaData()
        try r.readStruct { r, id, t in
            switch id {
            case 1: m.version = try r.i32(t) ?? 1
            case 2: m.schema = try r.list(t, of: .struct, ParquetSchemaElement.decode) ?? []
            case 3: m.numRows = try r.i64(t) ?? 0
            case 4: m.rowGroups = try r.list(t, of: .struct, ParquetRowGroup.decode) ?? []
            case 5:
                m.keyValueMetadata = try r.list(t, of: .struct) { r in
                    var key = "", value: String?
                    try r.readStruct { r, id, t in
                        switch id {
                        case 1: key = try r.string(t) ?? ""
                        case 2: value = try r.string(t)
                        default: try r.skip(t)
                        }
                    }
                    return (key: key, value: value)
                } ?? []
            case 6: m.createdBy = try r.string(t)
            case 8, 9: m.isEncrypted = true; try r.skip(t)
            default: try r.skip(t)
            }
        }
        return m
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.i32Field(1, version)
        w.listField(2, .struct, count: schema.count)
        for e in schema { e.encode(&w) }
        w.i64Field(3, numRows)
        w.listField(4, .struct, count: rowGroups.count)
        for g in rowGroups { g.encode(&w) }
        if !keyValueMetadata.isEmpty {
            w.listField(5, .struct, count: keyValueMetadata.count)
            for kv in keyValueMetadata {
                w.beginStruct()
                w.stringField(1, kv.key)
                if let v = kv.value { w.stringField(2, v) }
                w.endStruct()
            }
        }
        if let createdBy { w.stringField(6, createdBy) }
        if typeOrderColumnCount > 0 {
            // ColumnOrder is a union whose member 1 is the empty struct TypeDefinedOrder.
            w.listField(7, .struct, count: typeOrderColumnCount)
            for _ in 0..<typeOrderColumnCount {
                w.beginStruct()
                w.beginStructField(1)
                w.endStruct()
                w.endStruct()
            }
        }
        w.endTopLevelStruct()
    }
}
