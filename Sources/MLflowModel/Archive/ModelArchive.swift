#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Columnar
import Digest
import Foundation

/// A model directory packed into one byte buffer, addressed by the SHA-256 of those bytes:
/// how the coordinator ships a model to a worker that does not have it.
///
/// ## Format (version 1, little-endian)
///
/// ```
/// archive := "SCMA" (4 bytes) | format version u32 (= 1) | entry count u64 | entry*
/// entry   := path length u32 | mode u32 | content length u64 | path (UTF-8) | content
/// ```
///
/// - Only regular files are stored, with their path relative to the model directory
///   (components joined by `/`) and their permission bits (`mode & 0o777`; set-id and sticky
///   bits are dropped). Directories are implied by the paths; empty directories are not kept.
/// - Entries are sorted by the bytes of their path and nothing else is recorded (no times,
///   owners or sizes of directories), so packing the same content always gives the same bytes
///   and the same hash: the hash is a content address for the model.
/// - The archive ends exactly after the last entry; trailing bytes are refused.
/// - No compression: model files (pickles, weights) gain little from it.
///
/// ## Symlinks
///
/// A symlink inside the model directory is **followed when it resolves to a regular file inside
/// the model directory** (the file's content and mode are stored under the link's path). A symlink
/// that leads outside the directory, to a directory, or nowhere, is refused with an error naming
/// it: packing never ships a file the model directory does not contain (an SSH key, a
/// credentials file) and never loops. Devices, FIFOs and sockets are refused too.
///
/// ## Unpacking
///
/// Before a byte is written every entry is checked: relative UTF-8 paths without empty, `.` or
/// `..` components or NUL bytes, no path that is both a file and a directory, no duplicates,
/// mode bits within `0o777`, the file count and total size within `Limits`. Files are then written
/// into a fresh temporary directory next to the destination (created with `O_EXCL | O_NOFOLLOW`,
/// fsynced) which is renamed onto the destination in one step: the destination either does
/// not exist or holds the whole model.
///
/// A `ModelArchive` value always holds bytes whose SHA-256 is `sha256`: values come from `pack`
/// (which computes it) or from `init(payload:expectedSHA256:)` (which checks it), so `unpack`
/// never sees unverified bytes. Do not write into `buffer` afterwards.
public struct ModelArchive: Sendable {
    /// The first four bytes of every archive.
    public static let magic: [UInt8] = Array("SCMA".utf8)
    /// The format version this build writes and reads.
    public static let formatVersion: UInt32 = 1
    static let headerSize = 16
    static let entryHeaderSize = 16
    /// Longest path accepted for an entry, in bytes, and longest component.
    static let maxPathBytes = 4096
    static let maxComponentBytes = 255

    /// Bounds on what an archive may hold, checked when packing and before unpacking.
    public struct Limits: Sendable, Equatable {
        /// Largest sum of file sizes.
        public var maxTotalBytes: Int
        /// Largest number of files.
        public var maxFileCount: Int

        public init(maxTotalBytes: Int, maxFileCount: Int) {
            self.maxTotalBytes = maxTotalBytes
            self.maxFileCount = maxFileCount
        }

        /// 16 GiB and 100,000 files.
        public static let `default` = Limits(maxTotalBytes: 16 << 30, maxFileCount: 100_000)
    }

    /// One file of an archive.
    public struct Entry: Sendable, Equatable {
        /// Relative path, components joined by `/`.
        public var path: String
        /// Permission bits (`0o777` at most).
        public var mode: UInt32
        /// Size of the content in bytes.
        public var size: Int
        /// Where the content starts in the archive.
        var contentOffset: Int
    }

    /// The archive's bytes.
    public let buffer: ColumnBuffer
    /// SHA-256 of `buffer`, 64 lowercase hex digits.
    public let sha256: String

    /// Size of the archive in bytes.
    public var count: Int { buffer.count }

    init(verified buffer: ColumnBuffer, sha256: String) {
        self.buffer = buffer
        self.sha256 = sha256
    }

    /// Takes `buffer` as it is, hashing it (for tests that build archives by hand).
    init(hashing buffer: ColumnBuffer) {
        self.init(verified: buffer, sha256: SHA256.hex(buffer.bytes))
    }

    /// Accepts archive bytes received from a peer, checking them against the hash the peer
    /// announced. The payload is used in place, not copied.
    ///
    /// - Parameters:
    ///   - payload: The archive's bytes (for example a received frame's payload).
    ///   - expectedSHA256: The announced SHA-256, as hex.
    /// - Throws: `ModelArchiveError` with code `.hashMismatch` when the bytes hash to something else.
    public init(payload: ColumnBuffer, expectedSHA256: String) throws(ModelArchiveError) {
        let actual = SHA256.hex(payload.bytes)
        guard Hex.isLowercase(expectedSHA256.lowercased(), byteCount: SHA256.byteCount),
              actual == expectedSHA256.lowercased() else {
            throw ModelArchiveError(.hashMismatch,
                                    "archive of \(payload.count) bytes has SHA-256 \(actual), expected \(expectedSHA256)")
        }
        self.init(verified: payload, sha256: actual)
    }

    /// Accepts archive bytes checked against an expected hash (a copy is made).
    ///
    /// - Throws: `ModelArchiveError` with code `.hashMismatch` when the bytes hash to something else.
    public init(bytes: [UInt8], expectedSHA256: String) throws(ModelArchiveError) {
        let buffer = bytes.withUnsafeBytes { ColumnBuffer(copying: $0) }
        try self.init(payload: buffer, expectedSHA256: expectedSHA256)
    }

    /// Reads the archive's bytes; the pointer must not escape `body`.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(buffer.bytes)
    }

    /// A copy of the archive's bytes.
    public var bytes: [UInt8] { [UInt8](buffer.bytes) }
}
