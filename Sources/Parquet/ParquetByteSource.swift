#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of one Parquet file, wherever they are: a local file read with `pread`, or an
/// object in a store read by ranged requests (`ObjectStore`'s source, made by the coordinator).
///
/// `ParquetFileReader` reads only through this: the footer first, then the column chunks (or
/// pages of them) a read needs. Implementations must allow concurrent reads.
public protocol ParquetByteSource: AnyObject, Sendable {
    /// What errors name: a path or a URI.
    var name: String { get }
    /// Bytes in all.
    var size: Int { get }
    /// Fills `buffer` with the bytes from `offset` on.
    /// - Throws: `ParquetError` naming the source and the offset (or range) that failed.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws
    /// A descriptor the bytes can be copied from within the kernel (`sendfile`), if local.
    var fileDescriptor: Int32? { get }
    /// Says that `ranges` are about to be read, each probably in several pieces: a remote
    /// source fetches them at once, concurrently, instead of piece by piece. A hint only.
    func willRead(_ ranges: [Range<Int>])
    /// Says that `ranges` will be read later: a remote source starts fetching them in the
    /// background and returns at once (reads of them then wait for those fetches).
    func prefetch(_ ranges: [Range<Int>])
}

extension ParquetByteSource {
    public var fileDescriptor: Int32? { nil }
    public func willRead(_ ranges: [Range<Int>]) {}
    public func prefetch(_ ranges: [Range<Int>]) {}

    /// `count` bytes from `offset`.
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        return out
    }
}

/// A local file, opened once and read with `pread` (no shared cursor: reads may run concurrently).
public final class LocalParquetFile: ParquetByteSource {
    public let name: String
    public let size: Int
    private let fd: Int32

    /// Opens `path` for reading.
    /// - Throws: `ParquetError` naming the path if it cannot be opened.
    public init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ParquetError(path: path, message: "cannot open: \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ParquetError(path: path, message: "cannot stat: \(reason)")
        }
        self.name = path
        self.size = Int(st.st_size)
        self.fd = fd
    }

    deinit { close(fd) }

    public var fileDescriptor: Int32? { fd }

    /// Asks the kernel to read `ranges` into the page cache in the background (`posix_fadvise`
    /// `WILLNEED`): free when they are cached, and a cold disk starts reading before the reader asks.
    public func prefetch(_ ranges: [Range<Int>]) {
        for range in ranges where !range.isEmpty {
            _ = posix_fadvise(fd, off_t(range.lowerBound), off_t(range.count), POSIX_FADV_WILLNEED)
        }
    }

    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ParquetError(path: name, message: "read failed at offset \(offset + done): \(String(cString: strerror(errno)))")
            }
            if n == 0 { throw ParquetError(path: name, message: "unexpected end of file at offset \(offset + done)") }
            done += n
        }
    }
}
