import Columnar

// From parquet.thrift (apache/parquet-format): the enums score-cluster reads and writes.

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
