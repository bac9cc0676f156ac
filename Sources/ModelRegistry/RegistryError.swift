/// A model URI that cannot be resolved or fetched, with a message naming the URI and what to do.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public var uri: String
    public var message: String

    public init(uri: String, _ message: String) {
        self.uri = uri
        self.message = message
    }

    public var description: String { "\(uri): \(message)" }
}
