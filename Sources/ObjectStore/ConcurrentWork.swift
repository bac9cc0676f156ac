import Foundation

/// Runs `body` for `0..<count` on at most `width` threads at once (requests to a store wait on
/// the network, not the CPU) and returns the results in index order.
///
/// Plain threads, started for the call and ended with it, not libdispatch's pool: a worker
/// forked from another (`worker --processes`) inherits libdispatch's bookkeeping of a pool it
/// does not have, and a `concurrentPerform` there was seen spinning for ever.
func concurrentMap<T>(_ count: Int, width: Int, _ body: (Int) -> T) -> [T] {
    guard count > 0 else { return [] }
    let results = ConcurrentResults<T>(count: count)
    withoutActuallyEscaping(body) { body in
        // The threads reach `body` through a pointer valid until they have all finished, so
        // that none holds the closure itself (it must not outlive this call).
        withUnsafePointer(to: body) { body in
            nonisolated(unsafe) let body = body
            let drain: @Sendable () -> Void = {
                while true {
                    let i = results.take()
                    guard i < count else { return }
                    results.put(body.pointee(i), at: i)
                }
            }
            let helpers = min(max(width, 1), count) - 1
            let finished = DispatchSemaphore(value: 0)
            for _ in 0..<helpers {
                let thread = Thread {
                    drain()
                    finished.signal()
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
            drain()
            for _ in 0..<helpers { finished.wait() }
        }
    }
    return results.values.map { $0! }
}

/// The shared state of one `concurrentMap`: the next index to take and the results so far.
private final class ConcurrentResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private(set) var values: [T?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func take() -> Int { lock.withLock { defer { next += 1 }; return next } }

    func put(_ value: T, at index: Int) { lock.withLock { values[index] = value } }
}
