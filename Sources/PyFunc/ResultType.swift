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

}

extension ResultType {
    /// The result type spark_udf infers when none is given (docs/spark-udf.md §1.2): the single
    /// output column's type, or double (with spark_udf's warning) when the model declares no
    /// outputs. Outputs that infer array or struct types are refused until those are supported.
    public static func inferred(from outputs: [ModelSignature.Spec]?) throws(PyFuncError) -> (type: ResultType, note: String?) {
        guard let outputs, !outputs.isEmpty else {
            return (.double, "No 'result_type' provided and the model does not have an output schema. 'result_type' is set to 'double' type.")
        }
        guard outputs.count == 1 else {
            throw PyFuncError("the model's signature declares \(outputs.count) outputs, which spark_udf returns as a struct; struct results are not supported yet: pass --result-type and --output-field")
        }
        let spec = outputs[0]
        if spec.isTensor {
            throw PyFuncError("the model's output signature is a tensor, which spark_udf returns as an array; array results are not supported yet: pass --result-type")
        }
        switch spec.type {
        case "double": return (.double, nil)
        case "float": return (.float, nil)
        case "integer": return (.int, nil)
        case "long": return (.long, nil)
        case "string": return (.string, nil)
        case "boolean": return (.boolean, nil)
        default:
            throw PyFuncError("the model's output signature declares \(spec.type), which score-cluster cannot return yet; pass --result-type")
        }
    }
}
