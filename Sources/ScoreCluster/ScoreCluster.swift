#if !os(Linux)
#error("score-cluster builds on Linux only: it calls glibc, reads /proc and embeds Debian's libpython3.11")
#endif
import Glibc
import ArgumentParser
import Coordinator
import Digest

@main
struct ScoreCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score-cluster",
        abstract: "Batch-score MLflow pyfunc models over Parquet datasets with many worker processes.",
        discussion: """
            score-cluster is a standalone analogue of mlflow.pyfunc.spark_udf without a JVM: a coordinator \
            reads the dataset, streams batches over TCP to worker processes that embed CPython and load the \
            model once, and writes the predictions next to the input columns, in input order, atomically.
            """,
        version: BuildInfo.version,
        subcommands: [RunCommand.self, CoordinatorCommand.self, WorkerCommand.self, ModelCommand.self, StopWorkersCommand.self]
    )

    static func main() {
        // A closed standard error or output (`| head -c1`) makes writes fail with EPIPE, which
        // every writer ignores, instead of killing the process part-way through a job.
        signal(SIGPIPE, SIG_IGN)
        // Before any thread can touch OpenSSL: no exit handler freeing it under a thread still hashing.
        LibCryptoRuntime.startWithoutExitHandler()
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do { try command.run() } catch { exit(withError: error) }
    }
}
