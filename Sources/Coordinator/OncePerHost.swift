/// Which hosts were already named in a kind of log line, so that a flood of connections gives a
/// few lines rather than one per connection. A plain value; the host is the peer's address
/// without the port, and at most `capacity` hosts are remembered.
struct OncePerHost: Sendable {
    /// What to do with the line about one more connection.
    enum Verdict: Sendable, Equatable {
        /// Log it: the first from this host.
        case first
        /// Log it, saying that from now on no host's lines are logged (`capacity` reached).
        case last
        /// Skip it (or log it at debug level).
        case repeated
    }

    let capacity: Int
    private var seen: Set<String> = []
    private var full = false

    init(capacity: Int = 256) { self.capacity = capacity }

    /// Whether a line about `peer` ("10.0.0.7:51234") should be logged.
    mutating func check(_ peer: String) -> Verdict {
        guard !full else { return .repeated }
        let host = Self.host(of: peer)
        guard !seen.contains(host) else { return .repeated }
        guard seen.count < capacity else {
            full = true
            return .last
        }
        seen.insert(host)
        return .first
    }

    /// "10.0.0.7:51234" → "10.0.0.7"; "::1:51234" → "::1" (`Listener` writes addresses without brackets).
    static func host(of peer: String) -> String {
        guard let colon = peer.lastIndex(of: ":") else { return peer }
        return String(peer[..<colon])
    }
}
