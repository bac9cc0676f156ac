import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

/// Nested columns (models' array, struct and map results) written by `ParquetFileWriter` and
/// read back by pyarrow, DuckDB and polars.
@Suite("Parquet nested writer")
struct ParquetNestedWriterTests {
    /// A value of a nested column, as a test spells it.
    indirect enum V: Sendable {
        case null
        case i(Int64)
        case d(Double)
        case s(String)
        case b(Bool)
        case list([V])
        /// A struct's field values, in field order.
        case st([V])
        case map([Entry])
    }

    struct Entry: Sendable {
        var key: String
        var value: V
        init(_ key: String, _ value: V) { self.key = key; self.value = value }
    }

    /// A column of `type` holding `values` (nested columns built recursively).
    static func column(_ type: DataType, _ values: [V]) -> Column {
        let valid = values.map { if case .null = $0 { false } else { true } }
        let mask: [Bool]? = valid.contains(false) ? valid : nil
        let validity = mask.map(Column.validityBuffer)
        func offsetsBuffer(_ o: [Int64]) -> ColumnBuffer { o.withUnsafeBytes { ColumnBuffer(copying: $0) } }
        switch type {
        case .float64:
            return .fixed(.float64, values.map { if case .d(let x) = $0 { x } else { Double.nan } }, validity: mask)
        case .int64:
            return .fixed(.int64, values.map { if case .i(let x) = $0 { x } else { Int64(0) } }, validity: mask)
        case .int32:
            return .fixed(.int32, values.map { if case .i(let x) = $0 { Int32(x) } else { Int32(0) } }, validity: mask)
        case .bool:
            return .fixed(.bool, values.map { if case .b(let x) = $0 { x ? UInt8(1) : 0 } else { UInt8(0) } }, validity: mask)
        case .string:
            return .strings(values.map { if case .s(let x) = $0 { x } else { nil } })
        case .list(let element):
            var offsets: [Int64] = [0]
            var elements: [V] = []
            for v in values {
                if case .list(let xs) = v { elements += xs }
                offsets.append(Int64(elements.count))
            }
            return Column(type: type, count: values.count, values: ColumnBuffer(zeroedCount: 0), offsets: offsetsBuffer(offsets),
                          validity: validity, children: [column(element, elements)])
        case .map(let valueType):
            var offsets: [Int64] = [0]
            var keys: [V] = [], items: [V] = []
            for v in values {
                if case .map(let entries) = v {
                    keys += entries.map { .s($0.key) }
                    items += entries.map(\.value)
                }
                offsets.append(Int64(keys.count))
            }
            return Column(type: type, count: values.count, values: ColumnBuffer(zeroedCount: 0), offsets: offsetsBuffer(offsets),
                          validity: validity, children: [column(.string, keys), column(valueType, items)])
        case .structure(let fields):
            let children = fields.indices.map { k in
                column(fields[k].type, values.map { if case .st(let xs) = $0 { xs[k] } else { .null } })
            }
            return Column(type: type, count: values.count, values: ColumnBuffer(zeroedCount: 0), validity: validity, children: children)
        default:
            preconditionFailure("test builder does not handle \(type)")
        }
    }

    /// `v` as a Python literal, as pyarrow's `to_pylist()` gives it (maps as lists of pairs).
    static func python(_ type: DataType, _ v: V) -> String {
        switch (type, v) {
        case (_, .null): return "None"
        case (_, .i(let x)): return "\(x)"
        case (_, .d(let x)): return "\(x)"
        case (_, .b(let x)): return x ? "True" : "False"
        case (_, .s(let x)): return pythonString(x)
        case (.list(let element), .list(let xs)): return "[" + xs.map { python(element, $0) }.joined(separator: ", ") + "]"
        case (.structure(let fields), .st(let xs)):
            return "{" + zip(fields, xs).map { "\(pythonString($0.name)): \(python($0.type, $1))" }.joined(separator: ", ") + "}"
        case (.map(let valueType), .map(let entries)):
            return "[" + entries.map { "(\(pythonString($0.key)), \(python(valueType, $0.value)))" }.joined(separator: ", ") + "]"
        default: preconditionFailure("\(v) does not fit \(type)")
        }
    }

    static func pythonString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The pyarrow type a file's column of `type` should read back as.
    static func arrowType(_ type: DataType) -> String {
        switch type {
        case .float64: "pa.float64()"
        case .int64: "pa.int64()"
        case .int32: "pa.int32()"
        case .bool: "pa.bool_()"
        case .string: "pa.string()"
        case .list(let element): "pa.list_(pa.field('element', \(arrowType(element))))"
        case .map(let value): "pa.map_(pa.string(), \(arrowType(value)))"
        case .structure(let fields): "pa.struct([" + fields.map { "(\(pythonString($0.name)), \(arrowType($0.type)))" }.joined(separator: ", ") + "])"
        default: "None"
        }
    }

    /// One nested column to write: its name, type and rows.
    struct Case {
        var name: String
        var type: DataType
        var rows: [V]
    }

    static let scored = DataType.structure([Field(name: "label", type: .string, nullable: true),
                                            Field(name: "score", type: .float64, nullable: true)])

    /// The cases the brief names, each row pattern repeated to `n` rows.
    static func cases(rows n: Int) -> [Case] {
        func cycle(_ pattern: [V]) -> [V] { (0..<n).map { pattern[$0 % pattern.count] } }
        let listOfStruct = DataType.list(scored)
        let withList = DataType.structure([Field(name: "name", type: .string, nullable: true),
                                           Field(name: "values", type: .list(.int64), nullable: true)])
        return [
            Case(name: "floats", type: .list(.float64), rows: cycle([
                .list([.d(1.5), .d(-2.25)]), .null, .list([]), .list([.null]), .list([.d(3), .null, .d(0.125)]),
                .list([.d(7)]),
            ])),
            Case(name: "nested_ints", type: .list(.list(.int64)), rows: cycle([
                .list([.list([.i(1), .i(2)]), .list([.i(3)])]), .null, .list([]), .list([.null]), .list([.list([])]),
                .list([.list([.null, .i(-4)]), .null, .list([]), .list([.i(5)])]),
            ])),
            Case(name: "scored", type: scored, rows: cycle([
                .st([.s("cat"), .d(0.75)]), .null, .st([.null, .d(0.5)]), .st([.s("dog"), .null]), .st([.null, .null]),
                .st([.s("é \"q\""), .d(-1)]),
            ])),
            Case(name: "with_list", type: withList, rows: cycle([
                .st([.s("a"), .list([.i(1), .i(2)])]), .null, .st([.s("b"), .null]), .st([.null, .list([])]),
                .st([.s("c"), .list([.null, .i(9)])]),
            ])),
            Case(name: "probs", type: .map(.float64), rows: cycle([
                .map([Entry("a", .d(0.25)), Entry("b", .d(0.75))]), .null, .map([]), .map([Entry("x", .null)]),
                .map([Entry("only", .d(1))]),
            ])),
            Case(name: "top", type: listOfStruct, rows: cycle([
                .list([.st([.s("cat"), .d(0.9)]), .st([.s("dog"), .d(0.1)])]), .null, .list([]), .list([.null]),
                .list([.st([.null, .d(0.5)]), .null, .st([.s("x"), .null])]),
            ])),
            Case(name: "map_of_lists", type: .map(.list(.int32)), rows: cycle([
                .map([Entry("k", .list([.i(1), .null])), Entry("e", .list([])), Entry("n", .null)]), .null, .map([]),
            ])),
            Case(name: "flags", type: .list(.bool), rows: cycle([
                .list([.b(true), .b(false), .null]), .list([]), .null, .list([.b(true)]),
            ])),
        ]
    }

    /// Writes `cases` plus a flat `id` column in row groups of `groupRows` rows.
    static func write(_ cases: [Case], rows n: Int, groupRows: Int, pageRows: Int, compression: ParquetCompression,
                      dictionary: Bool = true, to path: String) throws {
        let schema = Schema([Field(name: "id", type: .int64, nullable: false)]
            + cases.map { Field(name: $0.name, type: $0.type, nullable: true) })
        let writer = try ParquetFileWriter(path: path, schema: schema, compression: compression, createdBy: "score-cluster test",
                                           dictionary: dictionary)
        writer.maxRowsPerPage = pageRows
        var start = 0
        while start < n {
            let end = min(n, start + groupRows)
            let columns = [Column.fixed(.int64, (start..<end).map(Int64.init))]
                + cases.map { column($0.type, Array($0.rows[start..<end])) }
            try writer.write(RecordBatch(schema: schema, columns: columns))
            start = end
        }
        try writer.close()
    }

    /// Reads `path` with pyarrow (values and types), DuckDB and polars (values) and returns the
    /// problems found, the number of row groups and the Parquet schema as pyarrow prints it.
    static func check(_ cases: [Case], rows n: Int, path: String) throws -> (problems: [String], rowGroups: Int, schema: String) {
        var script = """
        import sys, json
        import pyarrow as pa, pyarrow.parquet as pq
        path = sys.argv[1]
        expected = {}
        types = {}
        problems = []

        """
        for c in cases {
            script += "expected[\(pythonString(c.name))] = [" + c.rows.map { python(c.type, $0) }.joined(separator: ", ") + "]\n"
            script += "types[\(pythonString(c.name))] = \(arrowType(c.type))\n"
        }
        script += """
        expected['id'] = list(range(\(n)))
        types['id'] = pa.int64()

        def compare(who, name, got, want):
            if len(got) != len(want):
                problems.append(f'{who} {name}: {len(got)} rows, expected {len(want)}')
                return
            for i, (g, w) in enumerate(zip(got, want)):
                if g != w:
                    problems.append(f'{who} {name} row {i}: {g!r} != {w!r}')
                    return

        def as_dicts(v):
            # polars shows maps as dicts or as lists of {key, value} structs: make maps dicts.
            if isinstance(v, list):
                if v and all(isinstance(x, tuple) for x in v): return {k: as_dicts(x) for k, x in v}
                if v and all(isinstance(x, dict) and set(x) == {'key', 'value'} for x in v):
                    return {x['key']: as_dicts(x['value']) for x in v}
                return [as_dicts(x) for x in v]
            if isinstance(v, dict):
                # An empty map may come back as {} (a dict) where the expected value is [].
                return {k: as_dicts(x) for k, x in v.items()} if v else []
            return v

        table = pq.read_table(path)
        for name, want in expected.items():
            col = table.column(name)
            if col.type != types[name]:
                problems.append(f'pyarrow {name}: type {col.type} != {types[name]}')
            compare('pyarrow', name, col.to_pylist(), want)
        pf = pq.ParquetFile(path)
        try:
            import duckdb
        except ImportError:
            duckdb = None
        if duckdb is not None:
            con = duckdb.connect()
            con.execute('SET threads TO 1')
            rel = con.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY id")
            dt = rel.to_arrow_table() if hasattr(rel, 'to_arrow_table') else rel.fetch_arrow_table()
            for name, want in expected.items():
                compare('duckdb', name, dt.column(name).to_pylist(), want)
        try:
            import polars as pl
        except ImportError:
            pl = None
        if pl is not None:
            df = pl.read_parquet(path)
            for name, want in expected.items():
                compare('polars', name, [as_dicts(v) for v in df[name].to_list()], [as_dicts(v) for v in want])
        print(json.dumps({'problems': problems, 'row_groups': pf.metadata.num_row_groups,
                          'schema': str(pf.schema).replace('field_id=-1 ', '')}))
        """
        // The script holds every expected value: too long for a command line.
        let scriptPath = path + ".check.py"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let run = try TestEnvironment.run(TestEnvironment.python, [scriptPath, path])
        guard run.status == 0 else { throw TestFailure("python failed (\(run.status)):\n\(run.stderr)") }
        let out = run.stdout
        struct Result: Decodable { var problems: [String]; var row_groups: Int; var schema: String }
        let r = try JSONDecoder().decode(Result.self, from: Data(out.utf8))
        return (r.problems, r.row_groups, r.schema)
    }

    @Test(arguments: [ParquetCompression.snappy, .none])
    func nestedColumnsReadBack(compression: ParquetCompression) throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 95
        let cases = Self.cases(rows: n)
        for dictionary in [true, false] {
            let path = dir.appendingPathComponent("nested-\(compression)-\(dictionary).parquet").path
            try Self.write(cases, rows: n, groupRows: 40, pageRows: 7, compression: compression, dictionary: dictionary, to: path)
            let result = try Self.check(cases, rows: n, path: path)
            #expect(result.problems.isEmpty, "\(result.problems.joined(separator: "\n"))")
            #expect(result.rowGroups == 3)
            // The spec's layouts: 3-level LIST, MAP with a REQUIRED key, structs as groups.
            for expected in [
                """
                  optional group floats (List) {
                    repeated group list {
                      optional double element;
                    }
                  }
                """,
                """
                  optional group probs (Map) {
                    repeated group key_value {
                      required binary key (String);
                      optional double value;
                    }
                  }
                """,
                """
                  optional group scored {
                    optional binary label (String);
                    optional double score;
                  }
                """,
                """
                  optional group nested_ints (List) {
                    repeated group list {
                      optional group element (List) {
                        repeated group list {
                          optional int64 element;
                        }
                      }
                    }
                  }
                """,
            ] {
                #expect(result.schema.contains(expected), "schema lacks\n\(expected)\nin\n\(result.schema)")
            }
        }
    }

    /// Column chunk metadata: one chunk per leaf in schema order with full paths, level counts
    /// in num_values, null counts; pages hold whole rows (checked by the readers above).
    @Test func chunkMetadata() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested-meta")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("meta.parquet").path
        let cases = Array(Self.cases(rows: 6).prefix(5))
        try Self.write(cases, rows: 6, groupRows: 6, pageRows: 2, compression: .snappy, to: path)
        let out = try TestEnvironment.runPython("""
        import sys, json, pyarrow.parquet as pq
        md = pq.ParquetFile(sys.argv[1]).metadata
        rg = md.row_group(0)
        cols = []
        for i in range(rg.num_columns):
            c = rg.column(i)
            s = pq.ParquetFile(sys.argv[1]).schema.column(i)
            cols.append([c.path_in_schema, c.num_values, c.statistics.null_count if c.statistics else None,
                         s.max_definition_level, s.max_repetition_level])
        print(json.dumps(cols))
        """, [path])
        struct Col: Decodable, Equatable {
            var path: String, values: Int, nulls: Int?, maxDef: Int, maxRep: Int
            init(_ path: String, _ values: Int, _ nulls: Int?, _ maxDef: Int, _ maxRep: Int) {
                self.path = path; self.values = values; self.nulls = nulls; self.maxDef = maxDef; self.maxRep = maxRep
            }
            init(from decoder: Decoder) throws {
                var c = try decoder.unkeyedContainer()
                path = try c.decode(String.self); values = try c.decode(Int.self); nulls = try c.decodeIfPresent(Int.self)
                maxDef = try c.decode(Int.self); maxRep = try c.decode(Int.self)
            }
        }
        let cols = try JSONDecoder().decode([Col].self, from: Data(out.utf8))
        // floats: [1.5, -2.25], None, [], [None], [3, None, 0.125], [7] -> 2+1+1+1+3+1 levels, 5 without a value.
        // nested_ints: [[1,2],[3]], None, [], [None], [[]], [[None,-4], None, [], [5]] -> 3+1+1+1+1+5 levels.
        // scored: 6 rows; label null in rows 1, 2, 4; score null in 1, 3, 4.
        // with_list: {a,[1,2]}, None, {b,None}, {None,[]}, {c,[None,9]}, {a,[1,2]} -> name: 6 levels; values: 2+1+1+1+2+2.
        // probs: {a,b}, None, {}, {x: None}, {only}, {a,b} -> 2+1+1+1+1+2 levels; keys present in 7.
        #expect(cols == [
            Col("id", 6, 0, 0, 0),
            Col("floats.list.element", 9, 4, 3, 1),
            Col("nested_ints.list.element.list.element", 12, 7, 5, 2),
            Col("scored.label", 6, 3, 2, 0),
            Col("scored.score", 6, 3, 2, 0),
            Col("with_list.name", 6, 2, 2, 0),
            Col("with_list.values.list.element", 9, 4, 4, 1),
            Col("probs.key_value.key", 8, 2, 2, 1),
            Col("probs.key_value.value", 8, 3, 3, 1),
        ])
    }

    /// Many rows of random lists and maps: long level runs, dictionary pages, several pages per chunk.
    @Test func largeRandomNestedColumns() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested-large")
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = ParquetWriterTests.Generator(state: 42)
        let n = 30_000
        func value() -> V {
            let r = g.next() % 100
            return r < 10 ? .null : .d(Double(Int(g.next() % 20)) / 4)
        }
        var lists: [V] = [], maps: [V] = [], structs: [V] = []
        for i in 0..<n {
            let r = g.next() % 100
            if r < 5 { lists.append(.null) } else if r < 10 { lists.append(.list([])) } else {
                lists.append(.list((0..<Int(g.next() % 12)).map { _ in value() }))
            }
            if i % 1000 < 300 { maps.append(.null) } else {
                maps.append(.map((0..<Int(g.next() % 4)).map { k in Entry("label\(k)_\(g.next() % 3)", value()) }))
            }
            structs.append(r < 3 ? .null : .st([.s("l\(g.next() % 50)"), value()]))
        }
        let cases = [Case(name: "l", type: .list(.float64), rows: lists), Case(name: "m", type: .map(.float64), rows: maps),
                     Case(name: "s", type: Self.scored, rows: structs)]
        let path = dir.appendingPathComponent("large.parquet").path
        try Self.write(cases, rows: n, groupRows: 12_000, pageRows: 5_000, compression: .snappy, to: path)
        let result = try Self.check(cases, rows: n, path: path)
        #expect(result.problems.isEmpty, "\(result.problems.joined(separator: "\n"))")
        #expect(result.rowGroups == 3)
    }

    /// Lists of large strings: pages close at row boundaries once they pass the byte target
    /// (1 MiB), and a row larger than the target still goes whole into one page.
    @Test func largeValuesSplitPagesAtRowBoundaries() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested-bytes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = String(repeating: "x", count: 300_000)
        let rows: [V] = (0..<9).map { i in
            i == 4 ? .list((0..<5).map { _ in .s(big) }) : .list([.s(big + "\(i)"), .null, .s("\(i)")])
        }
        let cases = [Case(name: "texts", type: .list(.string), rows: rows)]
        let path = dir.appendingPathComponent("bytes.parquet").path
        try Self.write(cases, rows: rows.count, groupRows: rows.count, pageRows: 20_000, compression: .snappy,
                       dictionary: false, to: path)
        let result = try Self.check(cases, rows: rows.count, path: path)
        #expect(result.problems.isEmpty, "\(result.problems.joined(separator: "\n"))")
    }

    @Test func schemaProblemsAndReaderRefusal() throws {
        // Nested types are writable now; an empty struct is not (Parquet has no empty groups).
        #expect(ParquetTypeMapping.writeProblem(.list(.map(Self.scored))) == nil)
        #expect(ParquetTypeMapping.writeProblem(.structure([])) != nil)
        #expect(ParquetTypeMapping.writeProblem(.list(.decimal(precision: 40, scale: 0))) != nil)
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested-reader")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.parquet").path
        let cases = Array(Self.cases(rows: 6).prefix(3))
        try Self.write(cases, rows: 6, groupRows: 6, pageRows: 100, compression: .snappy, to: path)
        // The reader lists the nested leaves, refuses them, and still reads the flat column.
        let reader = try ParquetFileReader(path: path)
        #expect(reader.columns.map(\.name) == ["id", "floats.list.element", "nested_ints.list.element.list.element",
                                               "scored.label", "scored.score"])
        for column in reader.columns.dropFirst() {
            #expect(column.dataType == nil && column.unsupportedReason?.contains("nested") == true, "\(column.name)")
        }
        let batch = try reader.readRowGroup(0, columns: [0])
        #expect(batch.columns[0].array(of: Int64.self) == Array(0..<6))
        #expect(throws: ParquetError.self) { try reader.readRowGroup(0, columns: [1]) }
    }

    @Test func nullsInRequiredNestedColumnsAndMapKeysAreRefused() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested-required")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A null map key.
        let keys = Column.strings([nil])
        let map = Column(type: .map(.float64), count: 1, values: ColumnBuffer(zeroedCount: 0),
                         offsets: [Int64(0), 1].withUnsafeBytes { ColumnBuffer(copying: $0) },
                         children: [keys, .fixed(.float64, [1.0])])
        let schema = Schema([Field(name: "m", type: .map(.float64), nullable: true)])
        let writer = try ParquetFileWriter(path: dir.appendingPathComponent("k.parquet").path, schema: schema, createdBy: "t")
        #expect(throws: ParquetError.self) { try writer.write(RecordBatch(schema: schema, columns: [map])) }
        // A null row in a non-nullable nested column.
        let required = Schema([Field(name: "l", type: .list(.float64), nullable: false)])
        let w2 = try ParquetFileWriter(path: dir.appendingPathComponent("r.parquet").path, schema: required, createdBy: "t")
        #expect(throws: ParquetError.self) {
            try w2.write(RecordBatch(schema: required, columns: [Self.column(.list(.float64), [.null])]))
        }
    }

    /// A non-nullable (REQUIRED) top-level nested column has one definition level fewer.
    @Test func requiredTopLevelNestedColumn() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested-req-top")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("req.parquet").path
        let rows: [V] = [.list([.d(1), .null]), .list([]), .list([.d(2)])]
        let schema = Schema([Field(name: "l", type: .list(.float64), nullable: false)])
        let writer = try ParquetFileWriter(path: path, schema: schema, createdBy: "t")
        try writer.write(RecordBatch(schema: schema, columns: [Self.column(.list(.float64), rows)]))
        try writer.close()
        let out = try TestEnvironment.runPython("""
        import sys, pyarrow.parquet as pq
        t = pq.read_table(sys.argv[1])
        print(t.column('l').to_pylist(), pq.ParquetFile(sys.argv[1]).schema.column(0).max_definition_level)
        """, [path])
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "[[1.0, None], [], [2.0]] 2")
    }
}
