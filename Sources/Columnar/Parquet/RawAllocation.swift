import Foundation

/// A raw allocation owned by the column buffers that view it. Large blocks come from and go
/// back to `BlockRecycler`, so that decoding row group after row group reuses memory instead of
/// page-faulting fresh zeroed pages in every time (what jemalloc does for pyarrow).
final class RawAllocation: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int

    init(byteCount: Int) {
        (base, capacity) = BlockRecycler.shared.take(max(byteCount, 1))
    }

    /// A column buffer of `count` bytes at `offset` in a new allocation.
    static func buffer(count: Int, offset: Int = 0) -> ColumnBuffer {
        let a = RawAllocation(byteCount: offset + count)
        return ColumnBuffer(viewing: a.base + offset, count: count, owner: a)
    }

    deinit { BlockRecycler.shared.give(base, capacity) }
}

/// Keeps freed blocks of 64 KiB or more, up to `limit` bytes in all, for reuse by later
/// allocations of a similar size (at least the size asked, at most twice it).
final class BlockRecycler: @unchecked Sendable {
    static let shared = BlockRecycler()
    /// Most bytes kept while unused.
    static let limit = 32 << 20
    static let minimum = 64 << 10

    private let lock = NSLock()
    private var blocks: [(base: UnsafeMutableRawPointer, capacity: Int)] = []
    private var kept = 0

    func take(_ count: Int) -> (UnsafeMutableRawPointer, Int) {
        if count >= Self.minimum {
            let reused: (UnsafeMutableRawPointer, Int)? = lock.withLock {
                var best = -1
                for (i, b) in blocks.enumerated() where b.capacity >= count && b.capacity <= 2 * count {
                    if best < 0 || b.capacity < blocks[best].capacity { best = i }
                }
                guard best >= 0 else { return nil }
                let b = blocks.remove(at: best)
                kept -= b.capacity
                return (b.base, b.capacity)
            }
            if let reused { return reused }
        }
        // Round large blocks up to 64 KiB so that similar sizes fit each other.
        let capacity = count >= Self.minimum ? (count + 0xFFFF) & ~0xFFFF : count
        return (UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64), capacity)
    }

    func give(_ base: UnsafeMutableRawPointer, _ capacity: Int) {
        if capacity >= Self.minimum {
            let keep: Bool = lock.withLock {
                guard kept + capacity <= Self.limit else { return false }
                blocks.append((base, capacity))
                kept += capacity
                return true
            }
            if keep { return }
        }
        base.deallocate()
    }
}

