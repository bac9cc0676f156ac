/// What a frame carries. Control messages carry JSON; batches and results carry column buffers.
public enum MessageType: UInt8, Sendable, CaseIterable {
    /// worker → coordinator: who I am and how many batches I can hold (`WorkerHello`).
    case hello = 1
    /// coordinator → worker: the job to load (`JobSpec`).
    case job = 2
    /// worker → coordinator: model loaded, ready for batches (`WorkerReady`).
    case ready = 3
    /// coordinator → worker: rows to score (`BatchMessage`).
    case batch = 4
    /// worker → coordinator: predictions for one batch (`ResultMessage`).
    case result = 5
    /// worker → coordinator: the job cannot go on on this worker (`WorkerFailure`).
    case failure = 6
    /// coordinator → worker: no more work; exit.
    case shutdown = 7
    /// coordinator → worker, first frame on a connection: prove you know the token (`Challenge`).
    case challenge = 8
    /// worker → coordinator: the proof (`ChallengeResponse`).
    case challengeResponse = 9
    /// coordinator → worker: accepted (with the coordinator's own proof) or refused (`HandshakeResult`).
    case handshakeResult = 10
    /// worker → coordinator: the job's model is not in my cache; send it (no payload).
    case modelRequest = 11
    /// coordinator → worker: the model as a `ModelArchive` (raw bytes, checked against `JobSpec.modelSHA256`).
    case modelArchive = 12
    /// worker → coordinator: still alive (sent every few seconds, whatever the model is doing; no payload).
    case heartbeat = 13
    /// worker → coordinator, after each result: where the batch's time went (`BatchTimings`).
    case batchTimings = 14
    /// coordinator → worker (`--workers-read`): a partition to read, score and write (`PartitionTask`).
    case partition = 15
    /// worker → coordinator (`--workers-read`): its part file is written (`PartitionWritten`).
    case partitionWritten = 16
}
