/// Units of timestamps and times.
public enum TimeUnit: UInt8, Sendable, Hashable, CaseIterable {
    case milliseconds = 1
    case microseconds = 2
    case nanoseconds = 3

    /// numpy's spelling ("ms", "us", "ns").
    public var numpyName: String {
        switch self {
        case .milliseconds: "ms"
        case .microseconds: "us"
        case .nanoseconds: "ns"
        }
    }
}

/// The logical type of a column as score-cluster holds it in memory.
///
/// Fixed-width types are stored as little-endian arrays of their Swift counterpart; `bool` as
/// one byte per value (0 or 1), which is numpy's layout; `string` and `binary` as `Int64`
/// offsets (count + 1) into a byte buffer. The temporal and decimal types carry the units and
/// scales they need, so that values reach pandas as `pyarrow`'s `to_pandas()` would show them:
/// - `float16`: IEEE half, 2 bytes.
/// - `date32`: days since 1970-01-01, Int32.
/// - `timestamp(unit, utc)`: Int64 count of `unit` since the epoch; `utc` is Parquet's isAdjustedToUTC.
/// - `time(unit)`: Int64 count of `unit` since midnight (Parquet's TIME(MILLIS) is widened).
/// - `decimal(precision, scale)`: the unscaled value as a 16-byte little-endian two's-complement integer.
/// - `fixedBinary(width)`: `width` bytes per value; `uuid`: 16 bytes.
/// - `null`: no values at all; every row is null (Parquet's UNKNOWN logical type).
/// - `list(element)`: `Int64` offsets (count + 1) into one child column of elements.
/// - `structure(fields)`: one child column per field, each of `count` rows; no values of its own.
/// - `map(value)`: string keys to values: offsets into two child columns (keys, values).
/// Nested types are produced by models (spark_udf's array, struct and map result types), not
/// read from input files, which are flat.
public indirect enum DataType: Sendable, Hashable, CustomStringConvertible {
    case bool
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case float16, float32, float64
    case string, binary
    case date32
    case timestamp(TimeUnit, utc: Bool)
    case time(TimeUnit)
    case decimal(precision: Int, scale: Int)
    case fixedBinary(Int)
    case uuid
    case null
    case list(DataType)
    case structure([Field])
    case map(DataType)

    /// Bytes per value for fixed-width types (0 for `null`); nil for variable-width ones.
    public var byteWidth: Int? {
        switch self {
        case .bool, .int8, .uint8: 1
        case .int16, .uint16, .float16: 2
        case .int32, .uint32, .float32, .date32: 4
        case .int64, .uint64, .float64, .timestamp, .time: 8
        case .decimal, .uuid: 16
        case .fixedBinary(let width): width
        case .null: 0
        case .string, .binary, .list, .structure, .map: nil
        }
    }

    /// Whether values are stored as offsets plus bytes (strings and binary).
    public var isVariableWidth: Bool {
        switch self {
        case .string, .binary: true
        default: false
        }
    }

    /// Whether the column has child columns (lists, structs, maps).
    public var isNested: Bool {
        switch self {
        case .list, .structure, .map: true
        default: false
        }
    }

    /// The child columns' types: a list's element, a struct's fields, a map's keys and values.
    public var childTypes: [DataType] {
        switch self {
        case .list(let element): [element]
        case .structure(let fields): fields.map(\.type)
        case .map(let value): [.string, value]
        default: []
        }
    }

    /// Whether `other` has the same shape (kinds, parameters and nesting), ignoring struct field names.
    public func hasSameShape(as other: DataType) -> Bool {
        guard kind == other.kind, parameters == other.parameters else { return false }
        let mine = childTypes, theirs = other.childTypes
        return mine.count == theirs.count && zip(mine, theirs).allSatisfy { $0.hasSameShape(as: $1) }
    }

    /// Whether null slots hold NaN (float types) rather than zero.
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .float32, .float64: true
        default: false
        }
    }

    // MARK: Wire form

    /// The type's tag on the wire; `parameters` carries what the tag alone does not say.
    public var kind: UInt8 {
        switch self {
        case .bool: 1
        case .int8: 2
        case .int16: 3
        case .int32: 4
        case .int64: 5
        case .uint8: 6
        case .uint16: 7
        case .uint32: 8
        case .uint64: 9
        case .float32: 10
        case .float64: 11
        case .string: 12
        case .binary: 13
        case .float16: 14
        case .date32: 15
        case .timestamp: 16
        case .time: 17
        case .decimal: 18
        case .fixedBinary: 19
        case .uuid: 20
        case .null: 21
        case .list: 22
        case .structure: 23
        case .map: 24
        }
    }

    /// Four bytes of parameters: unit, UTC flag, precision, scale (timestamps, times, decimals)
    /// or the width as a little-endian UInt32 (fixed binary).
    public var parameters: (UInt8, UInt8, UInt8, UInt8) {
        switch self {
        case .timestamp(let unit, let utc): (unit.rawValue, utc ? 1 : 0, 0, 0)
        case .time(let unit): (unit.rawValue, 0, 0, 0)
        case .decimal(let precision, let scale): (0, 0, UInt8(clamping: precision), UInt8(bitPattern: Int8(clamping: scale)))
        case .fixedBinary(let width):
            (UInt8(truncatingIfNeeded: width), UInt8(truncatingIfNeeded: width >> 8),
             UInt8(truncatingIfNeeded: width >> 16), UInt8(truncatingIfNeeded: width >> 24))
        default: (0, 0, 0, 0)
        }
    }

    /// The type a wire tag and its parameters describe; nil when they describe none.
    public init?(kind: UInt8, parameters p: (UInt8, UInt8, UInt8, UInt8)) {
        switch kind {
        case 1: self = .bool
        case 2: self = .int8
        case 3: self = .int16
        case 4: self = .int32
        case 5: self = .int64
        case 6: self = .uint8
        case 7: self = .uint16
        case 8: self = .uint32
        case 9: self = .uint64
        case 10: self = .float32
        case 11: self = .float64
        case 12: self = .string
        case 13: self = .binary
        case 14: self = .float16
        case 15: self = .date32
        case 16:
            guard let unit = TimeUnit(rawValue: p.0), p.1 <= 1 else { return nil }
            self = .timestamp(unit, utc: p.1 == 1)
        case 17:
            guard let unit = TimeUnit(rawValue: p.0) else { return nil }
            self = .time(unit)
        case 18:
            guard (1...38).contains(p.2) else { return nil }
            self = .decimal(precision: Int(p.2), scale: Int(Int8(bitPattern: p.3)))
        case 19:
            let width = Int(p.0) | Int(p.1) << 8 | Int(p.2) << 16 | Int(p.3) << 24
            guard width > 0 && width <= 1 << 20 else { return nil }
            self = .fixedBinary(width)
        case 20: self = .uuid
        case 21: self = .null
        // Nested types come with their children, which the caller attaches (see `withChildren`).
        case 22: self = .list(.null)
        case 23: self = .structure([])
        case 24: self = .map(.null)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .bool: "bool"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .float16: "float16"
        case .float32: "float32"
        case .float64: "float64"
        case .string: "string"
        case .binary: "binary"
        case .date32: "date32"
        case .timestamp(let unit, let utc): "timestamp[\(unit.numpyName)\(utc ? ", UTC" : "")]"
        case .time(let unit): "time[\(unit.numpyName)]"
        case .decimal(let precision, let scale): "decimal(\(precision), \(scale))"
        case .fixedBinary(let width): "fixed_binary(\(width))"
        case .uuid: "uuid"
        case .null: "null"
        case .list(let element): "list<\(element)>"
        case .structure(let fields): "struct<\(fields.map { "\($0.name): \($0.type)" }.joined(separator: ", "))>"
        case .map(let value): "map<string, \(value)>"
        }
    }

    /// A nested type of this kind with the given child types (struct fields named "f0", "f1", ...).
    public func withChildren(_ children: [DataType]) -> DataType? {
        switch self {
        case .list: children.count == 1 ? .list(children[0]) : nil
        case .map: children.count == 2 && children[0] == .string ? .map(children[1]) : nil
        case .structure: .structure(children.enumerated().map { Field(name: "f\($0.offset)", type: $0.element, nullable: true) })
        default: children.isEmpty ? self : nil
        }
    }
}
