/// Why a job failed, for people: names the file, partition, column or worker at fault and
/// says what to do. `traceback` carries Python's when Python raised.
public struct JobError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var traceback: String?
    /// The job was interrupted rather than wrong: its committed partitions are kept and
    /// `--resume` finishes it.
    public var resumable: Bool = false

    public init(_ message: String, traceback: String? = nil, resumable: Bool = false) {
        self.message = message
        self.traceback = traceback
        self.resumable = resumable
    }

    public var description: String { message }
}
