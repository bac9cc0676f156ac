import Foundation
import MLflowModel

/// What makes two runs the same job, for `--resume`: the input files (names, sizes, row
/// counts), the model's content hash and every option that changes the output.
///
/// A resumed job must produce the output an uninterrupted run would have, so it is refused
/// when any of these differ, naming what did.
public struct JobFingerprint: Codable, Sendable, Equatable {
    public struct InputFile: Codable, Sendable, Equatable {
        public var path: String
        public var bytes: Int
        public var rows: Int
    }

    public var inputFiles: [InputFile]
    /// SHA-256 over the model directory's files (paths and contents).
    public var modelSHA256: String
    /// Options that shape the output, by name (result type, columns, output schema, partitioning, ...).
    public var settings: [String: String]
    /// Where the model came from when it was named by an MLflow URI (nil for a local directory,
    /// and in manifests written before registry URIs).
    public var model: ModelProvenance?

    /// What differs from `other`, for people; empty when the jobs are the same.
    public func differences(from other: JobFingerprint) -> [String] {
        var found: [String] = []
        if inputFiles != other.inputFiles {
            let mine = Dictionary(inputFiles.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            let theirs = Dictionary(other.inputFiles.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            for file in other.inputFiles where mine[file.path] == nil { found.append("input file \(file.path) was part of the job and is gone") }
            for file in inputFiles where theirs[file.path] == nil { found.append("input file \(file.path) is new") }
            for file in inputFiles {
                if let old = theirs[file.path], old != file {
                    found.append("input file \(file.path) changed (\(old.bytes) bytes, \(old.rows) rows then; \(file.bytes) bytes, \(file.rows) rows now)")
                }
            }
            if found.isEmpty { found.append("the input files are listed in another order") }
        }
        if let moved = Self.movedVersion(now: model, then: other.model) {
            found.append(moved)
        } else if modelSHA256 != other.modelSHA256 {
            found.append("the model changed (SHA-256 \(other.modelSHA256.prefix(12))… then, \(modelSHA256.prefix(12))… now)")
        }
        for key in Set(settings.keys).union(other.settings.keys).sorted() where settings[key] != other.settings[key] {
            found.append("\(key) was \(other.settings[key] ?? "unset"), is \(settings[key] ?? "unset")")
        }
        return found
    }

    /// A registry URI that resolves to another version than the job was started with (an alias
    /// or `latest` that moved), said with both versions and the two ways on.
    static func movedVersion(now: ModelProvenance?, then: ModelProvenance?) -> String? {
        guard let now, let then, let name = then.registeredModel, let old = then.version,
              now.registeredModel == name, let new = now.version, new != old else { return nil }
        return "\(now.uri) now resolves to version \(new) of '\(name)', and the job was started with version \(old) (from \(then.uri)); "
            + "resume with --model models:/\(name)/\(old) to finish it with version \(old), or start over with --overwrite to score with version \(new)"
    }
}

extension JobFingerprint {
    /// `ModelDigest.sha256(ofDirectory:)` of a model directory, as a job error.
    static func digest(ofModel directory: String) throws(JobError) -> String {
        do { return try ModelDigest.sha256(ofDirectory: directory) } catch { throw JobError(error.message) }
    }
}
