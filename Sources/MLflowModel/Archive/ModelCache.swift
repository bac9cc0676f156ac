#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Digest
import Foundation

/// Unpacked models on a worker, one directory per archive hash: a worker fetches a model from
/// the coordinator only when it does not have that hash yet.
///
/// Layout of `directory`:
/// - `<sha256>/`: a complete unpacked model (it appears by an atomic rename, so a directory
///   with that name is always whole);
/// - `.<sha256>.lock`: the lock file serialising stores of that hash (kept: removing lock files
///   races with processes waiting on them);
/// - `.<sha256>.partial-XXXXXX/`: an unpack in progress, or left by a process that died; the
///   next store of that hash removes it.
///
/// Several workers on one machine may store the same hash at once: each takes an exclusive
/// `flock` on the hash's lock file, and the first unpacks while the others wait and then find the
/// model in place. Should `flock` not exclude (some network file systems), the rename still does:
/// the loser's copy is discarded and the winner's returned.
public struct ModelCache: Sendable {
    /// The cache directory.
    public let directory: String

    /// A cache in `directory` (created on first store, mode 0700).
    public init(directory: String) {
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    }

    /// `$XDG_CACHE_HOME/score-cluster/models` when `XDG_CACHE_HOME` is an absolute path, else
    /// `~/.cache/score-cluster/models`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return xdg + "/score-cluster/models"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/score-cluster/models"
    }

    /// The unpacked model with this archive hash, when the cache has it; nil otherwise (also for
    /// anything that is not 64 hex digits, so a hash from a peer can never name another path).
    public func path(for sha256: String) -> String? {
        let hash = sha256.lowercased()
        guard Hex.isLowercase(hash, byteCount: SHA256.byteCount) else { return nil }
        let path = directory + "/" + hash
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
        return path
    }

    /// Unpacks `archive` into the cache unless that hash is already there.
    ///
    /// The archive's bytes are known to hash to `archive.sha256` (see `ModelArchive`), so the
    /// directory name is the hash of what it holds.
    ///
    /// - Parameters:
    ///   - archive: A verified archive (`ModelArchive(payload:expectedSHA256:)`).
    ///   - limits: Bounds on the file count and total size.
    /// - Returns: The path of the unpacked model.
    /// - Throws: `ModelArchiveError` from checking or unpacking the archive, or `.io` when the
    ///   cache directory or lock file cannot be used.
    @discardableResult
    public func store(_ archive: ModelArchive, limits: ModelArchive.Limits = .default) throws(ModelArchiveError) -> String {
        let hash = archive.sha256
        if let existing = path(for: hash) { return existing }
        try ModelArchive.makeDirectories(directory, mode: 0o700)

        let lockPath = directory + "/." + hash + ".lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else {
            throw ModelArchiveError(.io, "cannot open lock file \(lockPath): \(ModelArchive.errnoText())")
        }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw ModelArchiveError(.io, "cannot lock \(lockPath): \(ModelArchive.errnoText())")
            }
        }
        defer { _ = flock(lock, LOCK_UN) }

        // Another process may have stored it while this one waited.
        if let existing = path(for: hash) { return existing }
        removeAbandonedUnpacks(of: hash)
        let destination = directory + "/" + hash
        do throws(ModelArchiveError) {
            try archive.unpack(into: destination, limits: limits)
        } catch where error.code == .destinationExists {
            // Lost a race the lock did not prevent; the winner's copy is complete.
            if let existing = path(for: hash) { return existing }
            throw error
        }
        return destination
    }

    /// Removes `.<hash>.partial-*` directories: with the hash's lock held, nobody else is writing one.
    private func removeAbandonedUnpacks(of hash: String) {
        let prefix = "." + hash + ".partial-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(prefix) {
            ModelArchive.removeTree(directory + "/" + name)
        }
    }
}
