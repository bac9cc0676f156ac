import Columnar

/// Decodes BOOLEAN values in the RLE encoding (Encodings.md "RLE"): the RLE / bit-packing hybrid
/// with bit width 1 after a 4-byte little-endian length, in v1 and v2 pages alike.
enum RLEBooleanDecoder {
    /// Decodes `count` booleans at the start of `data` into one byte (0 or 1) each at `out`.
    static func decode(_ data: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutablePointer<UInt8>) throws {
        guard data.count >= 4 else { throw ParquetFormatError("unexpected end of page in RLE boolean length") }
        let length = Int(UInt32(littleEndian: data.baseAddress!.loadUnaligned(as: UInt32.self)))
        guard length <= data.count - 4 else { throw ParquetFormatError("RLE booleans of \(length) bytes exceed the page") }
        var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: data[4..<4 + length]), bitWidth: 1)
        try decoder.decode(into: out, count: count)
    }
}
