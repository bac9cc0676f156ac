#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Coordinator

/// The file-system side of the output rules, in temporary directories only: resolving
/// symlinks, removing without following them, and the output lock.
@Suite("Output directory: paths, removal, lock")
struct OutputDirectoryTests {
    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "/output-dir-test-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return OutputDirectoryFiles.resolve(path)
    }

    @Test("paths resolve through symlinks, also when their last components do not exist yet")
    func resolve() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/real/in", withIntermediateDirectories: true)
        symlink(root + "/real", root + "/link")
        #expect(OutputDirectoryFiles.resolve(root + "/link/in") == root + "/real/in")
        #expect(OutputDirectoryFiles.resolve(root + "/link/new/deeper") == root + "/real/new/deeper")
        #expect(OutputDirectoryFiles.resolve(root + "/link/new/../in") == root + "/real/in")
        // An output given through a symlink to the input is the input.
        symlink(root + "/real/in", root + "/lnk")
        let output = OutputDirectoryFiles.resolve(root + "/lnk")
        let input = OutputDirectoryFiles.resolve(root + "/real/in")
        #expect(OutputLocationRules.refusal(output: output, input: input, home: nil)?.contains("overlaps") == true)
    }

    @Test("removal unlinks symlinks and never touches what they point to")
    func removalDoesNotFollowSymlinks() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let outside = root + "/precious"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "keep".write(toFile: outside + "/data.txt", atomically: true, encoding: .utf8)
        let out = root + "/out"
        try FileManager.default.createDirectory(atPath: out + "/_temporary/job", withIntermediateDirectories: true)
        symlink(outside, out + "/_temporary/job/escape")
        symlink(outside + "/data.txt", out + "/part-00000.parquet")
        try "x".write(toFile: out + "/_SUCCESS", atomically: true, encoding: .utf8)

        let entries = try OutputDirectoryFiles.list(out)
        #expect(entries.contains(.init("part-00000.parquet", .symlink)))
        #expect(entries.contains(.init("_temporary", .directory)))
        try OutputDirectoryFiles.remove(entries, from: out)

        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
        #expect((try? String(contentsOfFile: outside + "/data.txt", encoding: .utf8)) == "keep")
    }

    @Test("removal stops at the first entry it cannot remove, naming it")
    func removalStopsAtFirstError() throws {
        let root = try temporaryDirectory()
        let out = root + "/out"
        try FileManager.default.createDirectory(atPath: out + "/_failed", withIntermediateDirectories: true)
        try "x".write(toFile: out + "/part-00001.parquet", atomically: true, encoding: .utf8)
        // A mount point cannot be removed (EBUSY), even by root: the tests run as root, for
        // whom permissions would not stop anything.
        let mounted = try TestMount.tmpfs(at: out + "/_failed")
        defer {
            mounted.unmount()
            try? FileManager.default.removeItem(atPath: root)
        }
        try "x".write(toFile: out + "/_failed/partition-0.json", atomically: true, encoding: .utf8)
        let entries: [OutputLocationRules.Entry] = [.init("_failed", .directory), .init("part-00001.parquet", .file)]
        do {
            try OutputDirectoryFiles.remove(entries, from: out)
            Issue.record("removing a mount point succeeded")
        } catch {
            #expect(error.message.contains("cannot remove '\(out)/_failed'"))
            #expect(error.message.contains("nothing after it was removed"))
        }
        #expect(FileManager.default.fileExists(atPath: out + "/part-00001.parquet"))
    }

    @Test("a second job on the same output is refused, naming the first; released, the output is free")
    func lockIsExclusive() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let first = LocalOutputLock(directory: root), second = LocalOutputLock(directory: root)
        let holder = OutputLockHolder(pid: 4242, host: "node-7", started: "2026-12-06T06:00:00Z")
        #expect(second.currentHolder() == nil)
        try first.acquire(as: holder)
        #expect(second.currentHolder() == holder)
        do {
            try second.acquire(as: .current())
            Issue.record("two jobs held one output")
        } catch {
            #expect(error.message.contains("in use by another job (pid 4242 on node-7, started 2026-12-06T06:00:00Z)"))
        }
        first.release()
        #expect(!FileManager.default.fileExists(atPath: root + "/_lock"))
        #expect(second.currentHolder() == nil)
        try second.acquire(as: .current())
        #expect(LocalOutputLock(directory: root).currentHolder()?.pid == getpid())
        second.release()
    }

    @Test("a lock left by a job that was killed does not hold the output")
    func staleLockFileIsFree() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try #"{"pid": 1, "host": "gone", "started": "2026-01-01T00:00:00Z"}"#.write(toFile: root + "/_lock", atomically: true, encoding: .utf8)
        let lock = LocalOutputLock(directory: root)
        #expect(lock.currentHolder() == nil)
        try lock.acquire(as: .current())
        lock.release()
    }
}

/// A tmpfs mounted for one test (the tests run as root, as CI does).
struct TestMount {
    let path: String

    /// Mounts a tmpfs of `size` at `path` (which must exist), with at most `inodes` inodes if given.
    static func tmpfs(at path: String, size: String = "4m", inodes: Int? = nil) throws -> TestMount {
        let options = "size=\(size)" + (inodes.map { ",nr_inodes=\($0)" } ?? "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = ["-t", "tmpfs", "-o", options, "tmpfs", path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestMountError(message: "mount -t tmpfs at \(path) failed (status \(process.terminationStatus)); these tests need root, as CI has")
        }
        return TestMount(path: path)
    }

    func unmount() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = [path]
        try? process.run()
        process.waitUntilExit()
    }
}

struct TestMountError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
