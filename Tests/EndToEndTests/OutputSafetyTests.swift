#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// What a job may destroy and what it may not: `--overwrite` on directories that are not an
/// output, outputs reached through symlinks, two jobs on one output, a job start that fails
/// half-way. Every path is a temporary directory made by the test.
@Suite("score-cluster run, output safety", .serialized)
struct OutputSafetyTests {
    let fixture: EndToEndFixture

    init() throws { fixture = try EndToEndFixture.shared.get() }

    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> TestEnvironment.ProcessResult {
        try TestEnvironment.run(EndToEndFixture.binary, arguments,
                                environment: ["VIRTUAL_ENV": EndToEndFixture.venv].merging(environment) { $1 })
    }

    private func job(output: String, input: String? = nil, _ extra: [String] = []) -> [String] {
        ["run", "--model", fixture.seedModel.path, "--input", input ?? fixture.dataset.path, "--output", output,
         "--columns", "f0,f1,f2,f3", "--workers", "1", "--quiet"] + extra
    }

    /// Every file under `path` with its contents, to show that nothing changed.
    private func snapshot(_ path: String) -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            files[name] = FileManager.default.contents(atPath: path + "/" + name) ?? Data()
        }
        return files
    }

    @Test("--overwrite refuses a directory that is no output, lists what it holds and removes nothing")
    func overwriteRefusesForeignDirectory() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("thesis").path
        try FileManager.default.createDirectory(atPath: dir + "/chapters", withIntermediateDirectories: true)
        try "\\documentclass{book}".write(toFile: dir + "/thesis.tex", atomically: true, encoding: .utf8)
        try "x".write(toFile: dir + "/chapters/one.tex", atomically: true, encoding: .utf8)
        try "secret".write(toFile: dir + "/.hidden", atomically: true, encoding: .utf8)
        let before = snapshot(dir)
        let result = try run(job(output: dir, ["--overwrite"]))
        #expect(result.status == 1)
        #expect(result.stderr.contains("does not look like a score-cluster output"), "\(result.stderr)")
        #expect(result.stderr.contains(".hidden, chapters/, thesis.tex"))
        #expect(snapshot(dir) == before)
    }

    @Test("--overwrite still replaces an earlier job's output, and only what that job wrote")
    func overwriteReplacesOutput() throws {
        let output = fixture.outputPath("replace")
        #expect(try run(job(output: output)).status == 0)
        let second = try run(job(output: output, ["--overwrite", "--partition-rows", "100000"]))
        #expect(second.status == 0, "\(second.stderr)")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: output))
        #expect(names == ["_SUCCESS", "_manifest.jsonl", "part-00000.parquet"])
    }

    @Test("an output that is the input through a symlink, or through a symlinked parent, is refused and the input kept")
    func symlinkedOutputIsTheInput() throws {
        let root = try TestEnvironment.makeTemporaryDirectory("symlinks").path
        let input = root + "/in"
        try FileManager.default.copyItem(atPath: fixture.dataset.path, toPath: input)
        let before = snapshot(input)
        symlink(input, root + "/lnk")
        symlink(root, root + "/parent")
        for (output, given) in [(root + "/lnk", input), (input, root + "/parent/in"), (root + "/parent/in/sub", input)] {
            let result = try run(job(output: output, input: given, ["--overwrite"]))
            #expect(result.status == 1)
            #expect(result.stderr.contains("overlaps the input"), "\(output): \(result.stderr)")
        }
        #expect(snapshot(input) == before)
    }

    @Test("a second job on a running job's output is refused at once in every mode, naming it; the first finishes whole")
    func secondJobOnOneOutput() throws {
        let slow = try fixture.makeSeedModel("""
            import time
            class M:
                def predict(self, df, params=None):
                    time.sleep(0.4)
                    return df.iloc[:, 0] * 0 + 1.0
            def _load_pyfunc(path):
                return M()
            """)
        let output = fixture.outputPath("locked")
        let first = try BackgroundProcess(EndToEndFixture.binary,
            ["run", "--model", slow.path, "--input", fixture.dataset.path, "--output", output, "--columns", "f0,f1,f2,f3",
             "--workers", "1", "--batch-size", "500", "--partition-rows", "1500", "--quiet"],
            environment: ["VIRTUAL_ENV": EndToEndFixture.venv])
        // Once it committed a partition, the output holds an unfinished job (the case where a
        // second run used to be told to pass --resume).
        #expect(BackgroundProcess.waitFor(seconds: 60) {
            (try? String(contentsOfFile: output + "/_manifest.jsonl", encoding: .utf8))?.contains("\"partition\"") == true
        })
        for mode in [[], ["--overwrite"], ["--resume"]] {
            let second = try run(job(output: output, mode))
            #expect(second.status == 1)
            #expect(second.stderr.contains("is in use by another job (pid \(first.pid)"), "\(mode): \(second.stderr)")
            #expect(!second.stderr.contains("--resume to finish"))
        }
        let done = first.wait(seconds: 120)
        #expect(done.status == 0, "\(done.stderr)")
        #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        #expect(!FileManager.default.fileExists(atPath: output + "/_lock"))
        let rows = try TestEnvironment.runPython("import pyarrow.parquet as pq, sys; print(pq.read_table(sys.argv[1]).num_rows)", [output])
        #expect(rows.trimmingCharacters(in: .whitespacesAndNewlines) == "7301")
    }

    @Test("--resume on a directory that is not an output writes nothing into it")
    func resumeOnNonOutput() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("not-output").path
        try "x".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        let result = try run(job(output: dir, ["--resume"]))
        #expect(result.status == 1)
        #expect(result.stderr.contains("nothing to resume"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["notes.txt"])
    }

    @Test("running out of inodes at job start leaves nothing behind, and the next run is not told to pass --overwrite")
    func noInodesAtStart() throws {
        let mountPoint = try TestEnvironment.makeTemporaryDirectory("no-inodes").path
        let mount = try E2EMount.tmpfs(at: mountPoint, inodes: 4)
        defer { mount.unmount() }
        let output = mountPoint + "/out"
        let result = try run(job(output: output))
        #expect(result.status == 1)
        #expect(result.stderr.contains(output), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mountPoint).isEmpty)
    }

    @Test("a full disk while copying kept columns names the output file, not the input")
    func diskFullNamesOutput() throws {
        let root = try TestEnvironment.makeTemporaryDirectory("disk-full").path
        try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            rng = np.random.default_rng(1)
            n = 200000
            pq.write_table(pa.table({f"f{i}": rng.random(n) for i in range(4)}), sys.argv[1] + "/big.parquet", row_group_size=50000)
            """, [root])
        let mountPoint = root + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try E2EMount.tmpfs(at: mountPoint, size: "600k")
        defer { mount.unmount() }
        let input = root + "/in"
        try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: root + "/big.parquet", toPath: input + "/big.parquet")
        let output = mountPoint + "/out"
        let result = try run(job(output: output, input: input))
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot write the output"), "\(result.stderr)")
        #expect(result.stderr.contains(output + "/_temporary/"))
        #expect(result.stderr.contains("No space left on device"))
        #expect(!result.stderr.contains("cannot read the input"))
    }

    @Test("a 0-row input makes an empty, valid output with _SUCCESS, and says so")
    func zeroRowInput() throws {
        let input = try TestEnvironment.makeTemporaryDirectory("zero-rows").path
        try TestEnvironment.runPython("""
            import sys, pyarrow as pa, pyarrow.parquet as pq
            pq.write_table(pa.table({f"f{i}": pa.array([], pa.float64()) for i in range(4)}), sys.argv[1] + "/empty.parquet")
            """, [input])
        let output = fixture.outputPath("zero")
        let result = try run(job(output: output, input: input))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("the input has no rows: writing an empty output"))
        #expect(!result.stderr.contains("committed already"))
        #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        let schema = try TestEnvironment.runPython("""
            import sys, pyarrow.parquet as pq
            t = pq.read_table(sys.argv[1])
            print(t.num_rows, ",".join(t.schema.names))
            """, [output])
        #expect(schema.trimmingCharacters(in: .whitespacesAndNewlines) == "0 f0,f1,f2,f3,prediction")
    }

    @Test("option errors, a token file's among them, print the error alone, without the usage text")
    func optionErrorsWithoutUsage() throws {
        let output = fixture.outputPath("usage")
        let badBatch = try run(job(output: output, ["--batch-size", "0"]))
        #expect(badBatch.status == 64)
        #expect(badBatch.stderr.contains("--batch-size must be at least 1"))
        #expect(!badBatch.stderr.contains("Usage:") && !badBatch.stderr.contains("--help"), "\(badBatch.stderr)")

        let dir = try TestEnvironment.makeTemporaryDirectory("token")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "s3cret-token-value")
        chmod(token, 0o644)
        let coordinator = try run(["coordinator", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                   "--output", output, "--token-file", token])
        #expect(coordinator.status == 64)
        #expect(coordinator.stderr.contains("chmod 600"), "\(coordinator.stderr)")
        #expect(!coordinator.stderr.contains("Usage:") && !coordinator.stderr.contains("--help"))
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}

/// A tmpfs mounted for one test (the tests run as root, as CI does).
struct E2EMount {
    let path: String

    static func tmpfs(at path: String, size: String = "4m", inodes: Int? = nil) throws -> E2EMount {
        let options = "size=\(size)" + (inodes.map { ",nr_inodes=\($0)" } ?? "")
        let result = try TestEnvironment.run("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", path])
        guard result.status == 0 else {
            throw TestFailure("mount -t tmpfs at \(path) failed: \(result.stderr); these tests need root, as CI has")
        }
        return E2EMount(path: path)
    }

    func unmount() { _ = try? TestEnvironment.run("/bin/umount", [path]) }
}
