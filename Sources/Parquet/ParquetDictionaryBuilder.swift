#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Columnar

/// Builds the dictionary of one column chunk for the writer: the distinct non-null values in
/// order of first appearance, and each non-null row's index into them.
///
/// Values are compared by their bytes in the column's storage (a fixed-width slot or a byte
/// array), so NaNs with the same bits are one entry and -0.0 and +0.0 are two, as in pyarrow.
struct ParquetDictionaryBuilder {
    /// Row of the first appearance of each entry.
    private(set) var entryRows: [Int] = []
    /// Dictionary index of every non-null row, in row order.
    private(set) var indices: [UInt32] = []
    /// Bytes of the entries once PLAIN-encoded (the dictionary page before compression).
    private(set) var plainSize = 0

    /// Builds the dictionary of `column`, or returns nil once its PLAIN size exceeds `limit`
    /// bytes (the writer then falls back to PLAIN for the whole chunk).
    static func build(_ column: Column, physicalWidth: Int, limit: Int) -> ParquetDictionaryBuilder? {
        var b = ParquetDictionaryBuilder()
        let n = column.count
        let valid = column.nullCount > 0 ? column.validity?.base.assumingMemoryBound(to: UInt8.self) : nil
        let base = column.values.base
        let offsets = column.offsets?.base.assumingMemoryBound(to: Int64.self)
        let width = column.type.byteWidth ?? 0
        @inline(__always) func bytes(_ row: Int) -> (UnsafeRawPointer, Int) {
            if let offsets { return (base + Int(offsets[row]), Int(offsets[row + 1] - offsets[row])) }
            return (base + row * width, width)
        }
        var capacity = 1024
        var slots = [Int32](repeating: -1, count: capacity)
        var hashes: [UInt64] = []
        b.indices.reserveCapacity(n - column.nullCount)
        for row in 0..<n where valid == nil || valid![row] != 0 {
            let (p, len) = bytes(row)
            let h = Self.hash(p, len)
            var slot = Int(truncatingIfNeeded: h) & (capacity - 1)
            var found: Int32 = -1
            while slots[slot] >= 0 {
                let e = Int(slots[slot])
                if hashes[e] == h {
                    let (q, qlen) = bytes(b.entryRows[e])
                    if qlen == len && (len == 0 || memcmp(p, q, len) == 0) { found = Int32(e); break }
                }
                slot = (slot + 1) & (capacity - 1)
            }
            if found < 0 {
                found = Int32(b.entryRows.count)
                b.entryRows.append(row)
                hashes.append(h)
                b.plainSize += physicalWidth > 0 ? physicalWidth : 4 + len
                if b.plainSize > limit { return nil }
                slots[slot] = found
                if b.entryRows.count * 2 > capacity {
                    capacity *= 2
                    slots = [Int32](repeating: -1, count: capacity)
                    for (e, eh) in hashes.enumerated() {
                        var s = Int(truncatingIfNeeded: eh) & (capacity - 1)
                        while slots[s] >= 0 { s = (s + 1) & (capacity - 1) }
                        slots[s] = Int32(e)
                    }
                }
            }
            b.indices.append(UInt32(found))
        }
        return b
    }

    /// Bits per index in the data pages (at least 1, for the sake of old readers).
    var bitWidth: Int { max(1, Int.bitWidth - (entryRows.count - 1).leadingZeroBitCount) }

    /// The entries as a column of their own (for PLAIN-encoding the dictionary page).
    func entries(of column: Column) -> Column {
        let k = entryRows.count
        if let width = column.type.byteWidth {
            let buffer = ColumnBuffer(uninitializedCount: k * width)
            for (e, row) in entryRows.enumerated() {
                (buffer.mutableBase + e * width).copyMemory(from: column.values.base + row * width, byteCount: width)
            }
            return Column(type: column.type, count: k, values: buffer)
        }
        let o = column.offsets!.base.assumingMemoryBound(to: Int64.self)
        let offsets = ColumnBuffer(uninitializedCount: (k + 1) * 8)
        let newOffsets = offsets.mutableBase.assumingMemoryBound(to: Int64.self)
        var total = 0
        newOffsets[0] = 0
        for (e, row) in entryRows.enumerated() {
            total += Int(o[row + 1] - o[row])
            newOffsets[e + 1] = Int64(total)
        }
        let bytes = ColumnBuffer(uninitializedCount: total)
        for (e, row) in entryRows.enumerated() {
            (bytes.mutableBase + Int(newOffsets[e])).copyMemory(from: column.values.base + Int(o[row]), byteCount: Int(o[row + 1] - o[row]))
        }
        return Column(type: column.type, count: k, values: bytes, offsets: offsets)
    }

    /// A fast 64-bit hash of `len` bytes (wyhash-style mixing of 8-byte words).
    @inline(__always)
    static func hash(_ p: UnsafeRawPointer, _ len: Int) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(len)
        var i = 0
        while i + 8 <= len {
            h = mix(h ^ p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < len {
            var tail: UInt64 = 0
            for k in 0..<(len - i) { tail |= UInt64(p.load(fromByteOffset: i + k, as: UInt8.self)) << UInt64(8 * k) }
            h = mix(h ^ tail)
        }
        return mix(h)
    }

    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        z = z &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }
}
