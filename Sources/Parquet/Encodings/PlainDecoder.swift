import Columnar

/// Decoders for the PLAIN encoding (Encodings.md "Plain"): little-endian fixed-width values,
/// LSB-first bit-packed booleans, and u32-length-prefixed byte arrays.
///
/// Values are written densely (one per non-null slot); the caller spreads them over null slots.
enum PlainDecoder {
    /// Copies `count` PLAIN values of `width` bytes (a fixed-width `physical` type other than
    /// BOOLEAN: the values as stored) to `out`.
    @inline(__always)
    static func decodeFixedWidth(_ physical: ParquetPhysicalType, _ data: UnsafeRawBufferPointer, width: Int, count: Int,
                                 into out: UnsafeMutableRawPointer) throws {
        guard data.count >= count * width else {
            throw ParquetFormatError("unexpected end of page: PLAIN \(physical.name) values need \(count * width) bytes, page holds \(data.count)")
        }
        out.copyMemory(from: data.baseAddress!, byteCount: count * width)
    }

    /// Bit-packed booleans, LSB first, into one byte (0 or 1) per value.
    static func decodeBooleans<S: FixedWidthInteger & UnsignedInteger>(
        _ data: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<S>, count: Int
    ) throws {
        let needed = (count + 7) / 8
        guard data.count >= needed else {
            throw ParquetFormatError("unexpected end of page: \(count) PLAIN booleans need \(needed) bytes, page holds \(data.count)")
        }
        let src = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var i = 0
        while i + 8 <= count {
            let b = src[i >> 3]
            out[i] = S(b & 1); out[i + 1] = S((b >> 1) & 1); out[i + 2] = S((b >> 2) & 1); out[i + 3] = S((b >> 3) & 1)
            out[i + 4] = S((b >> 4) & 1); out[i + 5] = S((b >> 5) & 1); out[i + 6] = S((b >> 6) & 1); out[i + 7] = S(b >> 7)
            i += 8
        }
        while i < count {
            out[i] = S((src[i >> 3] >> UInt8(i & 7)) & 1)
            i += 1
        }
    }

    /// Walks `count` PLAIN byte arrays, calling `body` with each value's bytes.
    @inline(__always)
    static func forEachByteArray(_ data: UnsafeRawBufferPointer, count: Int,
                                 _ body: (UnsafeRawPointer, Int) throws -> Void) throws {
        guard count > 0 else { return }
        let base = data.baseAddress!
        let end = data.count
        var pos = 0
        for _ in 0..<count {
            guard end - pos >= 4 else { throw ParquetFormatError("unexpected end of page in PLAIN byte array length") }
            let len = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: pos, as: UInt32.self)))
            pos += 4
            guard end - pos >= len else {
                throw ParquetFormatError("PLAIN byte array of \(len) bytes exceeds the \(end - pos) bytes left in the page")
            }
            try body(base + pos, len)
            pos += len
        }
    }
}
