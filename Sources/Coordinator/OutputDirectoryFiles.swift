#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The file-system side of `OutputLocationRules`: resolving paths through symlinks, listing a
/// directory as `lstat` sees it, and removing entries without ever following a symlink out of it.
enum OutputDirectoryFiles {
    /// `path` made absolute with every symlink resolved (`realpath`), also when its last
    /// components do not exist yet: the deepest existing ancestor is resolved and the rest
    /// appended.
    static func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var components = absolute.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var missing: [String] = []
        while true {
            let prefix = "/" + components.joined(separator: "/")
            if let resolved = realPath(prefix) {
                // What does not exist yet holds no symlink: `..` there is plain text.
                var result = resolved == "/" ? [] : resolved.split(separator: "/").map(String.init)
                for part in missing.reversed() {
                    switch part {
                    case ".": continue
                    case "..": if !result.isEmpty { result.removeLast() }
                    default: result.append(part)
                    }
                }
                return "/" + result.joined(separator: "/")
            }
            guard let last = components.popLast() else { return absolute }
            missing.append(last)
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(decoding: UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)), as: UTF8.self)
    }

    /// The entries of `directory`, each as `lstat` sees it.
    static func list(_ directory: String) throws(JobError) -> [OutputLocationRules.Entry] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw JobError("cannot list the output '\(directory)': \(error.localizedDescription)")
        }
        return names.map { name in
            var info = stat()
            guard lstat(directory + "/" + name, &info) == 0 else { return .init(name, .other) }
            switch info.st_mode & S_IFMT {
            case S_IFREG: return .init(name, .file)
            case S_IFDIR: return .init(name, .directory)
            case S_IFLNK: return .init(name, .symlink)
            default: return .init(name, .other)
            }
        }
    }

    /// Removes `entries` from `directory`: files and symlinks are unlinked (a symlink's target
    /// is never touched), directories emptied the same way and removed. Stops at the first error.
    static func remove(_ entries: [OutputLocationRules.Entry], from directory: String) throws(JobError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw JobError("cannot open the output '\(directory)' to clear it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        for entry in entries {
            try removeEntry(named: entry.name, in: fd, path: directory + "/" + entry.name)
        }
    }

    /// Removes `name` in the directory open as `parent`, relative to it, so that a symlink put
    /// in place of a directory meanwhile is unlinked, not followed.
    private static func removeEntry(named name: String, in parent: Int32, path: String) throws(JobError) {
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw failure(path)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw failure(path) }
            guard let dir = fdopendir(fd) else {
                close(fd)
                throw failure(path)
            }
            defer { closedir(dir) }
            var children: [String] = []
            while let item = readdir(dir) {
                let child = withUnsafeBytes(of: item.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if child != "." && child != ".." { children.append(child) }
            }
            for child in children { try removeEntry(named: child, in: fd, path: path + "/" + child) }
            guard unlinkat(parent, name, AT_REMOVEDIR) == 0 else { throw failure(path) }
        } else {
            guard unlinkat(parent, name, 0) == 0 else { throw failure(path) }
        }
    }

    private static func failure(_ path: String) -> JobError {
        JobError("cannot remove '\(path)' while clearing the output for --overwrite: \(String(cString: strerror(errno))); nothing after it was removed")
    }
}
