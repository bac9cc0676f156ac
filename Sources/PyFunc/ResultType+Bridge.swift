import Foundation
import MLflowModel

extension ResultType {
    /// The type as the bridge's nested conversion reads it (JSON).
    var bridgeSpec: String {
        func object(_ t: ResultType) -> Any {
            switch t {
            case .array(let element): ["type": "array", "element": object(element)]
            case .structure(let fields): ["type": "struct", "fields": fields.map { ["name": $0.name, "type": object($0.type)] }]
            case .map(let value): ["type": "map", "value": object(value)]
            default: ["type": t.description]
            }
        }
        guard !isPrimitive, let data = try? JSONSerialization.data(withJSONObject: object(self), options: [.sortedKeys]) else {
            return description
        }
        return String(decoding: data, as: UTF8.self)
    }
}
