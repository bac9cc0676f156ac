import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

@Suite("Parquet reader")
struct ParquetReaderTests {
    /// Every Parquet file of parquet-testing's `data` folder (and its subfolders).
    static func parquetTestingFiles() -> [String] {
        let root = TestEnvironment.parquetTestingData
        let all = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
        return all.filter { $0.hasSuffix(".parquet") || $0.hasSuffix(".parquet.encrypted") }.sorted()
            .map { root.appendingPathComponent($0).path }
    }

    /// Every file is either read with pyarrow's values (flat columns of mixed files included, the
    /// nested ones listed and refused), or, if pyarrow cannot read it either, refused with a
    /// ParquetError naming the file.
    @Test(.enabled(if: TestEnvironment.hasParquetTesting, "needs the parquet-testing files in ../shared"))
    func everyParquetTestingFileMatchesPyarrow() throws {
        let paths = Self.parquetTestingFiles()
        #expect(paths.count >= 36)
        let dumps = try ParquetTestSupport.pyarrowDump(paths)
        for path in paths {
            let name = (path as NSString).lastPathComponent
            let dump = try #require(dumps[path])
            if let pyError = dump.error {
                // pyarrow fails (encrypted files without keys, non-compliant nested schemas).
                #expect(ParquetMalformedTests.readEverything(path, includeUnsupported: true) != nil,
                        "\(name): pyarrow fails (\(pyError)) but score-cluster read it")
                continue
            }
            let reader = try ParquetFileReader(path: path)
            try ParquetTestSupport.expectMatches(reader, dump, file: name)
            try Self.expectRewriteKeepsColumns(reader, file: name)
        }
    }

    /// Writes every readable column of `reader` with score-cluster's writer and reads it back:
    /// types, nullability and values must be exactly those read from the original.
    static func expectRewriteKeepsColumns(_ reader: ParquetFileReader, file: String,
                                          sourceLocation: SourceLocation = #_sourceLocation) throws {
        let readable = reader.columns.indices.filter { reader.columns[$0].dataType != nil }
        guard !readable.isEmpty, reader.rowCount > 0 else { return }
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-rewrite")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("rewrite.parquet").path
        var batches: [RecordBatch] = []
        for g in reader.rowGroupRowCounts.indices { batches.append(try reader.readRowGroup(g, columns: readable)) }
        let writer = try ParquetFileWriter(path: out, schema: batches[0].schema, createdBy: "score-cluster test")
        for b in batches { try writer.write(b) }
        try writer.close()
        let back = try ParquetFileReader(path: out)
        #expect(back.columns.map(\.dataType) == readable.map { reader.columns[$0].dataType }, "\(file): rewritten types", sourceLocation: sourceLocation)
        #expect(back.columns.map(\.nullable) == readable.map { reader.columns[$0].nullable }, "\(file): rewritten nullability", sourceLocation: sourceLocation)
        var g = 0
        for (k, b) in batches.enumerated() where b.rowCount > 0 {
            let again = try back.readRowGroup(g, columns: Array(back.columns.indices))
            g += 1
            for (i, c) in b.columns.enumerated()
            where ParquetTestSupport.canonicalValues(c) != ParquetTestSupport.canonicalValues(again.columns[i]) {
                Issue.record("\(file) row group \(k) column \(b.schema.fields[i].name): rewritten values differ", sourceLocation: sourceLocation)
            }
        }
    }

    /// The delta-encoded files come with the values parquet-mr wrote, as CSV.
    @Test(.enabled(if: TestEnvironment.hasParquetTesting, "needs the parquet-testing files in ../shared"), arguments: ["delta_binary_packed", "delta_byte_array", "delta_encoding_optional_column"])
    func deltaFilesMatchTheirExpectedCSV(_ name: String) throws {
        let data = TestEnvironment.parquetTestingData
        let csv = try String(contentsOf: data.appendingPathComponent("\(name)_expect.csv"), encoding: .utf8)
        var lines = Self.parseCSV(csv)
        lines.removeFirst()  // header
        let reader = try ParquetFileReader(path: data.appendingPathComponent("\(name).parquet").path)
        var rows: [[String?]] = Array(repeating: [], count: reader.rowCount)
        var row = 0
        for g in reader.rowGroupRowCounts.indices {
            let batch = try reader.readRowGroup(g, columns: Array(reader.columns.indices))
            let columns = batch.columns.map(ParquetTestSupport.canonicalValues)
            for r in 0..<batch.rowCount { rows[row + r] = columns.map { $0[r] } }
            row += batch.rowCount
        }
        #expect(rows.count == lines.count)
        for (r, (ours, expected)) in zip(rows, lines).enumerated() where ours != expected {
            Issue.record("\(name) row \(r): \(ours) != \(expected)")
            break
        }
    }

    /// RFC 4180 fields; an empty unquoted field is nil (null).
    static func parseCSV(_ text: String) -> [[String?]] {
        var rows: [[String?]] = [], row: [String?] = [], field = "", quoted = false, inQuotes = false
        var chars = Array(text).makeIterator()
        var pending: Character? = nil
        func endField() { row.append(field.isEmpty && !quoted ? nil : field); field = ""; quoted = false }
        while let c = pending ?? chars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let next = chars.next() {
                        if next == "\"" { field.append("\"") } else { inQuotes = false; pending = next }
                    } else { inQuotes = false }
                } else { field.append(c) }
            } else if c == "\"" { inQuotes = true; quoted = true
            } else if c == "," { endField()
            } else if c == "\n" || c == "\r\n" { endField(); rows.append(row); row = []
            } else if c != "\r" { field.append(c) }
        }
        if !field.isEmpty || !row.isEmpty { endField(); rows.append(row) }
        return rows
    }

    /// CRCs: verification off reads the corrupt-checksum files; on, it rejects exactly them.
    @Test(.enabled(if: TestEnvironment.hasParquetTesting, "needs the parquet-testing files in ../shared")) func pageChecksums() throws {
        let data = TestEnvironment.parquetTestingData
        for (name, corrupt) in [("datapage_v1-corrupt-checksum", true), ("rle-dict-uncompressed-corrupt-checksum", true),
                                ("datapage_v1-uncompressed-checksum", false), ("datapage_v1-snappy-compressed-checksum", false),
                                ("plain-dict-uncompressed-checksum", false), ("rle-dict-snappy-checksum", false)] {
            let path = data.appendingPathComponent("\(name).parquet").path
            let all = { (r: ParquetFileReader) in try r.rowGroupRowCounts.indices.forEach { _ = try r.readRowGroup($0, columns: Array(r.columns.indices)) } }
            try all(ParquetFileReader(path: path))
            let verifying = try ParquetFileReader(path: path, verifyChecksums: true)
            if corrupt {
                do {
                    try all(verifying)
                    Issue.record("\(name): corrupt checksum accepted")
                } catch let e as ParquetError {
                    #expect(e.message.contains("CRC") && e.path == path && e.column != nil, "\(e)")
                }
            } else {
                try all(verifying)
            }
        }
    }
}

extension ParquetReaderTests {
    /// Writes a table with every type score-cluster reads (nulls, NaN, ±0, an all-null column,
    /// low- and high-cardinality strings, REQUIRED columns, far-future timestamps) with every
    /// codec, both page versions, dictionary on and off, BYTE_STREAM_SPLIT, the DELTA encodings,
    /// Spark's INT96 flavour, format version 1.0 and pandas; small pages and a small dictionary
    /// limit force many pages and the mid-chunk fallback to PLAIN.
    static let pyarrowWriterScript = #"""
import numpy as np, decimal, datetime, uuid
out_dir = sys.argv[1]
n = 1500
rng = np.random.default_rng(7)
def mask(frac=0.1): return rng.random(n) < frac
f64 = rng.normal(size=n); f64[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-310]
words = [''.join(chr(97 + (i * 7 + k) % 26) for k in range(i % 13)) + ('é' if i % 5 == 0 else '') for i in range(n)]
def decimals(p, s):
    q = 10 ** p
    return pa.array([decimal.Decimal(int(rng.integers(-2**62, 2**62)) * int(rng.integers(0, 2**40)) % q - q // 2).scaleb(-s) for _ in range(n)],
                    type=pa.decimal128(p, s), mask=mask())
ts_us = rng.integers(-2**50, 2**50, size=n)
ts_us[:2] = [253402300799999999, 9_000_000_000_000_000]  # 9999-12-31 and year 287,000: beyond ns
cols = {
    'f64': pa.array(f64, mask=mask()),
    'f32': pa.array(rng.normal(size=n).astype(np.float32), mask=mask()),
    'f16': pa.array(rng.normal(size=n).astype(np.float16), mask=mask()),
    'i32': pa.array(rng.integers(-2**31, 2**31, size=n, dtype=np.int64).astype(np.int32), mask=mask()),
    'i64': pa.array(rng.integers(-2**62, 2**62, size=n), mask=mask()),
    'i8': pa.array(rng.integers(-128, 128, size=n).astype(np.int8), mask=mask()),
    'i16': pa.array(rng.integers(-2**15, 2**15, size=n).astype(np.int16), mask=mask()),
    'u8': pa.array(rng.integers(0, 256, size=n).astype(np.uint8), mask=mask()),
    'u16': pa.array(rng.integers(0, 2**16, size=n).astype(np.uint16), mask=mask()),
    'u32': pa.array(rng.integers(0, 2**32, size=n).astype(np.uint32), mask=mask()),
    'u64': pa.array(rng.integers(0, 2**63, size=n).astype(np.uint64) * np.uint64(2), mask=mask()),
    'b': pa.array(rng.random(n) < 0.5, mask=mask()),
    's': pa.array(words, mask=mask()),
    'ls': pa.array(words[::-1], type=pa.large_string()),
    'bin': pa.array([w.encode() * 2 for w in words], mask=mask()),
    'lowcard': pa.array([['red', 'green', 'blue'][i % 3] for i in range(n)], mask=mask(0.3)),
    'dense_f64': pa.array(rng.integers(0, 5, size=n).astype(np.float64)),
    'date': pa.array(rng.integers(-30000, 30000, size=n).astype(np.int32), type=pa.date32(), mask=mask()),
    'ts_ms': pa.array(rng.integers(-2**42, 2**42, size=n), type=pa.timestamp('ms'), mask=mask()),
    'ts_us_utc': pa.array(ts_us, type=pa.timestamp('us', tz='UTC'), mask=mask()),
    'ts_us': pa.array(ts_us, type=pa.timestamp('us')),
    'ts_ns': pa.array(rng.integers(-2**62, 2**62, size=n), type=pa.timestamp('ns'), mask=mask()),
    'ts_ns_utc': pa.array(rng.integers(-2**62, 2**62, size=n), type=pa.timestamp('ns', tz='UTC'), mask=mask()),
    't_ms': pa.array(rng.integers(0, 86_400_000, size=n).astype(np.int32), type=pa.time32('ms'), mask=mask()),
    't_us': pa.array(rng.integers(0, 86_400_000_000, size=n), type=pa.time64('us'), mask=mask()),
    't_ns': pa.array(rng.integers(0, 86_400_000_000_000, size=n), type=pa.time64('ns'), mask=mask()),
    'dec5': decimals(5, 2), 'dec15': decimals(15, 4), 'dec25': decimals(25, 0), 'dec38': decimals(38, 10),
    'fsb': pa.array([bytes([i % 7, i % 3, 1, 2]) for i in range(n)], type=pa.binary(4), mask=mask()),
    'uuid': pa.array([uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | i).bytes for i in range(n)], type=pa.uuid(), mask=mask()),
    'all_null': pa.array([None] * n, type=pa.int32()),
    'null': pa.array([None] * n, type=pa.null()),
}
schema = pa.schema([pa.field(k, v.type) for k, v in cols.items()] + [pa.field('req_i64', pa.int64(), nullable=False),
                                                                       pa.field('req_s', pa.string(), nullable=False)])
table = pa.table(list(cols.values()) + [pa.array(np.arange(n, dtype=np.int64) * 3), pa.array(words)], schema=schema)
paths = []
def write(name, t, **kw):
    p = os.path.join(out_dir, name + '.parquet')
    kw.setdefault('row_group_size', 600)
    pq.write_table(t, p, **kw)
    paths.append(p)
small = dict(data_page_size=4096, dictionary_pagesize_limit=2048)
for codec in ['none', 'snappy', 'gzip', 'zstd', 'lz4']:
    write(f'{codec}-v1-dict', table, compression=codec, **small)
    write(f'{codec}-v2-plain', table, compression=codec, data_page_version='2.0', use_dictionary=False, **small)
write('none-v1-plain', table, compression='none', use_dictionary=False)
write('zstd-v2-dict', table, compression='zstd', data_page_version='2.0', **small)
write('decimal-as-integer', table, store_decimal_as_integer=True, **small)
bss = [c for c in table.column_names if c not in ('b', 's', 'ls', 'bin', 'lowcard', 'req_s', 'null')]
write('byte-stream-split', table, use_dictionary=False, use_byte_stream_split=bss, data_page_version='2.0')
ints = [c for c in table.column_names if pa.types.is_integer(table.schema.field(c).type) or c.startswith(('ts', 't_', 'date'))]
strs = ['s', 'ls', 'bin', 'lowcard', 'req_s']
write('delta-v1', table, use_dictionary=False, column_encoding={**{c: 'DELTA_BINARY_PACKED' for c in ints}, **{c: 'DELTA_LENGTH_BYTE_ARRAY' for c in strs}})
write('delta-v2', table, use_dictionary=False, data_page_version='2.0', compression='zstd',
      column_encoding={**{c: 'DELTA_BINARY_PACKED' for c in ints}, **{c: 'DELTA_BYTE_ARRAY' for c in strs + ['fsb']}})
write('spark-int96', table.select(['ts_us', 'ts_us_utc', 'ts_ms', 'i32', 's']), flavor='spark')
write('format-1.0', table.drop_columns(['u32', 'u64', 'ts_ns', 'ts_ns_utc', 't_ns', 'f16', 'uuid']), version='1.0')
import pandas as pd  # pandas 3 defaults: large strings, nullable Int64, categoricals, a named index
df = pd.DataFrame({
    'x': pd.array([1.5 if i % 7 else None for i in range(n)], dtype='float64'),
    'n': pd.array([i if i % 5 else None for i in range(n)], dtype='Int64'),
    's': pd.array([f'v{i % 50}' if i % 9 else None for i in range(n)], dtype='str'),
    'cat': pd.Categorical([['lo', 'mid', 'hi'][i % 3] for i in range(n)]),
    'when': pd.date_range('2020-01-01', periods=n, freq='h'),
}, index=pd.Index(range(100, 100 + n), name='key'))
p = os.path.join(out_dir, 'pandas.parquet')
df.to_parquet(p, row_group_size=600)
paths.append(p)
p = os.path.join(out_dir, 'many-pages.parquet')  # 40,000 one-row pages in one chunk (> Int16.max)
pq.write_table(pa.table({'b': pa.array(np.arange(40000) % 3 == 0), 'i': pa.array(np.arange(40000), pa.int32())}), p,
               max_rows_per_page=1, write_batch_size=1, row_group_size=40000)
many = p
p = os.path.join(out_dir, 'brotli.parquet')  # read by pyarrow, refused (clearly) by score-cluster
pq.write_table(table.select(['i32', 's']), p, compression='brotli', row_group_size=600)
dump_all(paths + [p, many])
"""#

    @Test func pyarrowWrittenFilesMatchPyarrow() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-pyarrow")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dumps = try ParquetTestSupport.runDump(Self.pyarrowWriterScript, [dir.path])
        #expect(dumps.count == 21)
        for (path, dump) in dumps.sorted(by: { $0.key < $1.key }) {
            let name = (path as NSString).lastPathComponent
            if let error = dump.error { Issue.record("pyarrow cannot read \(name): \(error)"); continue }
            let reader = try ParquetFileReader(path: path)
            #expect(reader.rowGroupRowCounts == (name == "many-pages.parquet" ? [40_000] : [600, 600, 300]), "\(name)")
            if name == "brotli.parquet" {
                do {
                    _ = try reader.readRowGroup(0, columns: [0, 1])
                    Issue.record("BROTLI accepted")
                } catch let e as ParquetError {
                    #expect(e.path == path && e.column == "i32" && e.message.contains("BROTLI"), "\(e)")
                }
                continue
            }
            try ParquetTestSupport.expectMatches(reader, dump, file: name)
            if name.hasPrefix("none-v1-dict") || name.hasPrefix("spark") || name.hasPrefix("delta-v2") || name.hasPrefix("pandas") {
                try Self.expectRewriteKeepsColumns(reader, file: name)
            }
        }
    }
}

extension ParquetReaderTests {
    @Test func nestedAndUnsupportedColumnsAreListedNotRead() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-nested")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nested.parquet").path
        try TestEnvironment.runPython("""
        import sys, datetime, decimal, pyarrow as pa, pyarrow.parquet as pq
        t = pa.table({
            'id': pa.array([1, 2, 3], type=pa.int64()),
            'st': pa.array([{'x': 1.0, 'y': 'a'}, None, {'x': None, 'y': 'c'}]),
            'l': pa.array([[1, 2], [], None], type=pa.list_(pa.int32())),
            'ts': pa.array([datetime.datetime(2020, 1, 1)] * 3, type=pa.timestamp('us')),
            'dec': pa.array([decimal.Decimal('1.25')] * 3, type=pa.decimal128(10, 2)),
            'd': pa.array([datetime.date(2020, 1, 2)] * 3),
            'tail': ['p', None, 'r'],
        })
        pq.write_table(t, sys.argv[1])
        """, [path])
        let reader = try ParquetFileReader(path: path)
        let byName = Dictionary(uniqueKeysWithValues: reader.columns.map { ($0.name, $0) })
        #expect(reader.columns.map(\.name) == ["id", "st.x", "st.y", "l.list.element", "ts", "dec", "d", "tail"])
        #expect(byName["id"]?.dataType == .int64)
        #expect(byName["tail"]?.dataType == .string && byName["tail"]?.logicalTypeDescription == "STRING")
        for name in ["st.x", "st.y", "l.list.element"] {
            #expect(byName[name]?.dataType == nil)
            #expect(byName[name]?.unsupportedReason?.contains("nested") == true, "\(name)")
        }
        #expect(byName["ts"]?.dataType == .timestamp(.microseconds, utc: false))
        #expect(byName["dec"]?.physicalType == "FIXED_LEN_BYTE_ARRAY" && byName["dec"]?.dataType == .decimal(precision: 10, scale: 2))
        #expect(byName["d"]?.dataType == .date32)
        // Flat columns around the nested ones read fine.
        let batch = try reader.readRowGroup(0, columns: [7, 0, 5])
        #expect(batch.schema.names == ["tail", "id", "dec"])
        #expect(batch.columns[0].string(at: 0) == "p" && batch.columns[0].string(at: 1) == nil)
        #expect(batch.columns[1].array(of: Int64.self) == [1, 2, 3])
        #expect(ParquetTestSupport.canonicalValues(batch.columns[2]) == ["125", "125", "125"])
        // Asking for a nested column names it and says why.
        do {
            _ = try reader.readRowGroup(0, columns: [0, 3])
            Issue.record("expected an error")
        } catch let e as ParquetError {
            #expect(e.column == "l.list.element" && e.rowGroup == 0 && e.path == path && e.message.contains("nested"))
        }
        #expect(throws: ParquetError.self) { try reader.readRowGroup(1, columns: [0]) }
        #expect(throws: ParquetError.self) { try reader.readRowGroup(0, columns: [99]) }
    }

    @Test func concurrentRowGroupReadsAgree() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-concurrent")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("groups.parquet").path
        try TestEnvironment.runPython("""
        import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
        n = 40000
        rng = np.random.default_rng(3)
        t = pa.table({'d': pa.array(rng.normal(size=n), mask=rng.random(n) < 0.2),
                      's': pa.array([f'k{i % 300}' for i in range(n)]), 'i': np.arange(n)})
        pq.write_table(t, sys.argv[1], row_group_size=2500)
        """, [path])
        let reader = try ParquetFileReader(path: path)
        #expect(reader.rowGroupRowCounts.count == 16 && reader.rowCount == 40_000)
        let sequential = try reader.rowGroupRowCounts.indices.map {
            try reader.readRowGroup($0, columns: [0, 1, 2]).columns.map(ParquetTestSupport.canonicalValues)
        }
        let concurrent = try await withThrowingTaskGroup(of: (Int, [[String?]]).self) { group in
            for g in reader.rowGroupRowCounts.indices {
                group.addTask { (g, try reader.readRowGroup(g, columns: [0, 1, 2]).columns.map(ParquetTestSupport.canonicalValues)) }
            }
            var out = [[[String?]]](repeating: [], count: reader.rowGroupRowCounts.count)
            for try await (g, values) in group { out[g] = values }
            return out
        }
        #expect(concurrent == sequential)
        #expect(sequential[3][2].first == "7500")
    }
}

@Suite("Parquet reader: row ranges")
struct ParquetRowRangeTests {
    /// Reading rows `r` of a row group gives the rows a whole read gives at `r`, column by column.
    static func expectRangesMatch(_ reader: ParquetFileReader, file: String, seed: UInt64 = 1) throws {
        var rng = SplitMix(seed: seed)
        for (g, n) in reader.rowGroupRowCounts.enumerated() where n > 1 {
            let columns = reader.columns.indices.filter { reader.columns[$0].dataType != nil }
            guard let whole = try? reader.readRowGroup(g, columns: columns) else { continue }
            var ranges = [0..<1, (n - 1)..<n, 0..<(n / 2), (n / 3)..<n, 0..<0]
            for _ in 0..<6 {
                let a = Int(rng.next() % UInt64(n)), b = Int(rng.next() % UInt64(n))
                ranges.append(min(a, b)..<(max(a, b) + 1))
            }
            for r in ranges {
                let part = try reader.readRowGroup(g, columns: columns, rows: r)
                #expect(part.rowCount == r.count, "\(file) row group \(g) rows \(r)")
                for (c, column) in part.columns.enumerated() {
                    #expect(ParquetTestSupport.canonicalValues(column) == ParquetTestSupport.canonicalValues(whole.columns[c].slice(r)),
                            "\(file) row group \(g), column \(reader.columns[columns[c]].name), rows \(r)")
                }
            }
        }
    }

    @Test("rows of small pages: dictionary and plain, nulls, strings, v1 and v2 pages, every codec")
    func smallPages() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-ranges")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            n = 20000
            rng = np.random.default_rng(3)
            t = pa.table({
                'd': pa.array(rng.normal(size=n), mask=rng.random(n) < 0.2),
                'i': pa.array(rng.integers(0, 50, n)),
                's': pa.array([f's{j % 977}' if j % 5 else None for j in range(n)]),
                'b': pa.array(rng.random(n) < 0.5),
            })
            for codec in ['snappy', 'zstd', 'none']:
                for version in ['1.0', '2.0']:
                    pq.write_table(t, f'{sys.argv[1]}/{codec}-{version}.parquet', compression=codec, data_page_size=2048,
                                   data_page_version=version, row_group_size=12000, use_dictionary=['i', 's'])
            """, [dir.path])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files.count == 6)
        for name in files {
            let reader = try ParquetFileReader(path: dir.appendingPathComponent(name).path, verifyChecksums: true)
            try Self.expectRangesMatch(reader, file: name)
        }
    }

    @Test("rows of every parquet-testing file that can be read", .enabled(if: TestEnvironment.hasParquetTesting, "needs the parquet-testing files in ../shared"))
    func parquetTesting() throws {
        for path in ParquetReaderTests.parquetTestingFiles() {
            guard let reader = try? ParquetFileReader(path: path) else { continue }
            try Self.expectRangesMatch(reader, file: (path as NSString).lastPathComponent)
        }
    }

    @Test("consecutive ranges through a range reader equal whole row groups, for every file")
    func rangeReader() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-range-reader")
        defer { try? FileManager.default.removeItem(at: dir) }
        try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            n = 30000
            rng = np.random.default_rng(5)
            t = pa.table({'d': pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
                          's': pa.array([f'v{j % 313}' if j % 4 else None for j in range(n)]),
                          'i': pa.array(rng.integers(0, 9, n), pa.int32())})
            pq.write_table(t, sys.argv[1] + '/pages.parquet', data_page_size=4096, row_group_size=11000)
            """, [dir.path])
        var paths = [dir.appendingPathComponent("pages.parquet").path]
        paths += ParquetReaderTests.parquetTestingFiles()
        var rng = SplitMix(seed: 9)
        for path in paths {
            guard let file = try? ParquetFileReader(path: path) else { continue }
            let columns = file.columns.indices.filter { file.columns[$0].dataType != nil }
            let ranges = ParquetRangeReader(file: file, columns: columns)
            for (g, n) in file.rowGroupRowCounts.enumerated() where n > 0 {
                guard let whole = try? file.readRowGroup(g, columns: columns) else { continue }
                var start = 0
                while start < n {
                    let end = min(n, start + 1 + Int(rng.next() % UInt64(max(1, n / 3))))
                    let part = try ranges.read(rowGroup: g, rows: start..<end)
                    for (c, column) in part.columns.enumerated() {
                        #expect(ParquetTestSupport.canonicalValues(column) == ParquetTestSupport.canonicalValues(whole.columns[c].slice(start..<end)),
                                "\((path as NSString).lastPathComponent) row group \(g) column \(c) rows \(start)..<\(end)")
                    }
                    start = end
                }
            }
        }
    }

    @Test("rows outside the row group are refused", .enabled(if: TestEnvironment.hasParquetTesting, "needs the parquet-testing files in ../shared"))
    func outside() throws {
        let path = ParquetReaderTests.parquetTestingFiles().first { $0.hasSuffix("alltypes_plain.parquet") }!
        let reader = try ParquetFileReader(path: path)
        #expect(throws: ParquetError.self) { try reader.readRowGroup(0, columns: [0], rows: 5..<100) }
    }
}

/// A small deterministic generator for test ranges.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
