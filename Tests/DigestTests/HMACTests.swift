import Testing
import Digest

@Suite("HMAC-SHA256 and constant-time comparison")
struct HMACTests {
    static func repeated(_ byte: UInt8, _ count: Int) -> [UInt8] { [UInt8](repeating: byte, count: count) }

    // RFC 4231, test cases 1-7 (case 5 is truncated to 128 bits by the RFC).
    static let cases: [(name: String, key: [UInt8], data: [UInt8], tag: String)] = [
        ("1", repeated(0x0b, 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("2", Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ("3", repeated(0xaa, 20), repeated(0xdd, 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ("4", Array(1...25), repeated(0xcd, 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        ("5", repeated(0x0c, 20), Array("Test With Truncation".utf8),
         "a3b6167473100ee06e0c796c2955552b"),
        ("6", repeated(0xaa, 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        ("7", repeated(0xaa, 131),
         Array(("This is a test using a larger than block-size key and a larger than block-size data. "
                + "The key needs to be hashed before being used by the HMAC algorithm.").utf8),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]

    @Test("RFC 4231 test vectors", arguments: 0..<7)
    func rfc4231(index: Int) {
        let c = Self.cases[index]
        let tag = Hex.encode(HMAC.sha256(key: c.key, message: c.data))
        #expect(tag.hasPrefix(c.tag), "case \(c.name)")
        #expect(tag.count == 64)
        // Streaming in two parts gives the same tag.
        var mac = HMAC(key: c.key)
        mac.update(c.data.prefix(7))
        mac.update(c.data.dropFirst(7))
        #expect(Hex.encode(mac.finalize()) == tag, "case \(c.name), streamed")
    }

    @Test("constant-time comparison")
    func constantTime() {
        let a = HMAC.sha256(key: Array("k".utf8), message: Array("m".utf8))
        var b = a
        #expect(ConstantTime.equals(a, b))
        b[31] ^= 1
        #expect(!ConstantTime.equals(a, b))
        b = a
        b[0] ^= 0x80
        #expect(!ConstantTime.equals(a, b))
        #expect(!ConstantTime.equals(a, a.dropLast()))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
        #expect(ConstantTime.equals("abc".utf8, Array("abc".utf8)))
    }

    @Test("hex round trip and rejection of bad text")
    func hex() {
        let bytes: [UInt8] = [0x00, 0x0f, 0xa0, 0xff]
        #expect(Hex.encode(bytes) == "000fa0ff")
        #expect(Hex.decode("000fa0ff") == bytes)
        #expect(Hex.decode("000FA0FF") == bytes)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("") == [])
        #expect(Hex.isLowercase("000fa0ff", byteCount: 4))
        #expect(!Hex.isLowercase("000FA0FF", byteCount: 4))
        #expect(!Hex.isLowercase("000fa0f", byteCount: 4))
    }
}
