import Columnar

// Part of the subset of parquet.thrift (apache/parquet-format) that score-cluster reads and writes.
// Field ids are quoted from the spec; fields not listed are skipped by wire type on read.

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
