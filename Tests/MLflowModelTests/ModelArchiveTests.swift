import Columnar
import Foundation
import Testing
import TestSupport
@testable import MLflowModel

/// Builds archive bytes by hand, so that tests can make ones `pack` never would.
func rawArchive(_ entries: [(path: [UInt8], mode: UInt32, content: [UInt8])], count: UInt64? = nil) -> [UInt8] {
    var bytes = Array("SCMA".utf8)
    func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    put(UInt32(1))
    put(count ?? UInt64(entries.count))
    for entry in entries {
        put(UInt32(entry.path.count))
        put(entry.mode)
        put(UInt64(entry.content.count))
        bytes += entry.path
        bytes += entry.content
    }
    return bytes
}

func archive(hashing bytes: [UInt8]) -> ModelArchive {
    ModelArchive(hashing: bytes.withUnsafeBytes { ColumnBuffer(copying: $0) })
}

func archiveError(_ body: () throws -> Void) -> ModelArchiveError? {
    do {
        try body()
        return nil
    } catch let error as ModelArchiveError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

@Suite("Model archives")
struct ModelArchiveTests {
    /// A model directory with nested directories, several modes, an empty file and a 20 MB file.
    static func makeModel(in scratch: ScratchDirectory) throws -> [String: (bytes: [UInt8], mode: Int)] {
        var big = [UInt8](repeating: 0, count: 20_000_000)
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in big.indices {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            big[i] = UInt8(truncatingIfNeeded: x)
        }
        let files: [String: (bytes: [UInt8], mode: Int)] = [
            "MLmodel": (Array("flavors:\n  python_function: {}\n".utf8), 0o644),
            "model.pkl": (big, 0o600),
            "code/pkg/__init__.py": ([], 0o644),
            "code/pkg/deep/er/module.py": (Array("x = 1\n".utf8), 0o640),
            "code/run.sh": (Array("#!/bin/sh\necho hi\n".utf8), 0o755),
            "artifacts/read-only.txt": (Array("frozen".utf8), 0o444),
            ".hidden": (Array("dot".utf8), 0o600),
            "données/é.txt": (Array("unicode".utf8), 0o644),
        ]
        for (path, file) in files { try scratch.write("model/" + path, file.bytes, mode: file.mode) }
        return files
    }

    @Test("pack and unpack round trip: nested directories, modes, empty and 20 MB files")
    func roundTrip() throws {
        let scratch = try ScratchDirectory()
        let files = try Self.makeModel(in: scratch)
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        #expect(archive.sha256.count == 64)

        let entries = try archive.entries()
        #expect(entries.map(\.path) == files.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(entries.first { $0.path == "code/run.sh" }?.mode == 0o755)

        // What a worker does: accept the received bytes against the announced hash, then unpack.
        let received = try ModelArchive(bytes: archive.bytes, expectedSHA256: archive.sha256)
        try received.unpack(into: scratch.path + "/out/model")
        for (path, file) in files {
            #expect(scratch.contents("out/model/" + path) == file.bytes, "\(path)")
            #expect(try scratch.mode("out/model/" + path) == file.mode, "\(path)")
        }
        #expect(scratch.listing().filter { $0.hasPrefix("out/model/") }.map { $0.dropFirst(4) }
                == scratch.listing().filter { $0.hasPrefix("model/") }.map { $0.dropFirst(0) })
        // Nothing else is left next to the destination.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/out") == ["model"])

        // The same content packs to the same bytes: the hash is a content address.
        let again = try ModelArchive.pack(directory: scratch.path + "/out/model")
        #expect(again.sha256 == archive.sha256)
        #expect(again.bytes == archive.bytes)
    }

    @Test("an empty model directory packs and unpacks")
    func emptyDirectory() throws {
        let scratch = try ScratchDirectory()
        try FileManager.default.createDirectory(atPath: scratch.path + "/empty", withIntermediateDirectories: true)
        let archive = try ModelArchive.pack(directory: scratch.path + "/empty")
        #expect(archive.count == ModelArchive.headerSize)
        try archive.unpack(into: scratch.path + "/out")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/out") == [])
    }

    @Test("a tampered or mislabelled archive is refused before anything is unpacked")
    func tampered() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("model/MLmodel", "flavors: {}\n")
        try scratch.write("model/weights.bin", [UInt8](repeating: 7, count: 10_000))
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        var bytes = archive.bytes
        bytes[bytes.count - 100] ^= 0x01
        #expect(archiveError { _ = try ModelArchive(bytes: bytes, expectedSHA256: archive.sha256) }?.code == .hashMismatch)
        // Upper-case hex of the right hash is fine; a wrong or malformed hash is not.
        _ = try ModelArchive(bytes: archive.bytes, expectedSHA256: archive.sha256.uppercased())
        let wrong = String(repeating: "0", count: 64)
        #expect(archiveError { _ = try ModelArchive(bytes: archive.bytes, expectedSHA256: wrong) }?.code == .hashMismatch)
        #expect(archiveError { _ = try ModelArchive(bytes: archive.bytes, expectedSHA256: "../../etc") }?.code == .hashMismatch)
    }

    static let unsafePaths: [[UInt8]] = [
        Array("../evil".utf8),
        Array("/etc/passwd".utf8),
        Array("a/../../evil".utf8),
        Array("a/..".utf8),
        Array("..".utf8),
        Array("./a".utf8),
        Array("a/./b".utf8),
        Array("a//b".utf8),
        Array("a/".utf8),
        Array("".utf8),
        Array("a\u{0}b".utf8),
        [0x61, 0xff, 0x62],                       // not UTF-8
        Array(String(repeating: "x", count: 256).utf8),  // component too long
    ]

    @Test("entries that could escape the destination are refused", arguments: unsafePaths)
    func traversal(path: [UInt8]) throws {
        let scratch = try ScratchDirectory()
        let bytes = rawArchive([(Array("ok.txt".utf8), 0o644, Array("fine".utf8)), (path, 0o644, Array("pwned".utf8))])
        let error = archiveError { try archive(hashing: bytes).unpack(into: scratch.path + "/dest") }
        #expect(error?.code == .unsafePath, "\(String(decoding: path, as: UTF8.self)): \(String(describing: error))")
        // Nothing was written: no destination, no leftover temporary directory, nothing outside.
        #expect(scratch.listing() == [])
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/evil"))
    }

    @Test("duplicate entries and a file that is also a directory are refused")
    func conflicts() throws {
        let scratch = try ScratchDirectory()
        let cases: [[(path: [UInt8], mode: UInt32, content: [UInt8])]] = [
            [(Array("a".utf8), 0o644, [1]), (Array("a".utf8), 0o644, [2])],
            [(Array("a".utf8), 0o644, [1]), (Array("a/b".utf8), 0o644, [2])],
            [(Array("a/b".utf8), 0o644, [1]), (Array("a".utf8), 0o644, [2])],
        ]
        for entries in cases {
            let error = archiveError { try archive(hashing: rawArchive(entries)).unpack(into: scratch.path + "/dest") }
            #expect(error?.code == .unsafePath, "\(String(describing: error))")
        }
        #expect(scratch.listing() == [])
    }

    @Test("malformed archives are refused")
    func malformed() throws {
        let scratch = try ScratchDirectory()
        let good = rawArchive([(Array("a".utf8), 0o644, Array("hello".utf8))])
        var badMagic = good
        badMagic[0] = 0x58
        var badVersion = good
        badVersion[4] = 2
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("bad magic", badMagic),
            ("unknown format version", badVersion),
            ("truncated content", Array(good.dropLast())),
            ("trailing bytes", good + [0]),
            ("more entries announced than present", rawArchive([(Array("a".utf8), 0o644, [1])], count: 2)),
            ("set-uid bit", rawArchive([(Array("a".utf8), 0o4755, [1])])),
            ("content length past the end", Array(good[0..<24]) + [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0] + Array("a".utf8)),
        ]
        for (name, bytes) in cases {
            let error = archiveError { try archive(hashing: bytes).unpack(into: scratch.path + "/dest") }
            #expect(error?.code == .malformed, "\(name): \(String(describing: error))")
        }
        #expect(scratch.listing() == [])
    }

    @Test("file-count and size caps are enforced when packing and unpacking")
    func caps() throws {
        let scratch = try ScratchDirectory()
        for i in 0..<5 { try scratch.write("model/f\(i)", [UInt8](repeating: UInt8(i), count: 1000)) }
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        let fewFiles = ModelArchive.Limits(maxTotalBytes: 1 << 20, maxFileCount: 4)
        let fewBytes = ModelArchive.Limits(maxTotalBytes: 4999, maxFileCount: 100)
        #expect(archiveError { try archive.unpack(into: scratch.path + "/a", limits: fewFiles) }?.code == .tooManyFiles)
        #expect(archiveError { try archive.unpack(into: scratch.path + "/b", limits: fewBytes) }?.code == .tooLarge)
        #expect(archiveError { _ = try ModelArchive.pack(directory: scratch.path + "/model", limits: fewFiles) }?.code == .tooManyFiles)
        #expect(archiveError { _ = try ModelArchive.pack(directory: scratch.path + "/model", limits: fewBytes) }?.code == .tooLarge)
        // A count in the header far beyond the limit is refused before anything is allocated.
        let huge = rawArchive([], count: UInt64.max)
        #expect(archiveError { _ = try ModelArchive(hashing: huge.withUnsafeBytes { ColumnBuffer(copying: $0) }).entries() }?.code
                == .tooManyFiles)
        // Exactly at the limits is fine.
        try archive.unpack(into: scratch.path + "/c", limits: .init(maxTotalBytes: 5000, maxFileCount: 5))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/a"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/b"))
    }

    @Test("symlinks: followed to files inside the model, refused when leaving it, to directories or dangling")
    func symlinks() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("model/data/weights.bin", "weights", mode: 0o640)
        try scratch.write("secret.txt", "do not ship")
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: scratch.path + "/model/weights-link", withDestinationPath: "data/weights.bin")
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        #expect(try archive.entries().map(\.path) == ["data/weights.bin", "weights-link"])
        try archive.unpack(into: scratch.path + "/out")
        #expect(scratch.contents("out/weights-link") == Array("weights".utf8))
        #expect(try scratch.mode("out/weights-link") == 0o640)
        let attributes = try fm.attributesOfItem(atPath: scratch.path + "/out/weights-link")
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)

        for (name, target) in [("outside", "../secret.txt"), ("absolute", scratch.path + "/secret.txt"),
                               ("directory", "data"), ("dangling", "nowhere")] {
            try fm.createSymbolicLink(atPath: scratch.path + "/model/" + name, withDestinationPath: target)
            let error = archiveError { _ = try ModelArchive.pack(directory: scratch.path + "/model") }
            #expect(error?.code == .unsupportedFile, "\(name): \(String(describing: error))")
            #expect(error?.message.contains(name) == true)
            try fm.removeItem(atPath: scratch.path + "/model/" + name)
        }
        // The model directory itself may be reached through a symlink.
        try fm.createSymbolicLink(atPath: scratch.path + "/current", withDestinationPath: "model")
        #expect(try ModelArchive.pack(directory: scratch.path + "/current").sha256 == archive.sha256)
    }

    @Test("unpacking never replaces an existing destination")
    func destinationExists() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("model/a", "a")
        try scratch.write("dest/keep", "mine")
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        #expect(archiveError { try archive.unpack(into: scratch.path + "/dest") }?.code == .destinationExists)
        #expect(scratch.contents("dest/keep") == Array("mine".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == ["dest", "model"])
    }
}

@Suite("Model cache")
struct ModelCacheTests {
    @Test("store, then find by hash; hashes from peers cannot name other paths")
    func storeAndFind() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("model/MLmodel", "flavors: {}\n")
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        let cache = ModelCache(directory: scratch.path + "/cache/models")
        #expect(cache.path(for: archive.sha256) == nil)
        let stored = try cache.store(archive)
        #expect(stored == scratch.path + "/cache/models/" + archive.sha256)
        #expect(cache.path(for: archive.sha256) == stored)
        #expect(cache.path(for: archive.sha256.uppercased()) == stored)
        #expect(scratch.contents("cache/models/\(archive.sha256)/MLmodel") == Array("flavors: {}\n".utf8))
        #expect(try cache.store(archive) == stored)
        for bad in ["..", "../model", "", String(repeating: "g", count: 64), archive.sha256 + "/MLmodel"] {
            #expect(cache.path(for: bad) == nil)
        }
        // The cache directory is private to the user.
        #expect(try scratch.mode("cache/models") == 0o700)
    }

    @Test("an unpack abandoned by a dead process is cleaned up by the next store")
    func abandoned() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("model/MLmodel", "flavors: {}\n")
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        try scratch.write("cache/.\(archive.sha256).partial-AbCdEf/half-written", "x")
        let cache = ModelCache(directory: scratch.path + "/cache")
        try cache.store(archive)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache").sorted()
                == [".\(archive.sha256).lock", archive.sha256])
    }

    @Test("two threads storing the same hash at once end with one intact copy")
    func concurrentStore() throws {
        let scratch = try ScratchDirectory()
        let files = try ModelArchiveTests.makeModel(in: scratch)
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        let cache = ModelCache(directory: scratch.path + "/cache")
        for round in 0..<3 {
            let results = ResultBox()
            let threads = (0..<2).map { _ in
                Thread {
                    results.add(Result { () throws(ModelArchiveError) -> String in try cache.store(archive) })
                }
            }
            threads.forEach { $0.start() }
            results.wait(for: 2)
            let paths = try results.all.map { try $0.get() }
            #expect(Set(paths) == [scratch.path + "/cache/" + archive.sha256], "round \(round)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache").sorted()
                    == [".\(archive.sha256).lock", archive.sha256])
            for (path, file) in files {
                #expect(scratch.contents("cache/\(archive.sha256)/" + path) == file.bytes, "\(path)")
            }
            try FileManager.default.removeItem(atPath: scratch.path + "/cache/" + archive.sha256)
        }
    }

    @Test("without the lock, two unpacks racing to one destination still leave one whole copy (rename semantics)")
    func racingUnpacks() throws {
        let scratch = try ScratchDirectory()
        let files = try ModelArchiveTests.makeModel(in: scratch)
        let archive = try ModelArchive.pack(directory: scratch.path + "/model")
        for round in 0..<3 {
            let destination = scratch.path + "/race\(round)/model"
            let results = ResultBox()
            let threads = (0..<2).map { _ in
                Thread {
                    results.add(Result { () throws(ModelArchiveError) -> String in
                        try archive.unpack(into: destination)
                        return destination
                    })
                }
            }
            threads.forEach { $0.start() }
            results.wait(for: 2)
            let outcomes = results.all
            #expect(outcomes.filter { (try? $0.get()) != nil }.count == 1, "round \(round)")
            for case .failure(let error) in outcomes { #expect(error.code == .destinationExists) }
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/race\(round)") == ["model"])
            for (path, file) in files {
                #expect(scratch.contents("race\(round)/model/" + path) == file.bytes, "\(path)")
            }
        }
    }

    @Test("default directory follows XDG_CACHE_HOME, else HOME")
    func defaultDirectory() {
        #expect(ModelCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"])
                == "/x/cache/score-cluster/models")
        #expect(ModelCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/home/u"])
                == "/home/u/.cache/score-cluster/models")
        #expect(ModelCache.defaultDirectory(environment: ["HOME": "/home/u"]) == "/home/u/.cache/score-cluster/models")
    }
}

/// Collects results from threads.
final class ResultBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var results: [Result<String, ModelArchiveError>] = []

    func add(_ result: Result<String, ModelArchiveError>) {
        condition.lock()
        results.append(result)
        condition.broadcast()
        condition.unlock()
    }

    func wait(for count: Int) {
        condition.lock()
        while results.count < count { condition.wait() }
        condition.unlock()
    }

    var all: [Result<String, ModelArchiveError>] {
        condition.lock()
        defer { condition.unlock() }
        return results
    }
}
