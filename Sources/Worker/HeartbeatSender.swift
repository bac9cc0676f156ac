#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Wire

/// Tells the coordinator every `Heartbeat.intervalSeconds` that this worker is alive, from a
/// thread of its own, so that a long model load or predict (which hold the Python thread) does
/// not look like a dead worker. Ends when stopped or when a send fails (the connection is gone).
///
/// `stop()` returns once the thread has finished, so that a worker about to fork its siblings
/// (`--processes`) is down to its one thread.
final class HeartbeatSender: Sendable {
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    init(connection: Connection, intervalSeconds: Int = Int(Heartbeat.intervalSeconds)) {
        let thread = Thread { [self] in
            // The name the kernel shows (`ForkSafety` lists threads by it).
            ForkSafety.nameCallingThread("heartbeat")
            defer { finished.signal() }
            while true {
                // Woken early only by `stop()`.
                _ = wake.wait(timeout: .now() + .seconds(intervalSeconds))
                if stopped.load(ordering: .acquiring) { return }
                do { try connection.send(WorkerMessage.heartbeat) } catch { return }
            }
        }
        thread.stackSize = 1 << 18
        thread.start()
    }

    /// Stops the thread; safe to call more than once. With `waiting`, returns once it has
    /// finished (before a fork); without, at once (a send blocked on a peer that stopped reading
    /// ends when the connection is closed).
    func stop(waiting: Bool = true) {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        if waiting { finished.wait() }
    }
}
