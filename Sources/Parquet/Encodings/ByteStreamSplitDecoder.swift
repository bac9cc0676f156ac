import Columnar

/// Decodes BYTE_STREAM_SPLIT (Encodings.md "Byte stream split"): FLOAT, DOUBLE, INT32, INT64 and
/// FIXED_LEN_BYTE_ARRAY values stored as one stream per byte position.
enum ByteStreamSplitDecoder {
    /// Byte k of value i is at `k * stride + i`, where the stride is the
    /// number of values the section holds (its size / `width`, as Arrow reads it). Writes the
    /// first `count` values of `width` bytes to `out`.
    static func decode(_ data: UnsafeRawBufferPointer, count: Int, width: Int,
                       into out: UnsafeMutableRawPointer) throws {
        guard count > 0 else { return }
        let stride = data.count / width
        guard stride >= count else {
            throw ParquetFormatError("unexpected end of page: BYTE_STREAM_SPLIT needs \(count * width) bytes, page holds \(data.count)")
        }
        let src = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let dst = out.assumingMemoryBound(to: UInt8.self)
        switch width {
        case 4:
            for i in 0..<count {
                let v = UInt32(src[i]) | UInt32(src[stride + i]) << 8 | UInt32(src[2 * stride + i]) << 16 | UInt32(src[3 * stride + i]) << 24
                out.storeBytes(of: v.littleEndian, toByteOffset: i * 4, as: UInt32.self)
            }
        case 8:
            for i in 0..<count {
                var v: UInt64 = 0
                for k in 0..<8 { v |= UInt64(src[k * stride + i]) << UInt64(8 * k) }
                out.storeBytes(of: v.littleEndian, toByteOffset: i * 8, as: UInt64.self)
            }
        default:
            for k in 0..<width {
                let stream = src + k * stride
                for i in 0..<count { dst[i * width + k] = stream[i] }
            }
        }
    }
}
