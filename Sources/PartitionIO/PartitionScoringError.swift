/// Why a worker could not score a partition it was given (`--workers-read`).
public enum PartitionScoringError: Error, CustomStringConvertible {
    /// The input is not there (or not allowed) on this machine: the worker cannot see the data.
    case inputUnreachable(path: String, message: String)
    /// An input file is unreadable or corrupt (the message names it).
    case input(String)
    /// The model failed on batch `batch` (its id in the job's batch order).
    case predict(batch: UInt64, error: any Error)
    /// The part file cannot be written (the message names it).
    case output(String)
    /// The job's description cannot be used (a field of a type this build does not know).
    case specification(String)
    /// The worker was told to stop (the coordinator shut the job down or went away).
    case stopped

    public var description: String {
        switch self {
        case .inputUnreachable(let path, let message): "cannot open \(path): \(message)"
        case .input(let message), .output(let message), .specification(let message): message
        case .predict(_, let error): "\(error)"
        case .stopped: "stopped before the partition was done"
        }
    }
}
