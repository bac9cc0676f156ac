#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Coordinator

/// The acceptor's two policies as plain values: who may wait to authenticate, and what to do
/// when `accept` fails.
@Suite("Pending handshakes and accept back-off")
struct AdmissionPolicyTests {
    @Test("beyond the limit the oldest pending connection is dropped; a host's drops are logged once")
    func dropsOldest() {
        var pending = PendingHandshakes(limit: 2)
        #expect(pending.admit(0, peer: "10.0.0.7:5000") == .init())
        #expect(pending.admit(1, peer: "10.0.0.7:5001") == .init())
        let third = pending.admit(2, peer: "10.0.0.7:5002")
        #expect(third.drop == [0])
        #expect(third.log.count == 1)
        #expect(third.log.first?.contains("10.0.0.7:5000") == true && third.log.first?.contains("at most 2") == true,
                "\(third.log)")
        // Same host again: dropped, not logged.
        let fourth = pending.admit(3, peer: "10.0.0.8:6000")
        #expect(fourth.drop == [1] && fourth.log.isEmpty)
        // Another host is logged once.
        #expect(pending.admit(4, peer: "10.0.0.9:7000").drop == [2])
        let sixth = pending.admit(5, peer: "10.0.0.9:7001")
        #expect(sixth.drop == [3] && sixth.log.count == 1 && sixth.log[0].contains("10.0.0.8:6000"))
        #expect(pending.dropped == 4)
        #expect(pending.waiting.map(\.id) == [4, 5])
        // A finished handshake frees its place; a dropped one was no longer pending.
        let finished = pending.finished(4)
        let finishedAfterDrop = pending.finished(0)
        #expect(finished && !finishedAfterDrop)
        #expect(pending.admit(6, peer: "10.0.0.7:5003").drop.isEmpty)
    }

    @Test("a flood from many hosts stops being logged after a bounded number of lines")
    func boundedLogging() {
        var pending = PendingHandshakes(limit: 1)
        var lines: [String] = []
        for i in 0..<2000 { lines += pending.admit(i, peer: "10.1.\(i / 256).\(i % 256):4000").log }
        #expect(lines.count == OncePerHost().capacity + 1)
        #expect(lines.last?.contains("further drops are not logged") == true)
        #expect(OncePerHost.host(of: "::1:53122") == "::1" && OncePerHost.host(of: "127.0.0.1:80") == "127.0.0.1")
        var once = OncePerHost(capacity: 2)
        let verdicts = ["10.0.0.1:1", "10.0.0.1:2", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.1:3"].map { once.check($0) }
        #expect(verdicts == [.first, .repeated, .first, .last, .repeated, .repeated])
    }

    @Test("out of descriptors: pauses of 50 ms doubling to 1 s, one warning per 10 s, reset by a success")
    func backoff() {
        var backoff = AcceptBackoff()
        let start = ContinuousClock.now
        var pauses: [Duration] = []
        var warnings: [String] = []
        for i in 0..<8 {
            guard case .pause(let pause, let warning) = backoff.failed(code: EMFILE, message: "accept: Too many open files",
                                                                       at: start.advanced(by: .milliseconds(100 * i))) else {
                Issue.record("EMFILE was not paused on")
                return
            }
            pauses.append(pause)
            if let warning { warnings.append(warning) }
        }
        #expect(pauses == [.milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400),
                           .milliseconds(800), .seconds(1), .seconds(1), .seconds(1)])
        #expect(warnings.count == 1)
        #expect(warnings[0].contains("Too many open files") && warnings[0].contains("retrying in 50 ms"), "\(warnings)")
        // Ten seconds on, another warning, counting the ones held back.
        guard case .pause(_, let later) = backoff.failed(code: ENFILE, message: "accept: Too many open files in system",
                                                         at: start.advanced(by: .seconds(11))) else {
            Issue.record("ENFILE was not paused on")
            return
        }
        #expect(later?.contains("7 more failures") == true, "\(later ?? "nil")")
        #expect(backoff.succeeded()?.contains("after 9 failed attempts") == true)
        #expect(backoff.succeeded() == nil)
        let again = backoff.failed(code: ENOBUFS, message: "accept: No buffer space available", at: start)
        guard case .pause(.milliseconds(50), let warning?) = again else { Issue.record("\(again)"); return }
        #expect(warning.contains("No buffer space") && warning.contains("ulimit -n") && warning.contains("still listening"))
        // An aborted connection or a signal: just accept again.
        #expect(backoff.failed(code: ECONNABORTED, message: "", at: start) == .retry)
        #expect(backoff.failed(code: EINTR, message: "", at: start) == .retry)
    }
}
