import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

/// Kept columns copied chunk by chunk (`ParquetFileWriter.write(_:copying:)`): the output reads
/// back, with score-cluster's reader and with pyarrow, with the input's values; chunks that
/// cannot be copied as they are are named as such.
@Suite("Parquet writer: copied column chunks")
struct ParquetChunkCopyTests {
    /// Writes `reader`'s columns `columns` (each row group's chunks copied) plus a computed
    /// column `row` (the row's number in the file), and checks it reads back with the same values.
    static func copyAndCheck(_ reader: ParquetFileReader, columns: [Int], compression: ParquetCompression,
                             to out: String, file: String) throws {
        let fields = columns.map { Field(name: reader.columns[$0].name, type: reader.columns[$0].dataType!, nullable: reader.columns[$0].nullable) }
        let rowField = Field(name: "row", type: .int64, nullable: false)
        let writer = try ParquetFileWriter(path: out, schema: Schema(fields + [rowField]), compression: compression,
                                           createdBy: "score-cluster test")
        var start = 0
        for (g, n) in reader.rowGroupRowCounts.enumerated() where n > 0 {
            let copies = try columns.map { try reader.chunkCopy(rowGroup: g, column: $0) }
            let rows = Column.fixed(.int64, (start..<(start + n)).map { Int64($0) })
            try writer.write(RecordBatch(schema: Schema([rowField]), columns: [rows]), copying: copies)
            start += n
        }
        try writer.close()
        let back = try ParquetFileReader(path: out)
        #expect(back.rowGroupRowCounts == reader.rowGroupRowCounts.filter { $0 > 0 }, "\(file): row groups")
        #expect(back.columns.map(\.dataType) == fields.map(\.type) + [.int64], "\(file): types")
        var g = 0
        start = 0
        for (k, n) in reader.rowGroupRowCounts.enumerated() where n > 0 {
            let original = try reader.readRowGroup(k, columns: columns)
            let copied = try back.readRowGroup(g, columns: Array(back.columns.indices))
            for c in columns.indices where ParquetTestSupport.canonicalValues(original.columns[c]) != ParquetTestSupport.canonicalValues(copied.columns[c]) {
                Issue.record("\(file) row group \(k), column \(fields[c].name): copied values differ")
            }
            #expect(copied.columns.last!.array(of: Int64.self) == (start..<(start + n)).map { Int64($0) }, "\(file): computed column")
            g += 1
            start += n
        }
    }

    /// pyarrow reads every file in `pairs` (output, input): the output's columns equal the
    /// input's, and `row` counts rows.
    static func expectPyarrowAgrees(_ pairs: [(String, String)]) throws {
        guard !pairs.isEmpty else { return }
        let out = try TestEnvironment.runPython("""
            import sys, pyarrow.parquet as pq, pyarrow as pa
            args = sys.argv[1:]
            for out, src in zip(args[0::2], args[1::2]):
                try:
                    t = pq.read_table(out)
                    s = pq.read_table(src, columns=[c for c in t.column_names if c != 'row'])
                    # repr: NaN equals NaN, and -0.0 differs from 0.0.
                    same = lambda a, b: a.type == b.type and [repr(v) for v in a.to_pylist()] == [repr(v) for v in b.to_pylist()]
                    bad = [c for c in s.column_names if not same(t[c], s[c])]
                    rows = t['row'].to_pylist() == list(range(t.num_rows))
                    print(out, 'OK' if not bad and rows else f'DIFF {bad} rows={rows}')
                except Exception as e:
                    print(out, 'ERROR', repr(e)[:200])
            """, pairs.flatMap { [$0.0, $0.1] })
        for line in out.split(separator: "\n") where !line.hasSuffix(" OK") {
            Issue.record("pyarrow: \(line)")
        }
    }

    @Test("pyarrow files (dictionary and plain, nulls, strings, timestamps, decimals, v1 and v2 pages, every codec) copy exactly")
    func pyarrowFiles() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("chunk-copy")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TestEnvironment.runPython("""
            import sys, decimal, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            n = 9000
            rng = np.random.default_rng(5)
            t = pa.table({
                'd': pa.array(rng.normal(size=n), mask=rng.random(n) < 0.2),
                'i': pa.array(rng.integers(0, 50, n)),
                's': pa.array([f's{j % 977}' if j % 5 else None for j in range(n)]),
                'b': pa.array(rng.random(n) < 0.5),
                'ts': pa.array(rng.integers(0, 10**15, n), pa.timestamp('us')),
                'dec': pa.array([decimal.Decimal(j) / 100 for j in range(n)], pa.decimal128(9, 2)),
                'req': pa.array(np.arange(n, dtype=np.int32)),
            })
            schema = t.schema.set(t.schema.get_field_index('req'), pa.field('req', pa.int32(), nullable=False))
            t = t.cast(schema)
            for codec in ['snappy', 'zstd', 'gzip', 'none']:
                for version in ['1.0', '2.0']:
                    pq.write_table(t, f'{sys.argv[1]}/{codec}-{version}.parquet', compression=codec, data_page_size=4096,
                                   data_page_version=version, row_group_size=4000, use_dictionary=['i', 's'])
            """, [dir.path])
        var pairs: [(String, String)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
            let path = dir.appendingPathComponent(name).path
            let reader = try ParquetFileReader(path: path)
            let compression = try #require(ParquetCompression(rawValue: String(name.split(separator: "-")[0])))
            let copyable = reader.columns.indices.filter {
                ParquetFileWriter.copyProblem(field: Field(name: reader.columns[$0].name, type: reader.columns[$0].dataType!,
                                                           nullable: reader.columns[$0].nullable),
                                              compression: compression, reader: reader, column: $0) == nil
            }
            // Every column of a pyarrow file is copyable (copying is what jobs on such files do)
            // but the decimal: pyarrow stores decimal(9, 2) as FIXED_LEN_BYTE_ARRAY, score-cluster as INT32.
            #expect(copyable.map { reader.columns[$0].name } == ["d", "i", "s", "b", "ts", "req"], "\(name)")
            let out = dir.appendingPathComponent("copy-" + name).path
            try Self.copyAndCheck(reader, columns: copyable, compression: compression, to: out, file: name)
            pairs.append((out, path))
        }
        #expect(pairs.count == 8)
        try Self.expectPyarrowAgrees(pairs)
    }

    @Test("every column of the parquet-testing files that can be copied copies exactly", .enabled(if: TestEnvironment.hasParquetTesting, "needs the parquet-testing files in ../shared"))
    func parquetTesting() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("chunk-copy-pt")
        defer { try? FileManager.default.removeItem(at: dir) }
        var pairs: [(String, String)] = []
        var copiedColumns = 0
        for path in ParquetReaderTests.parquetTestingFiles() {
            guard let reader = try? ParquetFileReader(path: path), reader.rowCount > 0 else { continue }
            let name = (path as NSString).lastPathComponent
            // Only columns the reader decodes (copying must not pass on what reading would refuse).
            let readable = reader.columns.indices.filter { c in
                reader.columns[c].dataType != nil && reader.rowGroupRowCounts.indices.allSatisfy { (try? reader.readRowGroup($0, columns: [c])) != nil }
            }
            for compression in ParquetCompression.allCases {
                let copyable = readable.filter {
                    ParquetFileWriter.copyProblem(field: Field(name: reader.columns[$0].name, type: reader.columns[$0].dataType!,
                                                               nullable: reader.columns[$0].nullable),
                                                  compression: compression, reader: reader, column: $0) == nil
                }
                guard !copyable.isEmpty else { continue }
                let out = dir.appendingPathComponent("\(compression)-\(name)").path
                try Self.copyAndCheck(reader, columns: copyable, compression: compression, to: out, file: name)
                pairs.append((out, path))
                copiedColumns += copyable.count
            }
        }
        #expect(copiedColumns > 50)
        try Self.expectPyarrowAgrees(pairs)
    }

    @Test("chunks are refused for another codec and another nullability; a copied chunk must hold the batch's rows")
    func refusals() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("chunk-copy-refused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("in.parquet").path
        try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            t = pa.table({'x': pa.array(np.arange(100, dtype=np.int64)), 'ts': pa.array(np.arange(100), pa.timestamp('ms'))})
            t = t.cast(pa.schema([pa.field('x', pa.int64(), nullable=False), pa.field('ts', pa.timestamp('ms'))]))
            pq.write_table(t, sys.argv[1], compression='snappy', row_group_size=60)
            """, [path])
        let reader = try ParquetFileReader(path: path)
        let x = Field(name: "x", type: .int64, nullable: false)
        #expect(ParquetFileWriter.copyProblem(field: x, compression: .snappy, reader: reader, column: 0) == nil)
        #expect(ParquetFileWriter.copyProblem(field: x, compression: .zstd, reader: reader, column: 0)?.contains("SNAPPY") == true)
        #expect(ParquetFileWriter.copyProblem(field: Field(name: "x", type: .int64, nullable: true), compression: .snappy,
                                              reader: reader, column: 0) != nil)
        // pyarrow writes TIMESTAMP(MILLIS); score-cluster writes what it reads, so the chunk copies.
        let ts = Field(name: "ts", type: reader.columns[1].dataType!, nullable: true)
        #expect(ParquetFileWriter.copyProblem(field: ts, compression: .snappy, reader: reader, column: 1) == nil)
        let writer = try ParquetFileWriter(path: dir.appendingPathComponent("out.parquet").path,
                                           schema: Schema([x, Field(name: "y", type: .int64, nullable: false)]), createdBy: "test")
        let y = RecordBatch(schema: Schema([Field(name: "y", type: .int64, nullable: false)]), columns: [.fixed(.int64, [Int64](repeating: 1, count: 40))])
        #expect(throws: ParquetError.self) { try writer.write(y, copying: [try reader.chunkCopy(rowGroup: 0, column: 0)]) }
    }

    @Test("a last column streamed in pieces (beginRowGroup, append, endRowGroup) reads back as the whole write, with the same statistics")
    func streamedLastColumn() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("chunk-copy-streamed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.parquet").path
        try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            pq.write_table(pa.table({'k': pa.array(np.arange(50, dtype=np.int64))}), sys.argv[1], row_group_size=30)
            """, [input])
        let reader = try ParquetFileReader(path: input)
        let kept = Field(name: "k", type: .int64, nullable: true)
        let long = String(repeating: "z", count: 2_000)
        var doubles = (0..<50).map { Double($0 % 11) - 4.5 }
        doubles[3] = .nan
        doubles[7] = -0.0
        doubles[8] = 0.0
        // Per type: the values of the 50 rows (nulls, NaN, both zeros, a string over the statistics' length limit).
        let cases: [(String, Column)] = [
            ("double", .fixed(.float64, doubles, validity: (0..<50).map { $0 % 13 != 5 })),
            ("all-NaN pieces", .fixed(.float64, (0..<50).map { $0 < 20 ? Double.nan : Double($0) })),
            ("float", .fixed(.float32, (0..<50).map { Float(25 - $0) })),
            ("int", .fixed(.int32, (0..<50).map { Int32($0 * 7 % 19) - 9 }, validity: (0..<50).map { $0 != 0 })),
            ("long", .fixed(.int64, (0..<50).map { Int64($0) * -1_000_000_007 })),
            ("boolean", .fixed(.bool, (0..<50).map { UInt8($0 % 3 == 0 ? 1 : 0) })),
            ("string", .strings((0..<50).map { $0 % 9 == 4 ? nil : "v\(($0 * 37) % 50)" })),
            ("long string", .strings((0..<50).map { $0 == 41 ? long : "s\($0)" })),
        ]
        var pairs: [String] = []
        for (name, values) in cases {
            let field = Field(name: "prediction", type: values.type, nullable: true)
            let schema = Schema([kept, field])
            let whole = dir.appendingPathComponent("\(name)-whole.parquet").path
            let streamed = dir.appendingPathComponent("\(name)-streamed.parquet").path
            let a = try ParquetFileWriter(path: whole, schema: schema, createdBy: "test", dictionary: false)
            let b = try ParquetFileWriter(path: streamed, schema: schema, createdBy: "test")
            var start = 0
            for (g, n) in reader.rowGroupRowCounts.enumerated() {
                let copies = [try reader.chunkCopy(rowGroup: g, column: 0)]
                try a.write(RecordBatch(schema: Schema([field]), columns: [values.slice(start..<(start + n)).compacted()]), copying: copies)
                try b.beginRowGroup(rows: n, copying: copies)
                // Uneven pieces: 1 row, 7 rows, the rest.
                for piece in [start..<(start + 1), (start + 1)..<(start + 8), (start + 8)..<(start + n)] {
                    try b.append(RecordBatch(schema: Schema([field]), columns: [values.slice(piece).compacted()]))
                }
                try b.endRowGroup()
                start += n
            }
            try a.close()
            try b.close()
            let back = try ParquetFileReader(path: streamed)
            #expect(back.rowGroupRowCounts == [30, 20], "\(name)")
            let read = RecordBatch.concatenate(try (0..<2).map { try back.readRowGroup($0, columns: [0, 1]) })
            #expect(ParquetTestSupport.canonicalValues(read.columns[1]) == ParquetTestSupport.canonicalValues(values), "\(name): values")
            #expect(read.columns[0].array(of: Int64.self) == (0..<50).map { Int64($0) }, "\(name): copied column")
            pairs += [whole, streamed]
        }
        // pyarrow reads both and finds the same statistics (min, max, null count) in every row group.
        let out = try TestEnvironment.runPython("""
            import sys, pyarrow.parquet as pq
            args = sys.argv[1:]
            for whole, streamed in zip(args[0::2], args[1::2]):
                def stats(path):
                    m = pq.ParquetFile(path).metadata
                    result = []
                    for g in range(m.num_row_groups):
                        s = m.row_group(g).column(1).statistics
                        result.append((s.has_min_max, repr(s.min) if s.has_min_max else None, repr(s.max) if s.has_min_max else None, s.null_count))
                    return result
                same = stats(whole) == stats(streamed) and repr(pq.read_table(whole).to_pylist()) == repr(pq.read_table(streamed).to_pylist())
                print(streamed, 'OK' if same else f'DIFF {stats(whole)} {stats(streamed)}')
            """, pairs)
        for line in out.split(separator: "\n") where !line.hasSuffix(" OK") { Issue.record("pyarrow: \(line)") }
        #expect(out.split(separator: "\n").count == cases.count)

        // Misuse: too many rows, a row group ended early, a file closed with a row group open.
        let field = Field(name: "prediction", type: .int64, nullable: true)
        let ten = RecordBatch(schema: Schema([field]), columns: [.fixed(.int64, [Int64](repeating: 1, count: 10))])
        let c = try ParquetFileWriter(path: dir.appendingPathComponent("misuse.parquet").path, schema: Schema([kept, field]), createdBy: "test")
        try c.beginRowGroup(rows: 20, copying: [try reader.chunkCopy(rowGroup: 1, column: 0)])
        try c.append(ten)
        #expect(throws: ParquetError.self) { try c.endRowGroup() }
        #expect(throws: ParquetError.self) { try c.write(ten) }
        try c.append(ten)
        #expect(throws: ParquetError.self) { try c.append(ten) }
        try c.endRowGroup()
        try c.beginRowGroup(rows: 20, copying: [try reader.chunkCopy(rowGroup: 1, column: 0)])
        #expect(throws: ParquetError.self) { try c.close() }
    }
}
