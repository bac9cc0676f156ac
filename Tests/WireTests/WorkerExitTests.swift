#if canImport(Glibc)
import Glibc
#endif
import Testing
import Wire

@Suite("WorkerExit: how a worker process ended")
struct WorkerExitTests {
    @Test("exit status 12 is the worker stopping itself over its memory limit")
    func memoryLimit() {
        let exit = WorkerExit.exited(WorkerExit.memoryLimitStatus)
        #expect(WorkerExit.memoryLimitStatus == 12)
        #expect(exit.verdict == .overMemoryLimit && exit.isOutOfMemory)
        #expect(exit.description.contains("over its memory limit") && exit.description.contains("exit status 12"))
    }

    @Test("SIGKILL is probably the kernel's out-of-memory killer, not a crash of the model")
    func sigkill() {
        let exit = WorkerExit.signaled(SIGKILL)
        #expect(exit.verdict == .probablyOutOfMemory && exit.isOutOfMemory)
        #expect(exit.description.contains("probably out of memory (killed by SIGKILL"))
        #expect(!exit.description.contains("crash"))
    }

    @Test("a clean exit, other statuses and other signals")
    func others() {
        #expect(WorkerExit.exited(0).verdict == .clean)
        #expect(WorkerExit.exited(1).verdict == .failed && !WorkerExit.exited(1).isOutOfMemory)
        #expect(WorkerExit.exited(3).description == "exited with status 3")
        let segfault = WorkerExit.signaled(SIGSEGV)
        #expect(segfault.verdict == .failed && !segfault.isOutOfMemory)
        #expect(segfault.description == "was killed by signal \(SIGSEGV) (SIGSEGV)")
        #expect(WorkerExit.signaled(SIGTERM).verdict == .failed)
        // A status that happens to be 128 + SIGKILL is an exit status, not a signal.
        #expect(WorkerExit.exited(128 + SIGKILL).verdict == .failed)
    }
}
