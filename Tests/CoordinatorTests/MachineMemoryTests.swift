import Testing
import Wire
@testable import Coordinator

@Suite("MachineMemory: run's default --worker-memory")
struct MachineMemoryTests {
    static let meminfo = """
        MemTotal:\t24684032 kB
        MemFree:        21085220 kB
        MemAvailable:   23015564 kB
        """

    @Test("MemTotal of /proc/meminfo, in bytes")
    func meminfo() {
        #expect(MachineMemory.parseMeminfo(Self.meminfo) == 24_684_032 * 1024)
        #expect(MachineMemory.parseMeminfo("MemFree: 5 kB\n") == nil)
        #expect(MachineMemory.parseMeminfo("MemTotal: lots\n") == nil)
    }

    @Test("control-group limits: a number of bytes; max and v1's near-2^63 'unlimited' are no limit")
    func cgroupLimits() {
        #expect(MachineMemory.parseCgroupLimit("4294967296\n") == 4_294_967_296)
        #expect(MachineMemory.parseCgroupLimit("max\n") == nil)
        #expect(MachineMemory.parseCgroupLimit("9223372036854771712\n") == nil)
        #expect(MachineMemory.parseCgroupLimit("") == nil)
    }

    @Test("the limit files of the job's groups and every group above, v2 and v1")
    func limitFiles() {
        let v2Only = MachineMemory.limitFiles(cgroupText: "0::/system.slice/job.scope\n", root: "/cg")
        #expect(v2Only.contains("/cg/system.slice/job.scope/memory.max"))
        #expect(v2Only.contains("/cg/system.slice/memory.max"))
        #expect(v2Only.contains("/cg/memory.max"))
        #expect(v2Only.contains("/cg/unified/system.slice/job.scope/memory.max"))
        #expect(!v2Only.contains { $0.hasSuffix("limit_in_bytes") })
        let hybrid = MachineMemory.limitFiles(cgroupText: "4:memory:/docker/abc\n1:cpu,cpuacct:/\n0::/\n", root: "/cg")
        #expect(hybrid.contains("/cg/memory/docker/abc/memory.limit_in_bytes"))
        #expect(hybrid.contains("/cg/memory/docker/memory.limit_in_bytes"))
        #expect(hybrid.contains("/cg/memory/memory.limit_in_bytes"))
        #expect(hybrid.contains("/cg/memory.max"))
        #expect(MachineMemory.parseCgroupPaths("5:cpuacct,memory:/a\n").v1Memory == "/a")
        #expect(MachineMemory.limitFiles(cgroupText: "", root: "/cg").isEmpty)
    }

    @Test("80% of the machine's memory, or of a lower control-group limit, shared among the workers")
    func workerShare() {
        let machine = MachineMemory(totalBytes: 10_000 << 20)
        #expect(machine.workerShare(workers: 2) == MemoryLimit(megabytes: 4000))
        #expect(machine.workerShare(workers: 1) == MemoryLimit(megabytes: 8000))
        #expect(machine.workerShare(workers: 3).megabytes == 2666)
        let container = MachineMemory(totalBytes: 64 << 30, cgroupLimitBytes: 2 << 30)
        #expect(container.availableBytes == 2 << 30)
        #expect(container.workerShare(workers: 4) == MemoryLimit(megabytes: 409))
        // A control-group limit above the machine's memory changes nothing.
        #expect(MachineMemory(totalBytes: 1 << 30, cgroupLimitBytes: 8 << 30).availableBytes == 1 << 30)
        // Never below 1 MB, whatever the number of workers.
        #expect(MachineMemory(totalBytes: 1 << 20).workerShare(workers: 1000) == MemoryLimit(megabytes: 1))
    }

    @Test("this machine's memory is read and is positive")
    func current() throws {
        let machine = try #require(MachineMemory.current())
        #expect(machine.totalBytes > 0 && machine.availableBytes <= machine.totalBytes)
    }
}
