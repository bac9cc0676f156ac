import Columnar

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
    private var dense: UnsafeMutableRawPointer?
    private var denseCapacity = 0
    private var lengths: [UnsafeMutablePointer<Int32>?] = [nil, nil]
    private var lengthCapacity = [0, 0]
    /// The previous value while DELTA_BYTE_ARRAY values are rebuilt.
    let previousValue = GrowableBuffer()

    deinit {
        chunk?.deallocate()
        page?.deallocate()
        indices?.deallocate()
        dense?.deallocate()
        levels?.deallocate()
        for l in lengths { l?.deallocate() }
    }

    private var levels: UnsafeMutablePointer<UInt8>?
    private var levelCapacity = 0

    /// Room for `count` decoded definition levels.
    func levelBuffer(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        if count > levelCapacity || levels == nil {
            levels?.deallocate()
            levelCapacity = max(count, levelCapacity * 2, 4096)
            levels = UnsafeMutablePointer<UInt8>.allocate(capacity: levelCapacity)
        }
        return levels!
    }

    /// Room for `count` bytes of dense physical values awaiting conversion.
    func denseBuffer(_ count: Int) -> UnsafeMutableRawPointer {
        if count > denseCapacity || dense == nil {
            dense?.deallocate()
            denseCapacity = max(count, denseCapacity * 2, 4096)
            dense = UnsafeMutableRawPointer.allocate(byteCount: denseCapacity, alignment: 64)
        }
        return dense!
    }

    /// Room for `count` byte-array lengths; two slots (prefix and suffix lengths).
    func lengthBuffer(_ count: Int, slot: Int) -> UnsafeMutablePointer<Int32> {
        if count > lengthCapacity[slot] || lengths[slot] == nil {
            lengths[slot]?.deallocate()
            lengthCapacity[slot] = max(count, lengthCapacity[slot] * 2, 1024)
            lengths[slot] = UnsafeMutablePointer<Int32>.allocate(capacity: lengthCapacity[slot])
        }
        return lengths[slot]!
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
