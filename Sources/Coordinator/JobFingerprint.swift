import Digest
import Foundation

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
        if modelSHA256 != other.modelSHA256 {
            found.append("the model changed (SHA-256 \(other.modelSHA256.prefix(12))… then, \(modelSHA256.prefix(12))… now)")
        }
        for key in Set(settings.keys).union(other.settings.keys).sorted() where settings[key] != other.settings[key] {
            found.append("\(key) was \(other.settings[key] ?? "unset"), is \(settings[key] ?? "unset")")
        }
        return found
    }
}

extension JobFingerprint {
    /// SHA-256 over a model directory: every file's relative path and content hash, in path
    /// order (files are streamed, never read whole into memory). Python's bytecode caches are
    /// left out: importing the model's code writes them.
    static func digest(ofModel directory: String) throws(JobError) -> String {
        let fm = FileManager.default
        guard let paths = try? fm.subpathsOfDirectory(atPath: directory) else {
            throw JobError("cannot list the model directory \(directory)")
        }
        var hasher = SHA256()
        for relative in paths.sorted() where !relative.split(separator: "/").contains("__pycache__") && !relative.hasSuffix(".pyc") {
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            do {
                hasher.update(Array(relative.utf8) + [0])
                hasher.update(try SHA256.hash(contentsOfFile: path))
            } catch {
                throw JobError("cannot read the model file \(path): \(error)")
            }
        }
        return Hex.encode(hasher.finalize())
    }
}
