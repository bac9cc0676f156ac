/// Scratch buffers reused across the column chunks decoded by one `readRowGroup` call, so that
/// each chunk does not allocate (and page-fault in) fresh memory for its raw bytes, its
/// decompressed pages and its dictionary indices. Belongs to one thread at a time.
final class DecodeScratch {
    private(set) var chunk: UnsafeMutableRawPointer?
    private var chunkCapacity = 0
    private(set) var page: UnsafeMutableRawPointer?
    private var pageCapacity = 0
    private(set) var indices: UnsafeMutablePointer<UInt32>?
    private var indexCapacity = 0

    deinit {
        chunk?.deallocate()
        page?.deallocate()
        indices?.deallocate()
    }

    /// A buffer of at least `count` bytes for a column chunk's raw bytes.
    func chunkBuffer(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if count > chunkCapacity || chunk == nil {
            chunk?.deallocate()
            chunkCapacity = max(count, 4096)
            chunk = UnsafeMutableRawPointer.allocate(byteCount: chunkCapacity, alignment: 64)
        }
        return UnsafeMutableRawBufferPointer(start: chunk, count: count)
    }

    /// A buffer of at least `count` bytes for one decompressed page.
    func pageBuffer(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if count > pageCapacity || page == nil {
            page?.deallocate()
            pageCapacity = max(count, pageCapacity * 2, 4096)
            page = UnsafeMutableRawPointer.allocate(byteCount: pageCapacity, alignment: 64)
        }
        return UnsafeMutableRawBufferPointer(start: page, count: count)
    }

    /// Room for at least `count` dictionary indices.
    func indexBuffer(_ count: Int) -> UnsafeMutablePointer<UInt32> {
        if count > indexCapacity || indices == nil {
            indices?.deallocate()
            indexCapacity = max(count, indexCapacity * 2, 1024)
            indices = UnsafeMutablePointer<UInt32>.allocate(capacity: indexCapacity)
        }
        return indices!
    }
}
