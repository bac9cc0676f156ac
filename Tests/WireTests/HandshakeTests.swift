import Foundation
import Testing
import TestSupport
@testable import Wire

@Suite("Handshake")
struct HandshakeTests {
    static let secret = "correct horse battery staple"
    static let token = try! ClusterToken(secret)
    static let otherToken = try! ClusterToken("incorrect donkey battery staple")

    static func nonce(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

    /// Runs a whole handshake, returning every message sent and both outcomes.
    struct Run {
        var messages: [Data] = []
        var coordinator: Handshake.Outcome?
        var worker: Handshake.Outcome?
    }

    static func run(coordinatorToken: ClusterToken?, workerToken: ClusterToken?, loopback: Bool = false) throws -> Run {
        var coordinator = CoordinatorHandshake(token: coordinatorToken, peer: "10.0.0.2:40000", peerIsLoopback: loopback)
        var worker = WorkerHandshake(token: workerToken, coordinator: "10.0.0.1:7077", coordinatorIsLoopback: loopback)
        var run = Run()
        try exchange(&coordinator, &worker, &run.messages)
        run.coordinator = coordinator.outcome
        run.worker = worker.outcome
        return run
    }

    /// Plays the conversation; every message goes through JSON, as on the wire.
    static func exchange(_ coordinator: inout CoordinatorHandshake, _ worker: inout WorkerHandshake,
                         _ messages: inout [Data]) throws {
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        switch coordinator.start() {
        case .sendChallenge(let challenge):
            let data = try encoder.encode(challenge)
            messages.append(data)
            switch worker.receive(try decoder.decode(Challenge.self, from: data)) {
            case .respond(let response):
                let data = try encoder.encode(response)
                messages.append(data)
                let result: HandshakeResult
                switch coordinator.receive(try decoder.decode(ChallengeResponse.self, from: data)) {
                case .accept(let accepted): result = accepted
                case .refuse(let refused, _): result = refused
                case .sendChallenge: Issue.record("challenged twice"); return
                }
                let resultData = try encoder.encode(result)
                messages.append(resultData)
                _ = worker.receive(try decoder.decode(HandshakeResult.self, from: resultData))
            case .refuse, .accepted:
                break
            }
        case .refuse(let result, _):
            messages.append(try encoder.encode(result))
        case .accept:
            Issue.record("accepted before challenging")
        }
    }

    static func refusal(_ outcome: Handshake.Outcome?) -> Handshake.Refusal? {
        if case .refused(let refusal) = outcome { return refusal }
        return nil
    }

    @Test("same token on both sides: accepted, and the secret never travels")
    func accepted() throws {
        let run = try Self.run(coordinatorToken: Self.token, workerToken: Self.token)
        #expect(run.coordinator == .accepted)
        #expect(run.worker == .accepted)
        #expect(run.messages.count == 3)
        for message in run.messages {
            let text = String(decoding: message, as: UTF8.self)
            #expect(!text.contains(Self.secret))
            #expect(!text.contains(Self.secret.utf8.map { String(format: "%02x", $0) }.joined()))
        }
    }

    @Test("a wrong token is refused on both sides, with a reason for each log")
    func wrongToken() throws {
        let run = try Self.run(coordinatorToken: Self.token, workerToken: Self.otherToken)
        let coordinator = try #require(Self.refusal(run.coordinator))
        #expect(coordinator.code == .wrongToken)
        #expect(coordinator.message.contains("10.0.0.2:40000"))
        #expect(coordinator.message.contains("wrong token"))
        let worker = try #require(Self.refusal(run.worker))
        #expect(worker.code == .refusedByCoordinator)
        #expect(worker.message.contains("wrong token"))
    }

    @Test("a worker without a token is refused when the coordinator requires one")
    func missingToken() throws {
        let run = try Self.run(coordinatorToken: Self.token, workerToken: nil)
        #expect(Self.refusal(run.coordinator)?.code == .missingToken)
        let worker = try #require(Self.refusal(run.worker))
        #expect(worker.code == .refusedByCoordinator)
        #expect(worker.message.contains("--token-file"))
        #expect(worker.message.contains("SCORE_CLUSTER_TOKEN"))
    }

    @Test("no token configured: remote peers are refused without a challenge; loopback peers are accepted")
    func noToken() throws {
        let remote = try Self.run(coordinatorToken: nil, workerToken: nil, loopback: false)
        let refusal = try #require(Self.refusal(remote.coordinator))
        #expect(refusal.code == .noTokenConfigured)
        #expect(refusal.message.contains("--token-file"))
        #expect(remote.messages.count == 1)  // just the refusal: no challenge, nothing else
        let result = try JSONDecoder().decode(HandshakeResult.self, from: remote.messages[0])
        #expect(!result.accepted)

        let local = try Self.run(coordinatorToken: nil, workerToken: nil, loopback: true)
        #expect(local.coordinator == .accepted)
        #expect(local.worker == .accepted)
        // A worker with a token may join a tokenless coordinator on the same machine (`run`).
        let localWithToken = try Self.run(coordinatorToken: nil, workerToken: Self.token, loopback: true)
        #expect(localWithToken.worker == .accepted)
    }

    @Test("a proof recorded for an old nonce is refused against a new one (replay)")
    func replay() throws {
        var first = CoordinatorHandshake(token: Self.token, peer: "w", peerIsLoopback: false, nonce: Self.nonce(1))
        var worker = WorkerHandshake(token: Self.token, coordinator: "c", coordinatorIsLoopback: false, nonce: Self.nonce(9))
        guard case .sendChallenge(let challenge) = first.start(),
              case .respond(let recorded) = worker.receive(challenge) else {
            Issue.record("handshake did not get to the response")
            return
        }
        guard case .accept = first.receive(recorded) else {
            Issue.record("the genuine response was refused")
            return
        }
        // An eavesdropper replays the recorded response on a new connection.
        var second = CoordinatorHandshake(token: Self.token, peer: "attacker", peerIsLoopback: false, nonce: Self.nonce(2))
        guard case .sendChallenge = second.start() else { Issue.record("no challenge"); return }
        guard case .refuse(let result, let refusal) = second.receive(recorded) else {
            Issue.record("a replayed proof was accepted")
            return
        }
        #expect(refusal.code == .wrongToken)
        #expect(!result.accepted)
        #expect(result.proof == nil)
    }

    @Test("the worker checks the coordinator: no proof, a wrong proof or a replayed proof are refused")
    func coordinatorProof() throws {
        for forged in [nil, String(repeating: "ab", count: 32), "not hex"] as [String?] {
            var worker = WorkerHandshake(token: Self.token, coordinator: "c", coordinatorIsLoopback: false)
            let challenge = Challenge(nonce: String(repeating: "00", count: 32), requiresToken: true)
            guard case .respond = worker.receive(challenge) else { Issue.record("no response"); return }
            guard case .refuse(let refusal) = worker.receive(HandshakeResult(accepted: true, proof: forged)) else {
                Issue.record("accepted a coordinator proof \(String(describing: forged))")
                return
            }
            #expect(refusal.code == .coordinatorUnauthenticated)
        }

        // A genuine coordinator proof from another connection (other worker nonce) does not carry over.
        var genuine = CoordinatorHandshake(token: Self.token, peer: "w", peerIsLoopback: false, nonce: Self.nonce(1))
        var firstWorker = WorkerHandshake(token: Self.token, coordinator: "c", coordinatorIsLoopback: false, nonce: Self.nonce(3))
        guard case .sendChallenge(let challenge) = genuine.start(),
              case .respond(let response) = firstWorker.receive(challenge),
              case .accept(let recorded) = genuine.receive(response) else {
            Issue.record("genuine handshake failed")
            return
        }
        var secondWorker = WorkerHandshake(token: Self.token, coordinator: "c", coordinatorIsLoopback: false, nonce: Self.nonce(4))
        guard case .respond = secondWorker.receive(challenge) else { Issue.record("no response"); return }
        _ = secondWorker.receive(recorded)
        #expect(Self.refusal(secondWorker.outcome)?.code == .coordinatorUnauthenticated)
    }

    @Test("a worker with a token refuses a remote coordinator that does not ask for one")
    func impostorCoordinator() {
        var worker = WorkerHandshake(token: Self.token, coordinator: "10.9.9.9:7077", coordinatorIsLoopback: false)
        let action = worker.receive(Challenge(nonce: String(repeating: "00", count: 32), requiresToken: false))
        guard case .refuse(let refusal) = action else { Issue.record("responded to an impostor: \(action)"); return }
        #expect(refusal.code == .coordinatorUnauthenticated)
        #expect(refusal.message.contains("10.9.9.9:7077"))
    }

    @Test("a kept-alive worker with a token refuses a loopback coordinator that does not ask for it; others accept it")
    func keptWorkerNeedsProofOnLoopback() {
        let challenge = Challenge(nonce: String(repeating: "00", count: 32), requiresToken: false)
        var kept = WorkerHandshake(token: Self.token, coordinator: "127.0.0.1:40000", coordinatorIsLoopback: true,
                                   loopbackMayOmitToken: false)
        guard case .refuse(let refusal) = kept.receive(challenge) else { Issue.record("a kept worker answered a coordinator without the token"); return }
        #expect(refusal.code == .coordinatorUnauthenticated)
        var plain = WorkerHandshake(token: Self.token, coordinator: "127.0.0.1:40000", coordinatorIsLoopback: true)
        guard case .respond = plain.receive(challenge) else { Issue.record("refused a local coordinator without a token"); return }
    }

    @Test("protocol version mismatch is refused on either side")
    func versionMismatch() {
        var coordinator = CoordinatorHandshake(token: Self.token, peer: "w", peerIsLoopback: false)
        _ = coordinator.start()
        guard case .refuse(let result, let refusal) = coordinator.receive(ChallengeResponse(protocolVersion: 99, proof: nil,
                                                                                             nonce: String(repeating: "00", count: 32))) else {
            Issue.record("accepted another version")
            return
        }
        #expect(refusal.code == .versionMismatch)
        #expect(refusal.message.contains("99"))
        #expect(result.reason?.contains("version") == true)

        var worker = WorkerHandshake(token: Self.token, coordinator: "c", coordinatorIsLoopback: false)
        guard case .refuse(let workerRefusal) = worker.receive(Challenge(protocolVersion: 99, nonce: String(repeating: "00", count: 32),
                                                                         requiresToken: true)) else {
            Issue.record("worker answered another version")
            return
        }
        #expect(workerRefusal.code == .versionMismatch)
    }

    @Test("malformed proofs and nonces, and messages out of order, are refused")
    func malformed() {
        let zeros = String(repeating: "00", count: 32)
        for proof in ["", "zz", String(repeating: "a", count: 63), String(repeating: "ab", count: 33)] {
            var coordinator = CoordinatorHandshake(token: Self.token, peer: "w", peerIsLoopback: false)
            _ = coordinator.start()
            guard case .refuse(_, let refusal) = coordinator.receive(ChallengeResponse(proof: proof, nonce: zeros)) else {
                Issue.record("accepted proof \(proof)")
                continue
            }
            #expect(refusal.code == .wrongToken)
        }
        // A right proof with a bad worker nonce.
        var coordinator = CoordinatorHandshake(token: Self.token, peer: "w", peerIsLoopback: false, nonce: Self.nonce(0))
        _ = coordinator.start()
        let proof = hexString(Handshake.workerProof(token: Self.token, nonce: zeros))
        guard case .refuse(_, let refusal) = coordinator.receive(ChallengeResponse(proof: proof, nonce: "short")) else {
            Issue.record("accepted a short nonce")
            return
        }
        #expect(refusal.code == .malformed)

        var worker = WorkerHandshake(token: Self.token, coordinator: "c", coordinatorIsLoopback: false)
        guard case .refuse(let bad) = worker.receive(Challenge(nonce: "00", requiresToken: true)) else {
            Issue.record("accepted a short challenge nonce")
            return
        }
        #expect(bad.code == .malformed)

        // Out of order.
        var early = CoordinatorHandshake(token: Self.token, peer: "w", peerIsLoopback: false)
        guard case .refuse(_, let outOfOrder) = early.receive(ChallengeResponse(proof: nil, nonce: zeros)) else {
            Issue.record("accepted a response before the challenge")
            return
        }
        #expect(outOfOrder.code == .unexpectedMessage)
        var lateWorker = WorkerHandshake(token: nil, coordinator: "c", coordinatorIsLoopback: true)
        guard case .refuse(let resultFirst) = lateWorker.receive(HandshakeResult(accepted: true)) else {
            Issue.record("worker accepted a result before any challenge")
            return
        }
        #expect(resultFirst.code == .unexpectedMessage)
        var other = CoordinatorHandshake(token: Self.token, peer: "w", peerIsLoopback: false)
        _ = other.start()
        guard case .refuse(_, let stray) = other.receiveUnexpected("a hello frame") else { Issue.record("no refusal"); return }
        #expect(stray.message.contains("a hello frame"))
    }

    @Test("after it ends, a handshake accepts nothing more")
    func finished() throws {
        var coordinator = CoordinatorHandshake(token: nil, peer: "w", peerIsLoopback: true)
        _ = coordinator.start()
        guard case .accept = coordinator.receive(ChallengeResponse(proof: nil, nonce: String(repeating: "00", count: 32))) else {
            Issue.record("not accepted")
            return
        }
        #expect(coordinator.outcome == .accepted)
        guard case .refuse = coordinator.receive(ChallengeResponse(proof: nil, nonce: String(repeating: "00", count: 32))) else {
            Issue.record("a second response was accepted")
            return
        }
    }

    @Test("proofs are HMAC-SHA256 over the documented messages (pinned vectors)")
    func proofFormat() throws {
        let token = try ClusterToken("0123456789abcdef0123")
        let zeros = String(repeating: "00", count: 32)
        let ones = String(repeating: "11", count: 32)
        // Python: hmac.new(b"0123456789abcdef0123", b"score-cluster v1" + b"00" * 32, hashlib.sha256).hexdigest()
        #expect(hexString(Handshake.workerProof(token: token, nonce: zeros))
                == "ae9e43d673c743f8dd40b0e307bcf7d32ceab45ec552ac7d52452792dc0919f5")
        // hmac.new(key, b"score-cluster v1 coordinator:" + b"00" * 32 + b"11" * 32, hashlib.sha256).hexdigest()
        #expect(hexString(Handshake.coordinatorProof(token: token, challengeNonce: zeros, workerNonce: ones))
                == "f95dfb91d7eeafc3abd5bb9d5e69775fb74632ef05e92a3bb0c7fb7c35cf785f")
        // Fresh nonces differ.
        #expect(Handshake.randomNonce() != Handshake.randomNonce())
        #expect(Handshake.randomNonce().count == 32)
    }

    @Test("loopback detection", arguments: [
        ("127.0.0.1", true), ("127.0.0.1:53122", true), ("127.8.9.10:1", true), ("::1", true), ("::1:53122", true),
        ("[::1]:53122", true), ("::1:8080", true), ("::ffff:127.0.0.1:80", true), ("localhost", true), ("localhost:7077", true),
        ("10.0.0.1:7077", false), ("128.0.0.1", false), ("::2", false), ("fe80::1:53122", false),
        ("::ffff:10.0.0.1", false), ("example.com:7077", false), ("", false),
    ])
    func loopback(peer: String, expected: Bool) {
        #expect(Handshake.isLoopback(peer) == expected)
    }

    @Test("a connection tells whether its peer is on loopback from the socket address")
    func connectionLoopback() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5000))
        #expect(server.peerIsLoopback)
        #expect(client.peerIsLoopback)
        client.close()
    }
}

@Suite("Cluster token")
struct ClusterTokenTests {
    func tokenError(_ body: () throws -> Void) -> ClusterToken.Error? {
        do {
            try body()
            return nil
        } catch let error as ClusterToken.Error {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test("--token-file: mode 0600 is read (surrounding whitespace dropped); group/other access is refused")
    func tokenFile() throws {
        let scratch = try ScratchDirectory()
        let secret = "s3cret-s3cret-s3cret-s3cret"
        try scratch.write("token", "  \(secret)\n", mode: 0o600)
        #expect(try ClusterToken.read(file: scratch.path + "/token").bytes == Array(secret.utf8))
        try scratch.write("readonly", secret, mode: 0o400)
        #expect(try ClusterToken.read(file: scratch.path + "/readonly").bytes == Array(secret.utf8))

        for mode in [0o644, 0o640, 0o604, 0o620, 0o660] {
            try scratch.write("open-\(mode)", secret, mode: mode)
            let error = tokenError { _ = try ClusterToken.read(file: scratch.path + "/open-\(mode)") }
            #expect(error?.code == .tooOpen, "mode \(String(mode, radix: 8))")
            #expect(error?.message.contains("chmod 600") == true)
            #expect(error?.message.contains(String(mode, radix: 8)) == true)
        }
        // Followed through a symlink (as Kubernetes mounts secrets); the target's mode counts.
        try FileManager.default.createSymbolicLink(atPath: scratch.path + "/link", withDestinationPath: "token")
        #expect(try ClusterToken.read(file: scratch.path + "/link").bytes == Array(secret.utf8))
        try FileManager.default.createSymbolicLink(atPath: scratch.path + "/open-link", withDestinationPath: "open-420")
        #expect(tokenError { _ = try ClusterToken.read(file: scratch.path + "/open-link") }?.code == .tooOpen)

        try scratch.write("empty", "\n", mode: 0o600)
        #expect(tokenError { _ = try ClusterToken.read(file: scratch.path + "/empty") }?.code == .empty)
        try scratch.write("short", "hunter2\n", mode: 0o600)
        #expect(tokenError { _ = try ClusterToken.read(file: scratch.path + "/short") }?.code == .tooShort)
        #expect(tokenError { _ = try ClusterToken.read(file: scratch.path + "/missing") }?.code == .unreadable)
        #expect(tokenError { _ = try ClusterToken.read(file: scratch.path) }?.code == .unreadable)
    }

    @Test("the file wins over SCORE_CLUSTER_TOKEN; an empty variable means no token")
    func precedence() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("token", "from-the-file-0123456789", mode: 0o600)
        let environment = ["SCORE_CLUSTER_TOKEN": "from-the-environment-0123"]
        #expect(try ClusterToken.load(tokenFile: scratch.path + "/token", environment: environment)?.bytes
                == Array("from-the-file-0123456789".utf8))
        #expect(try ClusterToken.load(tokenFile: nil, environment: environment)?.bytes
                == Array("from-the-environment-0123".utf8))
        #expect(try ClusterToken.load(tokenFile: nil, environment: [:]) == nil)
        #expect(try ClusterToken.load(tokenFile: nil, environment: ["SCORE_CLUSTER_TOKEN": ""]) == nil)
        #expect(tokenError { _ = try ClusterToken.load(tokenFile: nil, environment: ["SCORE_CLUSTER_TOKEN": "short"]) }?.code
                == .tooShort)
    }

    @Test("a token does not print its secret")
    func redacted() throws {
        let token = try ClusterToken("super-secret-value-123")
        #expect(!"\(token)".contains("super"))
        #expect(!String(reflecting: token).contains("super"))
        var dumped = ""
        dump(token, to: &dumped)
        #expect(!dumped.contains("super"))
        #expect(!dumped.contains("115"))  // the byte values of "s"
    }
}

/// Hex text of bytes (tests cannot see the Digest module).
private func hexString(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
