#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ObjectStore

/// The record of a job in its output directory (`_manifest.jsonl`), from which `--resume`
/// knows what is already done.
///
/// An append-only journal, one JSON object per line: first the job (its fingerprint and
/// partition count), then one line per committed partition, each appended and fsynced after
/// the partition's file was renamed into place. A line torn by a crash is ignored: its
/// partition is simply done again.
final class JobManifest {
    static let fileName = "_manifest.jsonl"

    /// One committed partition.
    struct Entry: Codable, Equatable {
        var partition: Int
        var file: String
        var rows: Int
        var bytes: Int
        /// Where its rows came from: input files and their rows (`[first, end)`), in order.
        var inputs: [InputRows]
        /// In object storage, the multipart upload holding the file until the job commits
        /// (nil once completed, and for local outputs).
        var upload: S3Client.PendingUpload? = nil
    }

    struct InputRows: Codable, Equatable {
        var file: String
        var rows: [Int]
    }

    private struct Header: Codable {
        var kind = "job"
        var version = 1
        var partitions: Int
        var fingerprint: JobFingerprint
    }

    private struct Line: Codable {
        var kind: String
        var entry: Entry?
    }

    let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Starts a new manifest in `directory` (replacing any).
    static func create(in directory: String, fingerprint: JobFingerprint, partitions: Int) throws(JobError) -> JobManifest {
        let path = directory + "/" + fileName
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw JobError("cannot create \(path): \(String(cString: strerror(errno)))") }
        let manifest = JobManifest(path: path, fd: fd)
        try manifest.append(Header(partitions: partitions, fingerprint: fingerprint))
        return manifest
    }

    /// Reads the manifest in `directory`: the job it describes and its committed partitions.
    static func load(from directory: String) throws(JobError) -> (fingerprint: JobFingerprint, partitions: Int, committed: [Int: Entry]) {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError("nothing to resume in '\(directory)': it has no \(fileName) (run without --resume to start the job)")
        }
        return try parse(data, path: path)
    }

    /// The job and committed partitions a manifest's text records (`path` names it in errors).
    static func parse(_ data: Data, path: String) throws(JobError) -> (fingerprint: JobFingerprint, partitions: Int, committed: [Int: Entry]) {
        let lines = data.split(separator: UInt8(ascii: "\n"))
        let decoder = JSONDecoder()
        guard let first = lines.first, let header = try? decoder.decode(Header.self, from: Data(first)), header.kind == "job" else {
            throw JobError("\(path) is not a score-cluster job manifest; run with --overwrite to start over")
        }
        var committed: [Int: Entry] = [:]
        for line in lines.dropFirst() {
            // A torn last line (a crash while appending) is skipped; its partition is redone.
            if let parsed = try? decoder.decode(Line.self, from: Data(line)), parsed.kind == "partition", let entry = parsed.entry {
                committed[entry.partition] = entry
            }
        }
        return (header.fingerprint, header.partitions, committed)
    }

    /// Whether `directory` holds a score-cluster job manifest (its first line a job header).
    static func isJobManifest(in directory: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: directory + "/" + fileName) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        guard let first = head.split(separator: UInt8(ascii: "\n")).first,
              let header = try? JSONDecoder().decode(Header.self, from: Data(first)) else { return false }
        return header.kind == "job"
    }

    /// Reopens the manifest in `directory` to append to it.
    static func reopen(in directory: String) throws(JobError) -> JobManifest {
        let path = directory + "/" + fileName
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw JobError("cannot open \(path): \(String(cString: strerror(errno)))") }
        // End a line torn by a crash, so that the next entry starts on its own line.
        if let data = FileManager.default.contents(atPath: path), let last = data.last, last != UInt8(ascii: "\n") {
            _ = "\n".withCString { write(fd, $0, 1) }
        }
        return JobManifest(path: path, fd: fd)
    }

    /// Records a committed partition, durably.
    func record(_ entry: Entry) throws(JobError) {
        try append(Line(kind: "partition", entry: entry))
    }

    /// The text of a whole manifest: the job's line, then one per entry (for stores that
    /// cannot append, which rewrite it).
    static func text(fingerprint: JobFingerprint, partitions: Int, entries: [Entry]) -> Data {
        var text = line(Header(partitions: partitions, fingerprint: fingerprint)) ?? Data()
        for entry in entries { text += line(Line(kind: "partition", entry: entry)) ?? Data() }
        return text
    }

    private static func line<T: Encodable>(_ value: T) -> Data? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(value) else { return nil }
        line.append(UInt8(ascii: "\n"))
        return line
    }

    private func append<T: Encodable>(_ value: T) throws(JobError) {
        guard let line = Self.line(value) else { throw JobError("cannot encode a line of \(path)") }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else {
            throw JobError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
