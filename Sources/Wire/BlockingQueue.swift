import Foundation

/// A FIFO queue that threads can wait on; the hand-off between a connection's receive
/// thread and the thread that acts on its messages.
public final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    /// Popped slots are cleared at once: an element must not outlive its pop (elements may hold
    /// whole decoded blocks).
    private var items: [Element?] = []
    private var head = 0

    public init() {}

    /// Appends an element and wakes one waiter.
    public func push(_ element: Element) {
        condition.lock()
        items.append(element)
        condition.signal()
        condition.unlock()
    }

    /// Waits for the next element; nil when `timeout` seconds passed first.
    public func pop(timeout: Double? = nil) -> Element? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = timeout.map { Date().addingTimeInterval($0) }
        while head == items.count {
            if let deadline {
                if !condition.wait(until: deadline) && head == items.count { return nil }
            } else {
                condition.wait()
            }
        }
        let element = items[head]!
        items[head] = nil
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Number of waiting elements.
    public var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head
    }
}
