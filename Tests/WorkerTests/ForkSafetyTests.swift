#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import Wire
@testable import Worker

/// What a `--processes` worker checks before forking: that no thread but its own (and idle ones
/// known to hold nothing) runs, and that the threads it runs itself really stop when told.
@Suite("Fork safety: the threads a worker must be rid of before it forks")
struct ForkSafetyTests {
    /// Whether a thread named `name` is among this process's, waiting up to 2 s for it to be `present`.
    private func thread(named name: String, becomes present: Bool) -> Bool {
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            if (ForkSafety.threadNames() ?? []).contains(where: { $0.name == name }) == present { return true }
            usleep(5_000)
        }
        return false
    }

    @Test("the calling thread comes first; another running thread makes forking unsafe, named with its id; a known idle one does not")
    func threadsListed() throws {
        let threads = try #require(ForkSafety.threadNames())
        #expect(threads.first?.id == (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"))?.split(separator: "/").last.map(String.init))
        let stop = DispatchSemaphore(value: 0)
        for name in ["model-pool", "polars-ooc-clea"] {
            Thread {
                ForkSafety.nameCallingThread(name)
                stop.wait()
            }.start()
        }
        defer { stop.signal(); stop.signal() }
        #expect(thread(named: "model-pool", becomes: true) && thread(named: "polars-ooc-clea", becomes: true))
        let reason = try #require(ForkSafety.reasonNotToFork(settleSeconds: 0))
        #expect(reason.contains("model-pool ("), "\(reason)")
        #expect(!reason.contains("polars-ooc-clea"), "\(reason)")
    }

    @Test("a heartbeat sender's thread is gone once stop() returns, and it sent beats until then")
    func heartbeatStops() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5_000))
        let sender = HeartbeatSender(connection: client, intervalSeconds: 1)
        #expect(thread(named: "heartbeat", becomes: true))
        server.setReceiveTimeout(seconds: 5)
        #expect(try server.receive().header.type == .heartbeat)
        sender.stop()
        #expect(thread(named: "heartbeat", becomes: false))
        sender.stop()  // twice is harmless
    }

    @Test("a memory watchdog stopped and started at once runs one sampling thread, not two")
    func watchdogRestart() {
        let watchdog = MemoryWatchdog(interval: 0.05, sample: { 1 }, onExceeded: { _ in })
        watchdog.limit = MemoryLimit(megabytes: 1_000)
        watchdog.start()
        watchdog.stop()
        watchdog.start()
        usleep(300_000)
        let count = (ForkSafety.threadNames() ?? []).filter { $0.name == "memory-watchdog" }.count
        watchdog.stop()
        #expect(count == 1)
        #expect(thread(named: "memory-watchdog", becomes: false))
    }
}
