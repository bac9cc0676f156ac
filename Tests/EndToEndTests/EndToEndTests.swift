import Foundation
import TestSupport
import Testing

/// The built `score-cluster run` as a user runs it: real Parquet files, real MLflow models,
/// real worker processes over TCP, output checked with pyarrow and the model loaded the usual way.
@Suite("score-cluster run, end to end", .serialized)
struct EndToEndTests {
    let fixture: EndToEndFixture

    init() throws { fixture = try EndToEndFixture.shared.get() }

    func check(input: String? = nil, output: String, model: URL, loader: String, columns: String) throws {
        let checker = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_e2e_output.py").path
        let result = try TestEnvironment.run(TestEnvironment.python,
                                             [checker, input ?? fixture.dataset.path, output, model.path, loader, columns])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("OK"))
    }

    @Test("an MLflow sklearn model: predictions equal mlflow.pyfunc's, rows and kept columns unchanged")
    func mlflowModel() throws {
        let output = fixture.outputPath("mlflow")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", fixture.linearModel.path, "--input", fixture.dataset.path,
                                                    "--output", output, "--workers", "2", "--columns", "f1,f2,f3",
                                                    "--batch-size", "700"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("scored 7301 rows from 3 file(s)"))
        try check(output: output, model: fixture.linearModel, loader: "mlflow", columns: "f1,f2,f3")
    }

    @Test("a seed-format model needing no MLflow; null features arrive as NaN and give null predictions")
    func seedModel() throws {
        let output = fixture.outputPath("seed")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                                    "--output", output, "--workers", "2", "--columns", "f0,f1,f2,f3"])
        #expect(run.status == 0, "\(run.stderr)")
        try check(output: output, model: fixture.seedModel, loader: "seed", columns: "f0,f1,f2,f3")
    }

    @Test("kept columns copied chunk by chunk or decoded and written again give the same output")
    func keptColumnPaths() throws {
        // Default: the input's row groups (1500 rows) are whole partitions, their chunks copied.
        // --compression zstd and --verify-checksums decode them; partitions smaller than a row
        // group cut it into pieces, which are decoded too.
        let variants: [(label: String, extra: [String], rowGroups: [Int], codecs: String)] = [
            ("copied", [], [1500, 1500, 1500, 500, 1500, 800, 1], "SNAPPY"),
            ("zstd", ["--compression", "zstd"], [], "ZSTD"),
            ("checksums", ["--verify-checksums"], [], "SNAPPY"),
            ("pieces", ["--partition-rows", "1000", "--block-rows", "600"], [], "SNAPPY"),
        ]
        for variant in variants {
            let output = fixture.outputPath("kept-" + variant.label)
            let run = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                                        "--output", output, "--workers", "2", "--columns", "f0,f1,f2,f3",
                                                        "--batch-size", "400", "--preview", "0"] + variant.extra)
            #expect(run.status == 0, "\(variant.label): \(run.stderr)")
            try check(output: output, model: fixture.seedModel, loader: "seed", columns: "f0,f1,f2,f3")
            let layout = try TestEnvironment.runPython("""
                import sys, glob, pyarrow.parquet as pq
                groups, codecs = [], set()
                for f in sorted(glob.glob(sys.argv[1] + '/part-*.parquet')):
                    m = pq.ParquetFile(f).metadata
                    for g in range(m.num_row_groups):
                        groups.append(m.row_group(g).num_rows)
                        codecs |= {m.row_group(g).column(c).compression for c in range(m.num_columns)}
                print(groups); print(','.join(sorted(codecs)))
                """, [output]).split(separator: "\n")
            if !variant.rowGroups.isEmpty { #expect(layout.first.map(String.init) == "\(variant.rowGroups)", "\(variant.label)") }
            #expect(layout.dropFirst().first.map(String.init) == variant.codecs, "\(variant.label)")
        }
    }

    @Test("many tiny files are gathered into a few partitions: one output file and one commit each, rows in input order")
    func tinyFiles() throws {
        let input = fixture.root.appendingPathComponent("tiny-\(UUID().uuidString.prefix(6))")
        try TestEnvironment.runPython("""
            import os, sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            out = sys.argv[1]
            os.makedirs(out)
            rng = np.random.default_rng(11)
            start = 0
            for i in range(300):
                n = 5 + (i * 7) % 30
                ids = np.arange(start, start + n, dtype=np.int64)
                start += n
                pq.write_table(pa.table({'id': ids, 'f0': pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
                                         'f1': rng.normal(size=n), 'f2': rng.normal(size=n), 'f3': rng.normal(size=n)}),
                               f'{out}/part-{i:05d}.parquet')
            """, [input.path])
        let output = fixture.outputPath("tiny")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", input.path, "--output", output,
                                                    "--workers", "2", "--columns", "f0,f1,f2,f3", "--partition-rows", "1000", "--preview", "0",
                                                    "--capacity", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        try check(input: input.path, output: output, model: fixture.seedModel, loader: "seed", columns: "f0,f1,f2,f3")
        let layout = try TestEnvironment.runPython("""
            import json, os, sys, pyarrow.parquet as pq
            lines = [json.loads(l) for l in open(os.path.join(sys.argv[1], '_manifest.jsonl'))]
            entries = [l['entry'] for l in lines if l['kind'] == 'partition']
            files = [f for f in os.listdir(sys.argv[1]) if f.endswith('.parquet')]
            inputs = [i['file'].split('/')[-1] for e in entries for i in e['inputs']]
            assert inputs == sorted(inputs) and len(set(inputs)) == 300, inputs
            assert all(sum(i['rows'][1] - i['rows'][0] for i in e['inputs']) == e['rows'] <= 1000 for e in entries), entries
            groups = sum(pq.ParquetFile(os.path.join(sys.argv[1], f)).metadata.num_row_groups for f in files)
            print(len(files), len(entries), groups)
            """, [output])
        // 5,850 rows of 300 files in partitions of at most 1,000 rows: 6 or 7 files, not 300, each one row group
        // (the files' blocks gathered, their tiny row groups not copied).
        #expect(["6 6 6", "7 7 7"].contains(layout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(layout)")
        let refused = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", input.path,
                                                        "--output", fixture.outputPath("capacity"), "--capacity", "0"])
        #expect(refused.status != 0 && refused.stderr.contains("--capacity must be at least 1"), "\(refused.stderr)")
    }

    @Test("--log-format json: every message is one JSON object (coordinator and local workers); --log-level debug adds phase timings")
    func jsonLogs() throws {
        let output = fixture.outputPath("json-logs")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                                    "--output", output, "--workers", "2", "--columns", "f0,f1,f2,f3", "--preview", "0",
                                                    "--quiet", "--log-format", "json", "--log-level", "debug"])
        #expect(run.status == 0, "\(run.stderr)")
        let checked = try TestEnvironment.runPython("""
            import json, sys
            records = [json.loads(line) for line in sys.argv[1].splitlines() if line.strip()]
            assert records, 'no log records'
            for r in records:
                assert {'time', 'level', 'logger', 'message'} <= r.keys(), r
            loggers = {r['logger'] for r in records}
            assert 'score-cluster.coordinator' in loggers, loggers
            debug = [r for r in records if r['level'] == 'debug' and r['logger'] == 'score-cluster.coordinator']
            assert any(r['message'] in ('input decoded', 'every partition handed out') and 'seconds' in r and 'job' in r for r in debug), debug
            print('OK', len(records))
            """, [run.stderr])
        #expect(checked.hasPrefix("OK"), "\(run.stderr)")
        let quiet = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                                      "--output", fixture.outputPath("warn-logs"), "--workers", "1", "--columns", "f0,f1,f2,f3",
                                                      "--preview", "0", "--quiet", "--log-level", "warning"])
        #expect(quiet.status == 0)
        #expect(!quiet.stderr.contains("input decoded"))
    }

    @Test("an existing output is refused without --overwrite and replaced with it; a file of the user's in it stops --overwrite")
    func overwrite() throws {
        let output = fixture.outputPath("overwrite")
        let arguments = ["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path, "--output", output,
                         "--workers", "1", "--columns", "f0,f1,f2,f3", "--preview", "0"]
        #expect(try EndToEndFixture.scoreCluster(arguments).status == 0)
        let refused = try EndToEndFixture.scoreCluster(arguments + ["--keep-columns", "id"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("already exists") && refused.stderr.contains("--overwrite"))
        // Issue 13: --overwrite clears only what a job wrote; a file of the user's stops it.
        try "old".write(toFile: output + "/stale.txt", atomically: true, encoding: .utf8)
        let kept = try EndToEndFixture.scoreCluster(arguments + ["--keep-columns", "id", "--overwrite"])
        #expect(kept.status != 0)
        #expect(kept.stderr.contains("stale.txt"), "\(kept.stderr)")
        #expect(FileManager.default.fileExists(atPath: output + "/stale.txt"))
        try FileManager.default.removeItem(atPath: output + "/stale.txt")
        let replaced = try EndToEndFixture.scoreCluster(arguments + ["--keep-columns", "id", "--overwrite"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
        let columns = try TestEnvironment.runPython("import pyarrow.parquet as pq, sys; print(pq.read_table(sys.argv[1]).column_names)", [output + "/part-00000.parquet"])
        #expect(columns.contains("['id', 'prediction']"))
    }

    @Test("the result type and output column name are honoured")
    func resultTypeAndName() throws {
        let output = fixture.outputPath("string")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                                                    "--output", output, "--workers", "1", "--columns", "f0,f1,f2,f3",
                                                    "--result-type", "string", "--output-column", "score", "--keep-columns", "none"])
        #expect(run.status == 0, "\(run.stderr)")
        let text = try TestEnvironment.runPython("""
            import pyarrow.parquet as pq, sys
            t = pq.read_table(sys.argv[1])
            print(t.schema.field('score').type, t.num_rows, t.column('score').null_count, 'nan' in t.column('score').to_pylist())
            """, [output])
        // spark_udf's str() makes NaN the string 'nan' rather than null.
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "string 7301 0 True")
    }
}
