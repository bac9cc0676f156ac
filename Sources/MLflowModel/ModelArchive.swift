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

    private init(verified buffer: ColumnBuffer, sha256: String) {
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

// MARK: - Packing

extension ModelArchive {
    private struct SourceFile {
        var path: String
        var source: String
        var mode: UInt32
        var size: Int
    }

    /// Packs the regular files under `directory` (see the type's documentation for the format and
    /// how symlinks are treated).
    ///
    /// - Parameters:
    ///   - directory: The model directory.
    ///   - limits: Bounds on the file count and total size, so that the coordinator finds out
    ///     before sending what a worker would refuse.
    /// - Returns: The archive and its SHA-256.
    /// - Throws: `ModelArchiveError`: `.unsupportedFile` for a symlink leaving the directory and the
    ///   like, `.tooManyFiles` / `.tooLarge` past the limits, `.io` when a file cannot be read or
    ///   changes while it is read.
    public static func pack(directory: String, limits: Limits = .default) throws(ModelArchiveError) -> ModelArchive {
        guard let root = realPath(directory) else {
            throw ModelArchiveError(.io, "cannot open model directory \(directory): \(Self.errnoText())")
        }
        var info = stat()
        guard stat(root, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ModelArchiveError(.io, "\(directory) is not a directory")
        }
        var files: [SourceFile] = []
        var total = 0
        try collect(root: root, relative: "", into: &files, total: &total, limits: limits)
        files.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }

        var size = headerSize
        for file in files { size += entryHeaderSize + file.path.utf8.count + file.size }
        let buffer = ColumnBuffer(uninitializedCount: size)
        var cursor = 0
        func put<T: FixedWidthInteger>(_ value: T) {
            buffer.mutableBase.storeBytes(of: value.littleEndian, toByteOffset: cursor, as: T.self)
            cursor += MemoryLayout<T>.size
        }
        for byte in magic { put(byte) }
        put(formatVersion)
        put(UInt64(files.count))
        for file in files {
            let path = Array(file.path.utf8)
            put(UInt32(path.count))
            put(file.mode)
            put(UInt64(file.size))
            path.withUnsafeBytes { (buffer.mutableBase + cursor).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            cursor += path.count
            try readFile(file.source, named: file.path, size: file.size, into: buffer.mutableBase + cursor)
            cursor += file.size
        }
        precondition(cursor == size, "model archive layout is off: wrote \(cursor) of \(size) bytes")
        return ModelArchive(verified: buffer, sha256: SHA256.hex(buffer.bytes))
    }

    private static func collect(root: String, relative: String, into files: inout [SourceFile], total: inout Int,
                                limits: Limits) throws(ModelArchiveError) {
        let directory = relative.isEmpty ? root : root + "/" + relative
        guard let handle = opendir(directory) else {
            throw ModelArchiveError(.io, "cannot list \(directory): \(Self.errnoText())")
        }
        defer { closedir(handle) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(handle) else {
                if errno != 0 { throw ModelArchiveError(.io, "cannot list \(directory): \(Self.errnoText())") }
                break
            }
            let name: String? = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(validatingCString: $0) }
            }
            guard let name else {
                throw ModelArchiveError(.unsupportedFile, "a file name under \(directory) is not valid UTF-8")
            }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names {
            let path = relative.isEmpty ? name : relative + "/" + name
            let absolute = root + "/" + path
            var info = stat()
            guard lstat(absolute, &info) == 0 else {
                throw ModelArchiveError(.io, "cannot stat \(absolute): \(Self.errnoText())")
            }
            var source = absolute
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                try collect(root: root, relative: path, into: &files, total: &total, limits: limits)
                continue
            case S_IFREG:
                break
            case S_IFLNK:
                guard let target = realPath(absolute) else {
                    throw ModelArchiveError(.unsupportedFile, "symlink \(path) leads nowhere (\(Self.errnoText()))")
                }
                guard target.hasPrefix(root + "/") else {
                    throw ModelArchiveError(.unsupportedFile,
                                            "symlink \(path) leads outside the model directory (to \(target)); "
                                            + "copy the file into the model directory instead")
                }
                guard stat(target, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                    throw ModelArchiveError(.unsupportedFile,
                                            "symlink \(path) leads to \(target), which is not a regular file "
                                            + "(only symlinks to files inside the model directory are followed)")
                }
                source = target
            default:
                throw ModelArchiveError(.unsupportedFile, "\(path) is not a regular file, directory or symlink")
            }
            files.append(SourceFile(path: path, source: source, mode: UInt32(info.st_mode) & 0o777, size: Int(info.st_size)))
            total += Int(info.st_size)
            guard files.count <= limits.maxFileCount else {
                throw ModelArchiveError(.tooManyFiles, "the model directory has more than \(limits.maxFileCount) files")
            }
            guard total <= limits.maxTotalBytes else {
                throw ModelArchiveError(.tooLarge, "the model directory holds more than \(limits.maxTotalBytes) bytes")
            }
        }
    }

    /// Reads exactly `size` bytes of `source` into `destination`; a file that shrank or grew since
    /// it was listed is an error (the model changed while being packed).
    private static func readFile(_ source: String, named path: String, size: Int,
                                 into destination: UnsafeMutableRawPointer) throws(ModelArchiveError) {
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelArchiveError(.io, "cannot open \(path): \(Self.errnoText())") }
        defer { close(fd) }
        var done = 0
        while done < size {
            let n = read(fd, destination + done, min(size - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw ModelArchiveError(.io, "cannot read \(path): \(Self.errnoText())")
            }
            if n == 0 { throw ModelArchiveError(.io, "\(path) shrank while the model was being packed") }
            done += n
        }
        var extra: UInt8 = 0
        while true {
            let n = read(fd, &extra, 1)
            if n < 0 && errno == EINTR { continue }
            if n != 0 { throw ModelArchiveError(.io, "\(path) grew while the model was being packed") }
            break
        }
    }
}

// MARK: - Reading

extension ModelArchive {
    /// Parses and checks every entry (format, paths, limits) without touching the file system.
    ///
    /// - Throws: `ModelArchiveError` with code `.malformed`, `.unsafePath`, `.tooManyFiles` or `.tooLarge`.
    public func entries(limits: Limits = .default) throws(ModelArchiveError) -> [Entry] {
        let bytes = buffer.bytes
        guard bytes.count >= Self.headerSize, Array(bytes[0..<4]) == Self.magic else {
            throw ModelArchiveError(.malformed, "not a model archive (bad magic)")
        }
        let version = bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        guard version == Self.formatVersion else {
            throw ModelArchiveError(.malformed, "archive format version \(version); this build reads \(Self.formatVersion)")
        }
        let count = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard count <= UInt64(limits.maxFileCount) else {
            throw ModelArchiveError(.tooManyFiles, "archive holds \(count) files, more than the limit of \(limits.maxFileCount)")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))
        var files = Set<String>()
        var directories = Set<String>()
        var total = 0
        var cursor = Self.headerSize
        for index in 0..<Int(count) {
            guard bytes.count - cursor >= Self.entryHeaderSize else {
                throw ModelArchiveError(.malformed, "entry \(index) runs past the end of the archive")
            }
            let pathLength = Int(bytes.loadUnaligned(fromByteOffset: cursor, as: UInt32.self).littleEndian)
            let mode = bytes.loadUnaligned(fromByteOffset: cursor + 4, as: UInt32.self).littleEndian
            let size64 = bytes.loadUnaligned(fromByteOffset: cursor + 8, as: UInt64.self).littleEndian
            cursor += Self.entryHeaderSize
            guard pathLength <= Self.maxPathBytes, pathLength <= bytes.count - cursor else {
                throw ModelArchiveError(.malformed, "entry \(index) has a path of \(pathLength) bytes")
            }
            let pathBytes = UnsafeRawBufferPointer(rebasing: bytes[cursor..<cursor + pathLength])
            cursor += pathLength
            guard size64 <= UInt64(bytes.count - cursor) else {
                throw ModelArchiveError(.malformed, "entry \(index) claims \(size64) bytes, more than the archive holds")
            }
            let size = Int(size64)
            let path = try Self.checkedPath(pathBytes, index: index)
            guard mode & ~UInt32(0o777) == 0 else {
                throw ModelArchiveError(.malformed, "entry \(path) has mode bits \(String(mode, radix: 8)) beyond 0777")
            }
            // A path may not be both a file and a directory, nor appear twice.
            guard !files.contains(path), !directories.contains(path) else {
                throw ModelArchiveError(.unsafePath, "entry \(path) appears twice or is also a directory")
            }
            var prefix = Substring(path)
            while let slash = prefix.lastIndex(of: "/") {
                prefix = prefix[..<slash]
                let directory = String(prefix)
                guard !files.contains(directory) else {
                    throw ModelArchiveError(.unsafePath, "entry \(path) is inside \(directory), which is a file")
                }
                if !directories.insert(directory).inserted { break }
            }
            files.insert(path)
            total += size
            guard total <= limits.maxTotalBytes else {
                throw ModelArchiveError(.tooLarge, "archive unpacks to more than the limit of \(limits.maxTotalBytes) bytes")
            }
            entries.append(Entry(path: path, mode: mode, size: size, contentOffset: cursor))
            cursor += size
        }
        guard cursor == bytes.count else {
            throw ModelArchiveError(.malformed, "\(bytes.count - cursor) bytes after the last entry")
        }
        return entries
    }

    /// The entry path as a string when it is safe to create under a directory: relative, valid
    /// UTF-8, without NUL, empty, `.` or `..` components, each component at most 255 bytes.
    static func checkedPath(_ bytes: UnsafeRawBufferPointer, index: Int) throws(ModelArchiveError) -> String {
        guard !bytes.isEmpty else { throw ModelArchiveError(.unsafePath, "entry \(index) has an empty path") }
        guard !bytes.contains(0) else { throw ModelArchiveError(.unsafePath, "entry \(index) has a NUL byte in its path") }
        guard let path = String(validating: bytes, as: UTF8.self) else {
            throw ModelArchiveError(.unsafePath, "entry \(index) has a path that is not UTF-8")
        }
        guard !path.hasPrefix("/") else { throw ModelArchiveError(.unsafePath, "entry \(path) is an absolute path") }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            switch component {
            case "": throw ModelArchiveError(.unsafePath, "entry \(path) has an empty path component")
            case ".", "..": throw ModelArchiveError(.unsafePath, "entry \(path) has a '\(component)' component")
            default:
                guard component.utf8.count <= maxComponentBytes else {
                    throw ModelArchiveError(.unsafePath, "entry \(path) has a component longer than \(maxComponentBytes) bytes")
                }
            }
        }
        return path
    }
}

// MARK: - Unpacking

extension ModelArchive {
    /// Unpacks into `destination`, which must not exist yet (its parent is created if needed).
    ///
    /// Every entry is checked first; files are written into a temporary directory beside the
    /// destination and renamed onto it at the end, so on any failure the destination does not
    /// appear and the temporary directory is removed.
    ///
    /// - Parameters:
    ///   - destination: The directory to create.
    ///   - limits: Bounds on the file count and total size.
    /// - Throws: `ModelArchiveError`: `.malformed`, `.unsafePath`, `.tooManyFiles`, `.tooLarge`
    ///   from the checks, `.destinationExists`, or `.io`.
    public func unpack(into destination: String, limits: Limits = .default) throws(ModelArchiveError) {
        let entries = try entries(limits: limits)
        let destination = destination.count > 1 && destination.hasSuffix("/") ? String(destination.dropLast()) : destination
        let (parent, name) = Self.split(destination)
        try Self.makeDirectories(parent, mode: 0o755)
        guard access(destination, F_OK) != 0 else {
            throw ModelArchiveError(.destinationExists, "\(destination) already exists")
        }
        var template = Array("\(parent)/.\(name).partial-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ModelArchiveError(.io, "cannot create a temporary directory in \(parent): \(Self.errnoText())")
        }
        let temporary = String(cString: made)
        do throws(ModelArchiveError) {
            try write(entries, into: temporary)
            guard chmod(temporary, 0o755) == 0 else { throw ModelArchiveError(.io, "chmod \(temporary): \(Self.errnoText())") }
            try Self.syncDirectory(temporary)
            guard rename(temporary, destination) == 0 else {
                if errno == EEXIST || errno == ENOTEMPTY || errno == ENOTDIR || errno == EISDIR {
                    throw ModelArchiveError(.destinationExists, "\(destination) already exists")
                }
                throw ModelArchiveError(.io, "cannot rename \(temporary) to \(destination): \(Self.errnoText())")
            }
            try Self.syncDirectory(parent)
        } catch {
            Self.removeTree(temporary)
            throw error
        }
    }

    private func write(_ entries: [Entry], into root: String) throws(ModelArchiveError) {
        var made = Set<String>()
        for entry in entries {
            // Directories first: the path was checked, so every prefix is a plain name under root.
            var prefix = ""
            for component in entry.path.split(separator: "/").dropLast() {
                prefix += prefix.isEmpty ? String(component) : "/" + component
                if made.insert(prefix).inserted {
                    guard mkdir(root + "/" + prefix, 0o755) == 0 || errno == EEXIST else {
                        throw ModelArchiveError(.io, "cannot create directory \(prefix): \(Self.errnoText())")
                    }
                }
            }
            let target = root + "/" + entry.path
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ModelArchiveError(.io, "cannot create \(entry.path): \(Self.errnoText())") }
            defer { close(fd) }
            var done = 0
            let base = buffer.base + entry.contentOffset
            while done < entry.size {
                let n = Glibc.write(fd, base + done, min(entry.size - done, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ModelArchiveError(.io, "cannot write \(entry.path): \(Self.errnoText())")
                }
                done += n
            }
            guard fchmod(fd, mode_t(entry.mode)) == 0, fsync(fd) == 0 else {
                throw ModelArchiveError(.io, "cannot finish \(entry.path): \(Self.errnoText())")
            }
        }
    }
}

// MARK: - File system helpers

extension ModelArchive {
    static func errnoText() -> String { String(cString: strerror(errno)) }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Parent directory and last component of a path ("." for a bare name).
    static func split(_ path: String) -> (parent: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let parent = String(path[..<slash])
        return (parent.isEmpty ? "/" : parent, String(path[path.index(after: slash)...]))
    }

    /// `mkdir -p`; directories that already exist are left as they are.
    static func makeDirectories(_ path: String, mode: mode_t) throws(ModelArchiveError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw ModelArchiveError(.io, "\(path) is not a directory") }
            return
        }
        let (parent, _) = split(path)
        if parent != path { try makeDirectories(parent, mode: mode) }
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            throw ModelArchiveError(.io, "cannot create directory \(path): \(Self.errnoText())")
        }
    }

    static func syncDirectory(_ path: String) throws(ModelArchiveError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelArchiveError(.io, "cannot open \(path): \(Self.errnoText())") }
        defer { close(fd) }
        // Some file systems refuse fsync on directories; the rename is still atomic there.
        _ = fsync(fd)
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
