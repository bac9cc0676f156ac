/// A named, typed column slot in a schema.
public struct Field: Sendable, Hashable {
    public var name: String
    public var type: DataType
    public var nullable: Bool

    public init(name: String, type: DataType, nullable: Bool) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }
}

/// An ordered list of fields.
public struct Schema: Sendable, Hashable {
    public var fields: [Field]

    public init(_ fields: [Field]) { self.fields = fields }

    /// Index of the field named `name`, if any.
    public func index(of name: String) -> Int? { fields.firstIndex { $0.name == name } }

    public var names: [String] { fields.map(\.name) }
}
