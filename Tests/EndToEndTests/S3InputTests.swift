import Foundation
import Testing
import TestSupport

/// Jobs reading `--input s3://...` from a real S3-API server (moto's standalone server), into
/// a local output: the same bytes as a local copy of the objects give, only the column chunks
/// the job needs fetched, faults of the store retried, and every failure naming the object.
@Suite(.serialized) struct S3InputTests {
    /// A dataset written into the store by pyarrow's S3FileSystem, and its objects downloaded.
    struct StoredDataset {
        let s3: S3APIServer
        let bucket: String
        let prefix: String
        let local: URL
        var uri: String { "s3://\(bucket)/\(prefix)" }
    }

    static func storedDataset(_ name: String, rows: Int = 60_000, files: Int = 3, rowGroup: Int = 20_000) throws -> StoredDataset {
        let s3 = try S3APIServer.shared.get()
        let local = try TestEnvironment.makeTemporaryDirectory("s3-copy").appendingPathComponent(name)
        let result = try TestEnvironment.run(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/make_s3_dataset.py").path, s3.endpoint, "datasets", name,
            local.path, "--rows", "\(rows)", "--files", "\(files)", "--row-group", "\(rowGroup)",
        ], environment: s3.credentials)
        guard result.status == 0 else { throw TestFailure("make_s3_dataset.py failed:\n\(result.stderr.suffix(3000))") }
        return StoredDataset(s3: s3, bucket: "datasets", prefix: name, local: local)
    }

    /// Runs score-cluster with the store's credentials (and `endpoint` instead of the store's own).
    static func run(_ s3: S3APIServer, _ arguments: [String], endpoint: String? = nil, environment: [String: String] = [:]) throws -> TestEnvironment.ProcessResult {
        var env = s3.credentials.merging(["VIRTUAL_ENV": TestEnvironment.repoRoot.appendingPathComponent(".venv").path]) { $1 }
        if let endpoint { env["AWS_ENDPOINT_URL"] = endpoint }
        env.merge(environment) { $1 }
        return try TestEnvironment.run(EndToEndFixture.binary, arguments, environment: env)
    }

    static func report(_ path: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any] ?? [:]
    }

    /// The part files of an output directory and their bytes.
    static func parts(_ dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasPrefix("part-") {
            out[name] = try Data(contentsOf: dir.appendingPathComponent(name))
        }
        return out
    }

    @Test func sameOutputAsTheLocalCopyReadingOnlyTheNeededChunks() throws {
        let fixture = try EndToEndFixture.shared.get()
        let data = try Self.storedDataset("wide")
        let work = try TestEnvironment.makeTemporaryDirectory("s3-input")
        let common = ["--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--workers", "2", "--quiet"]
        // Kept columns copied chunk by chunk (the default) and only the model's columns.
        for keep in ["all", "none"] {
            let fromStore = work.appendingPathComponent("store-\(keep)"), fromDisk = work.appendingPathComponent("disk-\(keep)")
            let report = work.appendingPathComponent("report-\(keep).json")
            let remote = try Self.run(data.s3, ["run", "--input", data.uri, "--output", fromStore.path, "--keep-columns", keep,
                                                "--report", report.path] + common)
            #expect(remote.status == 0, "\(remote.stderr)")
            let local = try Self.run(data.s3, ["run", "--input", data.local.path, "--output", fromDisk.path, "--keep-columns", keep] + common)
            #expect(local.status == 0, "\(local.stderr)")
            let storeParts = try Self.parts(fromStore), diskParts = try Self.parts(fromDisk)
            #expect(!storeParts.isEmpty)
            #expect(storeParts == diskParts, "the output read from s3:// differs from the output of the same objects on disk")
            #expect(FileManager.default.fileExists(atPath: fromStore.appendingPathComponent("_SUCCESS").path))

            let input = try #require(try Self.report(report)["input"] as? [String: Any])
            #expect(input["location"] as? String == data.uri)
            #expect(input["objects"] as? Int == 3)
            let total = try #require(input["bytes"] as? Int), fetched = try #require(input["bytesFetched"] as? Int)
            if keep == "none" {
                // 4 of 17 columns, plus footers: well under half of the objects.
                #expect(fetched < total / 2, "fetched \(fetched) of \(total) bytes for 4 of 17 columns")
            } else {
                #expect(fetched >= total * 9 / 10, "every column is copied, so nearly every byte is read (\(fetched) of \(total))")
            }
        }
    }

    @Test func globsAndSingleObjects() throws {
        let fixture = try EndToEndFixture.shared.get()
        let data = try Self.storedDataset("globbed", rows: 5_000, files: 3, rowGroup: 2_000)
        let work = try TestEnvironment.makeTemporaryDirectory("s3-glob")
        let report = work.appendingPathComponent("glob.json")
        let glob = try Self.run(data.s3, ["run", "--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--quiet", "--workers", "1",
                                          "--input", "\(data.uri)/part-0000[02].parquet", "--output", work.appendingPathComponent("glob").path,
                                          "--report", report.path])
        #expect(glob.status == 0, "\(glob.stderr)")
        let globReport = try Self.report(report)
        #expect(globReport["rows"] as? Int == 10_000)
        #expect((globReport["input"] as? [String: Any])?["objects"] as? Int == 2)

        let one = try Self.run(data.s3, ["run", "--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--quiet", "--workers", "1",
                                         "--input", "\(data.uri)/part-00001.parquet", "--output", work.appendingPathComponent("one").path,
                                         "--report", report.path])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(try Self.report(report)["rows"] as? Int == 5_000)

        let none = try Self.run(data.s3, ["run", "--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--quiet",
                                          "--input", "\(data.uri)/*.csv", "--output", work.appendingPathComponent("none").path])
        #expect(none.status != 0)
        #expect(none.stderr.contains("no object matches \(data.uri)/*.csv"), "\(none.stderr)")
    }

    @Test func failuresNameTheBucketPrefixOrObject() throws {
        let fixture = try EndToEndFixture.shared.get()
        let data = try Self.storedDataset("errors", rows: 1_000, files: 1, rowGroup: 1_000)
        let work = try TestEnvironment.makeTemporaryDirectory("s3-errors")
        func run(_ input: String, _ environment: [String: String] = [:]) throws -> TestEnvironment.ProcessResult {
            let output = work.appendingPathComponent(UUID().uuidString)
            let result = try Self.run(data.s3, ["run", "--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--quiet",
                                                "--input", input, "--output", output.path], environment: environment)
            #expect(!FileManager.default.fileExists(atPath: output.path), "a job that failed before starting made its output")
            return result
        }
        let noBucket = try run("s3://no-such-bucket-here/x")
        #expect(noBucket.status == 1)
        #expect(noBucket.stderr.contains("NoSuchBucket") && noBucket.stderr.contains("no-such-bucket-here"), "\(noBucket.stderr)")

        let nothing = try run("s3://datasets/not-there/")
        #expect(nothing.stderr.contains("nothing is stored at s3://datasets/not-there/"), "\(nothing.stderr)")

        // A corrupt object among good ones is named.
        let upload = try TestEnvironment.run(MLflowTrackingServer.servicesPython, ["-c", """
            import boto3, sys
            boto3.client("s3").put_object(Bucket="datasets", Key="errors/part-00009.parquet", Body=b"PAR1 not really parquet")
            """], environment: data.s3.credentials)
        #expect(upload.status == 0, "\(upload.stderr)")
        let corrupt = try run(data.uri)
        #expect(corrupt.status == 1)
        #expect(corrupt.stderr.contains("s3://datasets/errors/part-00009.parquet"), "\(corrupt.stderr)")
        #expect(corrupt.stderr.contains("not a Parquet file"), "\(corrupt.stderr)")

        let home = try TestEnvironment.makeTemporaryDirectory("no-aws-home")
        let noKeys = try run(data.uri, ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "HOME": home.path])
        #expect(noKeys.status == 1)
        #expect(noKeys.stderr.contains("no AWS credentials found"), "\(noKeys.stderr)")
        #expect(!noKeys.stderr.contains("score-cluster-tests-secret"))
    }

    /// Starts the fault proxy in front of the store.
    static func proxy(_ s3: S3APIServer, _ arguments: [String]) throws -> (BackgroundProcess, String) {
        let proxy = try BackgroundProcess(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/faulty_s3_proxy.py").path, "\(s3.port)"] + arguments)
        guard BackgroundProcess.waitFor(seconds: 20, { proxy.stdout.contains("listening") }),
              let port = proxy.stdout.split(separator: "\n").first.flatMap({ $0.split(separator: " ").last }).flatMap({ Int($0) }) else {
            throw TestFailure("the fault proxy did not start: \(proxy.stderr)")
        }
        return (proxy, "http://127.0.0.1:\(port)")
    }

    @Test func aFlakyStoreGivesTheSameOutput() throws {
        let fixture = try EndToEndFixture.shared.get()
        let data = try Self.storedDataset("flaky", rows: 30_000, files: 3, rowGroup: 10_000)
        let work = try TestEnvironment.makeTemporaryDirectory("s3-flaky")
        let (proxy, endpoint) = try Self.proxy(data.s3, ["--every", "3"])
        defer { proxy.signal(SIGKILL); _ = proxy.wait(seconds: 5) }
        let report = work.appendingPathComponent("report.json")
        let common = ["--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--workers", "2", "--quiet"]
        let flaky = try Self.run(data.s3, ["run", "--input", data.uri, "--output", work.appendingPathComponent("flaky").path,
                                           "--report", report.path] + common, endpoint: endpoint)
        #expect(flaky.status == 0, "\(flaky.stderr)")
        let clean = try Self.run(data.s3, ["run", "--input", data.local.path, "--output", work.appendingPathComponent("clean").path] + common)
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(try Self.parts(work.appendingPathComponent("flaky")) == Self.parts(work.appendingPathComponent("clean")))
        let faults = proxy.stdout.split(separator: "\n").filter { $0.hasPrefix("503") || $0.hasPrefix("drop") }
        #expect(faults.contains { $0.hasPrefix("503") } && faults.contains { $0.hasPrefix("drop") }, "\(proxy.stdout)")
        let input = try #require(try Self.report(report)["input"] as? [String: Any])
        #expect((input["retries"] as? Int ?? 0) >= faults.count / 2, "faults \(faults.count), report \(input)")
    }

    @Test func aStoreThatFailsEveryReadFailsTheJobNamingTheObject() throws {
        let fixture = try EndToEndFixture.shared.get()
        let data = try Self.storedDataset("failing", rows: 30_000, files: 2, rowGroup: 10_000)
        let work = try TestEnvironment.makeTemporaryDirectory("s3-failing")
        // The listing and the two footers pass; every read after them fails.
        let (proxy, endpoint) = try Self.proxy(data.s3, ["--fail-after", "3"])
        defer { proxy.signal(SIGKILL); _ = proxy.wait(seconds: 5) }
        let output = work.appendingPathComponent("out")
        let report = work.appendingPathComponent("report.json")
        let result = try Self.run(data.s3, ["run", "--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--quiet",
                                            "--input", data.uri, "--output", output.path, "--report", report.path], endpoint: endpoint)
        #expect(result.status == 1)
        #expect(result.stderr.contains("s3://datasets/failing/part-0000"), "\(result.stderr)")
        #expect(result.stderr.contains("503 SlowDown"), "\(result.stderr)")
        let visible = (try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []
        #expect(!visible.contains("_SUCCESS") && !visible.contains { $0.hasPrefix("part-") }, "\(visible)")
        #expect(try Self.report(report)["status"] as? String == "failed")
    }
}
