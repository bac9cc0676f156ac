/// The logical type of a column as score-cluster holds it in memory.
///
/// Fixed-width types are stored as little-endian arrays of their Swift counterpart;
/// `bool` as one byte per value (0 or 1), which is numpy's layout; `string` and `binary`
/// as `Int64` offsets (count + 1) into a byte buffer.
public enum DataType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case bool = 1
    case int8 = 2
    case int16 = 3
    case int32 = 4
    case int64 = 5
    case uint8 = 6
    case uint16 = 7
    case uint32 = 8
    case uint64 = 9
    case float32 = 10
    case float64 = 11
    case string = 12
    case binary = 13

    /// Bytes per value for fixed-width types; nil for variable-width ones.
    public var byteWidth: Int? {
        switch self {
        case .bool, .int8, .uint8: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float32: 4
        case .int64, .uint64, .float64: 8
        case .string, .binary: nil
        }
    }

    /// Whether values are stored as offsets plus bytes.
    public var isVariableWidth: Bool { byteWidth == nil }

    /// The numpy dtype string for fixed-width types (little-endian), as numpy spells it.
    public var numpyDType: String? {
        switch self {
        case .bool: "bool"
        case .int8: "<i1"
        case .int16: "<i2"
        case .int32: "<i4"
        case .int64: "<i8"
        case .uint8: "<u1"
        case .uint16: "<u2"
        case .uint32: "<u4"
        case .uint64: "<u8"
        case .float32: "<f4"
        case .float64: "<f8"
        case .string, .binary: nil
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
        case .float32: "float32"
        case .float64: "float64"
        case .string: "string"
        case .binary: "binary"
        }
    }
}
