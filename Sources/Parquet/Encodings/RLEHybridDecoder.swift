import Columnar

/// Decodes the RLE / bit-packing hybrid encoding (Parquet Encodings.md "RLE"): definition
/// levels, dictionary indices and RLE booleans.
///
/// `run := varint(header)`; header LSB 0 → RLE run of `header >> 1` copies of a value stored in
/// ceil(bitWidth / 8) little-endian bytes; LSB 1 → `(header >> 1) * 8` values bit-packed
/// LSB-first. All reads are bounds-checked against the buffer.
struct RLEHybridDecoder {
    private let base: UnsafeRawPointer
    private let end: Int
    private var position = 0
    let bitWidth: Int
    private let mask: UInt64

    // The current run.
    private var rleRemaining = 0
    private var rleValue: UInt64 = 0
    private var packedRemaining = 0
    /// Bit offset (from `packedStart`) of the next bit-packed value.
    private var packedBit = 0
    private var packedStart = 0

    /// Decodes `data` (without any length prefix) with values of `bitWidth` bits (0...32).
    init(_ data: UnsafeRawBufferPointer, bitWidth: Int) throws {
        guard bitWidth >= 0 && bitWidth <= 32 else {
            throw ParquetFormatError("RLE/bit-packed bit width \(bitWidth) is out of range 0...32")
        }
        self.base = data.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        self.end = data.count
        self.bitWidth = bitWidth
        self.mask = bitWidth == 64 ? ~0 : (UInt64(1) << UInt64(bitWidth)) - 1
    }

    /// Bytes consumed so far (for v1 levels without a length prefix).
    var bytesConsumed: Int { packedRemaining > 0 ? packedStart + (packedBit + 7) / 8 : position }

    private mutating func readVarint() throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard position < end else { throw ParquetFormatError("RLE/bit-packed data ends inside a run header") }
            let b = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            result |= UInt32(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 32 else { throw ParquetFormatError("RLE/bit-packed run header longer than 5 bytes") }
        }
    }

    /// Reads the next run header. Returns false when the data is exhausted.
    private mutating func nextRun() throws -> Bool {
        guard position < end else { return false }
        let header = try readVarint()
        if header & 1 == 0 {
            let count = Int(header >> 1)
            let byteWidth = (bitWidth + 7) / 8
            guard end - position >= byteWidth else { throw ParquetFormatError("RLE run value truncated") }
            var v: UInt64 = 0
            for i in 0..<byteWidth {
                v |= UInt64(base.load(fromByteOffset: position + i, as: UInt8.self)) << UInt64(8 * i)
            }
            position += byteWidth
            rleValue = v & mask
            rleRemaining = count
        } else {
            let groups = Int(header >> 1)
            let declaredBytes = groups * bitWidth  // 8 values of bitWidth bits per group
            // The final run may be cut short by a writer; accept as many whole values as fit and
            // fail only if more are actually needed.
            let bytes = min(declaredBytes, end - position)
            packedStart = position
            packedBit = 0
            packedRemaining = bitWidth == 0 ? groups * 8 : min(groups * 8, bytes * 8 / bitWidth)
            position += bytes
            if packedRemaining == 0 && groups > 0 && bitWidth > 0 {
                throw ParquetFormatError("bit-packed run truncated")
            }
        }
        return true
    }

    /// Decodes the next `count` values into `out`. Throws if the data holds fewer values.
    /// For dictionary indices with bit width 0, missing runs decode as zeros (every index is 0).
    mutating func decode<T: FixedWidthInteger & UnsignedInteger>(into out: UnsafeMutablePointer<T>, count: Int) throws {
        var done = 0
        while done < count {
            if rleRemaining > 0 {
                let n = min(rleRemaining, count - done)
                (out + done).update(repeating: T(truncatingIfNeeded: rleValue), count: n)
                rleRemaining -= n
                done += n
            } else if packedRemaining > 0 {
                let n = min(packedRemaining, count - done)
                unpack(into: out + done, count: n)
                packedRemaining -= n
                done += n
            } else if try !nextRun() {
                if bitWidth == 0 {
                    (out + done).update(repeating: 0, count: count - done)
                    return
                }
                throw ParquetFormatError("RLE/bit-packed data holds \(done) values, \(count) expected")
            }
        }
    }

    /// Unpacks `count` values of the current bit-packed run (known to be within bounds).
    @inline(__always)
    private mutating func unpack<T: FixedWidthInteger & UnsignedInteger>(into out: UnsafeMutablePointer<T>, count: Int) {
        if bitWidth == 0 {
            out.update(repeating: 0, count: count)
            return
        }
        let w = bitWidth
        let start = base + packedStart
        let available = end - packedStart  // bytes readable from `start`
        var bit = packedBit
        var i = 0
        if w == 1 && bit & 7 == 0 {
            // Levels and booleans: 8 values per byte.
            var byte = bit >> 3
            while i + 8 <= count {
                let b = start.load(fromByteOffset: byte, as: UInt8.self)
                out[i] = T(b & 1); out[i + 1] = T((b >> 1) & 1); out[i + 2] = T((b >> 2) & 1); out[i + 3] = T((b >> 3) & 1)
                out[i + 4] = T((b >> 4) & 1); out[i + 5] = T((b >> 5) & 1); out[i + 6] = T((b >> 6) & 1); out[i + 7] = T(b >> 7)
                i += 8
                byte += 1
            }
            bit = byte << 3
        }
        // Fast path: an unaligned 8-byte load covers any value of <= 32 bits at any bit offset.
        while i < count && (bit >> 3) + 8 <= available {
            let word = UInt64(littleEndian: start.loadUnaligned(fromByteOffset: bit >> 3, as: UInt64.self))
            out[i] = T(truncatingIfNeeded: (word >> UInt64(bit & 7)) & mask)
            bit += w
            i += 1
        }
        // Tail near the end of the buffer: assemble the bytes that exist.
        while i < count {
            let byte = bit >> 3
            var word: UInt64 = 0
            for k in 0..<min(8, available - byte) {
                word |= UInt64(start.load(fromByteOffset: byte + k, as: UInt8.self)) << UInt64(8 * k)
            }
            out[i] = T(truncatingIfNeeded: (word >> UInt64(bit & 7)) & mask)
            bit += w
            i += 1
        }
        packedBit = bit
    }
}
