import Columnar

/// Decodes the definition levels of a flat leaf: its maximum definition level is 0 (REQUIRED,
/// no levels stored) or 1 (OPTIONAL: one bit per value, 1 for a value, 0 for a null).
/// Repetition levels are never decoded, as every column read is flat.
///
/// v1 pages store the levels at the start of the (decompressed) page, in RLE (the RLE /
/// bit-packing hybrid after a 4-byte length) or the deprecated BIT_PACKED; v2 pages in a
/// section of their own, never compressed, in the hybrid without a length.
enum LevelDecoder {
    /// Decodes the `count` levels at the start of a v1 page's bytes `data` into `levels`;
    /// returns the bytes they take (where the page's values start).
    /// - Throws: `ParquetFormatError` if the levels exceed the page or hold fewer than `count`
    ///   values, or for an encoding other than RLE and BIT_PACKED.
    static func decodeV1(_ data: UnsafeRawBufferPointer, encoding: ParquetEncoding, count n: Int,
                         into levels: UnsafeMutablePointer<UInt8>) throws -> Int {
        switch encoding {
        case .rle:
            guard data.count >= 4 else { throw ParquetFormatError("unexpected end of page in definition level length") }
            let length = Int(UInt32(littleEndian: data.baseAddress!.loadUnaligned(as: UInt32.self)))
            guard length <= data.count - 4 else {
                throw ParquetFormatError("definition levels of \(length) bytes exceed the page's \(data.count - 4) bytes")
            }
            try decodeRLE(UnsafeRawBufferPointer(rebasing: data[4..<4 + length]), count: n, into: levels)
            return 4 + length
        case .bitPacked:
            // Legacy BIT_PACKED levels: MSB first, no length prefix.
            let length = (n + 7) / 8
            guard length <= data.count else { throw ParquetFormatError("unexpected end of page in BIT_PACKED definition levels") }
            if n > 0 {
                let src = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
                for i in 0..<n { levels[i] = (src[i >> 3] >> UInt8(7 - (i & 7))) & 1 }
            }
            return length
        default:
            throw ParquetFormatError("definition level encoding \(encoding.name) is not supported")
        }
    }

    /// Decodes `count` levels from `section` (the hybrid without a length prefix: a v2 page's
    /// definition-level section, or a v1 page's RLE levels after their length) into `levels`.
    /// - Throws: `ParquetFormatError` if the section holds fewer than `count` levels.
    static func decodeRLE(_ section: UnsafeRawBufferPointer, count n: Int, into levels: UnsafeMutablePointer<UInt8>) throws {
        var decoder = try RLEHybridDecoder(section, bitWidth: 1)
        try decoder.decode(into: levels, count: n)
    }

    /// How many of the `n` levels are 1: the page's non-null values.
    @inline(__always)
    static func countNonNull(_ levels: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var valid = 0
        for i in 0..<n { valid &+= Int(levels[i]) }
        return valid
    }
}
