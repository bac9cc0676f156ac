import Columnar

// Part of the subset of parquet.thrift (apache/parquet-format) that score-cluster reads and writes.
// Field ids are quoted from the spec; fields not listed are skipped by wire type on read.

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
