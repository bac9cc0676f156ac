import Columnar

/// A growable, 64-byte aligned byte buffer for output whose size is known only after decoding
/// (string bytes, encoded pages, compressed data).
///
/// It can become a `ColumnBuffer` without a copy: the column buffer views the bytes and keeps
/// this object (which owns them) alive.
final class GrowableBuffer: @unchecked Sendable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes in use.
    var count: Int = 0

    /// Whether the memory comes from (and returns to) `BlockRecycler` (decoded column bytes).
    private let recycled: Bool

    init(capacity: Int = 0, recycled: Bool = false) {
        self.recycled = recycled
        (base, self.capacity) = Self.allocate(max(capacity, 64), recycled: recycled)
    }

    /// Memory for at least `capacity` bytes, and how many it holds.
    private static func allocate(_ capacity: Int, recycled: Bool) -> (UnsafeMutableRawPointer, Int) {
        recycled ? BlockRecycler.shared.take(capacity) : (UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64), capacity)
    }

    /// Moves the first `count` bytes into new memory of at least `capacity` bytes.
    private func replaceStorage(capacity newCapacity: Int) {
        let (p, allocated) = Self.allocate(newCapacity, recycled: recycled)
        if count > 0 { p.copyMemory(from: base, byteCount: count) }
        release(base, capacity)
        base = p
        capacity = allocated
    }

    deinit { release(base, capacity) }

    private func release(_ p: UnsafeMutableRawPointer, _ capacity: Int) {
        if recycled { BlockRecycler.shared.give(p, capacity) } else { p.deallocate() }
    }

    /// Empties the buffer and gives back its memory beyond `capacity` bytes.
    func reset(keeping capacity: Int) {
        count = 0
        if self.capacity > max(capacity, 64) { replaceStorage(capacity: max(capacity, 64)) }
    }

    /// Makes room for `additional` more bytes beyond `count` (grows at least geometrically).
    @inline(__always)
    func reserve(_ additional: Int) {
        let needed = count + additional
        if needed > capacity { replaceStorage(capacity: max(needed, capacity + capacity / 2)) }
    }

    /// Appends `n` bytes from `src`.
    @inline(__always)
    func append(_ src: UnsafeRawPointer, _ n: Int) {
        reserve(n)
        (base + count).copyMemory(from: src, byteCount: n)
        count += n
    }

    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { if let p = $0.baseAddress { append(p, $0.count) } }
    }

    func append(byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    func appendLittleEndian(_ v: UInt32) {
        reserve(4)
        (base + count).storeBytes(of: v.littleEndian, as: UInt32.self)
        count += 4
    }

    /// Pointer to the first free byte (valid after `reserve`).
    @inline(__always) var end: UnsafeMutableRawPointer { base + count }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func removeAll() { count = 0 }

    /// The bytes as a column buffer: a view when little capacity is wasted, otherwise a copy.
    func toColumnBuffer() -> ColumnBuffer {
        // Recycled memory goes back to the pool when the column is freed, so a view may waste
        // more of it than a private allocation may (a copy costs a pass over the bytes).
        if capacity - count > max(4096, count / 8) {
            if recycled {
                let copy = RawAllocation.buffer(count: count)
                if count > 0 { copy.mutableBase.copyMemory(from: base, byteCount: count) }
                return copy
            }
            return ColumnBuffer(copying: bytes)
        }
        return ColumnBuffer(viewing: base, count: count, owner: self)
    }
}
