import Foundation
import Columnar

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
