import Columnar

/// Decodes DELTA_BINARY_PACKED (Encodings.md "Delta encoding"): INT32 and INT64 values, and the
/// lengths inside DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY.
///
/// Counts in the data (block sizes, value totals, lengths) never size an allocation: values are
/// written into buffers the caller sized from the page's value count, and every read is checked
/// against the bytes of the page.
enum DeltaBinaryPackedDecoder {
    /// Largest DELTA_BINARY_PACKED block accepted (the spec's writers use 128 or 1024 values).
    static let maxBlockSize = 1 << 20

    /// Reads `width` (0...64) bits at bit offset `bit` of `base[0..<end]`, LSB first. The caller
    /// has checked that the value's bytes lie within `end`.
    @inline(__always)
    static func readBits(_ base: UnsafeRawPointer, _ end: Int, bit: Int, width: Int) -> UInt64 {
        if width == 0 { return 0 }
        let byte = bit >> 3, shift = UInt64(bit & 7)
        var word: UInt64
        if byte + 8 <= end {
            word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: byte, as: UInt64.self))
        } else {
            word = 0
            for k in 0..<max(0, min(8, end - byte)) {
                word |= UInt64(base.load(fromByteOffset: byte + k, as: UInt8.self)) << UInt64(8 * k)
            }
        }
        var v = word >> shift
        if shift + UInt64(width) > 64 && byte + 8 < end {
            v |= UInt64(base.load(fromByteOffset: byte + 8, as: UInt8.self)) << (64 - shift)
        }
        return width == 64 ? v : v & ((UInt64(1) << UInt64(width)) - 1)
    }

    /// A ULEB128 varint at `pos`, advancing it.
    @inline(__always)
    static func varint(_ data: UnsafeRawBufferPointer, _ pos: inout Int) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard pos < data.count else { throw ParquetFormatError("unexpected end of page in a DELTA_BINARY_PACKED header") }
            let b = data[pos]
            pos += 1
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 70 else { throw ParquetFormatError("DELTA_BINARY_PACKED varint longer than 10 bytes") }
        }
    }

    @inline(__always)
    static func zigzag(_ v: UInt64) -> UInt64 { (v >> 1) ^ (0 &- (v & 1)) }

    /// Decodes a DELTA_BINARY_PACKED stream at the start of `data`, storing its first `count`
    /// values (as 4- or 8-byte little-endian integers, `width`) at `out`; the stream must hold at
    /// least `count` values. Arithmetic wraps in 64 bits, whose low 32 bits are INT32's wrapping
    /// arithmetic. Returns the bytes the whole stream occupies.
    static func decode(_ data: UnsafeRawBufferPointer, count: Int, width: Int,
                       into out: UnsafeMutableRawPointer?) throws -> Int {
        var pos = 0
        let blockSize = try varint(data, &pos)
        let miniblocks = try varint(data, &pos)
        let total = try varint(data, &pos)
        var last = zigzag(try varint(data, &pos))
        guard blockSize > 0, blockSize <= UInt64(maxBlockSize), blockSize % 128 == 0,
              miniblocks > 0, miniblocks <= blockSize, blockSize % miniblocks == 0, (blockSize / miniblocks) % 32 == 0 else {
            throw ParquetFormatError("DELTA_BINARY_PACKED header has an invalid block size \(blockSize) / \(miniblocks) miniblocks")
        }
        guard total >= UInt64(count) else {
            throw ParquetFormatError("DELTA_BINARY_PACKED stream holds \(total) values, page needs \(count)")
        }
        let perMini = Int(blockSize / miniblocks)
        let minis = Int(miniblocks)
        @inline(__always) func store(_ i: Int, _ v: UInt64) {
            if width == 4 {
                out!.storeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, toByteOffset: i &* 4, as: UInt32.self)
            } else {
                out!.storeBytes(of: v.littleEndian, toByteOffset: i &* 8, as: UInt64.self)
            }
        }
        if total == 0 { return pos }
        if count > 0 { store(0, last) }
        var produced: UInt64 = 1
        let base = data.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        let end = data.count
        while produced < total {
            let minDelta = zigzag(try varint(data, &pos))
            guard end - pos >= minis else { throw ParquetFormatError("unexpected end of page in DELTA_BINARY_PACKED bit widths") }
            let widthsAt = pos
            pos += minis
            for m in 0..<minis {
                if produced >= total { break }
                let w = Int(data[widthsAt + m])
                guard w <= 64 else { throw ParquetFormatError("DELTA_BINARY_PACKED miniblock bit width \(w) exceeds 64") }
                let n = Int(min(UInt64(perMini), total - produced))
                let fullBytes = perMini * w / 8
                let neededBytes = (n * w + 7) / 8
                guard end - pos >= neededBytes else {
                    throw ParquetFormatError("unexpected end of page in a DELTA_BINARY_PACKED miniblock")
                }
                let first = Int(produced)
                if first < count {
                    let stop = min(n, count - first)
                    var bit = pos * 8
                    for k in 0..<stop {
                        last = last &+ minDelta &+ readBits(base, end, bit: bit, width: w)
                        store(first + k, last)
                        bit += w
                    }
                }
                produced += UInt64(n)
                // The last miniblock is padded to its full size by the spec; tolerate writers
                // that stop after the bytes they need.
                pos += min(fullBytes, end - pos)
            }
        }
        return pos
    }

    /// Decodes a stream of `count` Int32 lengths (DELTA_BINARY_PACKED) into `lengths`, checking
    /// each is non-negative; returns the stream's size and the sum of the lengths.
    static func decodeLengths(_ data: UnsafeRawBufferPointer, count: Int,
                              into lengths: UnsafeMutablePointer<Int32>) throws -> (consumed: Int, total: Int) {
        let consumed = try decode(data, count: count, width: 4, into: UnsafeMutableRawPointer(lengths))
        var total = 0
        for i in 0..<count {
            let l = lengths[i]
            guard l >= 0 else { throw ParquetFormatError("negative byte array length \(l) in a delta-encoded page") }
            total += Int(l)
        }
        return (consumed, total)
    }
}
