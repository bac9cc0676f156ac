#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization
import Testing
import Wire
@testable import Coordinator

/// The coordinator's acceptor over real loopback sockets: idle connections cannot take every
/// place, and a failing `accept` does not end it.
@Suite("Acceptor", .serialized)
struct AcceptorTests {
    static let token = Result { try ClusterToken("acceptor-test-token-0123456789") }

    /// Log lines kept for the test to read.
    final class LogLines: Sendable {
        private let lines = Mutex<[(Logger.Level, String)]>([])
        func append(_ level: Logger.Level, _ line: String) { lines.withLock { $0.append((level, line)) } }
        func matching(_ text: String, level: Logger.Level? = nil) -> [String] {
            lines.withLock { $0.filter { (level == nil || $0.0 == level) && $0.1.contains(text) }.map(\.1) }
        }
        var all: String { lines.withLock { $0.map { "\($0.0): \($0.1)" }.joined(separator: "\n") } }
    }

    struct Capture: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.append(event.level, "\(event.message)") }
    }

    struct Running {
        let acceptor: Acceptor
        let listener: Listener
        let events: BlockingQueue<JobEvent>
        let log: LogLines
    }

    /// An acceptor on an ephemeral port; `accept` may stand in for the listener's.
    static func start(limits: Acceptor.Limits,
                      accept: ((Listener) -> @Sendable (Int32) -> Listener.Accepted)? = nil) throws -> Running {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let events = BlockingQueue<JobEvent>()
        let log = LogLines()
        let logger = Logger(label: "acceptor-test") { _ in Capture(lines: log) }
        var acceptOnce: @Sendable (Int32) -> Listener.Accepted = { listener.acceptOnce(timeoutMilliseconds: $0) }
        if let accept { acceptOnce = accept(listener) }
        let acceptor = Acceptor(acceptOnce: acceptOnce, token: try token.get(), tls: nil, limits: limits,
                                events: events, logger: logger)
        acceptor.start()
        return Running(acceptor: acceptor, listener: listener, events: events, log: log)
    }

    /// A worker that authenticates and says hello; true once the acceptor posted its hello.
    static func workerJoins(_ running: Running) throws -> Bool {
        let worker = try Connection.connect(host: "127.0.0.1", port: running.listener.port)
        defer { worker.close() }
        try worker.authenticateCoordinator(token: try token.get(), loopbackMayOmitToken: true, deadline: HandshakeDeadline(seconds: 10))
        try worker.send(.hello(WorkerHello(pid: 42, host: "test", capacity: 1, pythonVersion: "3", pythonEnvironment: "/")))
        guard case .hello(_, let hello) = running.events.pop(timeout: 10) else { return false }
        return hello.pid == 42
    }

    @Test("beyond the pending limit the oldest idle connections are dropped, logged once, and a real worker still joins")
    func pendingLimit() throws {
        let running = try Self.start(limits: .init(handshakeSeconds: 60, maxPending: 2))
        defer { running.acceptor.stop() }
        // Five peers that take the challenge and say nothing, one after the other.
        var idle: [Connection] = []
        for _ in 0..<5 {
            let peer = try Connection.connect(host: "127.0.0.1", port: running.listener.port)
            peer.setReceiveTimeout(seconds: 5)
            #expect(try peer.receive().header.type == .challenge)
            idle.append(peer)
        }
        defer { idle.forEach { $0.close() } }
        // The three oldest were hung up on (not left until the 60 s deadline).
        for peer in idle.prefix(3) {
            #expect(throws: WireError.closed) { try peer.receive() }
        }
        #expect(try Self.workerJoins(running), "\(running.log.all)")
        let drops = running.log.matching("dropped the connection from 127.0.0.1:", level: .warning)
        #expect(drops.count == 1, "\(running.log.all)")
        #expect(drops.first?.contains("at most 2") == true)
        // Their ends were not logged once more as failed handshakes.
        #expect(running.log.matching("closed the connection during the handshake").isEmpty, "\(running.log.all)")
    }

    @Test("a handshake that is not over by the deadline is dropped and logged naming the peer")
    func deadline() throws {
        let running = try Self.start(limits: .init(handshakeSeconds: 1, maxPending: 4))
        defer { running.acceptor.stop() }
        let peer = try Connection.connect(host: "127.0.0.1", port: running.listener.port)
        defer { peer.close() }
        peer.setReceiveTimeout(seconds: 10)
        #expect(try peer.receive().header.type == .challenge)
        let started = Date()
        #expect(throws: WireError.closed) { try peer.receive() }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(BlockingTests.waitFor(seconds: 5) { !running.log.matching("did not finish the handshake within 1 s").isEmpty },
                "\(running.log.all)")
    }

    @Test("peers that connect and go away without a word are named once per host, then only at debug level")
    func silentPeers() throws {
        let running = try Self.start(limits: .init())
        defer { running.acceptor.stop() }
        for _ in 0..<5 {
            let peer = try Connection.connect(host: "127.0.0.1", port: running.listener.port)
            peer.setReceiveTimeout(seconds: 5)
            _ = try peer.receive()
            peer.close()
        }
        let ended = "closed the connection during the handshake"
        #expect(BlockingTests.waitFor(seconds: 5) { running.log.matching(ended).count == 5 }, "\(running.log.all)")
        #expect(running.log.matching(ended, level: .warning).count == 1, "\(running.log.all)")
        #expect(running.log.matching(ended, level: .debug).count == 4, "\(running.log.all)")
    }

    @Test("accept failing with too many open files: a warning, a pause, and accepting goes on")
    func outOfDescriptors() throws {
        let failures = Atomic<Int>(0)
        let running = try Self.start(limits: .init()) { listener in
            { timeout in
                if failures.add(1, ordering: .relaxed).newValue <= 4 {
                    return .failed(code: EMFILE, message: "accept: Too many open files")
                }
                return listener.acceptOnce(timeoutMilliseconds: timeout)
            }
        }
        defer { running.acceptor.stop() }
        #expect(try Self.workerJoins(running), "\(running.log.all)")
        #expect(running.log.matching("Too many open files", level: .warning).count == 1, "\(running.log.all)")
        #expect(running.log.matching("accepting connections again after 4 failed attempts").count == 1, "\(running.log.all)")
    }
}

enum BlockingTests {
    /// Polls `condition` every 20 ms for at most `seconds`.
    static func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}
