#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Hashing files

extension SHA256 {
    /// A file could not be read for hashing.
    public struct FileError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The file.
        public let path: String
        /// The `errno` of the failed call.
        public let errno: Int32

        public var description: String {
            "cannot read \(path) for hashing: \(String(cString: strerror(errno)))"
        }
    }

    /// The digest of the file at `path`, read in 1 MiB chunks (never whole into memory), each
    /// hashed by OpenSSL as it comes.
    ///
    /// - Throws: `SHA256.FileError` when the file cannot be opened or read.
    public static func hash(contentsOfFile path: String) throws(FileError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, errno: errno) }
        defer { close(fd) }
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        while true {
            let n = read(fd, buffer.baseAddress, chunk)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, errno: errno)
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hasher.finalizeConsuming()
    }
}
