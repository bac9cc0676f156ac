import Foundation
import Synchronization
import Testing
import Wire
@testable import Worker

@Suite("MemoryWatchdog: a worker's resident memory against its limit")
struct MemoryWatchdogTests {
    /// A resident set the test sets, and the reports the watchdog makes.
    final class Probe: Sendable {
        let resident = Mutex<Int?>(100 << 20)
        let reports = Mutex<[MemoryWatchdog.Exceeded]>([])
        func watchdog(interval: Double = 0.01) -> MemoryWatchdog {
            MemoryWatchdog(interval: interval, sample: { self.resident.withLock { $0 } },
                           onExceeded: { exceeded in self.reports.withLock { $0.append(exceeded) } })
        }
    }

    @Test("under the limit, or without one, nothing happens; over it, one report with the sample")
    func checks() {
        let probe = Probe()
        let watchdog = probe.watchdog()
        #expect(!watchdog.check())  // no limit
        watchdog.limit = MemoryLimit(megabytes: 300)
        #expect(!watchdog.check())
        probe.resident.withLock { $0 = 300 << 20 }
        #expect(!watchdog.check())  // at the limit is not over it
        probe.resident.withLock { $0 = (300 << 20) + 1 }
        #expect(watchdog.check())
        #expect(probe.reports.withLock { $0 } == [.init(limit: MemoryLimit(megabytes: 300), residentBytes: (300 << 20) + 1)])
    }

    @Test("an unknown resident set (no /proc) is never over")
    func unknown() {
        let probe = Probe()
        probe.resident.withLock { $0 = nil }
        let watchdog = probe.watchdog()
        watchdog.limit = MemoryLimit(megabytes: 1)
        #expect(!watchdog.check())
    }

    @Test("the sampling thread catches memory that grows while nobody asks, and reports once")
    func samples() {
        let probe = Probe()
        let watchdog = probe.watchdog(interval: 0.01)
        watchdog.limit = MemoryLimit(megabytes: 200)
        watchdog.start()
        defer { watchdog.stop() }
        usleep(50_000)
        #expect(probe.reports.withLock { $0.isEmpty })
        probe.resident.withLock { $0 = 250 << 20 }
        let deadline = Date().addingTimeInterval(5)
        while probe.reports.withLock({ $0.isEmpty }) && Date() < deadline { usleep(5_000) }
        usleep(50_000)
        #expect(probe.reports.withLock { $0.map(\.residentBytes) } == [250 << 20])
    }

    @Test("a kept-alive worker's limit changes with each job; a lower one applies at once")
    func limitChanges() {
        let probe = Probe()
        let watchdog = probe.watchdog()
        watchdog.limit = MemoryLimit(megabytes: 1000)
        #expect(!watchdog.check())
        watchdog.limit = MemoryLimit(megabytes: 50)
        #expect(watchdog.check())
        #expect(probe.reports.withLock { $0.first?.limit } == MemoryLimit(megabytes: 50))
    }

    @Test("this process's resident set and peak are read from /proc")
    func readsProc() throws {
        let resident = try #require(ResidentMemory.current())
        let peak = try #require(ResidentMemory.peak())
        #expect(resident > 1 << 20 && peak >= resident / 2)
    }
}

@Suite("ResidentMemory: /proc parsing")
struct ResidentMemoryTests {
    @Test("statm's second field is the resident set, in pages")
    func statm() {
        #expect(ResidentMemory.parseStatm("182870 48372 9112 1 0 40590 0\n", pageSize: 4096) == 48372 * 4096)
        #expect(ResidentMemory.parseStatm("182870", pageSize: 4096) == nil)
        #expect(ResidentMemory.parseStatm("", pageSize: 4096) == nil)
    }

    @Test("status fields are in kB")
    func status() {
        let text = "Name:\tpython\nVmPeak:\t  731480 kB\nVmHWM:\t  322104 kB\nVmRSS:\t  301000 kB\n"
        #expect(ResidentMemory.parseStatus(text, field: "VmHWM") == 322_104 * 1024)
        #expect(ResidentMemory.parseStatus(text, field: "VmRSS") == 301_000 * 1024)
        #expect(ResidentMemory.parseStatus(text, field: "VmSwap") == nil)
    }
}

@Suite("OverMemoryReport: what a worker over its limit tells the coordinator")
struct OverMemoryReportTests {
    let exceeded = MemoryWatchdog.Exceeded(limit: MemoryLimit(megabytes: 300), residentBytes: 322 << 20)

    @Test("while scoring: the batch is named, with the limit, the option and the numbers")
    func scoring() {
        let failure = OverMemoryReport.failure(exceeded, activity: .scoring(17), origin: .job, peakBytes: 330 << 20)
        #expect(failure.kind == .memoryLimit && failure.taskID == 17)
        #expect(failure.message.contains("the model used more than 300 MB"))
        #expect(failure.message.contains("resident 322 MB, peak 330 MB"))
        #expect(failure.message.contains("--worker-memory 300"))
    }

    @Test("while loading: a model load failure (every worker would fail alike)")
    func loading() {
        let failure = OverMemoryReport.failure(exceeded, activity: .loading, origin: .worker, peakBytes: nil)
        #expect(failure.kind == .modelLoad && failure.taskID == nil)
        #expect(failure.message.contains("loading the model used more than 300 MB"))
        #expect(failure.message.contains("the worker's --memory-limit 300"))
    }

    @Test("between batches: no batch is blamed")
    func idle() {
        let failure = OverMemoryReport.failure(exceeded, activity: .idle, origin: .job, peakBytes: 322 << 20)
        #expect(failure.kind == .memoryLimit && failure.taskID == nil)
        #expect(!failure.message.contains("peak"))
    }
}
