/// A request that got no complete answer: refused, timed out, cut off, or a TLS failure. An
/// answer with an error status is not an `HTTPError`: it is a response the caller reads.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No connection: refused, unresolvable host, unreachable network.
        case cannotConnect
        /// No progress for the session's stall limit, or over its total time.
        case timedOut
        /// The TLS handshake or the server's certificate failed.
        case tls
        /// The connection ended before the whole answer arrived.
        case cutOff
        /// The answer was larger than the caller accepts.
        case tooLarge
        /// Writing the answer to its file failed.
        case localWrite
        case other
    }

    public var kind: Kind
    /// The URL tried, without its query (which may carry signatures).
    public var url: String
    /// libcurl's explanation.
    public var message: String

    public init(_ kind: Kind, url: String, message: String) {
        self.kind = kind
        self.url = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        self.message = message
    }

    /// Whether trying again may help (the server or the network may recover).
    public var isTransient: Bool {
        switch kind {
        case .cannotConnect, .timedOut, .cutOff: return true
        // A malformed URL, an unsupported protocol, too many redirects: the same again.
        case .tls, .tooLarge, .localWrite, .other: return false
        }
    }

    public var description: String { "\(url): \(message)" }
}
