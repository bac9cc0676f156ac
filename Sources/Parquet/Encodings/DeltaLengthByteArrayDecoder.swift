import Columnar

/// Decodes DELTA_LENGTH_BYTE_ARRAY (Encodings.md "Delta-length byte array"): the lengths as
/// DELTA_BINARY_PACKED, then the values' bytes one after another.
///
/// Counts in the data (block sizes, value totals, lengths) never size an allocation: values are
/// written into buffers the caller sized from the page's value count, and every read is checked
/// against the bytes of the page.
enum DeltaLengthByteArrayDecoder {
    /// Walks `count` DELTA_LENGTH_BYTE_ARRAY values, calling `body` with each value's bytes.
    static func forEach(_ data: UnsafeRawBufferPointer, count: Int, scratch: DecodeScratch,
                        _ body: (UnsafeRawPointer, Int) throws -> Void) throws {
        guard count > 0 else { return }
        let lengths = scratch.lengthBuffer(count, slot: 0)
        let (consumed, total) = try DeltaBinaryPackedDecoder.decodeLengths(data, count: count, into: lengths)
        guard total <= data.count - consumed else {
            throw ParquetFormatError("DELTA_LENGTH_BYTE_ARRAY lengths sum to \(total) bytes, page holds \(data.count - consumed)")
        }
        var p = data.baseAddress! + consumed
        for i in 0..<count {
            let l = Int(lengths[i])
            try body(p, l)
            p += l
        }
    }
}
