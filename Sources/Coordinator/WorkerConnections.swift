import Foundation
import Logging
import Wire

/// What the coordinator's threads tell its control thread.
enum JobEvent: Sendable {
    /// A worker authenticated and said hello (`Acceptor`).
    case hello(Connection, WorkerHello)
    case ready(WorkerID, WorkerReady)
    case result(WorkerID, ColumnBatch)
    /// `--workers-read`: a worker wrote a partition's part file.
    case partitionWritten(WorkerID, PartitionWritten)
    case failure(WorkerID, WorkerFailure)
    case modelRequested(WorkerID)
    case heartbeat(WorkerID)
    case timings(WorkerID, BatchTimings)
    /// The coordinator was asked to stop (SIGINT, SIGTERM).
    case interrupted(String)
    case disconnected(WorkerID, String)
    /// A local worker process ended: how (nil: it could not be started), and a description.
    case workerExited(index: Int, exit: WorkerExit?, how: String)
    /// A worker kept from an earlier job (`run --keep-workers`) is no longer running.
    case keptWorkerGone(pid: Int32, processes: Int)
    case reader(PartitionReader.Output)
    case writer(OutputWriter.Output)
    /// `--workers-read`: the part committer's progress.
    case parts(PartCommitter.Output)
}

/// The threads that watch worker connections once they have authenticated (`Acceptor` runs the
/// handshake): reading the hello, and one receive thread per worker. They only post `JobEvent`s.
enum WorkerConnections {
    /// Reads the first frame after the handshake on the calling thread: a worker's hello, or a
    /// failure that is logged. Strangers never get here: they are refused by the handshake.
    static func receiveHello(_ connection: Connection, events: BlockingQueue<JobEvent>, logger: Logger) {
        let logger = { var l = logger; l[metadataKey: "peer"] = "\(connection.peer)"; return l }()
        // A worker that authenticated and then says nothing must not hold a thread for ever.
        connection.setReceiveTimeout(seconds: 30)
        do {
            switch try connection.receiveFromWorker() {
            case .hello(let hello):
                connection.setReceiveTimeout(seconds: 0)
                events.push(.hello(connection, hello))
            case .failure(let failure):
                logger.error("a worker (\(connection.peer)) could not start: \(failure.message)")
                connection.close()
            case let other:
                logger.warning("refused \(connection.peer): it sent \(other.type) before hello")
                connection.close()
            }
        } catch {
            logger.warning("refused connection from \(connection.peer): \(error)")
            connection.close()
        }
    }

    /// Receives a joined worker's frames until its connection ends.
    static func startReceiving(id: WorkerID, connection: Connection, events: BlockingQueue<JobEvent>) {
        let thread = Thread {
            while true {
                do {
                    switch try connection.receiveFromWorker() {
                    case .ready(let ready): events.push(.ready(id, ready))
                    case .result(let batch): events.push(.result(id, batch))
                    case .partitionWritten(let written): events.push(.partitionWritten(id, written))
                    case .failure(let failure): events.push(.failure(id, failure))
                    case .modelRequest: events.push(.modelRequested(id))
                    case .heartbeat: events.push(.heartbeat(id))
                    case .batchTimings(let timings): events.push(.timings(id, timings))
                    case .hello: throw WireError.unexpected("a second hello from a worker")
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
