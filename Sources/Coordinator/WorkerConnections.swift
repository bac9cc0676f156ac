import Foundation
import Logging
import Wire

/// What the coordinator's threads tell its control thread.
enum JobEvent: Sendable {
    case accepted(Connection)
    case hello(Connection, WorkerHello)
    case ready(WorkerID, WorkerReady)
    case result(WorkerID, ColumnBatchCodec.Decoded)
    case failure(WorkerID, WorkerFailure)
    case modelRequested(WorkerID)
    case heartbeat(WorkerID)
    case timings(WorkerID, BatchTimings)
    /// The coordinator was asked to stop (SIGINT, SIGTERM).
    case interrupted(String)
    case disconnected(WorkerID, String)
    case workerExited(index: Int, how: String)
    /// A worker kept from an earlier job (`run --keep-workers`) is no longer running.
    case keptWorkerGone(pid: Int32)
    case reader(PartitionReader.Output)
    case writer(OutputWriter.Output)
}

/// The threads that watch worker connections: accepting, the handshake, and one receive
/// thread per worker. They only post `JobEvent`s.
enum WorkerConnections {
    /// Reads the first frame of a new connection on its own thread: a worker's hello, or a
    /// refusal that is logged. Strangers never reach the scheduler and never get data.
    static func handshake(_ connection: Connection, token: ClusterToken?, tls: TLSContext?,
                          events: BlockingQueue<JobEvent>, logger: Logger) {
        let logger = { var l = logger; l[metadataKey: "peer"] = "\(connection.peer)"; return l }()
        Thread.detachNewThread {
            // A peer that connects and says nothing must not hold a thread for ever.
            connection.setReceiveTimeout(seconds: 30)
            do {
                if let tls {
                    // A TLS client speaks first; a worker without TLS waits for the challenge,
                    // so it is told in plain words rather than left to time out.
                    guard connection.waitForPeer(milliseconds: 5000) else {
                        let reason = "this coordinator requires TLS: start the worker with --tls-ca FILE (the certificate or CA to trust)"
                        try? connection.send(.handshakeResult, HandshakeResult(accepted: false, reason: reason))
                        logger.warning("refused \(connection.peer): it did not start TLS within 5 s (a worker without --tls-ca?)")
                        connection.close()
                        return
                    }
                    do {
                        try connection.startTLS(tls)
                    } catch {
                        logger.warning("refused \(connection.peer): \(error) (a worker without --tls-ca, or not a worker)")
                        connection.close()
                        return
                    }
                }
                // Challenge-response first: nothing else is read from or sent to a peer before it passes.
                var handshake = CoordinatorHandshake(token: token, peer: connection.peer, peerIsLoopback: connection.peerIsLoopback)
                switch handshake.start() {
                case .sendChallenge(let challenge): try connection.send(.challenge, challenge)
                case .refuse(let result, let refusal):
                    try? connection.send(.handshakeResult, result)
                    logger.warning("\(refusal.message)")
                    connection.close()
                    return
                case .accept: break
                }
                let answer = try connection.receive()
                let action = answer.header.type == .challengeResponse
                    ? handshake.receive(try answer.decode(ChallengeResponse.self))
                    : handshake.receiveUnexpected("a \(answer.header.type) frame")
                switch action {
                case .accept(let result): try connection.send(.handshakeResult, result)
                case .refuse(let result, let refusal):
                    try? connection.send(.handshakeResult, result)
                    logger.warning("\(refusal.message)")
                    connection.close()
                    return
                case .sendChallenge: return
                }
                let frame = try connection.receive()
                switch frame.header.type {
                case .hello:
                    connection.setReceiveTimeout(seconds: 0)
                    events.push(.hello(connection, try frame.decode(WorkerHello.self)))
                case .failure:
                    let failure = try frame.decode(WorkerFailure.self)
                    logger.error("a worker (\(connection.peer)) could not start: \(failure.message)")
                    connection.close()
                default:
                    logger.warning("refused \(connection.peer): it sent \(frame.header.type) before hello")
                    connection.close()
                }
            } catch {
                logger.warning("refused connection from \(connection.peer): \(error)")
                connection.close()
            }
        }
    }

    /// Receives a joined worker's frames until its connection ends.
    static func startReceiving(id: WorkerID, connection: Connection, events: BlockingQueue<JobEvent>) {
        let thread = Thread {
            while true {
                do {
                    let frame = try connection.receive()
                    switch frame.header.type {
                    case .ready: events.push(.ready(id, try frame.decode(WorkerReady.self)))
                    case .result: events.push(.result(id, try ColumnBatchCodec.decode(frame.payload)))
                    case .failure: events.push(.failure(id, try frame.decode(WorkerFailure.self)))
                    case .modelRequest: events.push(.modelRequested(id))
                    case .heartbeat: events.push(.heartbeat(id))
                    case .batchTimings: events.push(.timings(id, try frame.decode(BatchTimings.self)))
                    default: throw WireError.unexpected("\(frame.header.type) from a worker")
                    }
                } catch {
                    events.push(.disconnected(id, "\(error)"))
                    return
                }
            }
        }
        thread.name = "worker-\(id)"
        thread.start()
    }
}

/// Accepts connections on its own thread and posts them to the control thread.
final class Acceptor: @unchecked Sendable {
    private let listener: Listener
    private let events: BlockingQueue<JobEvent>
    private let logger: Logger
    private let lock = NSLock()
    private var stopped = false

    init(listener: Listener, events: BlockingQueue<JobEvent>, logger: Logger) {
        self.listener = listener
        self.events = events
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            while !lock.withLock({ stopped }) {
                do {
                    if let connection = try listener.accept(timeoutMilliseconds: 200) { events.push(.accepted(connection)) }
                } catch {
                    logger.error("listener: \(error)")
                    return
                }
            }
        }
        thread.name = "acceptor"
        thread.start()
    }

    func stop() { lock.withLock { stopped = true } }
}
