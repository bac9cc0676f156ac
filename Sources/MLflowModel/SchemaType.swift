/// A type in an MLflow schema (a signature's inputs, outputs or params), decoded from the JSON
/// MLflow writes: `{"type": "double"}`, `{"type": "tensor", "tensor-spec": {"dtype": "float64",
/// "shape": [-1, 4]}}`, `{"type": "array", "items": {...}}`, `{"type": "object", "properties":
/// {...}}`, `{"type": "map", "values": {...}}`, `{"type": "any"}`.
public indirect enum SchemaType: Sendable, Equatable, Decodable, CustomStringConvertible {
    /// A column type: `double`, `float`, `long`, `integer`, `string`, `boolean`, `binary`, `datetime`.
    case column(String)
    /// A tensor: a numpy dtype and a shape (-1 for a free dimension).
    case tensor(dtype: String, shape: [Int]?)
    case array(SchemaType)
    case object([SchemaProperty])
    /// A map from strings to values of one type.
    case map(SchemaType)
    case any

    /// MLflow's `type` key: "double", "tensor", "array", "object", "map", "any".
    public var kind: String {
        switch self {
        case .column(let name): name
        case .tensor: "tensor"
        case .array: "array"
        case .object: "object"
        case .map: "map"
        case .any: "any"
        }
    }

    /// The type in one line: `double`, `array<string>`, `tensor<float64>[-1, 4]`,
    /// `object<a: double, b?: long>`, `map<string, long>`, `any`.
    public var description: String {
        switch self {
        case .column(let name): name
        case .tensor(let dtype, let shape):
            "tensor<\(dtype)>" + (shape.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? "")
        case .array(let items): "array<\(items)>"
        case .object(let properties):
            "object<" + properties.map { "\($0.name)\($0.required ? "" : "?"): \($0.type)" }.joined(separator: ", ") + ">"
        case .map(let values): "map<string, \(values)>"
        case .any: "any"
        }
    }

    private enum Keys: String, CodingKey {
        case type, items, properties, values
        case tensorSpec = "tensor-spec"
    }

    private struct TensorSpec: Decodable {
        var dtype: String
        var shape: [Int]?
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        // MLflow always writes `type`; a spec without one constrains nothing.
        switch try container.decodeIfPresent(String.self, forKey: .type) ?? "any" {
        case "tensor":
            let spec = try container.decode(TensorSpec.self, forKey: .tensorSpec)
            self = .tensor(dtype: spec.dtype, shape: spec.shape)
        case "array": self = .array(try container.decode(SchemaType.self, forKey: .items))
        case "map": self = .map(try container.decode(SchemaType.self, forKey: .values))
        case "object":
            let properties = try container.decodeIfPresent([String: SchemaProperty.Body].self, forKey: .properties) ?? [:]
            self = .object(properties.keys.sorted().map { SchemaProperty(name: $0, body: properties[$0]!) })
        case "any": self = .any
        case let name: self = .column(name)
        }
    }
}

/// A named field of an `object` schema type.
public struct SchemaProperty: Sendable, Equatable {
    public var name: String
    public var type: SchemaType
    public var required: Bool

    public init(name: String, type: SchemaType, required: Bool) {
        self.name = name
        self.type = type
        self.required = required
    }

    /// A property's value in MLflow's JSON: its type's keys plus `required`.
    struct Body: Decodable {
        var type: SchemaType
        var required: Bool

        private enum Keys: String, CodingKey { case required }

        init(from decoder: any Decoder) throws {
            type = try SchemaType(from: decoder)
            required = try decoder.container(keyedBy: Keys.self).decodeIfPresent(Bool.self, forKey: .required) ?? true
        }
    }

    init(name: String, body: Body) {
        self.init(name: name, type: body.type, required: body.required)
    }
}
