#if canImport(Glibc)
import Glibc
#endif
import Digest
import Foundation
import MLflowModel

/// Models fetched by URI on this machine, one directory per resolved identity (the tracking
/// server plus `models:/NAME/VERSION`, `models:/m-…` or `runs:/RUN/PATH`; an alias and the
/// version it points to share one), so that the next job naming the same version starts without
/// a download.
///
/// Layout of `directory`:
/// - `<name>-<hash>/model/`: the model's files; `<name>-<hash>/entry.json`: its provenance
///   (with the content digest) and the file list the store gave. The pair appears by one
///   atomic rename, so an entry is always whole: a download cut off leaves nothing here.
/// - `.<name>-<hash>.lock`: serialises fetches of one identity (two jobs download it once).
/// - `.<name>-<hash>.incoming-XXXXXX/`: a download in progress, or left by a process that died;
///   the next fetch of that identity removes it.
/// - `.<name>-<hash>.retired-TIME-PID/`: a copy replaced by a newer download, kept a day for the
///   jobs that may still read it, then removed by the next fetch of that identity.
struct RegistryModelCache {
    /// What an entry records next to the model's files.
    struct Entry: Codable {
        var provenance: ModelProvenance
        var files: [ArtifactStore.RemoteFile]
    }

    let directory: String

    /// How long a replaced copy is kept for the jobs still reading it.
    static let retiredLifetime: Double = 24 * 3600

    /// `…/score-cluster/registry` beside the worker's model cache (`$XDG_CACHE_HOME` or `~/.cache`).
    static func defaultDirectory(environment: [String: String]) -> String {
        (ModelCache.defaultDirectory(environment: environment) as NSString).deletingLastPathComponent + "/registry"
    }

    /// The entry's directory name for `identity` on `server`: readable, and unique by a hash.
    static func key(server: String, identity: String) -> String {
        let hash = Hex.encode(SHA256.hash(Array("\(server)\n\(identity)".utf8))).prefix(16)
        let readable = identity.split(separator: ":").last.map(String.init) ?? identity
        let name = String(readable.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "-" }.drop(while: { $0 == "-" }).prefix(60))
        return "\(name.isEmpty ? "model" : name)-\(hash)"
    }

    /// Takes the lock of `key` (blocking while another process fetches it) and removes its
    /// abandoned downloads.
    func lock(_ key: String, uri: String, onWait: () -> Void = {}) throws(RegistryError) -> FileLock {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RegistryError(uri: uri, "cannot create the model cache \(directory): \(error.localizedDescription)")
        }
        let lock: FileLock
        do { lock = try FileLock(path: directory + "/.\(key).lock", onWait: onWait) } catch { throw RegistryError(uri: uri, error.message) }
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = directory + "/" + name
            if name.hasPrefix(".\(key).incoming-") {
                try? fm.removeItem(atPath: path)
            } else if name.hasPrefix(".\(key).retired-"),
                      let modified = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                      Date().timeIntervalSince(modified) > Self.retiredLifetime {
                try? fm.removeItem(atPath: path)
            }
        }
        return lock
    }

    /// The cached model of `key` when its file list is `files` (nil: not compared) and its content
    /// still hashes to the recorded digest (a copy changed on disk is fetched again); nil otherwise.
    func valid(_ key: String, files: [ArtifactStore.RemoteFile]?) -> (entry: Entry, modelDirectory: String)? {
        let root = directory + "/" + key
        guard let data = FileManager.default.contents(atPath: root + "/entry.json"),
              let entry = try? JSONDecoder().decode(Entry.self, from: data), files == nil || entry.files == files,
              let digest = try? ModelDigest.sha256(ofDirectory: root + "/model"), digest == entry.provenance.sha256 else { return nil }
        return (entry, root + "/model")
    }

    /// A new, empty directory for a download of `key`.
    func incoming(_ key: String, uri: String) throws(RegistryError) -> String {
        var template = Array((directory + "/.\(key).incoming-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw RegistryError(uri: uri, "cannot create a download directory in \(directory): \(String(cString: strerror(errno)))")
        }
        return String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Moves the finished download `incoming` (holding `model/`) into place as `key`, with
    /// `entry`, replacing an older copy; returns the model's directory.
    func install(_ incoming: String, as key: String, entry: Entry, uri: String) throws(RegistryError) -> String {
        let root = directory + "/" + key
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try encoder.encode(entry).write(to: URL(fileURLWithPath: incoming + "/entry.json"))
        } catch {
            throw RegistryError(uri: uri, "cannot write \(incoming)/entry.json: \(error.localizedDescription)")
        }
        if FileManager.default.fileExists(atPath: root) {
            // Moved aside, not deleted: a job or worker started from the old copy may still read it.
            let retired = directory + "/.\(key).retired-\(Int(Date().timeIntervalSince1970))-\(getpid())"
            guard rename(root, retired) == 0 else { throw RegistryError(uri: uri, "cannot replace \(root): \(String(cString: strerror(errno)))") }
            utime(retired, nil)
        }
        guard rename(incoming, root) == 0 else {
            throw RegistryError(uri: uri, "cannot move the download into \(root): \(String(cString: strerror(errno)))")
        }
        return root + "/model"
    }
}
