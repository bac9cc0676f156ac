import Columnar
import Foundation

/// The type predictions are converted to, as `spark_udf`'s `result_type` names it: the six
/// primitives, and `array<T>`, structs and `map<string,T>` of them (docs/spark-udf.md §1.2).
public indirect enum ResultType: Sendable, Hashable, CustomStringConvertible {
    case double, float, int, long, string, boolean
    case array(ResultType)
    case structure([StructField])
    case map(ResultType)

    /// A named field of a struct result.
    public struct StructField: Sendable, Hashable {
        public var name: String
        public var type: ResultType
        public init(name: String, type: ResultType) {
            self.name = name
            self.type = type
        }
    }

    /// Parses a spark_udf result type in Spark's DDL, accepting Spark's aliases (`integer`,
    /// `bigint`, `real`, `bool`), `array<T>`, `struct<a:int,b:string>` or `a int, b string`, and
    /// `map<string,T>`; anything spark_udf refuses is refused with its list of allowed types.
    public init(parsing text: String) throws(PyFuncError) {
        self = try Self.from(SparkTypeParser.parse(text), text: text)
    }

    private static func from(_ node: SparkTypeParser.Node, text: String) throws(PyFuncError) -> ResultType {
        switch node {
        case .primitive(let name):
            switch name.lowercased() {
            case "double": return .double
            case "float", "real": return .float
            case "int", "integer": return .int
            case "long", "bigint": return .long
            case "string": return .string
            case "boolean", "bool": return .boolean
            default: throw invalid(text)
            }
        case .array(let element):
            return .array(try from(element, text: text))
        case .structure(let fields):
            var out: [StructField] = []
            for field in fields { out.append(StructField(name: field.name, type: try from(field.type, text: text))) }
            return .structure(out)
        case .map(let key, let value):
            guard key == .primitive("string") else {
                throw PyFuncError("invalid result type '\(text)': map keys must be string, as spark_udf requires")
            }
            return .map(try from(value, text: text))
        }
    }

    private static func invalid(_ text: String) -> PyFuncError {
        PyFuncError("""
            invalid result type '\(text)': it must be one of the primitive types int, long, float, double, string, \
            boolean, or array<T>, struct<a:T, ...> (or 'a T, b T') and map<string,T> of them, as spark_udf allows
            """)
    }

    /// Spark's DDL spelling, e.g. `array<double>`, `struct<label:string,score:double>`.
    public var description: String {
        switch self {
        case .double: "double"
        case .float: "float"
        case .int: "int"
        case .long: "long"
        case .string: "string"
        case .boolean: "boolean"
        case .array(let element): "array<\(element)>"
        case .structure(let fields): "struct<\(fields.map { "\($0.name):\($0.type)" }.joined(separator: ","))>"
        case .map(let value): "map<string,\(value)>"
        }
    }

    /// The name the job spec and worker use: the DDL spelling.
    public var rawValue: String { description }

    /// Whether this is one of the six primitives (converted by spark_udf's column filter).
    public var isPrimitive: Bool {
        switch self {
        case .array, .structure, .map: false
        default: true
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
        case .array(let element): .list(element.dataType)
        case .structure(let fields): .structure(fields.map { Field(name: $0.name, type: $0.type.dataType, nullable: true) })
        case .map(let value): .map(value.dataType)
        }
    }
}

extension ResultType {
    /// The result type spark_udf infers when none is given (docs/spark-udf.md §1.2): one output
    /// gives its type (a 1-D tensor `array<T>`, a 2-D one `array<array<T>>`), several a struct of
    /// them; a model without outputs gets double, with spark_udf's warning.
    public static func inferred(from outputs: [ModelSignature.Spec]?) throws(PyFuncError) -> (type: ResultType, note: String?) {
        guard let outputs, !outputs.isEmpty else {
            return (.double, "No 'result_type' provided and the model does not have an output schema. 'result_type' is set to 'double' type.")
        }
        if outputs.count == 1 { return (try type(of: outputs[0]), nil) }
        var fields: [StructField] = []
        for (i, spec) in outputs.enumerated() { fields.append(StructField(name: spec.name ?? String(i), type: try type(of: spec))) }
        return (.structure(fields), nil)
    }

    private static func type(of spec: ModelSignature.Spec) throws(PyFuncError) -> ResultType {
        if spec.isTensor {
            let element = try primitive(tensorDType: spec.tensorDType ?? "")
            switch spec.tensorShape?.count ?? 1 {
            case 1: return .array(element)
            case 2: return .array(.array(element))
            default:
                throw PyFuncError("Only 1D or 2D tensors are supported as spark_udf return value, but the model's output has shape \(spec.tensorShape ?? [])")
            }
        }
        if spec.type == "array", let item = spec.itemType, let element = columnType(item) { return .array(element) }
        guard let type = columnType(spec.type) else {
            throw PyFuncError("the model's output signature declares \(spec.type), which spark_udf cannot return; pass --result-type")
        }
        return type
    }

    private static func columnType(_ name: String) -> ResultType? {
        switch name {
        case "double": .double
        case "float": .float
        case "integer": .int
        case "long": .long
        case "string": .string
        case "boolean": .boolean
        default: nil
        }
    }

    private static func primitive(tensorDType: String) throws(PyFuncError) -> ResultType {
        switch tensorDType {
        case "float64": return .double
        case "float32": return .float
        case "int32", "int16", "int8", "uint8", "uint16": return .int
        case "int64", "uint32": return .long
        case "bool": return .boolean
        case "str", "object": return .string
        default: throw PyFuncError("the model's output tensor has dtype \(tensorDType), which spark_udf cannot return; pass --result-type")
        }
    }
}

extension ResultType: Codable {
    /// Decodes the DDL text (`"array<double>"`); text that does not parse is a decoding error naming it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try ResultType(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "result type '\(text)': \(error.message)")
        }
    }

    /// Encodes the DDL text, which `init(parsing:)` reads back.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
