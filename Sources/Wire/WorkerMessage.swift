import Columnar

/// Everything a worker sends a coordinator after the handshake, each case with its payload:
/// a frame type can no longer be paired with another message's payload. Encoded in
/// `Connection.send(_:)` and decoded in `init(frame:)`, nowhere else.
public enum WorkerMessage: Sendable {
    /// First, once authenticated: who I am and how many batches I can hold.
    case hello(WorkerHello)
    /// The job's model is not in my cache; send it.
    case modelRequest
    /// The model is loaded; send batches.
    case ready(WorkerReady)
    /// Predictions for one batch (its task id, one column).
    case result(ColumnBatch)
    /// After each result: where the batch's time went.
    case batchTimings(BatchTimings)
    /// The job cannot go on on this worker.
    case failure(WorkerFailure)
    /// Still alive, whatever the model is doing.
    case heartbeat
    /// `--workers-read`: a partition's part file is written.
    case partitionWritten(PartitionWritten)

    /// The frame type that carries the message.
    public var type: MessageType {
        switch self {
        case .hello: .hello
        case .modelRequest: .modelRequest
        case .ready: .ready
        case .result: .result
        case .batchTimings: .batchTimings
        case .failure: .failure
        case .heartbeat: .heartbeat
        case .partitionWritten: .partitionWritten
        }
    }

    /// Decodes a frame received from a worker; a frame a worker never sends is an error naming it.
    public init(frame: Connection.Frame) throws(WireError) {
        switch frame.header.type {
        case .hello: self = .hello(try frame.decode(WorkerHello.self))
        case .modelRequest: self = .modelRequest
        case .ready: self = .ready(try frame.decode(WorkerReady.self))
        case .result: self = .result(try ColumnBatchCodec.decode(frame.payload))
        case .batchTimings: self = .batchTimings(try frame.decode(BatchTimings.self))
        case .failure: self = .failure(try frame.decode(WorkerFailure.self))
        case .heartbeat: self = .heartbeat
        case .partitionWritten: self = .partitionWritten(try frame.decode(PartitionWritten.self))
        case .job, .batch, .shutdown, .modelArchive, .challenge, .challengeResponse, .handshakeResult, .partition:
            throw .unexpected("\(frame.header.type) from a worker")
        }
    }
}

/// Everything a coordinator sends a worker after the handshake, each case with its payload.
/// Encoded in `Connection.send(_:)` and decoded in `init(frame:)`, nowhere else.
public enum CoordinatorMessage: Sendable {
    /// The job to load and how to call its model.
    case job(JobSpec)
    /// The model as a `ModelArchive`'s bytes, checked by the worker against `JobSpec.modelSHA256`.
    case modelArchive(ColumnBuffer)
    /// Rows to score.
    case batch(ColumnBatch)
    /// Still alive (every few seconds, from the hello on).
    case heartbeat
    /// No more work; exit (or, kept alive, wait for the next coordinator).
    case shutdown
    /// `--workers-read`: a partition to read, score and write.
    case partition(PartitionTask)

    public var type: MessageType {
        switch self {
        case .job: .job
        case .modelArchive: .modelArchive
        case .batch: .batch
        case .heartbeat: .heartbeat
        case .shutdown: .shutdown
        case .partition: .partition
        }
    }

    /// Decodes a frame received from a coordinator; a frame a coordinator never sends after the
    /// handshake is an error naming it.
    public init(frame: Connection.Frame) throws(WireError) {
        switch frame.header.type {
        case .job: self = .job(try frame.decode(JobSpec.self))
        case .modelArchive: self = .modelArchive(frame.payload)
        case .batch: self = .batch(try ColumnBatchCodec.decode(frame.payload))
        case .heartbeat: self = .heartbeat
        case .shutdown: self = .shutdown
        case .partition: self = .partition(try frame.decode(PartitionTask.self))
        case .hello, .modelRequest, .ready, .result, .batchTimings, .failure, .challenge, .challengeResponse, .handshakeResult, .partitionWritten:
            throw .unexpected("\(frame.header.type) from the coordinator")
        }
    }
}

extension Connection {
    /// Sends a message to the coordinator.
    public func send(_ message: WorkerMessage) throws {
        switch message {
        case .hello(let hello): try send(message.type, hello)
        case .ready(let ready): try send(message.type, ready)
        case .batchTimings(let timings): try send(message.type, timings)
        case .failure(let failure): try send(message.type, failure)
        case .partitionWritten(let written): try send(message.type, written)
        case .result(let batch): try send(message.type, batch: ColumnBatchCodec.encode(batch))
        case .modelRequest, .heartbeat: try send(message.type)
        }
    }

    /// Sends a message to a worker.
    public func send(_ message: CoordinatorMessage) throws {
        switch message {
        case .job(let job): try send(message.type, job)
        case .modelArchive(let bytes): try send(message.type, payload: bytes)
        case .batch(let batch): try send(message.type, batch: ColumnBatchCodec.encode(batch))
        case .partition(let task): try send(message.type, task)
        case .heartbeat, .shutdown: try send(message.type)
        }
    }

    /// Waits for the worker's next message.
    public func receiveFromWorker() throws -> WorkerMessage {
        try WorkerMessage(frame: receive())
    }

    /// Waits for the coordinator's next message.
    public func receiveFromCoordinator() throws -> CoordinatorMessage {
        try CoordinatorMessage(frame: receive())
    }
}
