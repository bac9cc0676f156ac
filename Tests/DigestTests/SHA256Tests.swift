import Foundation
import Testing
import Digest

@Suite("SHA-256")
struct SHA256Tests {
    // FIPS 180-2, appendix B, and the empty message.
    @Test("FIPS 180-2 test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func vectors(message: String, digest: String) {
        #expect(SHA256.hex(Array(message.utf8)) == digest)
        #expect(SHA256.hex(message.utf8) == digest)
    }

    @Test("one million 'a' (FIPS 180-2 B.3), fed in uneven pieces")
    func millionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(million) == expected)
        var hasher = SHA256()
        var offset = 0
        var step = 1
        while offset < million.count {
            let end = min(offset + step, million.count)
            hasher.update(million[offset..<end])
            offset = end
            step = step * 3 % 1000 + 1
        }
        #expect(Hex.encode(hasher.finalize()) == expected)
    }

    // Python's hashlib over bytes(i % 251 for i in range(n)): lengths around the padding boundaries.
    @Test("lengths around block and padding boundaries", arguments: [
        (1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        (55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"),
        (56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"),
        (57, "2fe741af801cc238602ac0ec6a7b0c3a8a87c7fc7d7f02a3fe03d1c12eac4d8f"),
        (63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"),
        (64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"),
        (65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"),
        (119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"),
        (120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"),
        (127, "92ca0fa6651ee2f97b884b7246a562fa71250fedefe5ebf270d31c546bfea976"),
        (128, "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5"),
        (129, "5099c6a56203f9687f7d33f4bfdf576d31dc91f6b695ecea38b2770c87631135"),
        (1000, "4e4c294b331f7a2099a379bec34b9f9fc03dc46ab465d998f4d683da53487e6d"),
        (4097, "a16560d668b843fb3be99ace41dbd18471f342bd3255a1d21204b35e43f74436"),
    ])
    func boundaries(length: Int, digest: String) {
        let bytes = (0..<length).map { UInt8($0 % 251) }
        #expect(SHA256.hex(bytes) == digest)
        // Every split point gives the same digest as one shot.
        for split in stride(from: 0, through: length, by: max(1, length / 40)) {
            var hasher = SHA256()
            bytes.withUnsafeBytes { raw in
                hasher.update(UnsafeRawBufferPointer(rebasing: raw[0..<split]))
                hasher.update(UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(Hex.encode(hasher.finalize()) == digest, "split at \(split)")
        }
    }

    @Test("finalize leaves the hasher usable; non-contiguous sequences are hashed too")
    func finalizeIsNonDestructive() {
        var hasher = SHA256()
        hasher.update("ab".utf8)
        #expect(Hex.encode(hasher.finalize()) == SHA256.hex("ab".utf8))
        hasher.update("c".utf8)
        #expect(Hex.encode(hasher.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Set<UInt8>([7])) == SHA256.hex([7]))
        #expect(SHA256.hash([1, 2, 3]).count == SHA256.byteCount)
    }

    @Test("hashing a file streams it and matches hashing its bytes")
    func file() throws {
        let path = NSTemporaryDirectory() + "digest-file-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = (0..<3_000_001).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 9)) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try SHA256.hash(contentsOfFile: path) == SHA256.hash(bytes))
        #expect(throws: SHA256.FileError.self) { try SHA256.hash(contentsOfFile: path + ".missing") }
    }

    @Test("throughput on 16 MiB (informative; asserted only loosely)")
    func throughput() {
        let size = 16 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        for i in 0..<size / 8 { buffer.storeBytes(of: UInt64(i) &* 0x9E37_79B9_7F4A_7C15, toByteOffset: i * 8, as: UInt64.self) }
        let clock = ContinuousClock()
        let elapsed = clock.measure { _ = SHA256.hash(UnsafeRawBufferPointer(buffer)) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(size) / 1_048_576 / seconds
        print("SHA-256: \(Int(rate)) MiB/s over 16 MiB")
        // Even a debug build manages a few MiB/s; release is hundreds.
        #expect(rate > 1)
    }
}
