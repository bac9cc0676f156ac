/// A contiguous, 64-byte aligned block of bytes holding one buffer of a column
/// (values, string offsets or validity).
///
/// The same layout is used when decoding Parquet, on the wire and when handing columns to
/// numpy, so bytes are never reshaped on the way. A buffer is written once, by whoever
/// builds it, and is immutable once shared; that is what makes it `Sendable`.
/// A buffer may also be a view into memory owned by another object (a received frame,
/// a larger buffer), which it keeps alive.
public final class ColumnBuffer: @unchecked Sendable {
    /// Start of the bytes. Writable only while the buffer is being built.
    public let mutableBase: UnsafeMutableRawPointer
    /// Number of bytes.
    public let count: Int
    private let owner: AnyObject?
    /// Bytes of the block taken from `BlockRecycler` (0: allocated directly).
    private let recycledCapacity: Int

    /// Allocates `count` bytes, zero-filled, aligned to 64 bytes.
    public init(zeroedCount count: Int) {
        self.count = count
        self.mutableBase = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        self.mutableBase.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        self.owner = nil
        self.recycledCapacity = 0
    }

    /// Allocates `count` bytes, aligned to 64 bytes, uninitialised: the caller writes every byte.
    public init(uninitializedCount count: Int) {
        self.count = count
        self.owner = nil
        // Large buffers come and go block after block: reuse them rather than churn the heap.
        if count >= BlockRecycler.minimum {
            (mutableBase, recycledCapacity) = BlockRecycler.shared.take(count)
        } else {
            mutableBase = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
            recycledCapacity = 0
        }
    }

    /// A copy of `bytes`.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(uninitializedCount: bytes.count)
        if let src = bytes.baseAddress, bytes.count > 0 {
            mutableBase.copyMemory(from: src, byteCount: bytes.count)
        }
    }

    /// A view of `count` bytes at `base`, kept valid by holding `owner`.
    public init(viewing base: UnsafeMutableRawPointer, count: Int, owner: AnyObject) {
        self.mutableBase = base
        self.count = count
        self.owner = owner
        self.recycledCapacity = 0
    }

    deinit {
        if recycledCapacity > 0 {
            BlockRecycler.shared.give(mutableBase, recycledCapacity)
        } else if owner == nil {
            mutableBase.deallocate()
        }
    }

    /// Read-only start of the bytes.
    @inlinable public var base: UnsafeRawPointer { UnsafeRawPointer(mutableBase) }

    /// The bytes as a buffer pointer.
    @inlinable public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// A view of `range` (in bytes) of this buffer; shares memory and keeps this buffer alive.
    public func slice(_ range: Range<Int>) -> ColumnBuffer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice out of bounds")
        return ColumnBuffer(viewing: mutableBase + range.lowerBound, count: range.count, owner: self)
    }

    /// Typed access to the elements; `T` must match what the buffer holds.
    @inlinable public func typed<T>(_ type: T.Type) -> UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: base.assumingMemoryBound(to: T.self), count: count / MemoryLayout<T>.stride)
    }
}
