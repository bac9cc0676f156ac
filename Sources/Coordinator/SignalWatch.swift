#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Wire

/// While a job runs, SIGINT and SIGTERM become `JobEvent.interrupted`, so that the job stops
/// cleanly (workers stopped in order, committed partitions kept) rather than the coordinator
/// dying half-way through writing; SIGPIPE is ignored, so that a worker that goes away mid-send
/// is an error on that connection, not the end of the job. `cancel()` restores the defaults.
final class SignalWatch {
    private let sources: [any DispatchSourceSignal]

    init(events: BlockingQueue<JobEvent>) {
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        sources = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { number, name in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { events.push(.interrupted(name)) }
            source.resume()
            return source
        }
    }

    func cancel() {
        sources.forEach { $0.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
