import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The record a kept-alive worker (`worker --keep-alive --record FILE`) writes and holds for as
/// long as it lives: a small JSON file naming its process and port, on which it keeps an
/// exclusive `flock`. The next job knows the worker is still there when the lock is held; the
/// kernel releases it when the process ends, however it ends, so a dead worker's record can
/// never be mistaken for a live one, and a recycled process id means nothing.
public struct KeptWorkerRecord: Sendable, Codable, Equatable {
    public var pid: Int32
    /// The loopback port the worker reconnects to.
    public var port: Int
    /// Workers the process stands for (`worker --processes`: it forks the others for each job).
    public var processes: Int

    public init(pid: Int32, port: Int, processes: Int = 1) {
        self.pid = pid
        self.port = port
        self.processes = processes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        pid = try container.decode(Int32.self, forKey: .pid)
        port = try container.decode(Int.self, forKey: .port)
        // Records written before `--processes` stand for one worker.
        processes = try container.decodeIfPresent(Int.self, forKey: .processes) ?? 1
    }

    /// Written and locked by the worker; the descriptor stays open, and the lock held, until the process ends.
    public final class Held: Sendable {
        private let fd: Int32
        init(fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }

    /// Writes the record at `path` and takes its lock for the life of the process.
    ///
    /// The file is written and locked under a temporary name and then renamed into place, so
    /// that a reader never sees it unlocked or empty. Processes the worker forks (a model's
    /// `multiprocessing`) close their copy of the descriptor at once, so that one outliving the
    /// worker cannot keep its record alive.
    /// - Throws: a message naming the file when it cannot be written or is held by another process.
    public static func hold(path: String, record: KeptWorkerRecord) throws(RecordError) -> Held {
        if live(at: path) != nil { throw RecordError("the worker record \(path) is held by another running worker") }
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RecordError("cannot write the worker record \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array((try? JSONEncoder().encode(record)) ?? Data())
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, write(fd, bytes, bytes.count) == bytes.count, rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw RecordError("cannot write the worker record \(path): \(why)")
        }
        ForkedChildren.close(fd)
        return Held(fd: fd)
    }

    /// The record at `path` if a running worker holds it; nil when there is none or its worker
    /// has ended (the lock is free). A stale file is left where it is: removing it is for the
    /// owner of the directory, who knows which files are records.
    public static func live(at path: String) -> KeptWorkerRecord? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Free: nobody holds it, its worker is gone.
        if flock(fd, LOCK_SH | LOCK_NB) == 0 { return nil }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return try? JSONDecoder().decode(KeptWorkerRecord.self, from: Data(buffer[0..<count]))
    }

    /// A record that cannot be written.
    public struct RecordError: Error, Sendable, CustomStringConvertible {
        public var message: String
        init(_ message: String) { self.message = message }
        public var description: String { message }
    }
}

/// Closes a descriptor in every child this process forks (`pthread_atfork`), so that a lock the
/// process holds on it ends with the process, not with its longest-lived child.
private enum ForkedChildren {
    nonisolated(unsafe) static var descriptor: Int32 = -1

    static func close(_ fd: Int32) {
        descriptor = fd
        pthread_atfork(nil, nil) {
            if ForkedChildren.descriptor >= 0 { Glibc.close(ForkedChildren.descriptor) }
        }
    }
}
