import Foundation
import Subprocess
import SystemPackage

/// Runs the commands of an environment build (`python -m venv`, `pip install`), and other short
/// Python commands (the registry's fallback to MLflow's own client), with swift-subprocess,
/// standard output and error captured together as pip's log reads best.
public enum BuildProcess {
    /// How a command ended and what it printed.
    public struct Result: Sendable {
        /// The exit status; -1 when the command could not be started, 128+N when killed by signal N.
        public var status: Int32
        public var output: String
    }

    /// The environment for venv and pip: the caller's, without what would redirect Python or pip elsewhere.
    static var childEnvironment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in ["PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__",
                    "PIP_USER", "PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_REQUIRE_VIRTUALENV", "PIP_EDITABLE"] {
            env[key] = nil
        }
        env["PIP_NO_INPUT"] = "1"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PYTHONNOUSERSITE"] = "1"
        // uv reads no pip.conf: a private index given to pip by variable is given to uv too.
        for (pip, uv) in [("PIP_INDEX_URL", "UV_INDEX_URL"), ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"), ("PIP_TRUSTED_HOST", "UV_INSECURE_HOST")]
        where env[uv] == nil {
            env[uv] = env[pip]
        }
        return env
    }

    /// Runs `executable` in `directory` to completion, standard input empty.
    ///
    /// The builder's callers are synchronous (job preparation, tests), so the asynchronous run is
    /// driven on the calling thread itself (`CallingThreadExecutor`): it needs no thread of Swift's
    /// cooperative pool, which a caller on that pool could otherwise be waiting for.
    public static func run(_ executable: String, _ arguments: [String], directory: String) -> Result {
        let executor = CallingThreadExecutor()
        let box = ResultBox()
        let environment = Environment.custom(Dictionary(uniqueKeysWithValues: childEnvironment.map { (Environment.Key(rawValue: $0.key)!, $0.value) }))
        Task(executorPreference: executor) {
            defer { executor.finish() }
            do {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: Arguments(arguments), environment: environment,
                    workingDirectory: FilePath(directory), input: .none,
                    output: .string(limit: outputLimit), error: .combinedWithOutput)
                let status: Int32 = switch result.terminationStatus {
                case .exited(let code): code
                case .signaled(let signal): 128 + signal
                }
                box.result = Result(status: status, output: result.standardOutput)
            } catch let error as SubprocessError where error.code == .outputLimitExceeded {
                box.result = Result(status: -1, output: "\(executable) printed more than \(outputLimit >> 20) MiB; stopped reading it")
            } catch {
                box.result = Result(status: -1, output: "cannot run \(executable): \(error)")
            }
        }
        executor.runUntilFinished()
        return box.result
    }

    /// Carries the result out of the task; `runUntilFinished` returns only after the task wrote it.
    private final class ResultBox: @unchecked Sendable {
        var result = Result(status: -1, output: "")
    }

    /// pip's output for a large environment is a few hundred KiB; past this much, something is wrong.
    static let outputLimit = 16 << 20
}

/// A task executor whose jobs run on the thread that calls `runUntilFinished`: a synchronous
/// function can await an asynchronous one without blocking a cooperative thread for it.
final class CallingThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    /// Ends `runUntilFinished` once the jobs queued so far have run.
    func finish() {
        condition.withLock {
            finished = true
            condition.signal()
        }
    }

    /// Runs enqueued jobs on this thread until `finish()`.
    func runUntilFinished() {
        while true {
            let next: UnownedJob? = condition.withLock {
                while jobs.isEmpty && !finished { condition.wait() }
                return jobs.isEmpty ? nil : jobs.removeFirst()
            }
            guard let next else { return }
            next.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Every command of a build and its output, for the build log.
struct BuildTranscript {
    var text = ""

    mutating func run(_ executable: String, _ arguments: [String], directory: String) -> BuildProcess.Result {
        text += "$ \(([executable] + arguments).joined(separator: " "))\n"
        let result = BuildProcess.run(executable, arguments, directory: directory)
        text += result.output
        if !result.output.hasSuffix("\n") && !result.output.isEmpty { text += "\n" }
        text += "[exit status \(result.status)]\n"
        return result
    }
}
