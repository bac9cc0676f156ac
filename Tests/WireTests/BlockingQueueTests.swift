import Testing
@testable import Wire

@Suite("Blocking queue")
struct BlockingQueueTests {
    final class Payload: Sendable {}

    @Test("a popped element is released at once, not kept until the queue compacts")
    func releasesPopped() {
        let queue = BlockingQueue<Payload>()
        weak var first: Payload?
        do {
            let payload = Payload()
            first = payload
            queue.push(payload)
            queue.push(Payload())
        }
        _ = queue.pop()
        #expect(first == nil)
        #expect(queue.count == 1)
    }

    @Test("elements come out in order across compactions")
    func order() {
        let queue = BlockingQueue<Int>()
        for i in 0..<5000 { queue.push(i) }
        var out: [Int] = []
        for _ in 0..<2500 { out.append(queue.pop()!) }
        for i in 5000..<6000 { queue.push(i) }
        while let next = queue.pop(timeout: 0) { out.append(next) }
        #expect(out == Array(0..<6000))
        #expect(queue.pop(timeout: 0.01) == nil)
    }
}
