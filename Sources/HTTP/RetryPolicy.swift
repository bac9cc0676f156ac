#if canImport(Glibc)
import Glibc
#endif

/// How often and how long to try again after a transient failure: exponential backoff with
/// full jitter (AWS's recommendation), so that many clients do not retry in step.
public struct RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var attempts: Int
    /// The ceiling of the first wait; doubled for each further attempt, up to `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double

    public init(attempts: Int = 4, baseDelay: Double = 0.25, maxDelay: Double = 5) {
        self.attempts = max(1, attempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before attempt `attempt` (1 is the first retry): uniformly random in
    /// `[0, min(maxDelay, baseDelay * 2^(attempt-1))]`.
    public func delay(beforeRetry attempt: Int) -> Double {
        let ceiling = min(maxDelay, baseDelay * Double(1 << min(max(attempt - 1, 0), 20)))
        return Double.random(in: 0...ceiling)
    }

    /// Sleeps the wait before retry `attempt`.
    public func pause(beforeRetry attempt: Int) {
        let seconds = delay(beforeRetry: attempt)
        usleep(UInt32(min(seconds, 60) * 1_000_000))
    }
}
