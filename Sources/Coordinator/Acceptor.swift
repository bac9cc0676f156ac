import Foundation
import Logging
import Wire

/// Accepts connections on its own thread and authenticates each on a thread of its own; only
/// workers that passed the handshake and said hello reach the control thread (`JobEvent.hello`).
///
/// Before authentication a peer gets small frames only, one deadline for the whole handshake,
/// and a place among at most `maxPending` connections (`PendingHandshakes`); a failing `accept`
/// is retried with a pause (`AcceptBackoff`) rather than ending the thread.
final class Acceptor: @unchecked Sendable {
    /// What a peer is allowed before it has authenticated.
    struct Limits: Sendable {
        /// The whole handshake, TLS included, counted from `accept`.
        var handshakeSeconds = HandshakeDeadline.defaultSeconds
        /// Connections authenticating at once; beyond, the oldest is dropped.
        var maxPending = PendingHandshakes.defaultLimit
    }

    private let acceptOnce: @Sendable (_ timeoutMilliseconds: Int32) -> Listener.Accepted
    private let token: ClusterToken?
    private let tls: TLSContext?
    private let limits: Limits
    private let events: BlockingQueue<JobEvent>
    private let logger: Logger
    private let lock = NSLock()
    private var stopped = false
    private var pending: PendingHandshakes
    /// The pending connections by id, so that a dropped one can be closed (its thread then ends).
    private var connections: [Int: Connection] = [:]
    private var nextID = 0
    /// Hosts named already for connections that ended without a word during the handshake.
    private var silentHosts = OncePerHost()

    convenience init(listener: Listener, token: ClusterToken?, tls: TLSContext?, limits: Limits = Limits(),
                     events: BlockingQueue<JobEvent>, logger: Logger) {
        self.init(acceptOnce: { listener.acceptOnce(timeoutMilliseconds: $0) }, token: token, tls: tls, limits: limits,
                  events: events, logger: logger)
    }

    /// `acceptOnce` stands for `Listener.acceptOnce`, so tests can make it fail.
    init(acceptOnce: @escaping @Sendable (_ timeoutMilliseconds: Int32) -> Listener.Accepted, token: ClusterToken?,
         tls: TLSContext?, limits: Limits = Limits(), events: BlockingQueue<JobEvent>, logger: Logger) {
        self.acceptOnce = acceptOnce
        self.token = token
        self.tls = tls
        self.limits = limits
        self.events = events
        self.logger = logger
        self.pending = PendingHandshakes(limit: limits.maxPending)
    }

    func start() {
        let thread = Thread { [self] in acceptUntilStopped() }
        thread.name = "acceptor"
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }

    private func acceptUntilStopped() {
        var backoff = AcceptBackoff()
        while !lock.withLock({ stopped }) {
            switch acceptOnce(200) {
            case .connection(let connection):
                if let line = backoff.succeeded() { logger.notice("listener: \(line)") }
                authenticate(connection, deadline: HandshakeDeadline(seconds: limits.handshakeSeconds))
            case .idle:
                continue
            case .failed(let code, let message):
                switch backoff.failed(code: code, message: message, at: .now) {
                case .retry: continue
                case .pause(let pause, let warning):
                    if let warning { logger.warning("listener: \(warning)") }
                    Thread.sleep(forTimeInterval: Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18)
                }
            }
        }
    }

    /// Logs a refused handshake. Peers that go away without a word (probes, scanners, a flood)
    /// are named once per host; the rest of them only at debug level.
    private func logRefusal(_ refusal: Handshake.Refusal, peer: String) {
        let metadata: Logger.Metadata = ["peer": "\(peer)"]
        guard refusal.code == .connectionLost else { return logger.warning("\(refusal.message)", metadata: metadata) }
        switch lock.withLock({ silentHosts.check(peer) }) {
        case .first:
            logger.warning("\(refusal.message) (further such connections from \(OncePerHost.host(of: peer)) are logged at debug level)",
                           metadata: metadata)
        case .last:
            logger.warning("\(refusal.message) (further such connections from any host are logged at debug level)", metadata: metadata)
        case .repeated:
            logger.debug("\(refusal.message)", metadata: metadata)
        }
    }

    /// Runs `connection`'s handshake on a thread of its own, dropping the oldest pending one
    /// when there are too many.
    private func authenticate(_ connection: Connection, deadline: HandshakeDeadline) {
        let (id, dropped, lines): (Int, [Connection], [String]) = lock.withLock {
            let id = nextID
            nextID += 1
            connections[id] = connection
            let admission = pending.admit(id, peer: connection.peer)
            let dropped = admission.drop.compactMap { connections.removeValue(forKey: $0) }
            return (id, dropped, admission.log)
        }
        for line in lines { logger.warning("\(line)") }
        // Closing ends the dropped one's wait at once; its thread then ends quietly.
        for connection in dropped { connection.close() }
        let (token, tls, events, logger) = (token, tls, events, logger)
        Thread.detachNewThread { [self] in
            let outcome = connection.authenticateWorker(token: token, tls: tls, deadline: deadline)
            let stillPending = lock.withLock {
                connections[id] = nil
                return pending.finished(id)
            }
            switch outcome {
            case .accepted where stillPending:
                WorkerConnections.receiveHello(connection, events: events, logger: logger)
            case .accepted:
                // Dropped just as it authenticated: the connection is closed already.
                break
            case .refused(let refusal):
                guard stillPending else { break }
                logRefusal(refusal, peer: connection.peer)
            }
        }
    }
}
