/// How often each side of a connection says it is alive, and how long a worker waits to hear
/// from its coordinator.
public enum Heartbeat {
    /// Seconds between heartbeats, both ways.
    public static let intervalSeconds: UInt32 = 2
    /// A worker that hears nothing from its coordinator for this long (no batch, no heartbeat)
    /// takes it for gone: a network partition shows no closed connection.
    public static let coordinatorSilenceSeconds = 60
}
