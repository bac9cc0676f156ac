import Foundation
import ObjectStore

/// Where a job's output goes and how its partitions become part of it: a local directory
/// (`OutputCommitter`: each partition renamed into place as it is done) or a prefix in object
/// storage (`S3OutputCommitter`: each partition uploaded, all made visible at job commit).
///
/// The writer writes a partition's file at `temporaryPath(for:)`, then `commit`s it; the runner
/// ends the job with `finish` (done, `_SUCCESS` last unless partitions were quarantined),
/// `suspend` (interrupted: kept for `--resume`) or `abort` (failed: nothing of this run left).
protocol JobOutput: AnyObject, Sendable {
    /// The output as messages name it (a resolved path, or an `s3://` URI).
    var directory: String { get }
    /// Partitions committed by an earlier run of the job (resume), by id.
    var previouslyCommitted: [Int: JobManifest.Entry] { get }
    /// Partitions committed, by this run and the one it resumes.
    var committedPartitions: Int { get }
    /// Where part files are written before they are committed (always local).
    var temporaryDirectory: String { get }
    /// Where the part file `name` is written before it is committed (always local).
    func temporaryPath(for name: String) -> String
    /// Makes the finished part file of a partition part of the output and records it.
    func commit(_ entry: JobManifest.Entry) throws(JobError)
    /// Writes a quarantined partition's description under `_failed/`.
    func recordFailure(named name: String, contents: Data) throws(JobError)
    func finish(complete: Bool) throws(JobError)
    func suspend()
    func abort()
    /// Whether the finished output holds the part file `name`.
    func holds(file name: String) -> Bool
}

extension OutputCommitter: JobOutput {
    func holds(file name: String) -> Bool { FileManager.default.fileExists(atPath: directory + "/" + name) }
}

/// Opens the job's `--output`: a local directory, or a prefix in object storage.
enum JobOutputs {
    /// - Parameter inputStore: the client the input is read with, when it is in object storage
    ///   (an output there uses the same configuration).
    static func open(_ output: String, mode: OutputCommitter.Mode, jobID: String, inputPath: String, fingerprint: JobFingerprint,
                     partitions: Int, inputStore: S3Client?) throws(JobError) -> any JobOutput {
        guard S3Location.isURI(output) else {
            return try OutputCommitter(directory: output, mode: mode, jobID: jobID, inputPath: inputPath, fingerprint: fingerprint,
                                       partitions: partitions)
        }
        let location: S3Location
        do { location = try S3Location(uri: output) } catch { throw JobError("--output: \(error.message)") }
        guard !location.hasGlob else { throw JobError("--output \(output) holds a glob character; name a prefix (s3://BUCKET/PREFIX)") }
        guard !location.key.isEmpty else {
            throw JobError("--output \(output) is a whole bucket; name a prefix inside it (s3://\(location.bucket)/scores), which --overwrite may clear")
        }
        if S3Location.isURI(inputPath), let input = try? S3Location(uri: inputPath), input.bucket == location.bucket {
            let a = input.directoryPrefix, b = location.directoryPrefix
            if a.hasPrefix(b) || b.hasPrefix(a) {
                throw JobError("the output \(location) overlaps the input \(input): choose an output prefix outside the input")
            }
        }
        let client: S3Client
        if let inputStore { client = inputStore } else {
            do {
                client = S3Client(configuration: try S3Configuration.fromEnvironment(ProcessInfo.processInfo.environment,
                                                                                   home: ProcessInfo.processInfo.environment["HOME"]))
            } catch {
                throw JobError("cannot write the output \(output): \(error.message)")
            }
        }
        return try S3OutputCommitter(location: location, client: client, mode: mode, jobID: jobID, fingerprint: fingerprint, partitions: partitions)
    }
}
