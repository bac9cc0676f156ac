import Foundation
import ObjectStore

/// A job's output under a prefix in object storage, committed as Hadoop's S3A "magic"
/// committer commits: nothing of the job is visible at its final keys until the job commits.
///
/// Each partition's file is written locally (a staging directory under `$TMPDIR`), then
/// uploaded as a multipart upload that is **not completed**; the upload's id and part ETags
/// go into the job manifest (`PREFIX/_manifest.jsonl`, rewritten after each partition, since
/// objects cannot be appended to). At job commit every upload is completed, in partition
/// order, the manifest rewritten, and `_SUCCESS` written last. A failed job aborts its uploads
/// (and removes what it completed); an interrupted one leaves them recorded, and `--resume`
/// keeps each one the store still holds intact and completes it with the rest.
final class S3OutputCommitter: JobOutput, @unchecked Sendable {
    let directory: String
    let previouslyCommitted: [Int: JobManifest.Entry]
    private let location: S3Location
    private let client: S3Client
    private let staging: String
    private let fingerprint: JobFingerprint
    private let partitions: Int
    private let lock = NSLock()
    /// Every partition the manifest records (earlier runs' and this one's), by id.
    private var entries: [Int: JobManifest.Entry]
    /// Partitions committed by this run.
    private var committedHere: Set<Int> = []
    /// Objects this run made visible (completed uploads, `_failed/` files), to remove on abort.
    private var written: [String] = []
    private var completedNames: Set<String> = []

    init(location: S3Location, client: S3Client, mode: OutputCommitter.Mode, jobID: String, fingerprint: JobFingerprint,
         partitions: Int) throws(JobError) {
        self.location = location
        self.client = client
        self.directory = location.description
        self.fingerprint = fingerprint
        self.partitions = partitions
        let prefix = location.directoryPrefix
        let bucket = location.bucket
        func storeError(_ error: S3Error) -> JobError { JobError("the output \(location): \(error.message)") }

        let existing: (objects: [S3Client.Object], prefixes: [String])
        let manifestBytes: [UInt8]?
        do {
            existing = try client.list(bucket: bucket, prefix: prefix)
            manifestBytes = existing.objects.contains { $0.key == prefix + JobManifest.fileName }
                ? try client.get(bucket: bucket, key: prefix + JobManifest.fileName) : nil
        } catch { throw storeError(error) }
        let recorded = manifestBytes.flatMap { try? JobManifest.parse(Data($0), path: "\(location.appending(JobManifest.fileName))") }

        switch mode {
        case .create(let overwrite):
            if !existing.objects.isEmpty {
                guard overwrite else {
                    let resumable = recorded != nil && !existing.objects.contains { $0.key == prefix + "_SUCCESS" }
                    throw JobError("the output \(location) already holds objects; "
                        + (resumable ? "it holds an unfinished job: pass --resume to finish it, --overwrite to start over, or choose another --output"
                                     : "pass --overwrite to replace them, or choose another --output"))
                }
                // What --overwrite may remove: the same rules as for a directory, over the names below the prefix.
                var names: [String: OutputLocationRules.Entry.Kind] = [:]
                for object in existing.objects {
                    let rest = object.key.dropFirst(prefix.count)
                    if let slash = rest.firstIndex(of: "/") { names[String(rest[..<slash])] = .directory } else { names[String(rest)] = .file }
                }
                let entries = names.map { OutputLocationRules.Entry($0.key, $0.value) }
                if case .refuse(let reason) = OutputLocationRules.overwrite(directory: directory, entries: entries, hasOwnManifest: recorded != nil) {
                    throw JobError(reason)
                }
                do {
                    for upload in try client.openUploads(bucket: bucket, prefix: prefix) {
                        try client.abortUpload(bucket: bucket, key: upload.key, uploadID: upload.uploadID)
                    }
                    for object in existing.objects { try client.delete(bucket: bucket, key: object.key) }
                } catch { throw storeError(error) }
            }
            previouslyCommitted = [:]
            entries = [:]
        case .resume:
            guard let manifestBytes else {
                throw JobError("nothing to resume in \(location): it has no \(JobManifest.fileName) (run without --resume to start the job)")
            }
            guard let recorded else {
                throw JobError("\(location.appending(JobManifest.fileName)) is not a score-cluster job manifest (\(manifestBytes.count) bytes); run with --overwrite to start over")
            }
            let differences = fingerprint.differences(from: recorded.fingerprint)
            guard differences.isEmpty && recorded.partitions == partitions else {
                let list = differences.isEmpty ? ["the job plans \(partitions) partitions, the recorded one \(recorded.partitions)"] : differences
                throw JobError("cannot resume the job in \(location): it is not the same job. \(list.joined(separator: "; ")). Resume with the same input, model and options, or pass --overwrite to start over")
            }
            // Keep a recorded partition whose upload the store still holds with the same parts,
            // or whose object an earlier commit completed at the recorded size.
            var kept: [Int: JobManifest.Entry] = [:]
            do {
                for (id, entry) in recorded.committed {
                    if let upload = entry.upload {
                        if try client.uploadIsIntact(bucket: bucket, upload) { kept[id] = entry }
                    } else if existing.objects.contains(where: { $0.key == prefix + entry.file && $0.size == entry.bytes }) {
                        kept[id] = entry
                    }
                }
                for object in existing.objects where object.key.hasPrefix(prefix + "_failed/") || object.key == prefix + "_SUCCESS" {
                    try client.delete(bucket: bucket, key: object.key)
                }
            } catch { throw storeError(error) }
            previouslyCommitted = kept
            entries = kept
            // Uploads an interrupted run began and did not record (or recorded and no longer needs).
            if let open = try? client.openUploads(bucket: bucket, prefix: prefix) {
                let keptIDs = Set(kept.values.compactMap { $0.upload?.uploadID })
                for upload in open where !keptIDs.contains(upload.uploadID) {
                    try? client.abortUpload(bucket: bucket, key: upload.key, uploadID: upload.uploadID)
                }
            }
        }
        staging = FileManager.default.temporaryDirectory.appendingPathComponent("score-cluster-output-\(jobID)").path
        do { try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true) } catch {
            throw JobError("cannot create the staging directory \(staging) for the output \(location): \(error.localizedDescription)")
        }
        do throws(JobError) { try writeManifest() } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    var committedPartitions: Int { lock.withLock { entries.count } }

    var temporaryDirectory: String { staging }
    func temporaryPath(for name: String) -> String { staging + "/" + name }

    /// Uploads the partition's file (not completing the upload) and records the upload.
    func commit(_ entry: JobManifest.Entry) throws(JobError) {
        let path = temporaryPath(for: entry.file)
        var entry = entry
        do {
            entry.upload = try client.uploadParts(bucket: location.bucket, key: location.directoryPrefix + entry.file, file: path)
        } catch {
            throw JobError("cannot upload partition \(entry.partition) to \(location.appending(entry.file)): \(error.message)")
        }
        try? FileManager.default.removeItem(atPath: path)
        lock.withLock {
            entries[entry.partition] = entry
            committedHere.insert(entry.partition)
        }
        try writeManifest()
    }

    /// The prefix workers upload their parts below (`--workers-read`).
    var prefixLocation: S3Location { location }

    /// Records a partition a worker uploaded itself (`--workers-read`): the store must hold its
    /// upload with the parts the worker reported; it stays open until the job commits.
    func record(uploaded entry: JobManifest.Entry) throws(JobError) {
        guard let upload = entry.upload, upload.key == location.directoryPrefix + entry.file else {
            throw JobError("partition \(entry.partition): the worker's upload is not for \(location.appending(entry.file))")
        }
        let intact: Bool
        do { intact = try client.uploadIsIntact(bucket: location.bucket, upload) } catch {
            throw JobError("cannot check the upload of partition \(entry.partition) to \(location.appending(entry.file)): \(error.message)", resumable: true)
        }
        guard intact else {
            throw JobError("partition \(entry.partition): the store does not hold the upload \(upload.uploadID) of \(location.appending(entry.file)) with the parts the worker reported")
        }
        lock.withLock {
            entries[entry.partition] = entry
            committedHere.insert(entry.partition)
        }
        try writeManifest()
    }

    func recordFailure(named name: String, contents: Data) throws(JobError) {
        let key = location.directoryPrefix + "_failed/" + name
        do { try client.put(bucket: location.bucket, key: key, body: [UInt8](contents), contentType: "application/json") } catch {
            throw JobError("cannot write s3://\(location.bucket)/\(key): \(error.message)")
        }
        lock.withLock { written.append(key) }
    }

    /// Completes every upload, in partition order, then rewrites the manifest, then `_SUCCESS`.
    func finish(complete: Bool) throws(JobError) {
        try? FileManager.default.removeItem(atPath: staging)
        let pending = lock.withLock { entries.values.filter { $0.upload != nil }.sorted { $0.partition < $1.partition } }
        for entry in pending {
            do { try client.completeUpload(bucket: location.bucket, entry.upload!) } catch {
                // A completion whose answer was lost and that was sent again finds its upload gone:
                // done if the object is there, whole.
                let done = error.code == "NoSuchUpload" && (try? client.size(bucket: location.bucket, key: entry.upload!.key)) == entry.upload!.bytes
                if !done { throw JobError("cannot complete the upload of \(location.appending(entry.file)) at job commit: \(error.message)") }
            }
            lock.withLock {
                entries[entry.partition]?.upload = nil
                written.append(location.directoryPrefix + entry.file)
                completedNames.insert(entry.file)
            }
        }
        lock.withLock { for entry in entries.values { completedNames.insert(entry.file) } }
        try writeManifest()
        // An upload begun twice (its first answer lost, the request sent again) leaves one open
        // that nothing records: every open upload under the output is this job's to abort.
        abortOpenUploads(keeping: [])
        guard complete else { return }
        do { try client.put(bucket: location.bucket, key: location.directoryPrefix + "_SUCCESS", body: []) } catch {
            throw JobError("cannot write \(location.appending("_SUCCESS")): \(error.message)")
        }
    }

    /// Leaves the uploads open and recorded for `--resume`.
    func suspend() {
        try? FileManager.default.removeItem(atPath: staging)
    }

    /// Aborts this run's uploads and removes the objects it made visible; the manifest too
    /// unless an earlier run's partitions are recorded in it.
    func abort() {
        try? FileManager.default.removeItem(atPath: staging)
        let (mine, visible) = lock.withLock { (entries.values.filter { committedHere.contains($0.partition) }, written) }
        for entry in mine {
            if let upload = entry.upload { try? client.abortUpload(bucket: location.bucket, key: upload.key, uploadID: upload.uploadID) }
        }
        for key in visible { try? client.delete(bucket: location.bucket, key: key) }
        abortOpenUploads(keeping: Set(previouslyCommitted.values.compactMap { $0.upload?.uploadID }))
        if previouslyCommitted.isEmpty {
            try? client.delete(bucket: location.bucket, key: location.directoryPrefix + JobManifest.fileName)
        } else {
            lock.withLock { entries = previouslyCommitted }
            try? writeManifest()
        }
    }

    /// Aborts the open uploads below the output but those in `kept` (best effort: a store that
    /// fails now leaves them, and `--overwrite` or `--resume` aborts them later).
    private func abortOpenUploads(keeping kept: Set<String>) {
        guard let open = try? client.openUploads(bucket: location.bucket, prefix: location.directoryPrefix) else { return }
        for upload in open where !kept.contains(upload.uploadID) {
            try? client.abortUpload(bucket: location.bucket, key: upload.key, uploadID: upload.uploadID)
        }
    }

    func holds(file name: String) -> Bool { lock.withLock { completedNames.contains(name) } }

    private func writeManifest() throws(JobError) {
        let recorded = lock.withLock { entries.values.sorted { $0.partition < $1.partition } }
        let text = JobManifest.text(fingerprint: fingerprint, partitions: partitions, entries: recorded)
        do { try client.put(bucket: location.bucket, key: location.directoryPrefix + JobManifest.fileName, body: [UInt8](text), contentType: "application/x-ndjson") } catch {
            throw JobError("cannot write the job manifest \(location.appending(JobManifest.fileName)): \(error.message)")
        }
    }
}
