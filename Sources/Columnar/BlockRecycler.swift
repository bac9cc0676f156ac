import Foundation

/// Keeps freed blocks of 64 KiB or more, up to `limit` bytes in all, for reuse by later
/// allocations of a similar size (at least the size asked, at most twice it): decoded column
/// buffers (`ColumnBuffer(uninitializedCount:)`, Parquet's decode buffers) row group after row group.
package final class BlockRecycler: @unchecked Sendable {
    package static let shared = BlockRecycler()
    /// Most bytes kept while unused.
    package static let limit = 32 << 20
    package static let minimum = 64 << 10

    private let lock = NSLock()
    private var blocks: [(base: UnsafeMutableRawPointer, capacity: Int)] = []
    private var kept = 0

    package func take(_ count: Int) -> (UnsafeMutableRawPointer, Int) {
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

    package func give(_ base: UnsafeMutableRawPointer, _ capacity: Int) {
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

