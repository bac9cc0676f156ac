import Wire

/// Which partitions a `--workers-read` job has handed out, and the finished ones put back in
/// order: a plain value the control thread owns, driven by tests without sockets.
///
/// Partitions are released to the scheduler (as its tasks, one per partition) a few at a
/// time, as many as there are workers to take them, so that an interrupted job stops handing
/// out new ones at once and finishes only those under way. Each hand-out of a partition is a
/// new attempt (its part file is named by it). Finished partitions, written or set aside, come
/// back in any order and leave in partition order, each exactly once.
struct PartitionHandout {
    /// How a partition finished.
    enum Finished: Equatable {
        case written(PartitionWritten)
        case failed(ResultMerger.FailedBatch)
    }

    /// The partitions to score, in order (a resumed job skips committed ones).
    let order: [Int]
    private var released = 0
    private var finishedCount = 0
    private var paused = false
    private var attempts: [Int: Int] = [:]
    private var finished: [Int: Finished] = [:]
    private var nextToLeave = 0

    private let members: Set<Int>

    init(order: [Int]) {
        self.order = order
        members = Set(order)
    }

    /// Whether every partition has been released.
    var allReleased: Bool { released == order.count }
    /// Partitions released and not finished.
    var underWay: Int { released - finishedCount }

    /// Partitions to release now, so that `workers` workers each have one (at least one is
    /// always under way while any is left); none once paused.
    mutating func release(workers: Int) -> [Int] {
        guard !paused else { return [] }
        var out: [Int] = []
        while released < order.count && underWay < max(1, workers) {
            out.append(order[released])
            released += 1
        }
        return out
    }

    /// Stops releasing partitions (the job is being interrupted).
    mutating func pause() { paused = true }

    /// The attempt number of the next hand-out of `partition` (1 for the first).
    mutating func nextAttempt(of partition: Int) -> Int {
        attempts[partition, default: 0] += 1
        return attempts[partition]!
    }

    /// The attempt last handed out.
    func attempt(of partition: Int) -> Int { attempts[partition] ?? 0 }

    /// Records that `partition` finished (once: a second report is ignored); returns the
    /// partitions that may now be committed, in order.
    mutating func finish(_ partition: Int, _ how: Finished) -> [(partition: Int, how: Finished)] {
        guard finished[partition] == nil, members.contains(partition) else { return [] }
        finished[partition] = how
        finishedCount += 1
        var ready: [(Int, Finished)] = []
        while nextToLeave < order.count, let done = finished[order[nextToLeave]] {
            ready.append((order[nextToLeave], done))
            nextToLeave += 1
        }
        return ready
    }

    /// Whether every partition has left.
    var isComplete: Bool { nextToLeave == order.count }
}
