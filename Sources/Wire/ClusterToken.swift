#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The shared secret that coordinator and remote workers prove to each other they know.
///
/// It is never sent: the handshake exchanges HMACs of fresh nonces under it. Its description and
/// mirror are redacted so that it does not end up in a log by accident.
public struct ClusterToken: Sendable {
    /// The environment variable read when no `--token-file` is given.
    public static let environmentVariable = "SCORE_CLUSTER_TOKEN"
    /// Shortest token accepted, in bytes: a captured challenge and proof let an eavesdropper guess
    /// tokens offline, so a token must be too long to guess (`openssl rand -hex 32` makes a good one).
    public static let minimumByteCount = 16

    /// The secret's bytes (UTF-8 of the text, surrounding whitespace removed).
    public let bytes: [UInt8]

    /// A token from its text; leading and trailing whitespace (a file's final newline) is dropped.
    ///
    /// - Parameter source: Where the text came from, for the error message.
    /// - Throws: `ClusterToken.Error` when the token is empty or shorter than `minimumByteCount`.
    public init(_ text: String, source: String = "the token") throws(Error) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw Error(.empty, "\(source) is empty") }
        guard trimmed.utf8.count >= Self.minimumByteCount else {
            throw Error(.tooShort, "\(source) is \(trimmed.utf8.count) bytes long; use at least \(Self.minimumByteCount) "
                        + "(for example the output of `openssl rand -hex 32`)")
        }
        self.bytes = Array(trimmed.utf8)
    }

    /// The token for this process: from `tokenFile` when given, else from `SCORE_CLUSTER_TOKEN`
    /// when set and not empty, else nil (no token: only loopback peers are allowed).
    ///
    /// - Throws: `ClusterToken.Error` when the file cannot be read, is accessible by group or others,
    ///   or holds an empty or short token.
    public static func load(tokenFile: String?,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(Error) -> ClusterToken? {
        if let tokenFile { return try read(file: tokenFile) }
        if let value = environment[environmentVariable], !value.isEmpty {
            return try ClusterToken(value, source: "$\(environmentVariable)")
        }
        return nil
    }

    /// Reads a token file, refusing one that group or others may access (mode must be 0600 or
    /// stricter). Symlinks are followed (Kubernetes mounts secrets through them); the mode checked
    /// is that of the file actually opened.
    ///
    /// - Throws: `ClusterToken.Error`.
    public static func read(file path: String) throws(Error) -> ClusterToken {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw Error(.unreadable, "cannot read token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw Error(.unreadable, "cannot stat token file \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Error(.unreadable, "token file \(path) is not a regular file") }
        let permissions = info.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw Error(.tooOpen, "token file \(path) is accessible by group or others (mode \(String(permissions, radix: 8))); "
                        + "restrict it with `chmod 600 \(path)`")
        }
        guard info.st_size <= 64 * 1024 else { throw Error(.unreadable, "token file \(path) is larger than 64 KiB") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Error(.unreadable, "cannot read token file \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= 64 * 1024 else { throw Error(.unreadable, "token file \(path) is larger than 64 KiB") }
        }
        for i in chunk.indices { chunk[i] = 0 }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw Error(.unreadable, "token file \(path) is not UTF-8 text")
        }
        return try ClusterToken(text, source: "token file \(path)")
    }
}

extension ClusterToken: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "ClusterToken(\(bytes.count) bytes, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

extension ClusterToken {
    /// Why a token could not be had.
    public struct Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        /// The kind of failure.
        public struct Code: Hashable, Sendable {
            enum Storage: Hashable, Sendable { case unreadable, tooOpen, empty, tooShort }
            let storage: Storage
            /// The file is missing, unreadable, not a regular file, too large or not text.
            public static let unreadable = Code(storage: .unreadable)
            /// The file's mode lets group or others access it.
            public static let tooOpen = Code(storage: .tooOpen)
            /// The token is empty.
            public static let empty = Code(storage: .empty)
            /// The token is shorter than `ClusterToken.minimumByteCount`.
            public static let tooShort = Code(storage: .tooShort)
        }

        public let code: Code
        /// What is wrong and how to fix it, for the user.
        public let message: String

        init(_ code: Code, _ message: String) {
            self.code = code
            self.message = message
        }

        public var description: String { message }
    }
}
