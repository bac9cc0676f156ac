/// coordinator → worker, the first frame on a connection: prove you know the token.
public struct Challenge: Codable, Sendable, Equatable {
    /// The handshake protocol version the coordinator speaks (`Handshake.protocolVersion`).
    public var protocolVersion: Int
    /// 32 fresh random bytes as 64 lowercase hex digits, never reused.
    public var nonce: String
    /// Whether the coordinator has a token and wants a proof.
    public var requiresToken: Bool

    public init(protocolVersion: Int = Handshake.protocolVersion, nonce: String, requiresToken: Bool) {
        self.protocolVersion = protocolVersion
        self.nonce = nonce
        self.requiresToken = requiresToken
    }
}

/// worker → coordinator, the answer to a `Challenge`.
public struct ChallengeResponse: Codable, Sendable, Equatable {
    /// The handshake protocol version the worker speaks.
    public var protocolVersion: Int
    /// `HMAC-SHA256(token, "score-cluster v1" + challenge.nonce)` as hex; nil when the worker has
    /// no token or none was asked for.
    public var proof: String?
    /// The worker's own fresh nonce (64 hex digits), for the coordinator to prove itself in turn.
    public var nonce: String

    public init(protocolVersion: Int = Handshake.protocolVersion, proof: String?, nonce: String) {
        self.protocolVersion = protocolVersion
        self.proof = proof
        self.nonce = nonce
    }
}

/// coordinator → worker, the verdict that ends the handshake.
public struct HandshakeResult: Codable, Sendable, Equatable {
    /// Whether the worker may go on (send its hello).
    public var accepted: Bool
    /// When accepted with a token: `HMAC-SHA256(token, "score-cluster v1 coordinator:" + challenge
    /// nonce + worker nonce)` as hex, which shows the worker that this coordinator knows the token.
    public var proof: String?
    /// When refused: why, for the worker's log.
    public var reason: String?

    public init(accepted: Bool, proof: String? = nil, reason: String? = nil) {
        self.accepted = accepted
        self.proof = proof
        self.reason = reason
    }
}
