#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Makes a job's output appear partition by partition, each one whole or not at all, and the
/// job complete only when `_SUCCESS` is written.
///
/// A partition's file is written under `OUTPUT/_temporary/JOB/`, fsynced, renamed into
/// `OUTPUT/` and then recorded in the job manifest (`_manifest.jsonl`); `_SUCCESS` is written
/// last. A job that fails because of its model or input removes what it wrote (and the output
/// directory, if the job created it). A job that is interrupted (a signal, lost workers, a
/// full disk) keeps its committed partitions and manifest, and `--resume` finishes it.
public final class OutputCommitter: @unchecked Sendable {
    /// How the output directory is opened.
    public enum Mode: Sendable {
        /// A new job: the directory must not exist, unless `overwrite`.
        case create(overwrite: Bool)
        /// Continue the job recorded in the directory's manifest, which must be this job.
        case resume
    }

    public let directory: String
    public let temporaryDirectory: String
    /// Partitions already committed by an earlier run of the job (resume), by id.
    let previouslyCommitted: [Int: JobManifest.Entry]
    private let createdDirectory: Bool
    private let manifest: JobManifest
    private let outputLock: OutputLock
    private var committed: [String] = []
    private let lock = NSLock()

    /// Prepares `directory` for a job whose identity is `fingerprint`.
    ///
    /// Nothing is written before every check passed: the location (never the file system root,
    /// the home directory or anything overlapping the input, compared with symlinks resolved), no
    /// other job holding the output, and for `--overwrite` a directory that is recognisably an
    /// earlier output (`OutputLocationRules`). The job then holds the output's lock until it
    /// finishes, suspends or aborts. A failure part-way removes what this call made.
    init(directory: String, mode: Mode, jobID: String, inputPath: String, fingerprint: JobFingerprint,
         partitions: Int, lock: OutputLock? = nil, holder: OutputLockHolder = .current()) throws(JobError) {
        let dir = OutputDirectoryFiles.resolve(directory)
        // An input in object storage cannot overlap a local output.
        let remoteInput = inputPath.contains("://")
        let input = remoteInput ? "/nonexistent-remote-input/\(jobID)" : OutputDirectoryFiles.resolve(inputPath)
        let home = ProcessInfo.processInfo.environment["HOME"].map(OutputDirectoryFiles.resolve)
        if var refusal = OutputLocationRules.refusal(output: dir, input: input, home: home) {
            for (given, resolved) in [(directory, dir), (inputPath, input)]
            where !(remoteInput && given == inputPath) && URL(fileURLWithPath: given).standardizedFileURL.path != resolved {
                refusal += " ('\(given)' is '\(resolved)' once symlinks are resolved)"
            }
            throw JobError(refusal)
        }
        let outputLock = lock ?? LocalOutputLock(directory: dir)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: dir, isDirectory: &isDirectory)
        if exists, let other = outputLock.currentHolder() { throw LocalOutputLock.inUse(dir, by: other) }

        // Checks that write nothing.
        var toClear: [OutputLocationRules.Entry] = []
        switch mode {
        case .create(let overwrite):
            if exists {
                guard overwrite else {
                    let resumable = fm.fileExists(atPath: dir + "/" + JobManifest.fileName) && !fm.fileExists(atPath: dir + "/_SUCCESS")
                    throw JobError("the output '\(dir)' already exists; "
                        + (resumable ? "it holds an unfinished job: pass --resume to finish it, --overwrite to start over, or choose another --output"
                                     : "pass --overwrite to replace it, or choose another --output"))
                }
                guard isDirectory.boolValue else {
                    throw JobError("the output '\(dir)' is a file, not a directory; --overwrite replaces only an earlier job's output directory: remove the file by hand or choose another --output")
                }
                let entries = try OutputDirectoryFiles.list(dir)
                switch OutputLocationRules.overwrite(directory: dir, entries: entries, hasOwnManifest: JobManifest.isJobManifest(in: dir)) {
                case .clear(let entries): toClear = entries
                case .refuse(let reason): throw JobError(reason)
                }
            }
        case .resume:
            guard exists, isDirectory.boolValue else {
                throw JobError("nothing to resume: the output '\(dir)' does not exist (run without --resume to start the job)")
            }
            _ = try JobManifest.load(from: dir)
        }

        // Claim the output, then write.
        var created = false
        if !exists {
            // mkdir, not mkdir -p, for the last component: a job starting on the same new output
            // at the same moment must not count the directory as its own.
            let parent = (dir as NSString).deletingLastPathComponent
            try? fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
            if mkdir(dir, 0o755) == 0 {
                created = true
            } else if errno != EEXIST {
                throw JobError("cannot create the output directory '\(dir)': \(String(cString: strerror(errno)))")
            }
        }
        // rmdir, which removes only an empty directory: never another job's files.
        func undo() {
            outputLock.release()
            if created { rmdir(dir) }
        }
        do {
            try outputLock.acquire(as: holder)
        } catch {
            if created { rmdir(dir) }
            throw error
        }
        let temporary = dir + "/_temporary/" + jobID
        switch mode {
        case .create:
            do throws(JobError) {
                try OutputDirectoryFiles.remove(toClear, from: dir)
                try Self.makeDirectory(temporary, output: dir)
                previouslyCommitted = [:]
                manifest = try JobManifest.create(in: dir, fingerprint: fingerprint, partitions: partitions)
            } catch {
                // Leave nothing: a rerun starts afresh instead of meeting a half-made job.
                try? fm.removeItem(atPath: dir + "/_temporary")
                try? fm.removeItem(atPath: dir + "/" + JobManifest.fileName)
                undo()
                throw error
            }
        case .resume:
            do throws(JobError) {
                let recorded = try JobManifest.load(from: dir)
                let differences = fingerprint.differences(from: recorded.fingerprint)
                guard differences.isEmpty && recorded.partitions == partitions else {
                    let list = differences.isEmpty ? ["the job plans \(partitions) partitions, the recorded one \(recorded.partitions)"] : differences
                    throw JobError("cannot resume the job in '\(dir)': it is not the same job. \(list.joined(separator: "; ")). Resume with the same input, model and options, or pass --overwrite to start over")
                }
                try? fm.removeItem(atPath: dir + "/_temporary")
                try? fm.removeItem(atPath: dir + "/_failed")
                try Self.makeDirectory(temporary, output: dir)
                // Trust a recorded partition only if its file is still there, whole.
                var kept: [Int: JobManifest.Entry] = [:]
                for (id, entry) in recorded.committed {
                    let size = (try? fm.attributesOfItem(atPath: dir + "/" + entry.file)[.size] as? Int) ?? nil
                    if size == entry.bytes { kept[id] = entry }
                }
                previouslyCommitted = kept
                try? fm.removeItem(atPath: dir + "/_SUCCESS")
                manifest = try JobManifest.reopen(in: dir)
            } catch {
                // The manifest and committed partitions stay as they were: still resumable.
                try? fm.removeItem(atPath: dir + "/_temporary")
                outputLock.release()
                throw error
            }
        }
        self.directory = dir
        self.temporaryDirectory = temporary
        self.createdDirectory = created
        self.outputLock = outputLock
    }

    private static func makeDirectory(_ path: String, output: String) throws(JobError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw JobError("cannot create '\(path)' in the output '\(output)': \(error.localizedDescription)")
        }
    }

    /// Partitions committed, by this run and the one it resumes.
    var committedPartitions: Int { previouslyCommitted.count + lock.withLock { committed.count } }

    /// Where the part file `name` is written before it is committed.
    public func temporaryPath(for name: String) -> String { temporaryDirectory + "/" + name }

    /// Moves the finished (already fsynced) part file of a partition into the output directory
    /// and records it in the manifest.
    func commit(_ entry: JobManifest.Entry) throws(JobError) {
        let from = temporaryPath(for: entry.file), to = directory + "/" + entry.file
        if entry.file.contains("/") {
            let parent = (to as NSString).deletingLastPathComponent
            do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
                throw JobError("cannot create \(parent) in the output: \(error.localizedDescription)")
            }
        }
        guard rename(from, to) == 0 else {
            throw JobError("cannot move \(from) to \(to): \(String(cString: strerror(errno)))")
        }
        lock.withLock { committed.append(to) }
        fsyncDirectory(directory)
        try manifest.record(entry)
    }

    /// Writes a quarantined partition's description under `_failed/`.
    func recordFailure(named name: String, contents: Data) throws(JobError) {
        let failed = directory + "/_failed"
        let path = failed + "/" + name
        do {
            try FileManager.default.createDirectory(atPath: failed, withIntermediateDirectories: true)
            try contents.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw JobError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Removes the temporary files; then `_SUCCESS` unless partitions were quarantined.
    func finish(complete: Bool) throws(JobError) {
        try? FileManager.default.removeItem(atPath: directory + "/_temporary")
        fsyncDirectory(directory)
        guard complete else {
            outputLock.release()
            return
        }
        let marker = directory + "/_SUCCESS"
        guard FileManager.default.createFile(atPath: marker, contents: Data()) else {
            throw JobError("cannot write \(marker)")
        }
        outputLock.release()
        fsyncDirectory(directory)
    }

    /// Leaves the committed partitions and the manifest for `--resume`; removes the rest.
    func suspend() {
        try? FileManager.default.removeItem(atPath: directory + "/_temporary")
        outputLock.release()
    }

    /// Removes everything this job wrote; the output directory too if the job created it.
    func abort() {
        let fm = FileManager.default
        try? fm.removeItem(atPath: directory + "/_temporary")
        try? fm.removeItem(atPath: directory + "/_failed")
        for file in lock.withLock({ committed }) {
            try? fm.removeItem(atPath: file)
            // Mirrored partition directories this run made, once empty (rmdir removes only those).
            var parent = (file as NSString).deletingLastPathComponent
            while parent.count > directory.count && rmdir(parent) == 0 { parent = (parent as NSString).deletingLastPathComponent }
        }
        if previouslyCommitted.isEmpty { try? fm.removeItem(atPath: manifest.path) }
        outputLock.release()
        if createdDirectory { rmdir(directory) }
    }

    private func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
