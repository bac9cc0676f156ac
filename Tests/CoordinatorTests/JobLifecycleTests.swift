import Foundation
import Testing
@testable import Coordinator

/// The job's life driven by scripted events and times, without sockets or threads.
@Suite("Job lifecycle state machine")
struct JobLifecycleTests {
    static let t0 = Date(timeIntervalSince1970: 1_000_000)
    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    static func life(_ change: (inout JobLifecycle.Configuration) -> Void = { _ in }) -> JobLifecycle {
        var configuration = JobLifecycle.Configuration(minWorkers: 1, startupTimeout: 60, heartbeatTimeout: 10,
                                                       taskTimeout: nil, gracePeriod: 30, heartbeatInterval: 2, watchInterval: 1)
        change(&configuration)
        return JobLifecycle(configuration: configuration, now: t0)
    }

    @Test("batches wait until --min-workers workers are ready, then go to all of them; later ones start at once")
    func minWorkersGate() {
        var life = Self.life { $0.minWorkers = 2 }
        #expect(life.handle(.workerJoined(0, at: Self.at(1))) == [])
        #expect(life.handle(.workerReady(0)) == [])
        #expect(life.state == .starting(ready: [0], deadline: Self.at(60)))
        #expect(life.handle(.workerJoined(1, at: Self.at(2))) == [])
        #expect(life.handle(.workerReady(1)) == [.startScoring([0, 1])])
        #expect(life.state == .running)
        _ = life.handle(.workerJoined(2, at: Self.at(3)))
        #expect(life.handle(.workerReady(2)) == [.startScoring([2])])
    }

    @Test("a ready worker that goes away before the gate opens no longer counts toward it")
    func goneBeforeGate() {
        var life = Self.life { $0.minWorkers = 2 }
        _ = life.handle(.workerJoined(0, at: Self.at(1)))
        _ = life.handle(.workerReady(0))
        _ = life.handle(.workerGone(0))
        _ = life.handle(.workerJoined(1, at: Self.at(2)))
        #expect(life.handle(.workerReady(1)) == [])
        _ = life.handle(.workerJoined(2, at: Self.at(3)))
        #expect(life.handle(.workerReady(2)) == [.startScoring([1, 2])])
    }

    @Test("no worker ready by the startup deadline fails the job, resumably, once")
    func startupTimeout() {
        var life = Self.life()
        #expect(!life.handle(.tick(Self.at(59))).contains { if case .fail = $0 { true } else { false } })
        let actions = life.handle(.tick(Self.at(61)))
        guard case .fail(let error)? = actions.first else { Issue.record("expected a failure, got \(actions)"); return }
        #expect(error.message.contains("no worker was ready after 60 seconds") && error.resumable)
        #expect(life.isOver)
        #expect(life.handle(.tick(Self.at(120))) == [])
        #expect(life.handle(.failed(JobError("later"))) == [], "the first failure is the job's")
    }

    @Test("a silent worker is lost after the heartbeat timeout; one that keeps talking is not")
    func heartbeatTimeout() {
        var life = Self.life()
        _ = life.handle(.workerJoined(0, at: Self.at(0)))
        _ = life.handle(.workerJoined(1, at: Self.at(0)))
        _ = life.handle(.workerReady(0))
        for second in stride(from: 1.0, through: 11, by: 1) {
            _ = life.handle(.workerHeard(1, at: Self.at(second)))
            let actions = life.handle(.tick(Self.at(second + 0.5)))
            if second < 10 { #expect(!actions.contains(.loseWorker(0, .silent(seconds: 10)))) }
            if second == 10 {
                #expect(actions.contains(.loseWorker(0, .silent(seconds: 10))))
                #expect(!actions.contains { if case .loseWorker(1, _) = $0 { true } else { false } })
            }
        }
        #expect(life.lastHeard.keys.sorted() == [1])
    }

    @Test("a worker holding a batch past --task-timeout is lost once, naming its oldest late batch")
    func taskTimeout() {
        var life = Self.life { $0.taskTimeout = 5 }
        _ = life.handle(.workerJoined(0, at: Self.at(0)))
        _ = life.handle(.workerReady(0))
        _ = life.handle(.taskSent(7, to: 0, at: Self.at(1)))
        _ = life.handle(.taskSent(9, to: 0, at: Self.at(1)))
        _ = life.handle(.taskSent(8, to: 0, at: Self.at(2)))
        _ = life.handle(.taskAnswered(7, by: 0))
        _ = life.handle(.workerHeard(0, at: Self.at(6)))
        let actions = life.handle(.tick(Self.at(6.5)))
        #expect(actions.filter { if case .loseWorker = $0 { true } else { false } } == [.loseWorker(0, .heldTooLong(9, seconds: 5))])
        #expect(life.held.isEmpty, "its batches are no longer held")
    }

    @Test("heartbeats go to every joined worker every interval, and progress is reported each watch")
    func heartbeatsAndProgress() {
        var life = Self.life()
        _ = life.handle(.workerJoined(3, at: Self.at(0)))
        _ = life.handle(.workerJoined(1, at: Self.at(0)))
        #expect(life.handle(.tick(Self.at(0.5))) == [], "within the watch interval nothing falls due")
        #expect(life.handle(.tick(Self.at(1))) == [.reportProgress(stopping: false)])
        #expect(life.handle(.tick(Self.at(2))) == [.sendHeartbeats([1, 3]), .reportProgress(stopping: false)])
    }

    @Test("an interruption drains: the reader pauses, and the job stops once the partitions under way are written")
    func drainCompletes() {
        var life = Self.life()
        _ = life.handle(.workerJoined(0, at: Self.at(0)))
        _ = life.handle(.workerReady(0))
        _ = life.handle(.blockDecoded)
        _ = life.handle(.blockDecoded)
        let actions = life.handle(.interrupted("SIGINT", at: Self.at(5)))
        guard case .pauseReader(let notice)? = actions.first else { Issue.record("\(actions)"); return }
        #expect(notice.contains("SIGINT") && notice.contains("30 s"))
        #expect(life.state == .draining(reason: "SIGINT", deadline: Self.at(35)))
        _ = life.handle(.readerPaused)
        _ = life.handle(.blockWritten)
        #expect(life.handle(.tick(Self.at(6))) == [.sendHeartbeats([0]), .reportProgress(stopping: true)])
        _ = life.handle(.blockWritten)
        let end = life.handle(.tick(Self.at(6.2)))
        #expect(end == [.fail(JobError("stopped by SIGINT", resumable: true))])
        #expect(life.interruption == "SIGINT")
    }

    @Test("a drain past its grace period abandons the batches in flight; a second interrupt stops at once")
    func drainDeadlineAndSecondInterrupt() {
        var life = Self.life()
        _ = life.handle(.workerJoined(0, at: Self.at(0)))
        _ = life.handle(.workerReady(0))
        _ = life.handle(.blockDecoded)
        _ = life.handle(.taskSent(1, to: 0, at: Self.at(1)))
        _ = life.handle(.interrupted("SIGTERM", at: Self.at(2)))
        guard case .fail(let error)? = life.handle(.tick(Self.at(33))).first else { Issue.record("no failure"); return }
        #expect(error.message == "stopped by SIGTERM (1 batch(es) in flight abandoned after the 30 s grace period)")

        var again = Self.life()
        _ = again.handle(.interrupted("SIGINT", at: Self.at(1)))
        #expect(again.handle(.interrupted("SIGINT", at: Self.at(2))) == [.fail(JobError("stopped by SIGINT", resumable: true))])

        var noGrace = Self.life { $0.gracePeriod = 0 }
        #expect(noGrace.handle(.interrupted("SIGINT", at: Self.at(1))) == [.fail(JobError("stopped by SIGINT", resumable: true))])
    }

    @Test("the job is done when scheduling and output both finish, in either order")
    func finishes() {
        for order in [[JobLifecycle.Event.schedulingFinished, .outputFinished], [.outputFinished, .schedulingFinished]] {
            var life = Self.life()
            #expect(life.handle(order[0]) == [])
            #expect(life.handle(order[1]) == [.finish])
            #expect(life.state == .done && life.isOver)
        }
    }

    @Test("an interruption while waiting at the --min-workers gate keeps the gate: no batch goes out below the minimum")
    func interruptedAtGate() {
        var life = Self.life { $0.minWorkers = 2 }
        _ = life.handle(.workerJoined(0, at: Self.at(1)))
        _ = life.handle(.workerReady(0))
        _ = life.handle(.interrupted("SIGINT", at: Self.at(2)))
        _ = life.handle(.workerJoined(1, at: Self.at(3)))
        #expect(life.handle(.workerReady(1)) == [.startScoring([0, 1])], "the gate opens with both, as without the interruption")
    }

    @Test("a ready worker that left still counts as a worker that was ready: no startup failure")
    func readyThenGoneIsNotAStartupFailure() {
        var life = Self.life { $0.minWorkers = 2 }
        _ = life.handle(.workerJoined(0, at: Self.at(1)))
        _ = life.handle(.workerReady(0))
        _ = life.handle(.workerGone(0))
        #expect(!life.handle(.tick(Self.at(61))).contains { if case .fail = $0 { true } else { false } })
    }
}
