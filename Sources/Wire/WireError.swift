/// What went wrong on a connection.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The peer does not speak this protocol (wrong magic): a stranger on the port.
    case notAScoreClusterPeer
    /// The peer speaks another version of the protocol.
    case versionMismatch(theirs: UInt8, ours: UInt8)
    /// A frame that breaks the format: the connection is closed.
    case malformed(String)
    /// The peer closed the connection.
    case closed
    /// A socket call failed.
    case io(String)
    /// A message arrived that is not allowed at this point of the conversation.
    case unexpected(String)
    /// TLS could not be set up (certificate, key, trust) or the TLS handshake failed.
    case tls(String)
    /// The peer did not finish the handshake (TLS included) by its deadline (`HandshakeDeadline`).
    case handshakeTimedOut(peer: String, allowed: String)
    /// Before authentication the peer announced a frame larger than the handshake's frames may be
    /// (`Handshake.maxFramePayload`); nothing was allocated for it.
    case frameTooLargeBeforeAuthentication(peer: String, bytes: UInt64, limit: UInt64)
    /// Before authentication the peer sent a frame that is not one of the handshake's.
    case notAHandshakeFrame(peer: String, type: MessageType)

    public var description: String {
        switch self {
        case .notAScoreClusterPeer: "the peer is not a score-cluster process (bad frame magic)"
        case .versionMismatch(let theirs, let ours):
            "protocol version mismatch: peer speaks \(theirs), this build speaks \(ours); run the same score-cluster version on both sides"
        case .malformed(let why): "malformed frame: \(why)"
        case .closed: "connection closed by peer"
        case .io(let why): "socket error: \(why)"
        case .unexpected(let why): "unexpected message: \(why)"
        case .tls(let why): "TLS: \(why)"
        case .handshakeTimedOut(let peer, let allowed): "\(peer) did not finish the handshake within \(allowed)"
        case .frameTooLargeBeforeAuthentication(let peer, let bytes, let limit):
            "\(peer) announced a frame of \(bytes) bytes before authenticating, which exceeds the limit of \(limit) bytes until then"
        case .notAHandshakeFrame(let peer, let type): "\(peer) sent a \(type) frame before authenticating"
        }
    }
}

extension WireError {
    private static let timeoutText = "sent nothing within the time allowed"

    /// `receive()` waited past the connection's receive timeout.
    static func timedOut(_ peer: String) -> WireError { .io("\(peer) \(timeoutText)") }

    /// Whether this is a receive timeout (the peer is silent, not gone).
    public var isTimeout: Bool {
        if case .io(let message) = self { return message.hasSuffix(Self.timeoutText) }
        return false
    }
}
