#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Wire

/// Keeps a worker's resident memory under its limit (`--worker-memory`, `worker --memory-limit`):
/// a thread samples it every `interval` seconds, and the Python thread asks again after each
/// batch (`check()`), so a model that leaks a little per batch is caught on the batch that
/// crosses the limit and one that allocates a lot at once within an interval.
///
/// The first sample over the limit calls `onExceeded` once, on the thread that took it; in a
/// worker that reports and ends the process. Any other thread that calls `check()` after that
/// waits for ever (the process is ending), so nothing is sent after the report.
///
/// Knows nothing of sockets: the sampler and the reaction are given, so tests drive it.
public final class MemoryWatchdog: Sendable {
    /// A sample over the limit.
    public struct Exceeded: Sendable, Equatable {
        public var limit: MemoryLimit
        public var residentBytes: Int
        public init(limit: MemoryLimit, residentBytes: Int) {
            self.limit = limit
            self.residentBytes = residentBytes
        }
    }

    private struct State {
        var limit: MemoryLimit?
        var fired = false
        var running = false
        /// Counts `stop()`s: a thread from before the last one ends even if `start()` came
        /// before it woke up.
        var generation = 0
    }

    private let state = Mutex(State())
    /// Wakes the sampling thread from its sleep when stopped: a worker about to fork waits for it to end.
    private let wakeup = NSCondition()
    private let interval: Double
    private let sample: @Sendable () -> Int?
    private let onExceeded: @Sendable (Exceeded) -> Void

    /// - Parameters:
    ///   - interval: seconds between the thread's samples.
    ///   - sample: the resident set in bytes (nil: unknown, never over).
    ///   - onExceeded: called once, with the first sample over the limit.
    public init(interval: Double = 0.1, sample: @escaping @Sendable () -> Int? = ResidentMemory.current,
                onExceeded: @escaping @Sendable (Exceeded) -> Void) {
        self.interval = interval
        self.sample = sample
        self.onExceeded = onExceeded
    }

    /// The limit in force (nil: none). A kept-alive worker sets each job's.
    public var limit: MemoryLimit? {
        get { state.withLock { $0.limit } }
        set { state.withLock { $0.limit = newValue } }
    }

    /// Takes a sample and compares it with the limit; true when it is over (the first time,
    /// after `onExceeded` returned). A call after the limit was exceeded elsewhere never returns.
    @discardableResult
    public func check() -> Bool {
        let (limit, fired) = state.withLock { ($0.limit, $0.fired) }
        if fired { Self.parkForever() }
        guard let limit, let resident = sample(), resident > limit.bytes else { return false }
        let first = state.withLock { state in
            defer { state.fired = true }
            return !state.fired
        }
        guard first else { Self.parkForever() }
        onExceeded(Exceeded(limit: limit, residentBytes: resident))
        return true
    }

    /// Starts the sampling thread (once).
    public func start() {
        let (alreadyRunning, generation) = state.withLock { state in
            defer { state.running = true }
            return (state.running, state.generation)
        }
        guard !alreadyRunning else { return }
        let thread = Thread { [self] in
            // The name the kernel shows (`ForkSafety` lists threads by it).
            ForkSafety.nameCallingThread("memory-watchdog")
            func current() -> Bool { state.withLock { $0.running && !$0.fired && $0.generation == generation } }
            while current() {
                // Checked again under the condition's lock, which stop() takes to signal: no wake-up is missed.
                wakeup.lock()
                if current() { _ = wakeup.wait(until: Date().addingTimeInterval(interval)) }
                wakeup.unlock()
                guard current() else { break }
                if state.withLock({ $0.limit == nil }) { continue }
                check()
            }
        }
        thread.stackSize = 1 << 18
        thread.start()
    }

    /// Stops the sampling thread, waking it from its sleep.
    public func stop() {
        state.withLock {
            $0.running = false
            $0.generation += 1
        }
        wakeup.lock()
        wakeup.broadcast()
        wakeup.unlock()
    }

    private static func parkForever() -> Never {
        while true { sleep(3600) }
    }
}
