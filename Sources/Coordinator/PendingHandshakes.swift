/// The connections that are still authenticating, and what to do when there are too many: a
/// plain value the `Acceptor` consults under its lock (tested without sockets).
///
/// Each pending connection holds a thread and a descriptor until its handshake ends (at most
/// its `HandshakeDeadline`), so idle sockets could otherwise take them all. Beyond `limit` the
/// oldest is dropped rather than the newest refused: a flood of idle connections then cannot
/// keep a real worker out, it only shortens how long each stranger may sit there.
///
/// A dropped peer is logged once per host (its address without the port), so that a flood
/// gives a few lines, not one per connection.
struct PendingHandshakes: Sendable {
    /// What the coordinator allows by default: far more than workers ever join at once.
    static let defaultLimit = 64
    /// What `admit` decided.
    struct Admission: Sendable, Equatable {
        /// Connections to close now (the oldest pending ones), by id.
        var drop: [Int] = []
        /// Lines to log as warnings (at most one per host ever, whatever the flood).
        var log: [String] = []
    }

    /// How many connections may authenticate at once.
    let limit: Int
    /// The pending connections, oldest first.
    private(set) var waiting: [(id: Int, peer: String)] = []
    /// How many connections were dropped so far.
    private(set) var dropped = 0
    /// Hosts whose drops were logged already.
    private var logged = OncePerHost()

    init(limit: Int = PendingHandshakes.defaultLimit) {
        precondition(limit > 0, "at least one connection must be allowed to authenticate")
        self.limit = limit
    }

    /// A new connection `id` from `peer` starts its handshake.
    mutating func admit(_ id: Int, peer: String) -> Admission {
        waiting.append((id, peer))
        var admission = Admission()
        while waiting.count > limit {
            let oldest = waiting.removeFirst()
            dropped += 1
            admission.drop.append(oldest.id)
            if let line = logLine(forDropping: oldest.peer) { admission.log.append(line) }
        }
        return admission
    }

    /// Connection `id`'s handshake ended (either way). False when it was no longer pending:
    /// it had been dropped, and its failure is not worth a log line of its own.
    mutating func finished(_ id: Int) -> Bool {
        guard let index = waiting.firstIndex(where: { $0.id == id }) else { return false }
        waiting.remove(at: index)
        return true
    }

    private mutating func logLine(forDropping peer: String) -> String? {
        let reason = "dropped the connection from \(peer): it had not authenticated yet and \(limit) connections were "
            + "already waiting to (at most \(limit) may at once; the oldest goes)"
        switch logged.check(peer) {
        case .first: return reason + "; further drops of connections from \(OncePerHost.host(of: peer)) are not logged"
        case .last: return reason + "; connections from \(logged.capacity) hosts were dropped, further drops are not logged"
        case .repeated: return nil
        }
    }
}
