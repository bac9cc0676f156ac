import Foundation
import Testing
import TestSupport

/// `--workers-read`: workers read their partitions and write their part files themselves, the
/// coordinator hands out partitions and commits the parts. Every output is compared byte for
/// byte with the same job streamed through the coordinator.
@Suite(.serialized) struct WorkersReadTests {
    /// Every file of an output directory (recursively) and its bytes, `_temporary` excluded.
    static func files(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let root = URL(fileURLWithPath: dir)
        guard let walk = FileManager.default.enumerator(atPath: dir) else { return [:] }
        for case let name as String in walk where !name.hasPrefix("_temporary") {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory)
            if !isDirectory.boolValue { out[name] = try Data(contentsOf: root.appendingPathComponent(name)) }
        }
        return out
    }

    static func report(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    /// Text with what differs between two runs (process ids, ports) blotted out.
    static func normalized(_ data: Data) -> String {
        String(decoding: data, as: UTF8.self).replacing(#/pid \d+ on (\S+) \(127\.0\.0\.1:\d+\)/#, with: "pid _")
    }

    /// Runs the job streamed and with `--workers-read` (exiting with `status`), and expects the
    /// same files (`_failed/` records up to the worker named; the manifest only with the same model).
    static func expectSameOutput(_ arguments: [String], label: String, streamedModel: String? = nil, status: Int32 = 0) throws -> (String, String) {
        let fixture = try EndToEndFixture.shared.get()
        let streamed = fixture.outputPath("\(label)-streamed"), read = fixture.outputPath("\(label)-workers-read")
        var streamedArguments = arguments
        if let model = streamedModel, let at = streamedArguments.firstIndex(of: "--model") { streamedArguments[at + 1] = model }
        let a = try EndToEndFixture.scoreCluster(["run", "--output", streamed, "--quiet", "--no-workers-read"] + streamedArguments)
        #expect(a.status == status, "\(a.stderr)")
        let b = try EndToEndFixture.scoreCluster(["run", "--output", read, "--quiet", "--workers-read"] + arguments)
        #expect(b.status == status, "\(b.stderr)")
        let expected = try files(streamed), got = try files(read)
        #expect(expected.keys.contains("_SUCCESS") == (status == 0) && expected.keys.contains { $0.hasSuffix(".parquet") })
        #expect(got.keys.sorted() == expected.keys.sorted())
        for (name, bytes) in expected where !(streamedModel != nil && name == "_manifest.jsonl") {
            if name.hasPrefix("_failed/") {
                #expect(normalized(got[name] ?? Data()) == normalized(bytes), "\(label): \(name) differs between the two modes")
            } else {
                #expect(got[name] == bytes, "\(label): \(name) differs between the two modes")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: read + "/_temporary"))
        return (streamed, read)
    }

    @Test("the same files as streaming: kept columns copied, decoded, pieces of row groups, small blocks and batches",
          arguments: [
            ["--partition-rows", "1500"],
            ["--partition-rows", "1000", "--batch-size", "97", "--block-rows", "500"],
            ["--keep-columns", "none", "--partition-rows", "1500", "--block-rows", "700"],
          ])
    func sameAsStreaming(_ options: [String]) throws {
        let fixture = try EndToEndFixture.shared.get()
        _ = try Self.expectSameOutput(["--model", fixture.linearModel.path, "--input", fixture.dataset.path, "--columns", "f1,f2,f3",
                                       "--workers", "2"] + options, label: "wr")
    }

    @Test("while the workers start, the coordinator writes the parts' kept chunks; the workers continue them into the same files")
    func headStart() throws {
        let fixture = try EndToEndFixture.shared.get()
        let common = ["run", "--model", fixture.linearModel.path, "--input", fixture.dataset.path, "--columns", "f1,f2,f3",
                      "--workers", "2", "--partition-rows", "1500", "--quiet"]
        let early = fixture.outputPath("wr-head-start"), late = fixture.outputPath("wr-no-head-start")
        let reports = (early + ".json", late + ".json")
        let a = try EndToEndFixture.scoreCluster(common + ["--output", early, "--report", reports.0])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try EndToEndFixture.scoreCluster(common + ["--output", late, "--report", reports.1, "--no-head-start"])
        #expect(b.status == 0, "\(b.stderr)")
        let parsed = try Self.report(reports.0)
        let work = try #require(parsed["headStart"] as? [String: Any], "\(parsed)")
        // The four partitions of a whole 1,500-row row group copy their kept chunks (the 500-row one and the
        // 800 + 1-row one are decoded: too small to stay row groups). Starting Python takes seconds, their copies
        // milliseconds: each got its head, and each head was continued.
        #expect(work["heads"] as? Int == 4 && work["continued"] as? Int == 4, "\(work), \(parsed["partitions"] ?? "")")
        #expect((work["bytes"] as? Int ?? 0) > 0)
        #expect(try Self.report(reports.1)["headStart"] == nil)
        let expected = try Self.files(late), got = try Self.files(early)
        #expect(got.keys.sorted() == expected.keys.sorted() && expected.keys.contains("_SUCCESS"))
        for (name, bytes) in expected where name != "_manifest.jsonl" { #expect(got[name] == bytes, "\(name) differs") }
        #expect(!FileManager.default.fileExists(atPath: early + "/_temporary"))
    }

    @Test("a coordinator with two connecting workers: both read their own partitions, the parts are committed in order")
    func coordinatorAndWorkers() throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("wr-remote")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "workers-read-secret-0123456789")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("wr-remote"), report = dir.appendingPathComponent("report.json").path
        let common = ["--model", fixture.linearModel.path, "--input", fixture.dataset.path, "--columns", "f1,f2,f3", "--partition-rows", "1000"]
        nonisolated(unsafe) var coordinator: TestEnvironment.ProcessResult?
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            coordinator = try? EndToEndFixture.scoreCluster(["coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "2",
                                                             "--token-file", token, "--wait-for-workers", "120", "--workers-read",
                                                             "--output", output, "--report", report, "--preview", "0"] + common)
            done.signal()
        }
        let workers = try (0..<2).map { i in
            try BackgroundProcess(EndToEndFixture.binary, ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token,
                                                           "--model-cache", dir.appendingPathComponent("cache-\(i)").path],
                                  environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        }
        done.wait()
        for worker in workers {
            let ended = worker.wait(seconds: 30)
            #expect(ended.status == 0, "\(ended.stderr)")
        }
        let result = try #require(coordinator)
        #expect(result.status == 0, "\(result.stderr)")
        let streamed = fixture.outputPath("wr-remote-streamed")
        let local = try EndToEndFixture.scoreCluster(["run", "--output", streamed, "--quiet", "--workers", "2", "--no-workers-read"] + common)
        #expect(local.status == 0, "\(local.stderr)")
        let expected = try Self.files(streamed), got = try Self.files(output)
        #expect(got.keys.sorted() == expected.keys.sorted())
        for (name, bytes) in expected { #expect(got[name] == bytes, "\(name) differs") }
        let parsed = try Self.report(report)
        let perWorker = (parsed["workers"] as? [[String: Any]] ?? []).map { $0["rows"] as? Int ?? 0 }
        #expect(perWorker.count == 2 && perWorker.reduce(0, +) == 7301, "\(perWorker)")
        #expect(parsed["rows"] as? Int == 7301 && parsed["status"] as? String == "succeeded")
    }

    @Test("a model that fails on one partition: set aside with the same _failed/ record as streaming, the rest committed")
    func quarantine() throws {
        let fixture = try EndToEndFixture.shared.get()
        let model = try fixture.makeSeedModel("""
            class M:
                def predict(self, df):
                    if (df['0'] >= 6000).any() and (df['0'] < 6050).any():
                        raise ValueError('ids 6000 to 6049 cannot be scored')
                    return df['1']
            def load_pyfunc(path):
                return M()
            """)
        let (streamed, _) = try Self.expectSameOutput(["--model", model.path, "--input", fixture.dataset.path, "--columns", "id,f1",
                                                       "--partition-rows", "1500", "--batch-size", "100", "--max-failed-partitions", "1",
                                                       "--workers", "2"], label: "wr-quarantine", status: 3)
        let failed = try Self.files(streamed).keys.filter { $0.hasPrefix("_failed/") }
        #expect(failed.count == 1, "\(failed)")
    }

    @Test("a worker that dies in a partition: the partition is scored again by another worker and committed once")
    func workerDiesMidPartition() throws {
        let fixture = try EndToEndFixture.shared.get()
        let marker = try TestEnvironment.makeTemporaryDirectory("wr-die").appendingPathComponent("died").path
        // The first worker to reach row id 3100 ends its process; the next attempt goes through.
        let dying = try fixture.makeSeedModel("""
            import os
            class M:
                def predict(self, df):
                    if (df['0'] == 3100).any() and not os.path.exists('\(marker)'):
                        open('\(marker)', 'w').close()
                        os._exit(3)
                    return df['1']
            def load_pyfunc(path):
                return M()
            """)
        let plain = try fixture.makeSeedModel("""
            class M:
                def predict(self, df):
                    return df['1']
            def load_pyfunc(path):
                return M()
            """)
        let report = fixture.outputPath("wr-die-report") + ".json"
        let (_, read) = try Self.expectSameOutput(["--model", dying.path, "--input", fixture.dataset.path, "--columns", "id,f1",
                                                   "--partition-rows", "1500", "--workers", "2", "--report", report],
                                                  label: "wr-die", streamedModel: plain.path)
        #expect(FileManager.default.fileExists(atPath: marker))
        let parsed = try Self.report(report)
        #expect(parsed["retries"] as? Int == 1 && parsed["workersLost"] as? Int == 1, "\(parsed)")
        let manifest = try String(contentsOfFile: read + "/_manifest.jsonl", encoding: .utf8)
        #expect(manifest.split(separator: "\n").filter { $0.contains("\"partition\"") }.count == 7)
    }

    @Test("a worker that cannot see the input: the job fails naming the file and the streaming mode",
          .enabled(if: NetworkNamespaces.available, "needs root for a mount namespace (CI runs as root)"))
    func workerCannotSeeTheInput() throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("wr-blind")
        let input = dir.appendingPathComponent("input").path
        try FileManager.default.copyItem(atPath: fixture.dataset.path, toPath: input)
        let token = try EndToEndFixture.makeTokenFile(in: dir, "workers-read-blind-0123456789")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("wr-blind")
        nonisolated(unsafe) var coordinator: TestEnvironment.ProcessResult?
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            coordinator = try? EndToEndFixture.scoreCluster(["coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "1",
                                                             "--token-file", token, "--wait-for-workers", "120", "--workers-read",
                                                             "--model", fixture.linearModel.path, "--input", input, "--columns", "f1,f2,f3",
                                                             "--output", output, "--preview", "0"])
            done.signal()
        }
        // The worker's machine does not have the input: an empty file system over its directory.
        let worker = try BackgroundProcess("/usr/bin/unshare", ["--mount", "sh", "-c",
            "mount -t tmpfs none \(input) && exec \(EndToEndFixture.binary) worker --connect 127.0.0.1:\(port) --token-file \(token) --model-cache \(dir.path)/cache"],
            environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        done.wait()
        worker.wait(seconds: 30)
        let result = try #require(coordinator)
        #expect(result.status != 0)
        #expect(result.stderr.contains("cannot read the input") && result.stderr.contains("\(input)/part-00000.parquet"), "\(result.stderr)")
        #expect(result.stderr.contains("run without --workers-read"))
        #expect(!FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
    }

    @Test("a worker that cannot see the input joins late: what is committed stays, and --resume finishes the job",
          .enabled(if: NetworkNamespaces.available, "needs root for a mount namespace (CI runs as root)"))
    func blindWorkerKeepsCommittedPartitions() throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("wr-blind-late")
        let input = dir.appendingPathComponent("input").path
        try FileManager.default.copyItem(atPath: fixture.dataset.path, toPath: input)
        let token = try EndToEndFixture.makeTokenFile(in: dir, "workers-read-blind-late-0123456789")
        // Slow enough that the second worker joins while partitions are left.
        let model = try fixture.makeSeedModel("""
            import time
            class M:
                def predict(self, df):
                    time.sleep(0.3)
                    return df['1']
            def load_pyfunc(path):
                return M()
            """)
        let output = fixture.outputPath("wr-blind-late")
        func coordinator(_ port: Int, _ extra: [String]) -> () -> TestEnvironment.ProcessResult? {
            nonisolated(unsafe) var result: TestEnvironment.ProcessResult?
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                result = try? EndToEndFixture.scoreCluster(["coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "1",
                                                            "--token-file", token, "--wait-for-workers", "120", "--workers-read",
                                                            "--model", model.path, "--input", input, "--columns", "id,f1",
                                                            "--partition-rows", "1500", "--batch-size", "500", "--output", output,
                                                            "--preview", "0"] + extra)
                done.signal()
            }
            return { done.wait(); return result }
        }
        func worker(_ port: Int, blind: Bool) throws -> BackgroundProcess {
            let command = "\(EndToEndFixture.binary) worker --connect 127.0.0.1:\(port) --token-file \(token) --model-cache \(dir.path)/cache"
            return try BackgroundProcess("/usr/bin/unshare", ["--mount", "sh", "-c", (blind ? "mount -t tmpfs none \(input) && " : "") + "exec " + command],
                                         environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        }
        let port = EndToEndFixture.randomPort()
        let first = coordinator(port, [])
        let seeing = try worker(port, blind: false)
        // The blind worker comes once a partition is committed.
        #expect(BackgroundProcess.waitFor(seconds: 60) {
            ((try? String(contentsOfFile: output + "/_manifest.jsonl", encoding: .utf8)) ?? "").contains("\"partition\"")
        })
        let blind = try worker(port, blind: true)
        let failed = try #require(first())
        seeing.wait(seconds: 30)
        blind.wait(seconds: 30)
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("cannot read the input") && failed.stderr.contains("--resume"), "\(failed.stderr)")
        #expect(FileManager.default.fileExists(atPath: output + "/part-00000.parquet") && !FileManager.default.fileExists(atPath: output + "/_SUCCESS"))

        let port2 = EndToEndFixture.randomPort()
        let resumed = coordinator(port2, ["--resume"])
        let again = try worker(port2, blind: false)
        let finished = try #require(resumed())
        again.wait(seconds: 30)
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        let check = try TestEnvironment.runPython("""
            import pyarrow.parquet as pq, sys
            out, src = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])
            assert out.column('id').to_pylist() == src.column('id').to_pylist()
            assert out.column('prediction').to_pylist() == src.column('f1').to_pylist()
            print('OK')
            """, [output, input])
        #expect(check.contains("OK"))
    }

    @Test("an input in object storage: each worker reads its own objects, the same files as streaming")
    func objectStoreInput() throws {
        let fixture = try EndToEndFixture.shared.get()
        let data = try S3InputTests.storedDataset("workers-read", rows: 30_000, files: 3, rowGroup: 5_000)
        let work = try TestEnvironment.makeTemporaryDirectory("wr-s3")
        let common = ["run", "--input", data.uri, "--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--workers", "2",
                      "--partition-rows", "10000", "--quiet"]
        let streamed = work.appendingPathComponent("streamed").path, read = work.appendingPathComponent("read").path
        let a = try S3InputTests.run(data.s3, common + ["--output", streamed, "--no-workers-read"])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try S3InputTests.run(data.s3, common + ["--output", read, "--workers-read"])
        #expect(b.status == 0, "\(b.stderr)")
        let expected = try Self.files(streamed), got = try Self.files(read)
        #expect(expected.count > 3 && got.keys.sorted() == expected.keys.sorted())
        for (name, bytes) in expected { #expect(got[name] == bytes, "\(name) differs") }
    }

    @Test("a coordinator with an output in object storage: workers upload their parts, left open until the coordinator commits")
    func coordinatorWithObjectStoreOutput() throws {
        let fixture = try EndToEndFixture.shared.get()
        let data = try S3InputTests.storedDataset("workers-upload", rows: 20_000, files: 2, rowGroup: 5_000)
        let dir = try TestEnvironment.makeTemporaryDirectory("wr-upload")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "workers-upload-secret-0123456789")
        let port = EndToEndFixture.randomPort()
        let common = ["--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--partition-rows", "5000", "--quiet"]
        nonisolated(unsafe) var coordinator: TestEnvironment.ProcessResult?
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            coordinator = try? S3InputTests.run(data.s3, ["coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "2",
                                                          "--token-file", token, "--wait-for-workers", "120", "--workers-read",
                                                          "--input", data.uri, "--output", "s3://datasets/uploaded-by-workers",
                                                          "--preview", "0"] + common)
            done.signal()
        }
        let workers = try (0..<2).map { i in
            try BackgroundProcess(EndToEndFixture.binary, ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token,
                                                           "--model-cache", dir.appendingPathComponent("cache-\(i)").path],
                                  environment: data.s3.credentials.merging(["VIRTUAL_ENV": EndToEndFixture.venv]) { $1 })
        }
        done.wait()
        for worker in workers { worker.wait(seconds: 30) }
        let result = try #require(coordinator)
        #expect(result.status == 0, "\(result.stderr)")
        let downloaded = dir.appendingPathComponent("downloaded")
        let state = try S3OutputTests.state(data.s3, "uploaded-by-workers", download: downloaded)
        #expect(state.parts.count > 2 && state.objects["_SUCCESS"] == 0 && state.uploads.isEmpty, "\(state)")
        #expect(state.recorded == state.parts.count && state.pending == 0)
        let streamed = dir.appendingPathComponent("streamed")
        let local = try S3InputTests.run(data.s3, ["run", "--input", data.local.path, "--output", streamed.path, "--no-workers-read", "--workers", "2"] + common)
        #expect(local.status == 0, "\(local.stderr)")
        #expect(try S3InputTests.parts(downloaded) == S3InputTests.parts(streamed))
    }
}
