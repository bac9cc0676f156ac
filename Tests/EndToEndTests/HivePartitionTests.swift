import Foundation
import Testing
import TestSupport

/// Inputs in Hive-style partition directories as pyarrow, DuckDB and Spark lay them out:
/// partition values as model inputs, the output mirroring the directories (or flat, with the
/// values as typed columns), `--input-filter` pruning directories before any file is opened,
/// and the same from `s3://` into `s3://`. Checked against pandas over pyarrow's own reading.
@Suite(.serialized) struct HivePartitionTests {
    let fixture: EndToEndFixture
    let model: URL
    init() throws {
        fixture = try EndToEndFixture.shared.get()
        // Uses the partition column `hour` as its third input.
        model = try fixture.makeSeedModel("""
            class M:
                def predict(self, df):
                    return 2 * df['0'] - df['1'] + df['2']
            def load_pyfunc(path):
                return M()
            """)
    }

    func dataset(_ writer: String) throws -> URL {
        let dir = try TestEnvironment.makeTemporaryDirectory("hive-\(writer)").appendingPathComponent("input")
        try EndToEndFixture.python([TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/make_hive_dataset.py").path,
                                    dir.path, "--writer", writer])
        return dir
    }

    func check(_ input: URL, _ output: URL, layout: String = "mirror", dates: String? = nil) throws {
        let result = try TestEnvironment.run(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_hive_output.py").path, input.path, output.path,
            "--layout", layout] + (dates.map { ["--filter-dates", $0] } ?? []))
        #expect(result.status == 0 && result.stdout.contains("ok"), "\(result.stdout)\(result.stderr)")
    }

    func run(_ input: String, _ output: String, _ extra: [String] = []) throws -> TestEnvironment.ProcessResult {
        try EndToEndFixture.scoreCluster(["run", "--model", model.path, "--input", input, "--output", output,
                                          "--columns", "f1,f2,hour", "--workers", "2", "--quiet"] + extra)
    }

    @Test(arguments: ["pyarrow", "duckdb", "spark"])
    func partitionValuesScoredAndDirectoriesMirrored(writer: String) throws {
        let input = try dataset(writer)
        let output = try TestEnvironment.makeTemporaryDirectory("hive-out").appendingPathComponent(writer)
        let result = try run(input.path, output.path, ["--report", output.path + ".json"])
        #expect(result.status == 0, "\(result.stderr)")
        try check(input, output)
        // Small files are not gathered across directories: a partition per leaf directory.
        let leaves = try FileManager.default.subpathsOfDirectory(atPath: input.path).filter { $0.hasSuffix(".parquet") && !$0.contains("/.") }
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output.path + ".json"))) as? [String: Any]
        #expect(report?["partitions"] as? Int == leaves.count)
        // Run again over the output: --overwrite recognises its partition directories.
        let again = try run(input.path, output.path, ["--overwrite"])
        #expect(again.status == 0, "\(again.stderr)")
        try check(input, output)
    }

    @Test func aFilterPrunesDirectoriesBeforeAnyFileIsOpened() throws {
        let input = try dataset("spark")
        // A corrupt file in a directory the filter leaves out is never opened.
        let corrupt = input.appendingPathComponent("date=2026-11-30/hour=7/part-00001-corrupt.c000.snappy.parquet")
        try Data("PAR1 this is not parquet".utf8).write(to: corrupt)
        let work = try TestEnvironment.makeTemporaryDirectory("hive-filter")
        let unfiltered = try run(input.path, work.appendingPathComponent("all").path)
        #expect(unfiltered.status == 1 && unfiltered.stderr.contains("part-00001-corrupt"), "\(unfiltered.stderr)")

        let output = work.appendingPathComponent("filtered")
        let filtered = try run(input.path, output.path, ["--input-filter", "date > '2026-11-30' AND hour IN (0, 23)"])
        #expect(filtered.status == 0, "\(filtered.stderr)")
        let directories = try FileManager.default.subpathsOfDirectory(atPath: output.path).filter { $0.contains("hour=") && !$0.hasSuffix(".parquet") }
        #expect(Set(directories) == ["date=2026-12-01/hour=0", "date=2026-12-01/hour=23", "date=2026-12-02/hour=0", "date=2026-12-02/hour=23"],
                "\(directories)")

        let flat = work.appendingPathComponent("flat")
        let flatRun = try run(input.path, flat.path, ["--input-filter", "date >= '2026-12-01' OR date IS NULL", "--output-layout", "flat"])
        #expect(flatRun.status == 0, "\(flatRun.stderr)")
        try check(input, flat, layout: "flat", dates: "2026-12-01,2026-12-02,null")

        let wrong = try run(input.path, work.appendingPathComponent("wrong").path, ["--input-filter", "country = 'FR'"])
        #expect(wrong.status == 1 && wrong.stderr.contains("not a partition column") && wrong.stderr.contains("date, hour"), "\(wrong.stderr)")
        let kept = try run(input.path, work.appendingPathComponent("kept").path, ["--keep-columns", "id,hour", "--input-filter", "date > '2026-11-30'"])
        #expect(kept.status == 1 && kept.stderr.contains("--output-layout flat"), "\(kept.stderr)")
    }

    @Test func fromPartitionedObjectsIntoMirroredObjects() throws {
        let s3 = try S3APIServer.shared.get()
        let made = try TestEnvironment.run(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/make_hive_dataset.py").path, "-", "--s3", s3.endpoint, "datasets/hive",
        ], environment: s3.credentials)
        #expect(made.status == 0, "\(made.stderr)")
        let local = try dataset("pyarrow")
        let work = try TestEnvironment.makeTemporaryDirectory("hive-s3")
        let filter = ["--input-filter", "hour != 7"]
        let remote = try S3InputTests.run(s3, ["run", "--model", model.path, "--input", "s3://datasets/hive", "--output", "s3://datasets/hive-scores",
                                               "--columns", "f1,f2,hour", "--workers", "2", "--quiet"] + filter)
        #expect(remote.status == 0, "\(remote.stderr)")
        let onDisk = work.appendingPathComponent("disk")
        let disk = try run(local.path, onDisk.path, filter)
        #expect(disk.status == 0, "\(disk.stderr)")
        let downloaded = work.appendingPathComponent("downloaded")
        let state = try S3OutputTests.state(s3, "hive-scores", download: downloaded)
        #expect(state.uploads.isEmpty && state.objects["_SUCCESS"] != nil)
        #expect(!state.parts.isEmpty)
        // The same files, under the same directories, byte for byte.
        func files(_ root: URL) throws -> [String: Data] {
            var out: [String: Data] = [:]
            for path in try FileManager.default.subpathsOfDirectory(atPath: root.path) where path.hasSuffix(".parquet") {
                out[path] = try Data(contentsOf: root.appendingPathComponent(path))
            }
            return out
        }
        let remoteFiles = try files(downloaded), diskFiles = try files(onDisk)
        #expect(remoteFiles.keys.sorted() == diskFiles.keys.sorted())
        #expect(remoteFiles == diskFiles)
        #expect(remoteFiles.keys.allSatisfy { !$0.contains("hour=7") })
    }
}
