/// An exception raised in Python, carried to Swift as plain values.
public struct PythonError: Error, Sendable, CustomStringConvertible {
    /// What failed, as the bridge marks an exception it raises or passes on
    /// (`exc._score_cluster_kind`, set by `_mark` in `Python/_score_cluster_bridge.py`).
    /// Swift tells errors apart by this, never by the exception's class name.
    public enum Kind: String, Sendable, Equatable {
        /// The environment lacks a package the bridge needs (numpy, pandas).
        case environment
        /// A batch does not fit the model's input signature.
        case input
        /// The model's predict function raised.
        case predict
        /// The prediction cannot be converted to the result type; the message is spark_udf's.
        case result
    }

    /// The exception's type, e.g. "ModuleNotFoundError", for people (messages, logs).
    public var typeName: String
    /// `str(exception)`.
    public var message: String
    /// The formatted traceback, when there is one.
    public var traceback: String?
    /// What failed, when the bridge marked the exception; nil for one it did not (raised by
    /// Python or a library outside the bridge's marked paths).
    public var kind: Kind?

    public init(typeName: String, message: String, traceback: String? = nil, kind: Kind? = nil) {
        self.typeName = typeName
        self.message = message
        self.traceback = traceback
        self.kind = kind
    }

    public var description: String { "\(typeName): \(message)" }
}
