#if canImport(Glibc)
import Glibc
#endif
import Testing
import Wire
@testable import Coordinator

@Suite("What the job's error says about workers that ended")
struct ExitAdviceTests {
    @Test("SIGKILL points at the out-of-memory killer and --worker-memory, not at the model")
    func sigkill() {
        let advice = JobRunner.exitAdvice([.signaled(SIGKILL)])
        #expect(advice.contains("out-of-memory killer") && advice.contains("--worker-memory"))
        #expect(!advice.contains("crashes"))
    }

    @Test("a crash points at the model; over the limit needs no more words (the batch's message says it)")
    func others() {
        #expect(JobRunner.exitAdvice([.signaled(SIGSEGV)]).contains("the model crashes the interpreter"))
        #expect(JobRunner.exitAdvice([.exited(3), nil]).contains("the model crashes the interpreter"))
        #expect(JobRunner.exitAdvice([.exited(WorkerExit.memoryLimitStatus)]).isEmpty)
        let both = JobRunner.exitAdvice([.signaled(SIGKILL), .exited(1)])
        #expect(both.contains("out-of-memory killer") && both.contains("crashes"))
    }
}
