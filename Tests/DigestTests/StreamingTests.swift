import Foundation
import Testing
import Digest

@Suite("Streaming, copies and edge cases")
struct StreamingTests {
    /// bytes(i % 251 for i in range(n)), as the boundary vectors use.
    static func message(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 251) } }

    /// bytes((i * 7 + 3) % 256 for i in range(n)).
    static func key(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(($0 * 7 + 3) % 256) } }

    @Test("SHA-256 fed in odd chunk sizes equals one shot", arguments: [1, 3, 7, 63, 64, 65, 127, 1000, 4097, 65_537])
    func sha256Chunks(chunk: Int) {
        let bytes = Self.message(200_003)
        let expected = SHA256.hash(bytes)
        var hasher = SHA256()
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let end = min(offset + chunk, raw.count)
                hasher.update(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                offset = end
            }
        }
        #expect(hasher.finalize() == expected)
    }

    // Python: hmac.new(key(n), message(1000), hashlib.sha256).hexdigest(): an empty key, keys
    // around the 64-byte block and one longer than a block (hashed first).
    @Test("HMAC-SHA256 with keys of every kind of length, streamed in odd chunks", arguments: [
        (0, "192683c6c993d8514ff6107597a93cf26e5e76bb16e22dd54128545866f7563d"),
        (1, "a8cb5c3852dc18c258c4c7524b525748ad2af8f0ca54671aea1841b5f266e358"),
        (63, "77025229c4ac92c6d3466d2f62e856d6ed34e8ae39cc5018e307a78ab2f54841"),
        (64, "e9cc0a8f11486a5ebf3ac077b15bb8829fbd00d85eba4956bed208a1646d0994"),
        (65, "903bc7a05e4da39f8e31cff70dc585e95fda7ecd70c1804b50113f92a59fd4a0"),
        (200, "fd759af68b8684077e1bda3412840ebe57ebd33c75374eed269070791a35d846"),
    ])
    func hmacKeys(keyLength: Int, tag: String) {
        let key = Self.key(keyLength)
        let message = Self.message(1000)
        #expect(Hex.encode(HMAC.sha256(key: key, message: message)) == tag)
        // A key that is not contiguous in memory gives the same tag.
        #expect(Hex.encode(HMAC.sha256(key: key.lazy.map { $0 }, message: message)) == tag)
        for chunk in [1, 5, 64, 333] {
            var mac = HMAC(key: key)
            var offset = 0
            while offset < message.count {
                let end = min(offset + chunk, message.count)
                mac.update(message[offset..<end])
                offset = end
            }
            #expect(Hex.encode(mac.finalize()) == tag, "chunks of \(chunk)")
        }
    }

    @Test("HMAC of an empty message under an empty key")
    func hmacEmpty() {
        #expect(Hex.encode(HMAC.sha256(key: [UInt8](), message: [UInt8]()))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test("copies of a hasher or a MAC go on independently")
    func copiesAreIndependent() {
        var a = SHA256()
        a.update("ab".utf8)
        var b = a
        b.update("c".utf8)
        #expect(Hex.encode(a.finalize()) == SHA256.hex("ab".utf8))
        #expect(Hex.encode(b.finalize()) == SHA256.hex("abc".utf8))
        a.update("x".utf8)
        #expect(Hex.encode(a.finalize()) == SHA256.hex("abx".utf8))
        #expect(Hex.encode(b.finalize()) == SHA256.hex("abc".utf8))

        var m = HMAC(key: Array("Jefe".utf8))
        m.update("what do ya want ".utf8)
        var n = m
        n.update("for nothing?".utf8)
        m.update("for something?".utf8)
        #expect(Hex.encode(n.finalize()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(m.finalize() == HMAC.sha256(key: Array("Jefe".utf8), message: Array("what do ya want for something?".utf8)))
    }

    @Test("one hasher shared by concurrent tasks, each finishing its own copy")
    func sharedAcrossTasks() async {
        var base = SHA256()
        base.update(Self.message(10_000))
        let shared = base
        let results = await withTaskGroup(of: (Int, [UInt8]).self) { group in
            for i in 0..<16 {
                group.addTask {
                    var mine = shared
                    mine.update([UInt8(i)])
                    return (i, mine.finalize())
                }
            }
            var all: [Int: [UInt8]] = [:]
            for await (i, digest) in group { all[i] = digest }
            return all
        }
        for i in 0..<16 {
            #expect(results[i] == SHA256.hash(Self.message(10_000) + [UInt8(i)]))
        }
        #expect(shared.finalize() == SHA256.hash(Self.message(10_000)))
    }

    @Test("hashing files: empty, exactly the 1 MiB read size, and a directory")
    func files() throws {
        let directory = NSTemporaryDirectory() + "digest-files-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let empty = directory + "/empty"
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        #expect(Hex.encode(try SHA256.hash(contentsOfFile: empty))
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Python: hashlib.sha256(bytes((i * 31 + (i >> 9)) % 256 for i in range(1 << 20))).hexdigest()
        let mebibyte = directory + "/mebibyte"
        let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 9)) }
        try Data(bytes).write(to: URL(fileURLWithPath: mebibyte))
        #expect(Hex.encode(try SHA256.hash(contentsOfFile: mebibyte))
                == "d12d0182a4797ab1c11f5c225073ab9d5a4d8061bbbd595e23dc6e0b4a69319e")
        let error = #expect(throws: SHA256.FileError.self) { try SHA256.hash(contentsOfFile: directory) }
        #expect(error?.path == directory)
        #expect(error?.errno == EISDIR)
    }
}
