#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Columnar
import Digest
import Foundation

extension ModelArchive {
    struct SourceFile {
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

    static func collect(root: String, relative: String, into files: inout [SourceFile], total: inout Int,
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
    static func readFile(_ source: String, named path: String, size: Int,
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
