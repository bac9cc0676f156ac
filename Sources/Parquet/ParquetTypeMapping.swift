import Columnar

/// Maps Parquet leaf types to score-cluster's in-memory `DataType` and back.
///
/// Reading: one function decides, from a leaf's physical type and its LogicalType (which wins)
/// or legacy ConvertedType, which `DataType` the decoded column has, or why it cannot be read
/// yet. Widening support means adding a case here and, if the bytes need converting, a
/// conversion in `ColumnChunkDecoder`.
enum ParquetTypeMapping {
    /// The outcome of mapping one leaf.
    struct ReadMapping {
        var dataType: DataType?
        var unsupportedReason: String?
    }

    /// A human-readable annotation of `element` (LogicalType, else ConvertedType), if any.
    static func annotationDescription(_ element: ParquetSchemaElement) -> String? {
        if let lt = element.logicalType { return lt.description }
        if let ct = element.convertedType {
            if ct == .decimal { return "DECIMAL(\(element.precision ?? 0),\(element.scale ?? 0))" }
            return ct.name
        }
        if let raw = element.unknownConvertedType { return "converted type \(raw)" }
        return nil
    }

    /// Widest FIXED_LEN_BYTE_ARRAY read (1 MiB per value), so that a corrupt type length cannot
    /// size an allocation.
    static let maxFixedWidth = 1 << 20

    /// The `DataType` a flat leaf decodes to, or the reason it cannot be decoded.
    ///
    /// The result is what `pyarrow.parquet.read_table(...)` gives (and so what `to_pandas()` hands
    /// pandas), with two deliberate differences:
    /// - INT96 timestamps become `timestamp(.microseconds, utc: false)`: pyarrow's default
    ///   (`timestamp[ns]`, tz-naive) overflows for Spark's year-9999 and later values and prints
    ///   garbage for them; microseconds hold every INT96 value Spark writes (Spark's own
    ///   precision) and equal pyarrow's `coerce_int96_timestamp_unit="us"` exactly. The naive
    ///   (non-UTC) flag matches pyarrow's dtype.
    /// - Types pyarrow restores from its own `ARROW:schema` metadata (seconds, time zones other
    ///   than UTC, large strings, durations) are read as their Parquet annotation says.
    /// The LogicalType wins over the ConvertedType; a ConvertedType alone follows the spec's
    /// backward-compatibility rules (TIMESTAMP_MILLIS/MICROS are UTC-adjusted). Unknown future
    /// annotations are ignored and the column is read by its physical type.
    static func readMapping(_ element: ParquetSchemaElement) -> ReadMapping {
        guard let physical = element.type else { return unsupported("group node has no physical type") }
        let annotation = annotationDescription(element)
        func invalid() -> ReadMapping {
            unsupported("\(physical.name)\(annotation.map { " annotated \($0)" } ?? "") is not a valid combination")
        }
        func decimal(_ precision: Int32?, _ scale: Int32?) -> ReadMapping {
            let p = Int(precision ?? 0), s = Int(scale ?? 0)
            guard p >= 1 else { return unsupported("DECIMAL without a positive precision (\(p))") }
            guard p <= 38 else {
                return unsupported("DECIMAL(\(p),\(s)) has more than 38 digits; score-cluster holds decimals as 128-bit integers")
            }
            guard s >= 0 && s <= p else { return unsupported("DECIMAL(\(p),\(s)) has a scale outside 0...precision") }
            return supported(.decimal(precision: p, scale: s))
        }
        let width = Int(element.typeLength ?? -1)
        if physical == .fixedLenByteArray {
            guard width > 0 && width <= maxFixedWidth else {
                return unsupported("FIXED_LEN_BYTE_ARRAY with type length \(width) (must be 1...\(maxFixedWidth))")
            }
        }
        // The LogicalType, when it is one this reader knows, decides.
        if let lt = element.logicalType {
            switch (lt, physical) {
            case (.other, _), (.variant, _), (.geometry, _), (.geography, _), (.bson, _):
                break  // unknown or opaque annotation: read by physical type below
            case (.unknown, _):
                return supported(.null)
            case let (.integer(bits, signed), .int32):
                switch (bits, signed) {
                case (8, true): return supported(.int8)
                case (16, true): return supported(.int16)
                case (32, true): return supported(.int32)
                case (8, false): return supported(.uint8)
                case (16, false): return supported(.uint16)
                case (32, false): return supported(.uint32)
                default: return invalid()
                }
            case let (.integer(bits, signed), .int64):
                guard bits == 64 else { return invalid() }
                return supported(signed ? .int64 : .uint64)
            case let (.decimal(scale, precision), .int32), let (.decimal(scale, precision), .int64),
                 let (.decimal(scale, precision), .fixedLenByteArray), let (.decimal(scale, precision), .byteArray):
                return decimal(precision, scale)
            case (.date, .int32):
                return supported(.date32)
            case let (.time(_, unit), .int32):
                return unit == .millis ? supported(.time(.milliseconds)) : invalid()
            case let (.time(_, unit), .int64):
                switch unit {
                case .micros: return supported(.time(.microseconds))
                case .nanos: return supported(.time(.nanoseconds))
                default: return invalid()
                }
            case let (.timestamp(utc, unit), .int64):
                switch unit {
                case .millis: return supported(.timestamp(.milliseconds, utc: utc))
                case .micros: return supported(.timestamp(.microseconds, utc: utc))
                case .nanos: return supported(.timestamp(.nanoseconds, utc: utc))
                case .unknown: return unsupported("TIMESTAMP with an unknown time unit")
                }
            case (.string, .byteArray), (.enumType, .byteArray), (.json, .byteArray):
                return supported(.string)
            case (.float16, .fixedLenByteArray):
                return width == 2 ? supported(.float16) : invalid()
            case (.uuid, .fixedLenByteArray):
                return width == 16 ? supported(.uuid) : invalid()
            default:
                return invalid()
            }
        }
        // Legacy ConvertedType (DuckDB, fastparquet, Impala, older Spark write only these).
        if let ct = element.convertedType {
            switch (ct, physical) {
            case (.int8, .int32): return supported(.int8)
            case (.int16, .int32): return supported(.int16)
            case (.int32, .int32): return supported(.int32)
            case (.uint8, .int32): return supported(.uint8)
            case (.uint16, .int32): return supported(.uint16)
            case (.uint32, .int32): return supported(.uint32)
            case (.int64, .int64): return supported(.int64)
            case (.uint64, .int64): return supported(.uint64)
            case (.decimal, .int32), (.decimal, .int64), (.decimal, .fixedLenByteArray), (.decimal, .byteArray):
                return decimal(element.precision, element.scale)
            case (.date, .int32): return supported(.date32)
            case (.timeMillis, .int32): return supported(.time(.milliseconds))
            case (.timeMicros, .int64): return supported(.time(.microseconds))
            case (.timestampMillis, .int64): return supported(.timestamp(.milliseconds, utc: true))
            case (.timestampMicros, .int64): return supported(.timestamp(.microseconds, utc: true))
            case (.utf8, .byteArray), (.enumType, .byteArray), (.json, .byteArray): return supported(.string)
            case (.bson, .byteArray): return supported(.binary)
            case (.interval, .fixedLenByteArray): break  // 12 raw bytes, as pyarrow shows them
            case (.map, _), (.mapKeyValue, _), (.list, _):
                break  // group annotations misplaced on a leaf: read the leaf by physical type
            default:
                return invalid()
            }
        }
        switch physical {
        case .boolean: return supported(.bool)
        case .int32: return supported(.int32)
        case .int64: return supported(.int64)
        case .int96: return supported(.timestamp(.microseconds, utc: false))
        case .float: return supported(.float32)
        case .double: return supported(.float64)
        case .byteArray: return supported(.binary)
        case .fixedLenByteArray: return supported(.fixedBinary(width))
        }
    }

    private static func supported(_ t: DataType) -> ReadMapping { ReadMapping(dataType: t, unsupportedReason: nil) }
    private static func unsupported(_ reason: String) -> ReadMapping { ReadMapping(dataType: nil, unsupportedReason: reason) }

    // MARK: Writing

    /// Why a column of `type` cannot be written (parameters outside what Parquet can hold), or nil.
    static func writeProblem(_ type: DataType) -> String? {
        switch type {
        case let .decimal(p, s) where !(p >= 1 && p <= 38 && s >= 0 && s <= p):
            "decimal(\(p), \(s)) cannot be written: precision must be 1...38 and scale 0...precision"
        case let .fixedBinary(w) where !(w > 0 && w <= maxFixedWidth):
            "fixed_binary(\(w)) cannot be written: width must be 1...\(maxFixedWidth)"
        case .list(let element):
            writeProblem(element)
        case .map(let value):
            writeProblem(value)
        case .structure(let fields):
            if fields.isEmpty {
                "\(type) cannot be written: Parquet has no empty groups"
            } else {
                fields.lazy.compactMap { writeProblem($0.type) }.first
            }
        default: nil
        }
    }

    /// The schema elements of a column of `type`, depth first: one leaf for flat types; for
    /// nested types the group tree of the spec's LogicalTypes.md, every node OPTIONAL but the
    /// repeated groups and map keys (the top node follows `nullable`):
    /// - list: `<name> (LIST) { repeated group list { optional <element> element } }`
    /// - map: `<name> (MAP) { repeated group key_value { required binary key (STRING); optional <value> value } }`
    /// - struct: `<name> { optional <field> ... }`
    static func writeElements(name: String, type: DataType, nullable: Bool) -> [ParquetSchemaElement] {
        var group = ParquetSchemaElement()
        group.name = name
        group.repetition = nullable ? .optional : .required
        switch type {
        case .list(let element):
            group.numChildren = 1
            group.convertedType = .list
            group.logicalType = .list
            var repeated = ParquetSchemaElement()
            repeated.name = "list"
            repeated.repetition = .repeated
            repeated.numChildren = 1
            return [group, repeated] + writeElements(name: "element", type: element, nullable: true)
        case .map(let value):
            group.numChildren = 1
            group.convertedType = .map
            group.logicalType = .map
            var repeated = ParquetSchemaElement()
            repeated.name = "key_value"
            repeated.repetition = .repeated
            repeated.numChildren = 2
            return [group, repeated] + writeElements(name: "key", type: .string, nullable: false)
                + writeElements(name: "value", type: value, nullable: true)
        case .structure(let fields):
            group.numChildren = Int32(fields.count)
            return [group] + fields.flatMap { writeElements(name: $0.name, type: $0.type, nullable: true) }
        default:
            return [writeElement(name: name, type: type, nullable: nullable)]
        }
    }

    /// Bytes of the FIXED_LEN_BYTE_ARRAY that holds any unscaled value of `precision` digits
    /// (the smallest n with 10^p - 1 < 2^(8n - 1), as pyarrow and Spark choose).
    static func decimalByteWidth(precision: Int) -> Int {
        var n = 1
        // log2(10) = 3.3219...; 8n - 1 bits hold p digits when (8n - 1) * log10(2) >= p.
        while Double(8 * n - 1) * 0.30102999566398120 < Double(precision) { n += 1 }
        return n
    }

    /// The schema element a writer emits for a column of `type`: physical type plus LogicalType
    /// and the matching ConvertedType (both, for readers that know only one of them).
    static func writeElement(name: String, type: DataType, nullable: Bool) -> ParquetSchemaElement {
        var e = ParquetSchemaElement()
        e.name = name
        e.repetition = nullable ? .optional : .required
        switch type {
        case .bool: e.type = .boolean
        case .int8: e.type = .int32; e.logicalType = .integer(bitWidth: 8, isSigned: true); e.convertedType = .int8
        case .int16: e.type = .int32; e.logicalType = .integer(bitWidth: 16, isSigned: true); e.convertedType = .int16
        case .int32: e.type = .int32
        case .int64: e.type = .int64
        case .uint8: e.type = .int32; e.logicalType = .integer(bitWidth: 8, isSigned: false); e.convertedType = .uint8
        case .uint16: e.type = .int32; e.logicalType = .integer(bitWidth: 16, isSigned: false); e.convertedType = .uint16
        case .uint32: e.type = .int32; e.logicalType = .integer(bitWidth: 32, isSigned: false); e.convertedType = .uint32
        case .uint64: e.type = .int64; e.logicalType = .integer(bitWidth: 64, isSigned: false); e.convertedType = .uint64
        case .float32: e.type = .float
        case .float64: e.type = .double
        case .string: e.type = .byteArray; e.logicalType = .string; e.convertedType = .utf8
        case .binary: e.type = .byteArray
        case .float16: e.type = .fixedLenByteArray; e.typeLength = 2; e.logicalType = .float16
        case .date32: e.type = .int32; e.logicalType = .date; e.convertedType = .date
        case let .timestamp(unit, utc):
            e.type = .int64
            switch unit {
            case .milliseconds: e.logicalType = .timestamp(isAdjustedToUTC: utc, unit: .millis); e.convertedType = .timestampMillis
            case .microseconds: e.logicalType = .timestamp(isAdjustedToUTC: utc, unit: .micros); e.convertedType = .timestampMicros
            case .nanoseconds: e.logicalType = .timestamp(isAdjustedToUTC: utc, unit: .nanos)  // no ConvertedType exists
            }
        case let .time(unit):
            // isAdjustedToUTC = true is what TIME_MILLIS/TIME_MICROS imply (and what pyarrow writes).
            switch unit {
            case .milliseconds: e.type = .int32; e.logicalType = .time(isAdjustedToUTC: true, unit: .millis); e.convertedType = .timeMillis
            case .microseconds: e.type = .int64; e.logicalType = .time(isAdjustedToUTC: true, unit: .micros); e.convertedType = .timeMicros
            case .nanoseconds: e.type = .int64; e.logicalType = .time(isAdjustedToUTC: true, unit: .nanos)
            }
        case let .decimal(precision, scale):
            if precision <= 9 {
                e.type = .int32
            } else if precision <= 18 {
                e.type = .int64
            } else {
                e.type = .fixedLenByteArray
                e.typeLength = Int32(decimalByteWidth(precision: precision))
            }
            e.logicalType = .decimal(scale: Int32(scale), precision: Int32(precision))
            e.convertedType = .decimal
            e.scale = Int32(scale)
            e.precision = Int32(precision)
        case .fixedBinary(let width): e.type = .fixedLenByteArray; e.typeLength = Int32(width)
        case .uuid: e.type = .fixedLenByteArray; e.typeLength = 16; e.logicalType = .uuid
        case .null:
            // pyarrow's layout for an all-null column: OPTIONAL INT32 annotated UNKNOWN.
            e.type = .int32
            e.logicalType = .unknown
            e.repetition = .optional
        case .list, .structure, .map:
            preconditionFailure("\(type) is not a leaf; writeProblem refuses it")
        }
        return e
    }
}
