/// An error reading, preparing, loading or scoring a pyfunc model, with a message for people
/// (what went wrong, naming the file or setting, and what to do).
public struct PyFuncError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The Python traceback, where Python raised.
    public var traceback: String?

    public init(_ message: String, traceback: String? = nil) {
        self.message = message
        self.traceback = traceback
    }

    public var description: String { message }
}
