#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Makes a job's output appear all at once, or not at all.
///
/// Part files are written under `OUTPUT/_temporary/JOB/`, fsynced, and renamed into
/// `OUTPUT/` when complete; `_SUCCESS` is written last. A failed job removes what it wrote
/// (and the output directory, if the job created it), so no partial output looks complete.
public final class OutputCommitter: @unchecked Sendable {
    public let directory: String
    public let temporaryDirectory: String
    private let createdDirectory: Bool
    private var committed: [String] = []
    private let lock = NSLock()

    /// Prepares `directory` for a job. An existing directory is refused unless `overwrite`,
    /// in which case its contents are removed now (the job has already been validated).
    public init(directory: String, overwrite: Bool, jobID: String, inputPath: String) throws(JobError) {
        let dir = URL(fileURLWithPath: directory).standardizedFileURL.path
        let input = URL(fileURLWithPath: inputPath).standardizedFileURL.path
        if dir == input || input.hasPrefix(dir + "/") || dir.hasPrefix(input + "/") {
            throw JobError("the output '\(dir)' overlaps the input '\(input)'; choose an output directory outside the input")
        }
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        var created = false
        if fm.fileExists(atPath: dir, isDirectory: &isDirectory) {
            guard overwrite else {
                throw JobError("the output '\(dir)' already exists; pass --overwrite to replace it, or choose another --output")
            }
            do {
                if isDirectory.boolValue {
                    for name in try fm.contentsOfDirectory(atPath: dir) { try fm.removeItem(atPath: dir + "/" + name) }
                } else {
                    try fm.removeItem(atPath: dir)
                }
            } catch {
                throw JobError("cannot clear the output '\(dir)' for --overwrite: \(error.localizedDescription)")
            }
        }
        if !fm.fileExists(atPath: dir) {
            created = true
        }
        let temporary = dir + "/_temporary/" + jobID
        do {
            try fm.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        } catch {
            throw JobError("cannot create the output directory '\(dir)': \(error.localizedDescription)")
        }
        self.directory = dir
        self.temporaryDirectory = temporary
        self.createdDirectory = created
    }

    /// Where the part file `name` is written before it is committed.
    public func temporaryPath(for name: String) -> String { temporaryDirectory + "/" + name }

    /// Moves the finished (already fsynced) part file `name` into the output directory.
    public func commit(_ name: String) throws(JobError) {
        let from = temporaryPath(for: name), to = directory + "/" + name
        guard rename(from, to) == 0 else {
            throw JobError("cannot move \(from) to \(to): \(String(cString: strerror(errno)))")
        }
        lock.withLock { committed.append(to) }
        fsyncDirectory(directory)
    }

    /// Writes `_SUCCESS` (after every part file is committed) and removes `_temporary`.
    public func markSuccess() throws(JobError) {
        try? FileManager.default.removeItem(atPath: directory + "/_temporary")
        let marker = directory + "/_SUCCESS"
        guard FileManager.default.createFile(atPath: marker, contents: Data()) else {
            throw JobError("cannot write \(marker)")
        }
        fsyncDirectory(directory)
    }

    /// Removes everything this job wrote; the output directory too if the job created it.
    public func abort() {
        let fm = FileManager.default
        try? fm.removeItem(atPath: directory + "/_temporary")
        for file in lock.withLock({ committed }) { try? fm.removeItem(atPath: file) }
        if createdDirectory, let rest = try? fm.contentsOfDirectory(atPath: directory), rest.isEmpty {
            try? fm.removeItem(atPath: directory)
        }
    }

    private func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// Why a job failed, for people: names the file, partition, column or worker at fault and
/// says what to do. `traceback` carries Python's when Python raised.
public struct JobError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var traceback: String?

    public init(_ message: String, traceback: String? = nil) {
        self.message = message
        self.traceback = traceback
    }

    public var description: String { message }
}
