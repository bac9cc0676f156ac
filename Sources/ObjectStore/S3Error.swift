/// A failure reading or writing object storage: the message names the bucket and key (and the
/// byte range or operation), what the store answered, and what to do.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Whether the store may answer otherwise if asked again (5xx, 429, a reset, a timeout).
    public var isTransient: Bool
    /// The HTTP status the store answered, if it answered.
    public var status: Int?
    /// The store's error code (`NoSuchKey`, `SlowDown`, ...), if it sent one.
    public var code: String?

    public init(_ message: String, isTransient: Bool = false, status: Int? = nil, code: String? = nil) {
        self.message = message
        self.isTransient = isTransient
        self.status = status
        self.code = code
    }

    public var description: String { message }
}
