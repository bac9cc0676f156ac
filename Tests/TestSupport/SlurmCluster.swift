#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A one-machine Slurm cluster for the tests (Debian's `slurm-wlm` and `munge`): munged,
/// slurmctld and slurmd on loopback ports, one node with the machine's CPUs, keys, state and
/// logs in a temporary directory; started once per test process by
/// `Tests/Fixtures/slurm_cluster.sh`, its daemons killed when the process exits. A daemon that
/// does not start is a failure naming it, with its log.
public final class SlurmCluster: @unchecked Sendable {
    /// `SLURM_CONF` for clients (`sbatch`, `squeue`, ...).
    public let configuration: String
    public let directory: URL

    /// The cluster the tests of one process share.
    public static let shared: Result<SlurmCluster, any Error> = Result { try SlurmCluster() }

    private init() throws {
        directory = try TestEnvironment.makeTemporaryDirectory("slurm")
        let script = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/slurm_cluster.sh").path
        let result = try Self.spawnAndWait("/bin/bash", [script, "start", directory.path,
                                                         "\(try TestServices.freePort())", "\(try TestServices.freePort())"],
                                           environment: [:], in: directory)
        for daemon in ["munged", "slurmctld", "slurmd"] {
            if let text = try? String(contentsOf: directory.appendingPathComponent("\(daemon).pid"), encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                TestServices.register(pid)
            }
        }
        guard result.status == 0, let ready = result.stdout.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) else {
            throw TestFailure("the Slurm test cluster did not start: \(result.stdout)\(result.stderr)")
        }
        configuration = String(ready.dropFirst("ready ".count))
    }

    /// Submits `script` with `sbatch --wait` and `arguments`, the environment's variables exported
    /// (`--export=ALL`) with `environment` added; returns sbatch's result and the job's output file.
    /// A job that has not ended within `timeout` seconds (still pending, say) is cancelled and
    /// reported with Slurm's account of it.
    public func submitAndWait(_ script: String, arguments: [String], environment: [String: String],
                              output: URL, timeout: Double = 300) throws -> (result: TestEnvironment.ProcessResult, log: String) {
        var env = environment
        env["SLURM_CONF"] = configuration
        let result = try Self.spawnAndWait("/usr/bin/sbatch", ["--wait", "--export=ALL", "--output=\(output.path)"] + arguments + [script],
                                           environment: env, in: output.deletingLastPathComponent(), timeout: timeout)
        if result.status == Self.timedOut {
            let jobs = try Self.spawnAndWait("/usr/bin/scontrol", ["show", "job"], environment: ["SLURM_CONF": configuration], in: directory)
            _ = try? Self.spawnAndWait("/usr/bin/scancel", ["--user=root"], environment: ["SLURM_CONF": configuration], in: directory)
            throw TestFailure("the Slurm job did not end within \(Int(timeout)) s; Slurm says:\n\(jobs.stdout)")
        }
        return (result, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// The status `spawnAndWait` gives a process it killed at its deadline.
    static let timedOut: Int32 = -1

    /// Runs `executable` with its output in files and waits for it with `waitpid`, at most `timeout`
    /// seconds (`sbatch --wait` of a job Slurm cannot start would wait for ever). The daemons the
    /// start script leaves running close every inherited descriptor beyond 0-2 (the script does):
    /// a pipe of another test's child held by a daemon would never reach end-of-file.
    static func spawnAndWait(_ executable: String, _ arguments: [String], environment: [String: String],
                             in directory: URL, timeout: Double = 120) throws -> TestEnvironment.ProcessResult {
        let name = UUID().uuidString.prefix(8)
        let out = directory.appendingPathComponent("spawn-\(name).out").path, err = directory.appendingPathComponent("spawn-\(name).err").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        var code: Int32 = Self.timedOut
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid {
                code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                break
            }
            if done < 0 && errno != EINTR { break }
            if Date() > deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                break
            }
            usleep(100_000)
        }
        return TestEnvironment.ProcessResult(status: code, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                                             stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}
