import Foundation

/// A model's signature as MLmodel stores it (`signature: {inputs, outputs, params}`, each a
/// JSON string; docs/spark-udf.md §3.1), decoded into types once: the only signature parser,
/// behind both ``MLModel`` and ``ModelInspection``.
public struct ModelSignature: Sendable, Equatable {
    /// One input or output: a column spec (`{"type": "double", "name": "x", "required": true}`)
    /// or a tensor spec (`{"type": "tensor", "tensor-spec": {"dtype": ..., "shape": [...]}}`).
    public struct Spec: Sendable, Equatable, Decodable {
        /// nil for unnamed columns and tensors.
        public var name: String?
        public var schemaType: SchemaType
        public var required: Bool

        public init(name: String?, schemaType: SchemaType, required: Bool = true) {
            self.name = name
            self.schemaType = schemaType
            self.required = required
        }

        /// A spec from its parts, as MLflow's JSON has them (`type` "tensor" takes `tensorDType` and `tensorShape`).
        public init(name: String?, type: String, required: Bool, tensorDType: String? = nil, tensorShape: [Int]? = nil) {
            let schemaType: SchemaType = switch type {
            case "tensor": .tensor(dtype: tensorDType ?? "?", shape: tensorShape)
            case "any": .any
            default: .column(type)
            }
            self.init(name: name, schemaType: schemaType, required: required)
        }

        /// The column type ("double", "long", "string", ...), "tensor", or a compound type
        /// ("array", "object", "map", "any").
        public var type: String { schemaType.kind }
        public var isTensor: Bool { if case .tensor = schemaType { true } else { false } }
        /// For tensors: the numpy dtype.
        public var tensorDType: String? { if case .tensor(let dtype, _) = schemaType { dtype } else { nil } }
        /// For tensors: the shape.
        public var tensorShape: [Int]? { if case .tensor(_, let shape) = schemaType { shape } else { nil } }
        /// For `array` column specs: the element's type.
        public var itemType: String? { if case .array(let items) = schemaType { items.kind } else { nil } }

        private enum Keys: String, CodingKey { case name, required }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            required = try container.decodeIfPresent(Bool.self, forKey: .required) ?? true
            schemaType = try SchemaType(from: decoder)
        }
    }

    /// A declared inference parameter (`{"name", "type", "default", "shape"}`).
    public struct Param: Sendable, Equatable, Decodable {
        public var name: String
        public var type: String
        public var defaultValue: JSONValue?
        /// `shape`: a list parameter has one (`[-1]`).
        public var shape: [Int]?

        /// The default as JSON text (e.g. `0.5`, `"abc"`), or nil when there is none.
        public var defaultJSON: String? {
            guard let defaultValue, defaultValue != .null else { return nil }
            return defaultValue.jsonText
        }
        public var isList: Bool { shape != nil }

        private enum Keys: String, CodingKey { case name, type, `default`, shape }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            name = try container.decode(String.self, forKey: .name)
            type = try container.decode(String.self, forKey: .type)
            // decodeIfPresent would turn `"default": null` into nil; keep it as .null.
            defaultValue = container.contains(.default) ? try container.decode(JSONValue.self, forKey: .default) : nil
            shape = try container.decodeIfPresent([Int].self, forKey: .shape)
        }
    }

    public var inputs: [Spec]?
    public var outputs: [Spec]?
    public var params: [Param]?

    public init(inputs: [Spec]? = nil, outputs: [Spec]? = nil, params: [Param]? = nil) {
        self.inputs = inputs
        self.outputs = outputs
        self.params = params
    }

    /// Whether every input is a named column spec (binding by name is possible).
    public var hasNamedColumnInputs: Bool {
        guard let inputs, !inputs.isEmpty else { return false }
        return inputs.allSatisfy { $0.name != nil && !$0.isTensor }
    }

    /// Whether it declares nothing.
    public var isEmpty: Bool { inputs == nil && outputs == nil && params == nil }
}

/// MLmodel's `signature` mapping as written: each part a JSON string (MLflow's form) or, as
/// some hand-written files have it, an inline YAML list.
struct SignatureDocument: Decodable {
    var inputs: Part<ModelSignature.Spec>?
    var outputs: Part<ModelSignature.Spec>?
    var params: Part<ModelSignature.Param>?

    /// One part: decoded from the JSON text, or the list itself.
    struct Part<Element: Decodable>: Decodable {
        var elements: [Element]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                do {
                    elements = try JSONDecoder().decode([Element].self, from: Data(text.utf8))
                } catch {
                    throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON list of specs (\(SignatureDocument.reason(error)))")
                }
            } else {
                elements = try container.decode([Element].self)
            }
        }
    }

    var signature: ModelSignature {
        ModelSignature(inputs: inputs?.elements, outputs: outputs?.elements, params: params?.elements)
    }

    /// A decoding error in a few words: which key and why.
    static func reason(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
            return keys.isEmpty ? "" : "at \(keys.hasPrefix(".") ? String(keys.dropFirst()) : keys): "
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context))no '\(key.stringValue)'"
        case .typeMismatch(let type, let context): return "\(path(context))expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context))expected \(type), found null"
        case .dataCorrupted(let context): return "\(path(context))\(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
