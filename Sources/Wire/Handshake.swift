#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Digest

/// Challenge-response authentication between a coordinator and a worker, as pure state machines:
/// they take the messages received and return what to send and whether to go on. The caller does
/// the I/O (`Connection.authenticateWorker` and `authenticateCoordinator`: small frames only, one
/// deadline for the whole conversation).
///
/// ## Conversation
///
/// ```
/// coordinator                                   worker
///   Challenge {version, nonce C, requiresToken} →
///                     ← ChallengeResponse {version, proof = HMAC(token, "score-cluster v1" + C), nonce W}
///   HandshakeResult {accepted, proof' = HMAC(token, "score-cluster v1 coordinator:" + C + W)} →
/// ```
///
/// - The token never travels; each side proves it knows it by a MAC over a nonce the *other*
///   side just chose, so a recorded proof is worthless on the next connection (replay), and the
///   two proofs use different messages, so one cannot be reflected back as the other.
/// - The worker checks the coordinator's proof too: a worker with a token receives models
///   (pickles, which run code when loaded) and data only from a coordinator that knows the token.
/// - Without a token the coordinator accepts loopback peers only, and a worker with a token
///   refuses a non-loopback coordinator that does not ask for one.
/// - Proofs are compared in constant time.
///
/// ```swift
/// var handshake = CoordinatorHandshake(token: token, peer: connection.peer, peerIsLoopback: loopback)
/// switch handshake.start() {
/// case .sendChallenge(let challenge): try connection.send(.challenge, challenge)
/// case .refuse(let result, let refusal): try? connection.send(.handshakeResult, result); log(refusal); close()
/// case .accept: preconditionFailure()
/// }
/// ```
public enum Handshake {
    /// The handshake protocol version; the same number as the frame header's.
    public static let protocolVersion = Int(FrameHeader.currentVersion)
    /// Bytes in a nonce.
    public static let nonceByteCount = 32
    /// Prefix of the worker's proof message.
    static let workerContext = "score-cluster v1"
    /// Prefix of the coordinator's proof message (a space after "v1", never a hex digit, keeps it
    /// distinct from every worker message).
    static let coordinatorContext = "score-cluster v1 coordinator:"

    /// `nonceByteCount` bytes from the system's cryptographically secure generator.
    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<nonceByteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// What a worker sends for the challenge nonce `nonce` (hex text as received).
    static func workerProof(token: ClusterToken, nonce: String) -> [UInt8] {
        HMAC.sha256(key: token.bytes, message: Array((workerContext + nonce).utf8))
    }

    /// What the coordinator sends back once it accepted the worker.
    static func coordinatorProof(token: ClusterToken, challengeNonce: String, workerNonce: String) -> [UInt8] {
        HMAC.sha256(key: token.bytes, message: Array((coordinatorContext + challengeNonce + workerNonce).utf8))
    }

    /// Whether `proof` (hex from the peer) is `expected`, compared in constant time.
    static func matches(_ proof: String, _ expected: [UInt8]) -> Bool {
        guard let bytes = Hex.decode(proof), bytes.count == HMAC.byteCount else { return false }
        return ConstantTime.equals(bytes, expected)
    }

    static func isNonce(_ text: String) -> Bool { Hex.isLowercase(text, byteCount: nonceByteCount) }

    /// Whether a peer address is the loopback interface: `127.0.0.0/8`, `::1`, `::ffff:127.x.y.z`,
    /// or the name `localhost`. Accepts a bare address, "[v6]:port", or `Connection.peer`'s
    /// "address:port" form.
    ///
    /// Prefer `Connection.peerIsLoopback`, which asks the socket: "address:port" text is ambiguous
    /// for IPv6 ("::1:8080" is also an address), and is read here as loopback when either reading is.
    public static func isLoopback(_ peer: String) -> Bool {
        func check(_ host: String) -> Bool? {
            if host == "localhost" { return true }
            var v4 = in_addr()
            if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, host, &v6) == 1 { return isLoopback(ipv6: withUnsafeBytes(of: v6) { Array($0) }) }
            return nil
        }
        var host = peer
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<close])
        }
        if check(host) == true { return true }
        // "address:port": drop the port.
        if let colon = host.lastIndex(of: ":"), check(String(host[..<colon])) == true { return true }
        return false
    }

    /// Why a handshake failed, for the log of the side that refused.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        /// The kind of failure.
        public struct Code: Hashable, Sendable, CustomStringConvertible {
            enum Storage: Hashable, Sendable {
                case wrongToken, missingToken, noTokenConfigured, versionMismatch, malformed, unexpectedMessage
                case coordinatorUnauthenticated, refusedByCoordinator
                case timedOut, frameTooLarge, tlsFailed, connectionLost
            }
            let storage: Storage
            /// The worker's proof is not the one the token gives (wrong token, or a replayed proof).
            public static let wrongToken = Code(storage: .wrongToken)
            /// A token is required and the worker sent no proof.
            public static let missingToken = Code(storage: .missingToken)
            /// A peer on another machine, and this coordinator has no token to authenticate it with.
            public static let noTokenConfigured = Code(storage: .noTokenConfigured)
            /// The two sides speak different handshake versions.
            public static let versionMismatch = Code(storage: .versionMismatch)
            /// A nonce or proof that is not what the protocol says (length, hex).
            public static let malformed = Code(storage: .malformed)
            /// A message that does not belong at this point of the handshake.
            public static let unexpectedMessage = Code(storage: .unexpectedMessage)
            /// Worker side: the coordinator did not prove it knows the token (wrong proof, or it did
            /// not ask for one although this worker has a token and the coordinator is remote).
            public static let coordinatorUnauthenticated = Code(storage: .coordinatorUnauthenticated)
            /// Worker side: the coordinator refused this worker; the message has its reason.
            public static let refusedByCoordinator = Code(storage: .refusedByCoordinator)
            /// The peer did not finish the handshake by its deadline (`HandshakeDeadline`).
            public static let timedOut = Code(storage: .timedOut)
            /// The peer announced a frame larger than `Handshake.maxFramePayload` before authenticating.
            public static let frameTooLarge = Code(storage: .frameTooLarge)
            /// TLS was required and the peer did not start it, or the TLS handshake failed.
            public static let tlsFailed = Code(storage: .tlsFailed)
            /// The connection ended or failed before the handshake was over.
            public static let connectionLost = Code(storage: .connectionLost)

            public var description: String { "\(storage)" }
        }

        public let code: Code
        /// A complete line for the log: who, what, and what to do about it.
        public let message: String

        public init(_ code: Code, _ message: String) {
            self.code = code
            self.message = message
        }

        public var description: String { message }
    }

    /// How a finished handshake ended.
    public enum Outcome: Sendable, Hashable {
        case accepted
        case refused(Refusal)
    }
}

// MARK: - Coordinator side

/// The coordinator's half of the handshake with one connecting worker.
public struct CoordinatorHandshake: Sendable {
    /// What the coordinator does next.
    public enum Action: Sendable, Equatable {
        /// Send this challenge (frame type for `Challenge`) and wait for a `ChallengeResponse`.
        case sendChallenge(Challenge)
        /// Send this result (frame type for `HandshakeResult`): the worker is in; go on.
        case accept(HandshakeResult)
        /// Send this result, log the refusal and close the connection. Nothing else is sent.
        case refuse(HandshakeResult, Handshake.Refusal)
    }

    private enum State: Sendable { case initial, challenged, done(Handshake.Outcome) }

    private let token: ClusterToken?
    private let peer: String
    private let peerIsLoopback: Bool
    private let nonce: String
    private var state = State.initial

    /// - Parameters:
    ///   - token: The cluster token, or nil when none is configured (loopback workers only).
    ///   - peer: The worker's address, for log lines.
    ///   - peerIsLoopback: Whether the worker connects over the loopback interface.
    ///   - nonce: The challenge nonce; leave the default (fresh random bytes) outside tests.
    public init(token: ClusterToken?, peer: String, peerIsLoopback: Bool, nonce: [UInt8] = Handshake.randomNonce()) {
        precondition(nonce.count == Handshake.nonceByteCount, "a handshake nonce has \(Handshake.nonceByteCount) bytes")
        self.token = token
        self.peer = peer
        self.peerIsLoopback = peerIsLoopback
        self.nonce = Hex.encode(nonce)
    }

    /// How the handshake ended, once it has.
    public var outcome: Handshake.Outcome? {
        if case .done(let outcome) = state { return outcome }
        return nil
    }

    /// The first step, right after accepting the connection.
    public mutating func start() -> Action {
        guard case .initial = state else { return unexpected("start() called twice") }
        guard token != nil || peerIsLoopback else {
            return refuse(.noTokenConfigured,
                          log: "refused worker at \(peer): it connects from another machine and this coordinator has no token; "
                              + "give both sides the same --token-file or \(ClusterToken.environmentVariable)",
                          tell: "this coordinator accepts workers from other machines only with a token, and it has none")
        }
        state = .challenged
        return .sendChallenge(Challenge(nonce: nonce, requiresToken: token != nil))
    }

    /// The worker's answer arrived.
    public mutating func receive(_ response: ChallengeResponse) -> Action {
        guard case .challenged = state else { return unexpected("a challenge response") }
        guard response.protocolVersion == Handshake.protocolVersion else {
            return refuse(.versionMismatch,
                          log: "refused worker at \(peer): it speaks handshake version \(response.protocolVersion), this "
                              + "coordinator \(Handshake.protocolVersion); run the same score-cluster version on both sides",
                          tell: "protocol version mismatch: the coordinator speaks \(Handshake.protocolVersion), this worker "
                              + "\(response.protocolVersion); run the same score-cluster version on both sides")
        }
        guard let token else {
            // No token: loopback only (checked in start()); any proof sent is ignored.
            return accept(HandshakeResult(accepted: true))
        }
        guard let proof = response.proof else {
            return refuse(.missingToken,
                          log: "refused worker at \(peer): it sent no token proof (missing token); give it the same "
                              + "--token-file or \(ClusterToken.environmentVariable) as the coordinator",
                          tell: "missing token: this coordinator requires one; pass --token-file or set "
                              + ClusterToken.environmentVariable)
        }
        guard Handshake.matches(proof, Handshake.workerProof(token: token, nonce: nonce)) else {
            return refuse(.wrongToken,
                          log: "refused worker at \(peer): wrong token (its proof does not match this coordinator's token)",
                          tell: "wrong token: the worker's token is not the coordinator's")
        }
        guard Handshake.isNonce(response.nonce) else {
            return refuse(.malformed, log: "refused worker at \(peer): its nonce is not \(Handshake.nonceByteCount) bytes of hex",
                          tell: "malformed challenge response (nonce)")
        }
        let ours = Handshake.coordinatorProof(token: token, challengeNonce: nonce, workerNonce: response.nonce)
        return accept(HandshakeResult(accepted: true, proof: Hex.encode(ours)))
    }

    /// Anything else arrived during the handshake (another frame type, a payload that is not a
    /// `ChallengeResponse`, the peer hung up): refuse with `what` in the log line.
    public mutating func receiveUnexpected(_ what: String) -> Action {
        unexpected(what)
    }

    private mutating func unexpected(_ what: String) -> Action {
        refuse(.unexpectedMessage, log: "refused peer at \(peer): \(what) during the handshake",
               tell: "unexpected message during the handshake")
    }

    private mutating func accept(_ result: HandshakeResult) -> Action {
        state = .done(.accepted)
        return .accept(result)
    }

    private mutating func refuse(_ code: Handshake.Refusal.Code, log: String, tell: String) -> Action {
        let refusal = Handshake.Refusal(code, log)
        state = .done(.refused(refusal))
        return .refuse(HandshakeResult(accepted: false, reason: tell), refusal)
    }
}

// MARK: - Worker side

/// The worker's half of the handshake with the coordinator it connected to.
public struct WorkerHandshake: Sendable {
    /// What the worker does next.
    public enum Action: Sendable, Equatable {
        /// Send this response (frame type for `ChallengeResponse`) and wait for a `HandshakeResult`.
        case respond(ChallengeResponse)
        /// Authenticated: go on with the conversation (send the hello).
        case accepted
        /// Log the refusal and close the connection.
        case refuse(Handshake.Refusal)
    }

    private enum State: Sendable {
        case initial
        case responded(challenge: Challenge, sentProof: Bool)
        case done(Handshake.Outcome)
    }

    private let token: ClusterToken?
    private let coordinator: String
    private let coordinatorIsLoopback: Bool
    private let loopbackMayOmitToken: Bool
    private let nonce: String
    private var state = State.initial

    /// - Parameters:
    ///   - token: The cluster token, or nil when none is configured.
    ///   - coordinator: The coordinator's address, for log lines.
    ///   - coordinatorIsLoopback: Whether the coordinator is reached over the loopback interface.
    ///   - loopbackMayOmitToken: Whether a loopback coordinator may skip asking for the token a
    ///     worker has. False for workers kept alive between jobs: between two jobs another local
    ///     process may listen on the address they reconnect to.
    ///   - nonce: This worker's nonce; leave the default (fresh random bytes) outside tests.
    public init(token: ClusterToken?, coordinator: String, coordinatorIsLoopback: Bool, loopbackMayOmitToken: Bool = true,
                nonce: [UInt8] = Handshake.randomNonce()) {
        precondition(nonce.count == Handshake.nonceByteCount, "a handshake nonce has \(Handshake.nonceByteCount) bytes")
        self.token = token
        self.coordinator = coordinator
        self.coordinatorIsLoopback = coordinatorIsLoopback
        self.loopbackMayOmitToken = loopbackMayOmitToken
        self.nonce = Hex.encode(nonce)
    }

    /// How the handshake ended, once it has.
    public var outcome: Handshake.Outcome? {
        if case .done(let outcome) = state { return outcome }
        return nil
    }

    /// The coordinator's challenge arrived (the first frame on the connection).
    public mutating func receive(_ challenge: Challenge) -> Action {
        guard case .initial = state else { return unexpected("a second challenge") }
        guard challenge.protocolVersion == Handshake.protocolVersion else {
            return refuse(.versionMismatch,
                          "the coordinator at \(coordinator) speaks handshake version \(challenge.protocolVersion), this "
                          + "worker \(Handshake.protocolVersion); run the same score-cluster version on both sides")
        }
        guard Handshake.isNonce(challenge.nonce) else {
            return refuse(.malformed, "the coordinator at \(coordinator) sent a malformed challenge (nonce)")
        }
        if !challenge.requiresToken && token != nil && !(coordinatorIsLoopback && loopbackMayOmitToken) {
            return refuse(.coordinatorUnauthenticated,
                          "the coordinator at \(coordinator) did not ask for a token although this worker has one, so it "
                          + "cannot prove it is the coordinator meant; refusing to take models or data from it "
                          + "(start the coordinator with the same --token-file or \(ClusterToken.environmentVariable))")
        }
        let proof = challenge.requiresToken ? token.map { Hex.encode(Handshake.workerProof(token: $0, nonce: challenge.nonce)) } : nil
        state = .responded(challenge: challenge, sentProof: proof != nil)
        return .respond(ChallengeResponse(proof: proof, nonce: nonce))
    }

    /// The coordinator's verdict arrived.
    public mutating func receive(_ result: HandshakeResult) -> Action {
        guard case .responded(let challenge, let sentProof) = state else { return unexpected("a handshake result") }
        guard result.accepted else {
            var message = "the coordinator at \(coordinator) refused this worker: \(result.reason ?? "no reason given")"
            if challenge.requiresToken && !sentProof {
                message += "; this worker has no token: pass --token-file or set \(ClusterToken.environmentVariable)"
            }
            return refuse(.refusedByCoordinator, message)
        }
        if sentProof, let token {
            let expected = Handshake.coordinatorProof(token: token, challengeNonce: challenge.nonce, workerNonce: nonce)
            guard let proof = result.proof, Handshake.matches(proof, expected) else {
                return refuse(.coordinatorUnauthenticated,
                              "the coordinator at \(coordinator) accepted this worker without proving it knows the token; "
                              + "refusing to take models or data from it")
            }
        }
        state = .done(.accepted)
        return .accepted
    }

    /// Anything else arrived during the handshake (another frame type, an undecodable payload, the
    /// connection closed): refuse with `what` in the log line.
    public mutating func receiveUnexpected(_ what: String) -> Action {
        unexpected(what)
    }

    private mutating func unexpected(_ what: String) -> Action {
        refuse(.unexpectedMessage, "the coordinator at \(coordinator) sent \(what) during the handshake")
    }

    private mutating func refuse(_ code: Handshake.Refusal.Code, _ message: String) -> Action {
        let refusal = Handshake.Refusal(code, message)
        state = .done(.refused(refusal))
        return .refuse(refusal)
    }
}
