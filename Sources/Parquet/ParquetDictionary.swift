import Columnar

/// The decoded dictionary page of a column chunk, in the output column's storage format, and the
/// gathers that turn dictionary indices (RLE_DICTIONARY / PLAIN_DICTIONARY pages) into values.
final class ParquetDictionary {
    let count: Int
    /// Fixed width: `count` values of the output storage width.
    private let values: UnsafeMutableRawPointer?
    /// Variable width: `count + 1` offsets into `bytes`.
    private let offsets: UnsafeMutablePointer<Int>?
    private let bytes: UnsafeMutableRawPointer?

    private init(count: Int, values: UnsafeMutableRawPointer?, offsets: UnsafeMutablePointer<Int>?, bytes: UnsafeMutableRawPointer?) {
        self.count = count
        self.values = values
        self.offsets = offsets
        self.bytes = bytes
    }

    deinit {
        values?.deallocate()
        offsets?.deallocate()
        bytes?.deallocate()
    }

    /// Width in bytes of fixed-width entries (0 for byte arrays).
    private(set) var width = 0
    /// Entries the output type cannot hold, with why (INT96 timestamps beyond 64-bit
    /// microseconds): a row that uses one is an error naming that row.
    var outOfRange: [UInt32: String] = [:]

    /// A dictionary of `count` fixed-width entries of `width` bytes, filled by `fill` (which
    /// writes the entries, in the output column's storage, to the pointer it is given).
    static func fixed(width: Int, count: Int, _ fill: (UnsafeMutableRawPointer) throws -> Void) throws -> ParquetDictionary {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count * width, 1), alignment: 64)
        do {
            try fill(p)
        } catch {
            p.deallocate()
            throw error
        }
        let d = ParquetDictionary(count: count, values: p, offsets: nil, bytes: nil)
        d.width = width
        return d
    }

    /// A dictionary of byte arrays decoded from PLAIN `data` (copied: the page buffer is reused).
    static func byteArrays(data: UnsafeRawBufferPointer, count: Int) throws -> ParquetDictionary {
        // Each entry has a 4-byte length, so the page bounds the count (checked before allocating).
        guard count <= data.count / 4 else {
            throw ParquetFormatError("dictionary page declares \(count) byte arrays but holds only \(data.count) bytes")
        }
        let offsets = UnsafeMutablePointer<Int>.allocate(capacity: count + 1)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 16)
        var total = 0
        offsets[0] = 0
        var i = 0
        do {
            try PlainDecoder.forEachByteArray(data, count: count) { src, len in
                (bytes + total).copyMemory(from: src, byteCount: len)
                total += len
                i += 1
                offsets[i] = total
            }
        } catch {
            offsets.deallocate()
            bytes.deallocate()
            throw error
        }
        return ParquetDictionary(count: count, values: nil, offsets: offsets, bytes: bytes)
    }

    /// Bytes of all byte-array entries.
    var totalBytes: Int { offsets.map { $0[count] } ?? 0 }

    /// Throws unless every one of the `n` indices is below `count`.
    static func checkIndices(_ indices: UnsafePointer<UInt32>, _ n: Int, count: Int) throws {
        var maxIndex: UInt32 = 0
        for i in 0..<n { maxIndex = max(maxIndex, indices[i]) }
        if n > 0 && Int(maxIndex) >= count {
            throw ParquetFormatError("dictionary index \(maxIndex) out of range for a dictionary of \(count) entries")
        }
    }

    /// out[i] = dictionary[indices[i]] for fixed-width values; indices must have been checked.
    func gather(_ indices: UnsafePointer<UInt32>, _ n: Int, into out: UnsafeMutableRawPointer) {
        switch width {
        case 1: gather(UInt8.self, indices, n, out)
        case 2: gather(UInt16.self, indices, n, out)
        case 4: gather(UInt32.self, indices, n, out)
        case 8: gather(UInt64.self, indices, n, out)
        case 16: gather(Int128Bits.self, indices, n, out)
        default:
            let w = width
            for i in 0..<n { (out + i * w).copyMemory(from: values! + Int(indices[i]) * w, byteCount: w) }
        }
    }

    private func gather<S: BitwiseCopyable>(_: S.Type, _ indices: UnsafePointer<UInt32>, _ n: Int, _ out: UnsafeMutableRawPointer) {
        let dict = UnsafePointer(values!.assumingMemoryBound(to: S.self))
        let o = out.assumingMemoryBound(to: S.self)
        for i in 0..<n { o[i] = dict[Int(indices[i])] }
    }

    /// Total byte length of the byte arrays named by `indices` (checked indices).
    func totalLength(_ indices: UnsafePointer<UInt32>, _ n: Int) -> Int {
        let o = offsets!
        var total = 0
        for i in 0..<n {
            let k = Int(indices[i])
            total &+= o[k + 1] &- o[k]
        }
        return total
    }

    /// The bytes of entry `k`.
    @inline(__always)
    func entry(_ k: Int) -> (UnsafeRawPointer, Int) {
        let o = offsets!
        return (UnsafeRawPointer(bytes! + o[k]), o[k + 1] - o[k])
    }
}

/// Sixteen bytes moved as one value (decimals, UUIDs).
struct Int128Bits: BitwiseCopyable, Equatable {
    var low: UInt64
    var high: UInt64
}
