/// Why a model archive could not be made, accepted or unpacked.
///
/// Compare `code` to tell the cases apart; `message` says what happened for the log, naming the
/// file or entry concerned.
public struct ModelArchiveError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case hashMismatch, malformed, unsafePath, tooManyFiles, tooLarge, unsupportedFile, destinationExists, io
        }
        let storage: Storage

        /// The bytes do not hash to the expected SHA-256: corrupted or tampered with in transit.
        public static let hashMismatch = Code(storage: .hashMismatch)
        /// The bytes break the archive format (bad magic, lengths past the end, bad mode bits...).
        public static let malformed = Code(storage: .malformed)
        /// An entry's path is absolute, has `..` or `.`, empty components, a NUL, or clashes with another entry.
        public static let unsafePath = Code(storage: .unsafePath)
        /// More files than the limit allows.
        public static let tooManyFiles = Code(storage: .tooManyFiles)
        /// More bytes than the limit allows.
        public static let tooLarge = Code(storage: .tooLarge)
        /// While packing: a symlink leading outside the model directory or to a directory, a dangling
        /// symlink, a device, FIFO or socket, or a name that is not UTF-8.
        public static let unsupportedFile = Code(storage: .unsupportedFile)
        /// The destination of an unpack already exists.
        public static let destinationExists = Code(storage: .destinationExists)
        /// A file system call failed.
        public static let io = Code(storage: .io)

        public var description: String { "\(storage)" }
    }

    public let code: Code
    /// What happened, for the log.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "model archive: \(message)" }
}
