import Columnar

/// The type predictions are converted to, as `spark_udf`'s `result_type` names it.
public enum ResultType: String, Sendable, CaseIterable {
    case double, float, int, long, string, boolean

    /// Parses a spark_udf result type string, accepting Spark's aliases
    /// (`integer`, `bigint`, `real`, `bool`); case-insensitive.
    public init(parsing text: String) throws(PyFuncError) {
        switch String(text.lowercased().filter({ !$0.isWhitespace })) {
        case "double": self = .double
        case "float", "real": self = .float
        case "int", "integer": self = .int
        case "long", "bigint": self = .long
        case "string": self = .string
        case "boolean", "bool": self = .boolean
        default:
            throw PyFuncError("""
                invalid result type '\(text)': it must be one of double (the default), float, int, long, \
                string or boolean (array, struct and map result types are not supported yet)
                """)
        }
    }

    /// How the result column is held and written.
    public var dataType: DataType {
        switch self {
        case .double: .float64
        case .float: .float32
        case .int: .int32
        case .long: .int64
        case .string: .string
        case .boolean: .bool
        }
    }

    /// Whether the result column can hold nulls (NaN in double/float results becomes null).
    public var nullable: Bool { self == .double || self == .float }
}
