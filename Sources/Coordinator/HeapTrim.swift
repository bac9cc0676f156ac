#if canImport(Glibc)
import Glibc
#endif

/// Gives memory freed by written blocks back to the system.
///
/// Blocks of column buffers are allocated and freed by different threads, block after block;
/// glibc keeps what they free in its heaps (its mmap threshold adapts upwards), so without this
/// the coordinator's footprint creeps up over a long job although what it holds does not.
enum HeapTrim {
    private typealias Function = @convention(c) (Int) -> Int32
    /// glibc's malloc_trim, which Swift's Glibc module does not declare.
    private nonisolated(unsafe) static let function: Function? = {
        #if canImport(Glibc)
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") { return unsafeBitCast(symbol, to: Function.self) }
        #endif
        return nil
    }()

    static func trim() { _ = function?(0) }
}
