#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// Jobs writing `--output s3://...` into a real S3-API server (moto's): each partition a
/// multipart upload left open until the job commits, `_SUCCESS` last; an interrupted job
/// shows nothing and `--resume` completes it; a failed one leaves no object and no upload.
@Suite(.serialized) struct S3OutputTests {
    struct State: Decodable {
        var objects: [String: Int]
        var uploads: [String]
        var recorded: Int
        var pending: Int
        var parts: [String] { objects.keys.filter { $0.split(separator: "/").last?.hasPrefix("part-") == true }.sorted() }
    }

    /// What `s3://datasets/PREFIX` holds now (and its part objects saved into `download`).
    static func state(_ s3: S3APIServer, _ prefix: String, download: URL? = nil) throws -> State {
        let result = try TestEnvironment.run(MLflowTrackingServer.servicesPython, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/s3_state.py").path, "datasets", prefix,
        ] + (download.map { ["--download", $0.path] } ?? []), environment: s3.credentials)
        guard result.status == 0 else { throw TestFailure("s3_state.py failed:\n\(result.stderr.suffix(2000))") }
        return try JSONDecoder().decode(State.self, from: Data(result.stdout.utf8))
    }

    let fixture: EndToEndFixture
    init() throws { fixture = try EndToEndFixture.shared.get() }

    /// A seed model on f1..f4: `sleep` seconds per batch; raises on a batch holding an id in `raiseOn`.
    func model(sleep: Double = 0, raiseOn: [Int] = []) throws -> URL {
        try fixture.makeSeedModel("""
            import time
            class M:
                def predict(self, df):
                    time.sleep(\(sleep))
                    bad = set(\(raiseOn)) & set(df['0'].astype('int64').tolist())
                    if bad:
                        raise ValueError(f"cannot score id {sorted(bad)}")
                    return 2 * df['1'] - df['2'] + df['3'] * df['4']
            def load_pyfunc(path):
                return M()
            """)
    }

    let layout = ["--columns", "id,f1,f2,f3,f4", "--partition-rows", "10000", "--batch-size", "2500", "--workers", "2", "--quiet"]
    /// Twice as many partitions, of smaller batches: more commits to interrupt, and one to fail.
    let smallPartitions = ["--columns", "id,f1,f2,f3,f4", "--partition-rows", "5000", "--batch-size", "1000", "--workers", "2", "--quiet"]

    @Test func fromStoreIntoStoreAsOnDiskCommittedOnceWithSuccessLast() throws {
        let data = try S3InputTests.storedDataset("out-source", rows: 20_000, files: 2, rowGroup: 5_000)
        let work = try TestEnvironment.makeTemporaryDirectory("s3-output")
        let model = try model()
        // Streamed through the coordinator onto disk; then read and uploaded by the workers (run's default).
        let local = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.local.path, "--no-workers-read",
                                                   "--output", work.appendingPathComponent("disk").path] + layout)
        #expect(local.status == 0, "\(local.stderr)")
        let remote = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.uri, "--output", "s3://datasets/scores-a"] + layout)
        #expect(remote.status == 0, "\(remote.stderr)")
        #expect(remote.stdout.contains("output: s3://datasets/scores-a"), "\(remote.stdout)")
        let downloaded = work.appendingPathComponent("downloaded")
        let state = try Self.state(data.s3, "scores-a", download: downloaded)
        #expect(state.parts == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet", "part-00003.parquet"])
        #expect(state.objects["_SUCCESS"] == 0 && state.objects["_manifest.jsonl"] != nil)
        #expect(state.uploads.isEmpty, "open uploads left: \(state.uploads)")
        #expect(state.recorded == 4 && state.pending == 0)
        #expect(try S3InputTests.parts(downloaded) == S3InputTests.parts(work.appendingPathComponent("disk")))

        // Existing output: refused without --overwrite, replaced with it; never inside the input.
        let again = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.uri, "--output", "s3://datasets/scores-a"] + layout)
        #expect(again.status == 1 && again.stderr.contains("already holds objects; pass --overwrite"), "\(again.stderr)")
        // Streamed this time: the coordinator stages and uploads the parts itself.
        let overwrite = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.uri, "--output", "s3://datasets/scores-a",
                                                       "--overwrite", "--no-workers-read"] + layout)
        #expect(overwrite.status == 0, "\(overwrite.stderr)")
        let streamed = work.appendingPathComponent("streamed")
        let restated = try Self.state(data.s3, "scores-a", download: streamed)
        #expect(restated.parts.count == 4 && restated.uploads.isEmpty)
        #expect(try S3InputTests.parts(streamed) == S3InputTests.parts(work.appendingPathComponent("disk")))
        let inside = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.uri, "--output", "\(data.uri)/scores"] + layout)
        #expect(inside.status == 1 && inside.stderr.contains("overlaps the input"), "\(inside.stderr)")
    }

    @Test func anInterruptedJobShowsNothingAndResumeCompletesIt() throws {
        let data = try S3InputTests.storedDataset("out-resume", rows: 20_000, files: 2, rowGroup: 5_000)
        let work = try TestEnvironment.makeTemporaryDirectory("s3-output-resume")
        let slow = try model(sleep: 0.5)
        let output = "s3://datasets/scores-resume"
        var env = data.s3.credentials
        env["VIRTUAL_ENV"] = TestEnvironment.repoRoot.appendingPathComponent(".venv").path
        let first = try BackgroundProcess(EndToEndFixture.binary, ["run", "--model", slow.path, "--input", data.uri, "--output", output,
                                                                   ] + smallPartitions,
                                          environment: env)
        var recorded = 0
        #expect(BackgroundProcess.waitFor(seconds: 120) {
            recorded = (try? Self.state(data.s3, "scores-resume").recorded) ?? 0
            return recorded >= 2 || !first.isRunning
        })
        first.signal(SIGINT)
        let interrupted = first.wait()
        #expect(interrupted.status == 1, "\(interrupted.stderr)")
        #expect(interrupted.stderr.contains("--resume"), "\(interrupted.stderr)")
        let paused = try Self.state(data.s3, "scores-resume")
        // Nothing visible but the manifest; every recorded partition an open upload.
        #expect(paused.parts.isEmpty && paused.objects["_SUCCESS"] == nil, "\(paused.objects)")
        #expect(paused.recorded >= 2 && paused.pending == paused.recorded, "\(paused)")
        #expect(paused.uploads.count == paused.recorded, "\(paused)")

        let resumed = try S3InputTests.run(data.s3, ["run", "--model", slow.path, "--input", data.uri, "--output", output, "--resume",
                                                     ] + smallPartitions)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("resumed: \(paused.recorded) of 8 partitions"), "\(resumed.stdout)")
        let downloaded = work.appendingPathComponent("resumed")
        let done = try Self.state(data.s3, "scores-resume", download: downloaded)
        #expect(done.parts.count == 8 && done.objects["_SUCCESS"] != nil && done.uploads.isEmpty, "\(done)")
        let reference = try S3InputTests.run(data.s3, ["run", "--model", slow.path, "--input", data.local.path,
                                                       "--output", work.appendingPathComponent("disk").path,
                                                       ] + smallPartitions)
        #expect(reference.status == 0, "\(reference.stderr)")
        #expect(try S3InputTests.parts(downloaded) == S3InputTests.parts(work.appendingPathComponent("disk")))
    }

    @Test func aFailedJobLeavesNoObjectAndNoOpenUpload() throws {
        let data = try S3InputTests.storedDataset("out-failed", rows: 20_000, files: 2, rowGroup: 5_000)
        // Ids from 0: the last partition's rows raise, after the others were uploaded.
        let failing = try model(raiseOn: [37_500])
        let result = try S3InputTests.run(data.s3, ["run", "--model", failing.path, "--input", data.uri, "--output", "s3://datasets/scores-failed",
                                                    ] + smallPartitions)
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot score id [37500]"), "\(result.stderr)")
        let state = try Self.state(data.s3, "scores-failed")
        #expect(state.objects.isEmpty, "\(state.objects)")
        #expect(state.uploads.isEmpty, "orphaned uploads: \(state.uploads)")
    }

    @Test func aFlakyStoreStillCommitsTheSameOutput() throws {
        let data = try S3InputTests.storedDataset("out-flaky", rows: 20_000, files: 2, rowGroup: 5_000)
        let work = try TestEnvironment.makeTemporaryDirectory("s3-output-flaky")
        let model = try model()
        let (proxy, endpoint) = try S3InputTests.proxy(data.s3, ["--every", "3"])
        defer { proxy.signal(SIGKILL); _ = proxy.wait(seconds: 5) }
        let flaky = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.uri, "--output", "s3://datasets/scores-flaky"] + layout,
                                         endpoint: endpoint)
        #expect(flaky.status == 0, "\(flaky.stderr)\n\(proxy.stdout)")
        #expect(proxy.stdout.contains("503 PUT") || proxy.stdout.contains("drop PUT") || proxy.stdout.contains("503 POST") || proxy.stdout.contains("drop POST"),
                "no upload met a fault: \(proxy.stdout)")
        let local = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.local.path,
                                                   "--output", work.appendingPathComponent("disk").path] + layout)
        #expect(local.status == 0, "\(local.stderr)")
        let downloaded = work.appendingPathComponent("downloaded")
        let state = try Self.state(data.s3, "scores-flaky", download: downloaded)
        #expect(state.uploads.isEmpty, "open uploads left: \(state.uploads)")
        #expect(state.objects["_SUCCESS"] != nil)
        #expect(try S3InputTests.parts(downloaded) == S3InputTests.parts(work.appendingPathComponent("disk")))
    }

    @Test func aStoreFailingEverythingLeavesNoVisibleOutput() throws {
        let data = try S3InputTests.storedDataset("out-dead", rows: 20_000, files: 2, rowGroup: 5_000)
        let model = try model()
        // Listing and footers pass; every request after fails.
        let (proxy, endpoint) = try S3InputTests.proxy(data.s3, ["--fail-after", "3"])
        defer { proxy.signal(SIGKILL); _ = proxy.wait(seconds: 5) }
        let result = try S3InputTests.run(data.s3, ["run", "--model", model.path, "--input", data.uri, "--output", "s3://datasets/scores-dead"] + layout,
                                          endpoint: endpoint)
        #expect(result.status == 1)
        #expect(result.stderr.contains("s3://datasets/") && result.stderr.contains("503 SlowDown"), "\(result.stderr)")
        let state = try Self.state(data.s3, "scores-dead")
        #expect(state.parts.isEmpty && state.objects["_SUCCESS"] == nil, "\(state.objects)")
        #expect(state.uploads.isEmpty, "orphaned uploads: \(state.uploads)")
    }
}
