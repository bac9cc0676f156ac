#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Foundation
import TestSupport
import Testing
@testable import Wire

/// What a peer may do before it has authenticated (issue 13): small handshake frames only, and
/// one deadline for the whole handshake, TLS included. Real sockets on 127.0.0.1.
@Suite("Handshake hardening")
struct HandshakeHardeningTests {
    static let token = Result { try ClusterToken("hardening-test-token-0123456789") }

    /// A listening socket, a raw client connected to it, and the server's side of the connection.
    static func pair() throws -> (listener: Listener, client: Connection, server: Connection) {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5000))
        return (listener, client, server)
    }

    /// Runs the coordinator's side of the handshake on `server` in the background.
    /// Call the closure it returns for the outcome and how long it took.
    static func authenticate(_ server: Connection, tls: TLSContext? = nil, seconds: Double) throws
        -> @Sendable () -> (Handshake.Outcome, Double) {
        let token = try Self.token.get()
        nonisolated(unsafe) var result: (Handshake.Outcome, Double)?
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let started = Date()
            let outcome = server.authenticateWorker(token: token, tls: tls, deadline: HandshakeDeadline(seconds: seconds))
            result = (outcome, Date().timeIntervalSince(started))
            done.signal()
        }
        return {
            // Generous: a handshake that is still running after 20 s has hung.
            guard done.wait(timeout: .now() + 20) == .success, let result else {
                return (.refused(Handshake.Refusal(.unexpectedMessage, "the handshake did not end within 20 s")), 20)
            }
            return result
        }
    }

    /// Writes raw bytes to the socket under `connection` (no SIGPIPE if the other side is gone).
    static func writeRaw(_ connection: Connection, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) == $0.count }
    }

    /// This process's resident memory in bytes.
    static func residentBytes() -> Int {
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test("a peer announcing a 1 GiB frame before authenticating is refused at once, naming the size and the peer, and nothing is allocated")
    func oversizedFrame() throws {
        let (_, client, server) = try Self.pair()
        let before = Self.residentBytes()
        let outcome = try Self.authenticate(server, seconds: 10)
        #expect(try client.receive().header.type == .challenge)
        let header = FrameHeader(type: .challengeResponse, payloadLength: 1 << 30).encoded()
        #expect(Self.writeRaw(client, header))
        let (result, seconds) = outcome()
        guard case .refused(let refusal) = result else { Issue.record("accepted a 1 GiB frame"); return }
        #expect(refusal.code == .frameTooLarge)
        #expect(refusal.message.contains("1073741824") && refusal.message.contains(server.peer), "\(refusal.message)")
        #expect(refusal.message.contains("exceeds the limit of \(Handshake.maxFramePayload) bytes"), "\(refusal.message)")
        #expect(seconds < 5, "refused after \(seconds) s")
        let grown = Self.residentBytes() - before
        #expect(grown < 50 << 20, "resident memory grew by \(grown >> 20) MiB")
        // The coordinator hung up.
        #expect(throws: WireError.closed) { try client.receive() }
    }

    @Test("another message type before authenticating is refused without reading it, and the peer is told")
    func otherFrameType() throws {
        let (_, client, server) = try Self.pair()
        let outcome = try Self.authenticate(server, seconds: 10)
        #expect(try client.receive().header.type == .challenge)
        try client.send(.hello, WorkerHello(pid: 1, host: "h", capacity: 1, pythonVersion: "3", pythonEnvironment: "/"))
        let (result, _) = outcome()
        guard case .refused(let refusal) = result else { Issue.record("accepted a hello instead of a proof"); return }
        #expect(refusal.code == .unexpectedMessage)
        #expect(refusal.message.contains(server.peer) && refusal.message.contains("hello"), "\(refusal.message)")
        let verdict = try client.receive()
        #expect(verdict.header.type == .handshakeResult)
        #expect(try verdict.decode(HandshakeResult.self).accepted == false)
    }

    @Test("a slow-loris peer (a byte every 300 ms) is dropped when the whole handshake's deadline passes")
    func slowLoris() throws {
        let (_, client, server) = try Self.pair()
        let outcome = try Self.authenticate(server, seconds: 1)
        #expect(try client.receive().header.type == .challenge)
        let bytes = FrameHeader(type: .challengeResponse, payloadLength: 200).encoded() + [UInt8](repeating: 0x20, count: 200)
        Thread.detachNewThread {
            // 216 bytes at one per 300 ms would take over a minute; stops when the server hangs up.
            for byte in bytes {
                guard Self.writeRaw(client, [byte]) else { return }
                usleep(300_000)
            }
        }
        let (result, seconds) = outcome()
        client.close()
        guard case .refused(let refusal) = result else { Issue.record("a slow-loris peer was accepted"); return }
        #expect(refusal.code == .timedOut)
        #expect(refusal.message.contains(server.peer) && refusal.message.contains("within 1 s"), "\(refusal.message)")
        #expect(seconds >= 0.9 && seconds < 5, "dropped after \(seconds) s")
    }

    @Test("with TLS the deadline covers the TLS handshake too: a peer trickling a ClientHello is dropped")
    func slowLorisTLS() throws {
        let certificates = try TestCertificates.make()
        let context = try TLSContext.server(certificateFile: certificates.certificateFile, keyFile: certificates.keyFile)
        let (_, client, server) = try Self.pair()
        let outcome = try Self.authenticate(server, tls: context, seconds: 1)
        // The start of a TLS record (handshake, TLS 1.0 record version, 512 bytes), then a byte at a time.
        let bytes: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00] + [UInt8](repeating: 0x01, count: 512)
        Thread.detachNewThread {
            for byte in bytes {
                guard Self.writeRaw(client, [byte]) else { return }
                usleep(300_000)
            }
        }
        let (result, seconds) = outcome()
        client.close()
        guard case .refused(let refusal) = result else { Issue.record("a slow TLS peer was accepted"); return }
        #expect(refusal.code == .tlsFailed)
        #expect(refusal.message.contains(server.peer) && refusal.message.contains("no TLS handshake within 1 s"), "\(refusal.message)")
        #expect(seconds >= 0.9 && seconds < 5, "dropped after \(seconds) s")
    }

    @Test("a well-behaved worker still authenticates, and then frames of the job's size are accepted")
    func wellBehaved() throws {
        let (_, client, server) = try Self.pair()
        let token = try Self.token.get()
        let outcome = try Self.authenticate(server, seconds: 10)
        try client.authenticateCoordinator(token: token, loopbackMayOmitToken: true, deadline: HandshakeDeadline(seconds: 10))
        #expect(outcome().0 == .accepted)
        // After the handshake the job's limit applies, not the handshake's.
        let big = [UInt8](repeating: 7, count: 64 << 10).withUnsafeBytes { ColumnBuffer(copying: $0) }
        try client.send(.modelArchive, payload: big)
        #expect(try server.receive().payload.count == 64 << 10)
    }

    @Test("the worker side takes only small handshake frames until the coordinator has proved itself")
    func workerSideCap() throws {
        let (_, client, server) = try Self.pair()
        let token = try Self.token.get()
        let header = FrameHeader(type: .challenge, payloadLength: 1 << 30).encoded()
        #expect(Self.writeRaw(server, header))
        let started = Date()
        #expect(throws: WireError.frameTooLargeBeforeAuthentication(peer: client.peer, bytes: 1 << 30, limit: Handshake.maxFramePayload)) {
            try client.authenticateCoordinator(token: token, loopbackMayOmitToken: true, deadline: HandshakeDeadline(seconds: 10))
        }
        #expect(Date().timeIntervalSince(started) < 5)
        // And a frame the handshake does not have (a job before the challenge) is not read either.
        let (_, client2, server2) = try Self.pair()
        try server2.send(.job)
        #expect(throws: WireError.notAHandshakeFrame(peer: client2.peer, type: .job)) {
            try client2.authenticateCoordinator(token: token, loopbackMayOmitToken: true, deadline: HandshakeDeadline(seconds: 10))
        }
    }

    @Test("the whole-handshake deadline: milliseconds left for poll, rounded up, zero once passed")
    func deadlineArithmetic() {
        let start = ContinuousClock.now
        let deadline = HandshakeDeadline(seconds: 1, from: start)
        #expect(deadline.millisecondsLeft(at: start) == 1000)
        #expect(deadline.millisecondsLeft(at: start.advanced(by: .milliseconds(250))) == 750)
        #expect(deadline.millisecondsLeft(at: start.advanced(by: .microseconds(999_500))) == 1)
        #expect(deadline.millisecondsLeft(at: start.advanced(by: .seconds(1))) == 0)
        #expect(deadline.millisecondsLeft(at: start.advanced(by: .seconds(30))) == 0)
        #expect(!deadline.hasPassed(at: start.advanced(by: .milliseconds(999))))
        #expect(deadline.hasPassed(at: start.advanced(by: .seconds(1))))
        #expect(HandshakeDeadline(seconds: 1e12, from: start).millisecondsLeft(at: start) == Int32.max)
        #expect(HandshakeDeadline(seconds: 10).text == "10 s" && HandshakeDeadline(seconds: 1.5).text == "1.5 s")
    }

    @Test("headers before authentication: the handshake's types up to the small cap; the rest refused before allocating")
    func unauthenticatedHeaders() throws {
        func decode(_ type: MessageType, _ length: UInt64, allowed: Set<MessageType> = [.challengeResponse]) throws -> FrameHeader {
            let bytes = FrameHeader(type: type, payloadLength: length).encoded()
            return try bytes.withUnsafeBytes { (p) throws in
                try Handshake.decodeUnauthenticatedHeader(p, allowed: allowed, peer: "10.0.0.7:4000")
            }
        }
        #expect(try decode(.challengeResponse, Handshake.maxFramePayload).payloadLength == Handshake.maxFramePayload)
        #expect(throws: WireError.frameTooLargeBeforeAuthentication(peer: "10.0.0.7:4000", bytes: 4097, limit: 4096)) {
            try decode(.challengeResponse, 4097)
        }
        #expect(throws: WireError.notAHandshakeFrame(peer: "10.0.0.7:4000", type: .batch)) { try decode(.batch, 10) }
        #expect(Handshake.maxFramePayload <= 8192)
        let text = "\(WireError.frameTooLargeBeforeAuthentication(peer: "10.0.0.7:4000", bytes: 1 << 30, limit: 4096))"
        #expect(text.contains("10.0.0.7:4000") && text.contains("1073741824") && text.contains("exceeds the limit"))
    }
}
