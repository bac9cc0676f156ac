// The subset of parquet.thrift (apache/parquet-format) that score-cluster reads and writes.
// Field ids are quoted from the spec; fields not listed are skipped by wire type on read.

/// Physical types (enum `Type`).
enum ParquetPhysicalType: Int32, Sendable {
    case boolean = 0, int32 = 1, int64 = 2, int96 = 3, float = 4, double = 5, byteArray = 6, fixedLenByteArray = 7

    var name: String {
        switch self {
        case .boolean: "BOOLEAN"
        case .int32: "INT32"
        case .int64: "INT64"
        case .int96: "INT96"
        case .float: "FLOAT"
        case .double: "DOUBLE"
        case .byteArray: "BYTE_ARRAY"
        case .fixedLenByteArray: "FIXED_LEN_BYTE_ARRAY"
        }
    }

    /// Bytes per PLAIN value for fixed-width types (BOOLEAN is bit-packed: nil).
    var plainWidth: Int? {
        switch self {
        case .int32, .float: 4
        case .int64, .double: 8
        case .int96: 12
        case .boolean, .byteArray, .fixedLenByteArray: nil
        }
    }
}

/// Field repetition (enum `FieldRepetitionType`).
enum ParquetRepetition: Int32, Sendable {
    case required = 0, optional = 1, repeated = 2
}

/// Encodings (enum `Encoding`).
enum ParquetEncoding: Int32, Sendable {
    case plain = 0
    case plainDictionary = 2
    case rle = 3
    case bitPacked = 4
    case deltaBinaryPacked = 5
    case deltaLengthByteArray = 6
    case deltaByteArray = 7
    case rleDictionary = 8
    case byteStreamSplit = 9
    case alp = 10

    static func name(_ raw: Int32) -> String {
        switch ParquetEncoding(rawValue: raw) {
        case .plain: "PLAIN"
        case .plainDictionary: "PLAIN_DICTIONARY"
        case .rle: "RLE"
        case .bitPacked: "BIT_PACKED"
        case .deltaBinaryPacked: "DELTA_BINARY_PACKED"
        case .deltaLengthByteArray: "DELTA_LENGTH_BYTE_ARRAY"
        case .deltaByteArray: "DELTA_BYTE_ARRAY"
        case .rleDictionary: "RLE_DICTIONARY"
        case .byteStreamSplit: "BYTE_STREAM_SPLIT"
        case .alp: "ALP"
        case nil: "encoding \(raw)"
        }
    }
}

/// Page types (enum `PageType`).
enum ParquetPageType: Int32 {
    case dataPage = 0, indexPage = 1, dictionaryPage = 2, dataPageV2 = 3
}

/// Legacy annotations (enum `ConvertedType`).
enum ParquetConvertedType: Int32, Sendable {
    case utf8 = 0, map = 1, mapKeyValue = 2, list = 3, enumType = 4, decimal = 5, date = 6
    case timeMillis = 7, timeMicros = 8, timestampMillis = 9, timestampMicros = 10
    case uint8 = 11, uint16 = 12, uint32 = 13, uint64 = 14
    case int8 = 15, int16 = 16, int32 = 17, int64 = 18
    case json = 19, bson = 20, interval = 21

    var name: String {
        switch self {
        case .utf8: "UTF8"
        case .map: "MAP"
        case .mapKeyValue: "MAP_KEY_VALUE"
        case .list: "LIST"
        case .enumType: "ENUM"
        case .decimal: "DECIMAL"
        case .date: "DATE"
        case .timeMillis: "TIME_MILLIS"
        case .timeMicros: "TIME_MICROS"
        case .timestampMillis: "TIMESTAMP_MILLIS"
        case .timestampMicros: "TIMESTAMP_MICROS"
        case .uint8: "UINT_8"
        case .uint16: "UINT_16"
        case .uint32: "UINT_32"
        case .uint64: "UINT_64"
        case .int8: "INT_8"
        case .int16: "INT_16"
        case .int32: "INT_32"
        case .int64: "INT_64"
        case .json: "JSON"
        case .bson: "BSON"
        case .interval: "INTERVAL"
        }
    }
}

/// Time units of TIME and TIMESTAMP (union `TimeUnit`: 1 MILLIS, 2 MICROS, 3 NANOS).
enum ParquetTimeUnit: Sendable, Equatable {
    case millis, micros, nanos, unknown

    var name: String {
        switch self {
        case .millis: "MILLIS"
        case .micros: "MICROS"
        case .nanos: "NANOS"
        case .unknown: "UNKNOWN_UNIT"
        }
    }
}

/// Logical type annotations (union `LogicalType`).
enum ParquetLogicalType: Sendable, Equatable {
    case string, map, list, enumType
    case decimal(scale: Int32, precision: Int32)
    case date
    case time(isAdjustedToUTC: Bool, unit: ParquetTimeUnit)
    case timestamp(isAdjustedToUTC: Bool, unit: ParquetTimeUnit)
    case integer(bitWidth: Int8, isSigned: Bool)
    case unknown  // the "null" type
    case json, bson, uuid, float16, variant, geometry, geography
    /// A union member this reader does not know (newer spec).
    case other(id: Int16)

    var description: String {
        switch self {
        case .string: "STRING"
        case .map: "MAP"
        case .list: "LIST"
        case .enumType: "ENUM"
        case let .decimal(scale, precision): "DECIMAL(\(precision),\(scale))"
        case .date: "DATE"
        case let .time(utc, unit): "TIME(\(unit.name),\(utc ? "UTC" : "local"))"
        case let .timestamp(utc, unit): "TIMESTAMP(\(unit.name),\(utc ? "UTC" : "local"))"
        case let .integer(bits, signed): "INT(\(bits),\(signed ? "signed" : "unsigned"))"
        case .unknown: "UNKNOWN"
        case .json: "JSON"
        case .bson: "BSON"
        case .uuid: "UUID"
        case .float16: "FLOAT16"
        case .variant: "VARIANT"
        case .geometry: "GEOMETRY"
        case .geography: "GEOGRAPHY"
        case let .other(id): "logical type \(id)"
        }
    }

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetLogicalType {
        var result: ParquetLogicalType?
        try r.readStruct { r, id, t in
            guard t == .struct else { try r.skip(t); return }
            switch id {
            case 1: result = .string
            case 2: result = .map
            case 3: result = .list
            case 4: result = .enumType
            case 5:
                var scale: Int32 = 0, precision: Int32 = 0
                try r.readStruct { r, id, t in
                    switch id {
                    case 1: scale = try r.i32(t) ?? 0
                    case 2: precision = try r.i32(t) ?? 0
                    default: try r.skip(t)
                    }
                }
                result = .decimal(scale: scale, precision: precision)
                return
            case 6: result = .date
            case 7, 8:
                var utc = false, unit = ParquetTimeUnit.unknown
                try r.readStruct { r, fid, t in
                    switch fid {
                    case 1: utc = try r.bool(t) ?? false
                    case 2: unit = try r.structValue(t, ParquetLogicalType.decodeTimeUnit) ?? .unknown
                    default: try r.skip(t)
                    }
                }
                result = id == 7 ? .time(isAdjustedToUTC: utc, unit: unit) : .timestamp(isAdjustedToUTC: utc, unit: unit)
                return
            case 10:
                var bits: Int8 = 0, signed = true
                try r.readStruct { r, fid, t in
                    switch fid {
                    case 1:
                        if t == .i8 { bits = Int8(bitPattern: try r.readByte()) } else if let v = try r.i32(t) { bits = Int8(truncatingIfNeeded: v) }
                    case 2: signed = try r.bool(t) ?? true
                    default: try r.skip(t)
                    }
                }
                result = .integer(bitWidth: bits, isSigned: signed)
                return
            case 11: result = .unknown
            case 12: result = .json
            case 13: result = .bson
            case 14: result = .uuid
            case 15: result = .float16
            case 16: result = .variant
            case 17: result = .geometry
            case 18: result = .geography
            default: result = .other(id: id)
            }
            try r.skip(t)  // the member's (possibly non-empty) struct
        }
        return result ?? .other(id: 0)
    }

    private static func decodeTimeUnit(_ r: inout ThriftCompactReader) throws -> ParquetTimeUnit {
        var unit = ParquetTimeUnit.unknown
        try r.readStruct { r, id, t in
            switch id {
            case 1: unit = .millis
            case 2: unit = .micros
            case 3: unit = .nanos
            default: break
            }
            try r.skip(t)
        }
        return unit
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.beginStruct()
        switch self {
        case .string: w.beginStructField(1); w.endStruct()
        case .map: w.beginStructField(2); w.endStruct()
        case .list: w.beginStructField(3); w.endStruct()
        case .enumType: w.beginStructField(4); w.endStruct()
        case .date: w.beginStructField(6); w.endStruct()
        case let .integer(bits, signed):
            w.beginStructField(10)
            w.i8Field(1, bits)
            w.boolField(2, signed)
            w.endStruct()
        case .json: w.beginStructField(12); w.endStruct()
        case let .decimal(scale, precision):
            w.beginStructField(5)
            w.i32Field(1, scale)
            w.i32Field(2, precision)
            w.endStruct()
        case let .time(utc, unit), let .timestamp(utc, unit):
            if case .time = self { w.beginStructField(7) } else { w.beginStructField(8) }
            w.boolField(1, utc)
            w.beginStructField(2)  // union TimeUnit: 1 MILLIS, 2 MICROS, 3 NANOS (empty structs)
            switch unit {
            case .millis: w.beginStructField(1)
            case .micros: w.beginStructField(2)
            case .nanos, .unknown: w.beginStructField(3)
            }
            w.endStruct()
            w.endStruct()
            w.endStruct()
        case .unknown: w.beginStructField(11); w.endStruct()
        case .uuid: w.beginStructField(14); w.endStruct()
        case .float16: w.beginStructField(15); w.endStruct()
        default: preconditionFailure("writing logical type \(self) is not implemented")
        }
        w.endStruct()
    }
}

/// One node of the flattened schema tree (struct `SchemaElement`).
struct ParquetSchemaElement: Sendable {
    var type: ParquetPhysicalType?
    var typeLength: Int32?
    var repetition: ParquetRepetition?
    var name: String = ""
    var numChildren: Int32?
    var convertedType: ParquetConvertedType?
    /// A ConvertedType value this reader does not know.
    var unknownConvertedType: Int32?
    var scale: Int32?
    var precision: Int32?
    var fieldID: Int32?
    var logicalType: ParquetLogicalType?

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetSchemaElement {
        var e = ParquetSchemaElement()
        try r.readStruct { r, id, t in
            switch id {
            case 1:
                if let v = try r.i32(t) {
                    guard let pt = ParquetPhysicalType(rawValue: v) else { throw ParquetFormatError("unknown physical type \(v) in schema") }
                    e.type = pt
                }
            case 2: e.typeLength = try r.i32(t)
            case 3:
                if let v = try r.i32(t) {
                    guard let rep = ParquetRepetition(rawValue: v) else { throw ParquetFormatError("unknown repetition type \(v) in schema") }
                    e.repetition = rep
                }
            case 4: e.name = try r.string(t) ?? ""
            case 5: e.numChildren = try r.i32(t)
            case 6:
                if let v = try r.i32(t) {
                    if let ct = ParquetConvertedType(rawValue: v) { e.convertedType = ct } else { e.unknownConvertedType = v }
                }
            case 7: e.scale = try r.i32(t)
            case 8: e.precision = try r.i32(t)
            case 9: e.fieldID = try r.i32(t)
            case 10: e.logicalType = try r.structValue(t, ParquetLogicalType.decode)
            default: try r.skip(t)
            }
        }
        return e
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.beginStruct()
        if let type { w.i32Field(1, type.rawValue) }
        if let typeLength { w.i32Field(2, typeLength) }
        if let repetition { w.i32Field(3, repetition.rawValue) }
        w.stringField(4, name)
        if let numChildren { w.i32Field(5, numChildren) }
        if let convertedType { w.i32Field(6, convertedType.rawValue) }
        if let scale { w.i32Field(7, scale) }
        if let precision { w.i32Field(8, precision) }
        if let fieldID { w.i32Field(9, fieldID) }
        if let logicalType {
            w.fieldHeader(10, .struct)
            logicalType.encode(&w)
        }
        w.endStruct()
    }
}

/// Column statistics (struct `Statistics`); values are PLAIN-encoded without length prefix.
struct ParquetStatistics: Sendable {
    var max: [UInt8]?
    var min: [UInt8]?
    var nullCount: Int64?
    var distinctCount: Int64?
    var maxValue: [UInt8]?
    var minValue: [UInt8]?
    var nanCount: Int64?

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetStatistics {
        var s = ParquetStatistics()
        try r.readStruct { r, id, t in
            switch id {
            case 1: s.max = try r.binary(t)
            case 2: s.min = try r.binary(t)
            case 3: s.nullCount = try r.i64(t)
            case 4: s.distinctCount = try r.i64(t)
            case 5: s.maxValue = try r.binary(t)
            case 6: s.minValue = try r.binary(t)
            case 9: s.nanCount = try r.i64(t)
            default: try r.skip(t)
            }
        }
        return s
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.beginStruct()
        if let max { w.binaryField(1, max) }
        if let min { w.binaryField(2, min) }
        if let nullCount { w.i64Field(3, nullCount) }
        if let distinctCount { w.i64Field(4, distinctCount) }
        if let maxValue { w.binaryField(5, maxValue) }
        if let minValue { w.binaryField(6, minValue) }
        if let nanCount { w.i64Field(9, nanCount) }
        w.endStruct()
    }
}

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

/// Header of a data page v1 (struct `DataPageHeader`).
struct ParquetDataPageHeader {
    var numValues: Int32 = 0
    var encoding: Int32 = 0
    var definitionLevelEncoding: Int32 = 3
    var repetitionLevelEncoding: Int32 = 3

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetDataPageHeader {
        var h = ParquetDataPageHeader()
        try r.readStruct { r, id, t in
            switch id {
            case 1: h.numValues = try r.i32(t) ?? 0
            case 2: h.encoding = try r.i32(t) ?? 0
            case 3: h.definitionLevelEncoding = try r.i32(t) ?? 3
            case 4: h.repetitionLevelEncoding = try r.i32(t) ?? 3
            default: try r.skip(t)
            }
        }
        return h
    }
}

/// Header of a data page v2 (struct `DataPageHeaderV2`).
struct ParquetDataPageHeaderV2 {
    var numValues: Int32 = 0
    var numNulls: Int32 = 0
    var numRows: Int32 = 0
    var encoding: Int32 = 0
    var definitionLevelsByteLength: Int32 = 0
    var repetitionLevelsByteLength: Int32 = 0
    var isCompressed = true

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetDataPageHeaderV2 {
        var h = ParquetDataPageHeaderV2()
        try r.readStruct { r, id, t in
            switch id {
            case 1: h.numValues = try r.i32(t) ?? 0
            case 2: h.numNulls = try r.i32(t) ?? 0
            case 3: h.numRows = try r.i32(t) ?? 0
            case 4: h.encoding = try r.i32(t) ?? 0
            case 5: h.definitionLevelsByteLength = try r.i32(t) ?? 0
            case 6: h.repetitionLevelsByteLength = try r.i32(t) ?? 0
            case 7: h.isCompressed = try r.bool(t) ?? true
            default: try r.skip(t)
            }
        }
        return h
    }
}

/// Header of a dictionary page (struct `DictionaryPageHeader`).
struct ParquetDictionaryPageHeader {
    var numValues: Int32 = 0
    var encoding: Int32 = 0

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetDictionaryPageHeader {
        var h = ParquetDictionaryPageHeader()
        try r.readStruct { r, id, t in
            switch id {
            case 1: h.numValues = try r.i32(t) ?? 0
            case 2: h.encoding = try r.i32(t) ?? 0
            default: try r.skip(t)
            }
        }
        return h
    }
}

/// Header preceding every page (struct `PageHeader`).
struct ParquetPageHeader {
    var type: Int32 = -1
    var uncompressedPageSize: Int32 = 0
    var compressedPageSize: Int32 = 0
    var crc: Int32?
    var dataPageHeader: ParquetDataPageHeader?
    var dictionaryPageHeader: ParquetDictionaryPageHeader?
    var dataPageHeaderV2: ParquetDataPageHeaderV2?

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetPageHeader {
        var h = ParquetPageHeader()
        try r.readStruct { r, id, t in
            switch id {
            case 1: h.type = try r.i32(t) ?? -1
            case 2: h.uncompressedPageSize = try r.i32(t) ?? 0
            case 3: h.compressedPageSize = try r.i32(t) ?? 0
            case 4: h.crc = try r.i32(t)
            case 5: h.dataPageHeader = try r.structValue(t, ParquetDataPageHeader.decode)
            case 7: h.dictionaryPageHeader = try r.structValue(t, ParquetDictionaryPageHeader.decode)
            case 8: h.dataPageHeaderV2 = try r.structValue(t, ParquetDataPageHeaderV2.decode)
            default: try r.skip(t)
            }
        }
        return h
    }

    /// Encodes a DICTIONARY_PAGE header (PLAIN entries, not sorted).
    static func encodeDictionaryPage(_ w: inout ThriftCompactWriter, uncompressedSize: Int32, compressedSize: Int32,
                                     numValues: Int32) {
        w.reset()
        w.i32Field(1, ParquetPageType.dictionaryPage.rawValue)
        w.i32Field(2, uncompressedSize)
        w.i32Field(3, compressedSize)
        w.beginStructField(7)
        w.i32Field(1, numValues)
        w.i32Field(2, ParquetEncoding.plain.rawValue)
        w.boolField(3, false)
        w.endStruct()
        w.endTopLevelStruct()
    }

    /// Encodes a DATA_PAGE (v1) header with RLE levels.
    static func encodeDataPageV1(_ w: inout ThriftCompactWriter, uncompressedSize: Int32, compressedSize: Int32,
                                 numValues: Int32, encoding: ParquetEncoding) {
        w.reset()
        w.i32Field(1, ParquetPageType.dataPage.rawValue)
        w.i32Field(2, uncompressedSize)
        w.i32Field(3, compressedSize)
        w.beginStructField(5)
        w.i32Field(1, numValues)
        w.i32Field(2, encoding.rawValue)
        w.i32Field(3, ParquetEncoding.rle.rawValue)
        w.i32Field(4, ParquetEncoding.rle.rawValue)
        w.endStruct()
        w.endTopLevelStruct()
    }
}
