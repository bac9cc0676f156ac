import Foundation

/// A model's signature as MLmodel stores it (`signature: {inputs, outputs, params}`, each a
/// JSON string; docs/spark-udf.md §3.1).
public struct ModelSignature: Sendable, Equatable {
    /// One input or output: a column spec (`{"type": "double", "name": "x", "required": true}`)
    /// or a tensor spec (`{"type": "tensor", "tensor-spec": {"dtype": ..., "shape": [...]}}`).
    public struct Spec: Sendable, Equatable {
        public var name: String?
        /// The column type ("double", "long", "string", ...), "tensor", or a compound type
        /// ("array", "object", "map", "any").
        public var type: String
        public var required: Bool
        /// For tensors: numpy dtype and shape.
        public var tensorDType: String?
        public var tensorShape: [Int]?
        /// For `array` column specs: the element spec's type.
        public var itemType: String?

        public var isTensor: Bool { type == "tensor" }
    }

    /// A declared inference parameter (`{"name", "type", "default", "shape"}`).
    public struct Param: Sendable, Equatable {
        public var name: String
        public var type: String
        /// The default as JSON text (e.g. `0.5`, `"abc"`), or nil when there is none.
        public var defaultJSON: String?
        public var isList: Bool
    }

    public var inputs: [Spec]?
    public var outputs: [Spec]?
    public var params: [Param]?

    /// Whether every input is a named column spec (binding by name is possible).
    public var hasNamedColumnInputs: Bool {
        guard let inputs, !inputs.isEmpty else { return false }
        return inputs.allSatisfy { $0.name != nil && !$0.isTensor }
    }

    /// Parses MLmodel's `signature` mapping; `file` names the MLmodel in errors.
    init(_ mapping: [String: Any], file: String) throws(PyFuncError) {
        func parseList(_ key: String) throws(PyFuncError) -> [[String: Any]]? {
            guard let text = mapping[key] as? String else { return nil }
            guard let data = text.data(using: .utf8),
                  let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
                throw PyFuncError("\(file): signature.\(key) is not a JSON list of specs")
            }
            return list
        }
        inputs = try parseList("inputs").map { $0.map(Self.spec) }
        outputs = try parseList("outputs").map { $0.map(Self.spec) }
        params = try parseList("params").map { list in
            list.compactMap { item -> Param? in
                guard let name = item["name"] as? String, let type = item["type"] as? String else { return nil }
                var defaultJSON: String?
                if let value = item["default"], !(value is NSNull),
                   let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]) {
                    defaultJSON = String(decoding: data, as: UTF8.self)
                }
                return Param(name: name, type: type, defaultJSON: defaultJSON, isList: item["shape"] is [Any])
            }
        }
    }

    private static func spec(_ item: [String: Any]) -> Spec {
        let type = item["type"] as? String ?? "any"
        let tensor = item["tensor-spec"] as? [String: Any]
        return Spec(name: item["name"] as? String, type: type, required: item["required"] as? Bool ?? true,
                    tensorDType: tensor?["dtype"] as? String, tensorShape: tensor?["shape"] as? [Int],
                    itemType: (item["items"] as? [String: Any])?["type"] as? String)
    }
}
