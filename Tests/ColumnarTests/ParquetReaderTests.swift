import Foundation
import Testing
import TestSupport
@testable import Columnar

@Suite("Parquet reader")
struct ParquetReaderTests {
    /// parquet-testing files in the reader's scope (Impala, parquet-mr, pyarrow writers).
    static let testingFiles = [
        "alltypes_plain", "alltypes_plain.snappy", "alltypes_dictionary",
        "datapage_v1-snappy-compressed-checksum", "datapage_v1-uncompressed-checksum",
        "plain-dict-uncompressed-checksum", "rle-dict-snappy-checksum", "sort_columns", "binary",
    ]

    @Test func parquetTestingFilesMatchPyarrow() throws {
        let paths = Self.testingFiles.map { TestEnvironment.parquetTestingData.appendingPathComponent("\($0).parquet").path }
        let dumps = try ParquetTestSupport.pyarrowDump(paths)
        for path in paths {
            let reader = try ParquetFileReader(path: path)
            try ParquetTestSupport.expectMatches(reader, dumps[path]!, file: (path as NSString).lastPathComponent)
        }
    }
}

extension ParquetReaderTests {
    /// Writes a table with every supported type (nulls, NaN, ±0, an all-null column, low- and
    /// high-cardinality strings, a REQUIRED column) in every codec, page version and dictionary
    /// setting, with small pages and a small dictionary limit (mid-chunk fallback to PLAIN).
    static let pyarrowWriterScript = #"""
import numpy as np
out_dir = sys.argv[1]
n = 3000
rng = np.random.default_rng(7)
def mask(frac=0.1): return rng.random(n) < frac
f64 = rng.normal(size=n); f64[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-310]
words = [''.join(chr(97 + (i * 7 + k) % 26) for k in range(i % 13)) + ('é' if i % 5 == 0 else '') for i in range(n)]
table = pa.table({
    'f64': pa.array(f64, mask=mask()),
    'f32': pa.array(rng.normal(size=n).astype(np.float32), mask=mask()),
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
    'lowcard': pa.array([['red', 'green', 'blue'][i % 3] for i in range(n)], mask=mask(0.3)),
    'dense_f64': pa.array(rng.integers(0, 5, size=n).astype(np.float64)),
    'all_null': pa.array([None] * n, type=pa.int32()),
    'req_i64': pa.array(np.arange(n, dtype=np.int64) * 3),
}, schema=pa.schema([
    ('f64', pa.float64()), ('f32', pa.float32()), ('i32', pa.int32()), ('i64', pa.int64()),
    ('i8', pa.int8()), ('i16', pa.int16()), ('u8', pa.uint8()), ('u16', pa.uint16()),
    ('u32', pa.uint32()), ('u64', pa.uint64()), ('b', pa.bool_()), ('s', pa.string()),
    ('lowcard', pa.string()), ('dense_f64', pa.float64()), ('all_null', pa.int32()),
    pa.field('req_i64', pa.int64(), nullable=False),
]))
paths = []
for codec in ['none', 'snappy', 'gzip', 'zstd']:
    for dpv in ['1.0', '2.0']:
        for use_dict in [True, False]:
            p = os.path.join(out_dir, f'{codec}-v{dpv}-{"dict" if use_dict else "plain"}.parquet')
            pq.write_table(table, p, compression=codec, data_page_version=dpv, use_dictionary=use_dict,
                           row_group_size=1100, data_page_size=4096, dictionary_pagesize_limit=2048)
            paths.append(p)
p = os.path.join(out_dir, 'format-1.0.parquet')  # PLAIN_DICTIONARY pages
pq.write_table(table.drop_columns(['u32', 'u64']), p, version='1.0', row_group_size=1100)
paths.append(p)
import pandas as pd  # pandas 3 defaults: large strings, nullable Int64, categoricals, a named index
df = pd.DataFrame({
    'x': pd.array([1.5 if i % 7 else None for i in range(n)], dtype='float64'),
    'n': pd.array([i if i % 5 else None for i in range(n)], dtype='Int64'),
    's': pd.array([f'v{i % 50}' if i % 9 else None for i in range(n)], dtype='str'),
    'cat': pd.Categorical([['lo', 'mid', 'hi'][i % 3] for i in range(n)]),
}, index=pd.Index(range(100, 100 + n), name='key'))
p = os.path.join(out_dir, 'pandas.parquet')
df.to_parquet(p, row_group_size=1100)
paths.append(p)
dump_all(paths)
"""#

    @Test func pyarrowWrittenFilesMatchPyarrow() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-pyarrow")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dumps = try ParquetTestSupport.runDump(Self.pyarrowWriterScript, [dir.path])
        #expect(dumps.count == 18)
        for (path, dump) in dumps.sorted(by: { $0.key < $1.key }) {
            let reader = try ParquetFileReader(path: path)
            #expect(reader.rowGroupRowCounts == [1100, 1100, 800])
            try ParquetTestSupport.expectMatches(reader, dump, file: (path as NSString).lastPathComponent)
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
        #expect(byName["ts"]?.unsupportedReason?.contains("TIMESTAMP") == true)
        #expect(byName["dec"]?.physicalType == "FIXED_LEN_BYTE_ARRAY")
        #expect(byName["dec"]?.unsupportedReason?.contains("DECIMAL") == true)
        #expect(byName["d"]?.unsupportedReason?.contains("DATE") == true)
        // Flat columns around the nested ones read fine.
        let batch = try reader.readRowGroup(0, columns: [7, 0])
        #expect(batch.schema.names == ["tail", "id"])
        #expect(batch.columns[0].string(at: 0) == "p" && batch.columns[0].string(at: 1) == nil)
        #expect(batch.columns[1].array(of: Int64.self) == [1, 2, 3])
        // Asking for an unsupported column names it.
        do {
            _ = try reader.readRowGroup(0, columns: [0, 4])
            Issue.record("expected an error")
        } catch let e as ParquetError {
            #expect(e.column == "ts" && e.rowGroup == 0 && e.path == path)
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
