import Foundation
import TestSupport
import Testing

/// Compound result types written as Parquet LIST, struct and MAP columns and read back by pyarrow.
@Suite("Array, struct and map results, end to end", .serialized)
struct NestedResultTests {
    let fixture: EndToEndFixture
    init() throws { fixture = try EndToEndFixture.shared.get() }

    /// Scores the fixture with a model whose predict is `body` (Python, `df` in scope) and
    /// returns pyarrow's view of the prediction column: its Arrow type and its first rows.
    func score(_ body: String, resultType: String) throws -> (type: String, rows: String) {
        let model = try fixture.makeSeedModel("""
            import numpy as np
            import pandas as pd

            class M:
                def predict(self, df):
                    return \(body)

            def load_pyfunc(path):
                return M()
            """)
        let output = fixture.outputPath("nested")
        let run = try EndToEndFixture.scoreCluster(["run", "--model", model.path, "--input", fixture.dataset.path,
                                                    "--output", output, "--columns", "f1,f2", "--workers", "2",
                                                    "--result-type", resultType, "--keep-columns", "id", "--preview", "0"])
        #expect(run.status == 0, "\(run.stderr)")
        let text = try TestEnvironment.runPython("""
            import pyarrow.parquet as pq, sys
            t = pq.read_table(sys.argv[1])
            assert t.num_rows == 7301, t.num_rows
            ty = t.schema.field('prediction').type
            # pyarrow names a Parquet map's entries after the column; compare key and item types only.
            print(f"map<{ty.key_type}, {ty.item_type}>" if hasattr(ty, "key_type") else ty)
            print(repr(t.column('prediction').slice(0, 3).to_pylist()))
            """, [output])
        let lines = text.split(separator: "\n").map(String.init)
        return (lines.first ?? "", lines.dropFirst().joined())
    }

    @Test("array<double> from a 2-D result, with a NaN element that becomes null")
    func arrays() throws {
        let (type, rows) = try score("np.stack([df['0'].to_numpy() * 0 + 1, np.where(df.index % 2 == 1, np.nan, 2.0)], axis=1)",
                                     resultType: "array<double>")
        #expect(type == "list<element: double>")
        #expect(rows == "[[1.0, 2.0], [1.0, None], [1.0, 2.0]]")
    }

    @Test("a struct result takes its fields by name")
    func structs() throws {
        let (type, rows) = try score("pd.DataFrame({'score': np.arange(len(df), dtype=float), 'label': ['x' if i % 2 else 'y' for i in range(len(df))]})",
                                     resultType: "label string, score double")
        #expect(type == "struct<label: string, score: double>")
        #expect(rows == "[{'label': 'y', 'score': 0.0}, {'label': 'x', 'score': 1.0}, {'label': 'y', 'score': 2.0}]")
    }

    @Test("a map<string,double> result")
    func maps() throws {
        let (type, rows) = try score("pd.DataFrame({'m': [{'a': float(i)} if i % 3 else {} for i in range(len(df))]})",
                                     resultType: "map<string,double>")
        #expect(type == "map<string, double>")
        #expect(rows == "[[], [('a', 1.0)], [('a', 2.0)]]")
    }

    @Test("array<array<long>> from one 2-D list per row (ragged rows fail as in spark_udf, where numpy refuses them)")
    func nestedArrays() throws {
        let (type, rows) = try score("[[[i, i + 1], [i * 2, i * 3]] for i in range(len(df))]", resultType: "array<array<long>>")
        #expect(type == "list<element: list<element: int64>>")
        #expect(rows == "[[[0, 1], [0, 0]], [[1, 2], [2, 3]], [[2, 3], [4, 6]]]")
    }
}

/// Every primitive result type lands in the output with the Parquet and Arrow type it names.
@Suite("Primitive result types, end to end", .serialized)
struct PrimitiveResultTests {
    @Test("double, float, int, long, string and boolean columns, with nulls where the type allows them")
    func everyPrimitive() throws {
        let fixture = try EndToEndFixture.shared.get()
        let model = try fixture.makeSeedModel("""
            import numpy as np
            import os

            class M:
                def predict(self, df):
                    x = df['0'].to_numpy()
                    kind = open(os.path.join(os.path.dirname(__file__), 'kind.txt')).read()
                    return {'double': np.where(x > 0, x, np.nan), 'float': x.astype(np.float32),
                            'int': (x * 10).astype(np.int32), 'long': (x * 10).astype(np.int64),
                            'string': np.where(x > 0, 'pos', 'neg'), 'boolean': x > 0}[kind]

            def load_pyfunc(path):
                return M()
            """)
        let expected = ["double": "double", "float": "float", "int": "int32", "long": "int64", "string": "string", "boolean": "bool"]
        for (type, arrow) in expected.sorted(by: { $0.key < $1.key }) {
            let code = try FileManager.default.contentsOfDirectory(atPath: model.appendingPathComponent("code").path)
                .first { $0.hasSuffix(".py") }!
            try type.write(to: model.appendingPathComponent("code").appendingPathComponent(code)
                .deletingLastPathComponent().appendingPathComponent("kind.txt"), atomically: true, encoding: .utf8)
            let output = fixture.outputPath("primitive-\(type)")
            let run = try EndToEndFixture.scoreCluster(["run", "--model", model.path, "--input", fixture.dataset.path,
                                                        "--output", output, "--columns", "f1", "--workers", "1",
                                                        "--result-type", type, "--keep-columns", "f1", "--preview", "0"])
            #expect(run.status == 0, "\(type): \(run.stderr)")
            let check = try TestEnvironment.runPython("""
                import numpy as np, pyarrow.parquet as pq, sys
                t = pq.read_table(sys.argv[1])
                p, x = t.column('prediction'), t.column('f1').to_numpy()
                kind = sys.argv[2]
                print(p.type)
                if kind == 'double':
                    assert p.null_count == int((x <= 0).sum()), p.null_count
                    assert np.array_equal(p.to_numpy(zero_copy_only=False)[x > 0], x[x > 0])
                elif kind == 'float':
                    assert np.array_equal(p.to_numpy(), x.astype(np.float32))
                elif kind in ('int', 'long'):
                    assert np.array_equal(p.to_numpy(), (x * 10).astype(np.int64))
                elif kind == 'string':
                    assert p.to_pylist() == ['pos' if v > 0 else 'neg' for v in x]
                else:
                    assert p.to_pylist() == [bool(v > 0) for v in x]
                """, [output, type])
            #expect(check.trimmingCharacters(in: .whitespacesAndNewlines) == arrow, "\(type)")
        }
    }
}
