import ArgumentParser
import Coordinator

/// `score-cluster stop-workers`: stop the workers that `run --keep-workers` left running.
struct StopWorkersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop-workers",
        abstract: "Stop the local workers kept by `run --keep-workers` (those of a job still running are left alone).",
        discussion: "Kept workers also stop by themselves once idle for the --keep-workers time."
    )

    func run() throws {
        let lines = WarmWorkerPool.stopAll()
        print(lines.isEmpty ? "no kept workers" : lines.joined(separator: "\n"))
    }
}
