import Foundation
import TestSupport
import Testing

/// `--merge-schema`, Spark's `mergeSchema`: files that gained columns or widened types are read
/// as one dataset; without it the clear refusal stays, now saying which option reads them.
@Suite("Schema drift and --merge-schema", .serialized)
struct SchemaMergeTests {
    /// part-0: id int32, f1 float32, f2, f3, tag int32; part-1: id int64, f1 double, f2, f3, extra
    /// string; part-2: id int64, f1, f2, f3 double, tag int64 (as a table gains columns over time).
    static func driftingDataset(_ root: URL, incompatible: Bool = false) throws -> String {
        let path = root.appendingPathComponent(incompatible ? "incompatible" : "drifting").path
        try TestEnvironment.runPython("""
            import os, sys
            import numpy as np, pyarrow as pa, pyarrow.parquet as pq
            out, incompatible = sys.argv[1], sys.argv[2] == "1"
            os.makedirs(out)
            rng = np.random.default_rng(5)
            def features(n, f1_type):
                return {"f1": pa.array(rng.normal(size=n), f1_type), "f2": rng.normal(size=n), "f3": rng.normal(size=n)}
            pq.write_table(pa.table({"id": pa.array(range(1000), pa.int32()), **features(1000, pa.float32()),
                                     "tag": pa.array(np.arange(1000) % 7, pa.int32())}), f"{out}/part-0.parquet", row_group_size=400)
            part1 = {"id": pa.array(range(1000, 1500), pa.int64()), **features(500, pa.float64()),
                     "extra": pa.array([f"x{i}" if i % 3 else None for i in range(500)])}
            if incompatible:
                part1["tag"] = pa.array([str(i) for i in range(500)])
            pq.write_table(pa.table(part1), f"{out}/part-1.parquet")
            pq.write_table(pa.table({"id": pa.array(range(1500, 1800), pa.int64()), **features(300, pa.float64()),
                                     "tag": pa.array(np.arange(300) % 5, pa.int64())}), f"{out}/part-2.parquet")
            """, [path, incompatible ? "1" : "0"])
        return path
    }

    @Test("missing columns read as null and int32/float32 widened, kept and scored as pyarrow's merge and the model say; refused without the option")
    func mergesAsSparkAndPyarrowDo() throws {
        let fixture = try EndToEndFixture.shared.get()
        let root = try TestEnvironment.makeTemporaryDirectory("merge-schema")
        let input = try Self.driftingDataset(root)
        let arguments = ["run", "--model", fixture.linearModel.path, "--input", input, "--columns", "f1,f2,f3", "--workers", "1", "--preview", "0"]

        let refused = try EndToEndFixture.scoreCluster(arguments + ["--output", root.appendingPathComponent("refused").path])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("column 'f1' is float64 (DOUBLE) in \(input)/part-1.parquet but float32 in \(input)/part-0.parquet"), "\(refused.stderr)")
        #expect(refused.stderr.contains("pass --merge-schema"))

        let output = root.appendingPathComponent("merged").path
        let merged = try EndToEndFixture.scoreCluster(arguments + ["--output", output, "--merge-schema"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let checked = try TestEnvironment.run(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_merged_output.py").path,
            input, output, fixture.linearModel.path, "f1,f2,f3"])
        #expect(checked.status == 0 && checked.stdout.contains("OK"), "\(checked.stderr)")

        // --resume of that job needs the option too (the dataset is refused without it, before the manifest is read).
        let resumed = try EndToEndFixture.scoreCluster(arguments + ["--output", output, "--resume"])
        #expect(resumed.status == 1 && resumed.stderr.contains("pass --merge-schema"), "\(resumed.stderr)")
        let again = try EndToEndFixture.scoreCluster(arguments + ["--output", output, "--resume", "--merge-schema"])
        #expect(again.status == 0 && again.stdout.contains("resumed: "), "\(again.stderr)")
    }

    @Test("a file with none of the model's columns scores its rows as nulls, its kept columns copied like the others'")
    func fileWithoutTheModelColumns() throws {
        let fixture = try EndToEndFixture.shared.get()
        let root = try TestEnvironment.makeTemporaryDirectory("merge-schema")
        let input = root.appendingPathComponent("sparse").path
        try TestEnvironment.runPython("""
            import os, sys
            import numpy as np, pyarrow as pa, pyarrow.parquet as pq
            os.makedirs(sys.argv[1])
            rng = np.random.default_rng(9)
            pq.write_table(pa.table({"id": pa.array(range(2000), pa.int64()), **{f"g{k}": rng.normal(size=2000) for k in range(4)}}),
                           f"{sys.argv[1]}/part-0.parquet")
            pq.write_table(pa.table({"id": pa.array(range(2000, 4000), pa.int64())}), f"{sys.argv[1]}/part-1.parquet")
            """, [input])
        let output = root.appendingPathComponent("out").path
        // Both files make one partition whose kept column (id) is copied: only the model's columns are decoded.
        let result = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", input, "--output", output,
                                                       "--columns", "g0,g1,g2,g3", "--keep-columns", "id", "--merge-schema",
                                                       "--workers", "1", "--preview", "0"])
        #expect(result.status == 0, "\(result.stderr)")
        let checked = try TestEnvironment.run(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_merged_output.py").path,
            input, output, fixture.seedModel.path, "g0,g1,g2,g3", "--keep", "id"])
        #expect(checked.status == 0 && checked.stdout.contains("OK"), "\(checked.stderr)")
    }

    @Test("types that do not merge are refused naming both files and the column")
    func incompatibleTypes() throws {
        let fixture = try EndToEndFixture.shared.get()
        let root = try TestEnvironment.makeTemporaryDirectory("merge-schema")
        let input = try Self.driftingDataset(root, incompatible: true)
        let result = try EndToEndFixture.scoreCluster(["run", "--model", fixture.linearModel.path, "--input", input, "--columns", "f1,f2,f3",
                                                       "--output", root.appendingPathComponent("out").path, "--merge-schema"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("column 'tag' is string in \(input)/part-1.parquet but int32 in \(input)/part-0.parquet: --merge-schema widens"), "\(result.stderr)")
    }
}
