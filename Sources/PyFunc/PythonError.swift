/// An exception raised in Python, carried to Swift as plain values.
public struct PythonError: Error, Sendable, CustomStringConvertible {
    /// The exception's type, e.g. "ModuleNotFoundError".
    public var typeName: String
    /// `str(exception)`.
    public var message: String
    /// The formatted traceback, when there is one.
    public var traceback: String?

    public init(typeName: String, message: String, traceback: String? = nil) {
        self.typeName = typeName
        self.message = message
        self.traceback = traceback
    }

    public var description: String { "\(typeName): \(message)" }
}
