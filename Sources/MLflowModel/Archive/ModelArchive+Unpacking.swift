#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Columnar
import Digest
import Foundation

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

    func write(_ entries: [Entry], into root: String) throws(ModelArchiveError) {
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
