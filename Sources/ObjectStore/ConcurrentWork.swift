import Foundation

/// Runs `body` for `0..<count` on at most `width` threads at once (requests to a store wait on
/// the network, not the CPU) and returns the results in index order.
func concurrentMap<T>(_ count: Int, width: Int, _ body: (Int) -> T) -> [T] {
    guard count > 0 else { return [] }
    let results = ConcurrentResults<T>(count: count)
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: min(max(width, 1), count)) { _ in
            while true {
                let i = results.take()
                guard i < count else { return }
                results.put(body(i), at: i)
            }
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
