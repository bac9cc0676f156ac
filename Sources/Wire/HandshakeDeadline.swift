/// One deadline for a whole handshake (the TLS handshake included), not a timeout per read: a
/// peer that sends a byte now and then must not keep a handshake, and its thread, alive.
///
/// A plain value with time as an input, so the arithmetic is tested without sockets or sleeps.
public struct HandshakeDeadline: Sendable, Equatable {
    /// What the coordinator gives a connecting peer to authenticate, TLS included.
    public static let defaultSeconds: Double = 10

    /// The time allowed, for messages ("within 10 s").
    public let seconds: Double
    /// When the time is up.
    public let end: ContinuousClock.Instant

    /// A deadline `seconds` after `start` (by default now).
    public init(seconds: Double, from start: ContinuousClock.Instant = .now) {
        self.seconds = seconds
        self.end = start.advanced(by: .milliseconds(Int64(max(0, seconds) * 1000)))
    }

    /// Whether the time is up at `now`.
    public func hasPassed(at now: ContinuousClock.Instant = .now) -> Bool { now >= end }

    /// What is left at `now`, in whole milliseconds for `poll` (0 once passed; a part of a
    /// millisecond counts as one, so a wait never ends just before the deadline and spins).
    public func millisecondsLeft(at now: ContinuousClock.Instant = .now) -> Int32 {
        guard now < end else { return 0 }
        let left = now.duration(to: end).components
        let milliseconds = left.seconds * 1000 + (left.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(1, milliseconds))
    }

    /// The time allowed, as text for log lines: "10 s", "1.5 s".
    var text: String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}
