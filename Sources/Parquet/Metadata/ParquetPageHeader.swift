import Columnar

// Part of the subset of parquet.thrift (apache/parquet-format) that score-cluster reads and writes.
// Field ids are quoted from the spec; fields not listed are skipped by wire type on read.

/// Page types (enum `PageType`).
enum ParquetPageType: Int32 {
    case dataPage = 0, indexPage = 1, dictionaryPage = 2, dataPageV2 = 3
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
