import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

/// Files written by DuckDB, polars and fastparquet are read as pyarrow reads them; files
/// score-cluster writes are read by pyarrow, DuckDB and polars with the same values and types.
/// The other libraries are optional test dependencies (scripts/requirements.txt pins them); a
/// library that is not installed is skipped and named in the output.
@Suite("Parquet interoperability")
struct ParquetInteropTests {
    /// Python helpers shared by both directions: a value normal form that does not depend on
    /// which library produced the Arrow column (floats as float64 hex, times and timestamps as
    /// nanoseconds, decimals as digits at a fixed scale, bytes and UUIDs as hex).
    static let interopPrelude = #"""
import importlib, decimal
def available(name):
    try:
        return importlib.import_module(name)
    except Exception:
        return None

def family(t):
    if getattr(t, 'extension_name', None) == 'arrow.uuid': return 'uuid'
    if pa.types.is_dictionary(t): return family(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t): return 'string'
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t): return 'binary'
    if pa.types.is_fixed_size_binary(t): return f'fixed({t.byte_width})'
    if pa.types.is_timestamp(t): return f'timestamp[{t.unit}{", UTC" if t.tz else ""}]'
    if pa.types.is_time(t): return f'time[{t.unit}]'
    if pa.types.is_decimal(t): return f'decimal({t.precision}, {t.scale})'
    return str(t)

def norm(col):
    if isinstance(col, pa.ChunkedArray): col = col.combine_chunks()
    t = col.type
    if isinstance(t, pa.BaseExtensionType): col = col.storage; t = col.type
    if pa.types.is_dictionary(t): col = col.cast(t.value_type); t = col.type
    if pa.types.is_null(t): return [None] * len(col)
    if pa.types.is_boolean(t) or pa.types.is_integer(t): return [None if v is None else str(int(v)) for v in col.to_pylist()]
    if pa.types.is_floating(t):
        return [None if v is None else ('nan' if math.isnan(v) else float(v).hex()) for v in col.cast(pa.float64()).to_pylist()]
    if pa.types.is_date(t): return [None if v is None else str(v) for v in col.cast(pa.date32()).view(pa.int32()).to_pylist()]
    if pa.types.is_timestamp(t): return [None if v is None else str(v) for v in col.cast(pa.timestamp('ns', tz=t.tz)).view(pa.int64()).to_pylist()]
    if pa.types.is_time(t): return [None if v is None else str(v) for v in col.cast(pa.time64('ns')).view(pa.int64()).to_pylist()]
    if pa.types.is_decimal(t):
        with decimal.localcontext() as ctx:
            ctx.prec = 100
            return [None if v is None else str(v.scaleb(40).to_integral_exact()) for v in col.to_pylist()]
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        vals = col.to_pylist()
        # DuckDB hands UUIDs over as strings.
        return vals
    return [None if v is None else v.hex() for v in col.to_pylist()]

def compare(label, base, other, allowed):
    """Problems where `other` (another library's reading) differs from `base` (pyarrow's)."""
    problems = []
    for name in base.column_names:
        if name not in other.column_names:
            problems.append(f'{label}: column {name} missing'); continue
        fb, fo = family(base.column(name).type), family(other.column(name).type)
        if fb != fo and (fb, fo) not in allowed:
            problems.append(f'{label}: {name} is {fo}, pyarrow says {fb}')
        vb, vo = norm(base.column(name)), norm(other.column(name))
        if fb == 'uuid' and fo == 'string':
            vo = [None if v is None else v.replace('-', '') for v in vo]
        if (fb, fo) == ('time[ns]', 'time[us]'):  # DuckDB's TIME holds microseconds
            vb = [None if v is None else str(int(v) // 1000 * 1000) for v in vb]
        if vb != vo:
            diff = next((i for i, (a, b) in enumerate(zip(vb, vo)) if a != b), None)
            problems.append(f'{label}: {name} values differ at row {diff}: {vb[diff] if diff is not None else None} vs {vo[diff] if diff is not None else None}')
    return problems
"""#

    /// DuckDB (V1 and V2 pages, converted types only, delta encodings), polars (zstd, dictionary
    /// pages without dictionary_page_offset) and fastparquet (uncompressed, INT96 option) files.
    static let otherWritersScript = #"""
import numpy as np, datetime
out_dir = sys.argv[1]
paths, skipped = [], []
duckdb = available('duckdb')
if duckdb:
    con = duckdb.connect()
    con.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    query = """SELECT (i % 128)::TINYINT AS i8, (i * 10)::SMALLINT AS i16, (i * 70000)::INTEGER AS i32, i::BIGINT * 3000000000 AS i64,
        (i % 250)::UTINYINT AS u8, (i * 3)::USMALLINT AS u16, (i * 100000)::UINTEGER AS u32, (i::UBIGINT * 9000000000000) AS u64,
        i / 7.0 AS dbl, (i / 3.0)::FLOAT AS flt, i % 3 = 0 AS b, 'str' || (i % 17) AS s, ('blob' || i)::BLOB AS bl,
        DATE '2000-01-01' + i::INTEGER AS d, TIMESTAMP '2001-02-03 04:05:06.789' + INTERVAL (i) SECOND AS ts,
        TIMESTAMPTZ '2001-02-03 04:05:06.789123+00' + INTERVAL (i) MINUTE AS tstz,
        (TIMESTAMP '1999-01-01 00:00:00' + INTERVAL (i) HOUR)::TIMESTAMP_MS AS ts_ms,
        (TIMESTAMP '1999-01-01 00:00:00' + INTERVAL (i * 7) MICROSECOND)::TIMESTAMP_NS AS ts_ns,
        TIME '01:02:03' + INTERVAL (i) SECOND AS t, (i / 100.0)::DECIMAL(4, 2) AS dec4, (i * 1.001)::DECIMAL(15, 3) AS dec15,
        (i * 123456789.12345)::DECIMAL(30, 5) AS dec30,
        ('00000000-0000-0000-0000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS id, (['sad', 'ok', 'happy'])[i % 3 + 1]::mood AS m
        FROM (SELECT CASE WHEN r % 11 = 5 THEN NULL ELSE r END AS i FROM range(0, 3000) t(r))"""
    for opts, name in [("", 'duckdb-v1'), (", PARQUET_VERSION V2", 'duckdb-v2'), (", COMPRESSION zstd, ROW_GROUP_SIZE 1000", 'duckdb-zstd'),
                       (", COMPRESSION lz4", 'duckdb-lz4'), (", COMPRESSION uncompressed, PARQUET_VERSION V2", 'duckdb-v2-none')]:
        p = os.path.join(out_dir, name + '.parquet')
        con.execute(f"COPY ({query}) TO '{p}' (FORMAT parquet{opts})")
        paths.append(p)
else:
    skipped.append('duckdb')
pl = available('polars')
if pl:
    n = 3000
    rng = np.random.default_rng(5)
    nulls = rng.random(n) < 0.1
    def opt(values): return [None if m else v for v, m in zip(values, nulls)]
    df = pl.DataFrame({
        'i8': pl.Series(opt(rng.integers(-128, 128, n).tolist()), dtype=pl.Int8),
        'i16': pl.Series(opt(rng.integers(-2**15, 2**15, n).tolist()), dtype=pl.Int16),
        'i32': pl.Series(rng.integers(-2**31, 2**31, n).tolist(), dtype=pl.Int32),
        'i64': pl.Series(opt(rng.integers(-2**62, 2**62, n).tolist()), dtype=pl.Int64),
        'u8': pl.Series(rng.integers(0, 256, n).tolist(), dtype=pl.UInt8),
        'u32': pl.Series(opt(rng.integers(0, 2**32, n).tolist()), dtype=pl.UInt32),
        'u64': pl.Series(rng.integers(0, 2**63, n).tolist(), dtype=pl.UInt64),
        'f32': pl.Series(opt(rng.normal(size=n).tolist()), dtype=pl.Float32),
        'f64': pl.Series(opt(rng.normal(size=n).tolist()), dtype=pl.Float64),
        'b': pl.Series(opt((rng.random(n) < 0.5).tolist()), dtype=pl.Boolean),
        's': pl.Series(opt([f'k{i % 40}' for i in range(n)]), dtype=pl.String),
        'hs': pl.Series([f'unique-{i}-{i * i}' for i in range(n)], dtype=pl.String),
        'bin': pl.Series(opt([bytes([i % 256, 7]) for i in range(n)]), dtype=pl.Binary),
        'cat': pl.Series([['x', 'y', 'z'][i % 3] for i in range(n)], dtype=pl.Categorical),
        'd': pl.Series(opt([datetime.date(2020, 1, 1) + datetime.timedelta(days=i) for i in range(n)]), dtype=pl.Date),
        'ts_ms': pl.Series(opt(rng.integers(0, 2**41, n).tolist()), dtype=pl.Int64).cast(pl.Datetime('ms')),
        'ts_us': pl.Series(rng.integers(0, 2**50, n).tolist(), dtype=pl.Int64).cast(pl.Datetime('us', 'UTC')),
        'ts_ns': pl.Series(opt(rng.integers(0, 2**60, n).tolist()), dtype=pl.Int64).cast(pl.Datetime('ns')),
        't': pl.Series(opt(rng.integers(0, 86_400_000_000_000, n).tolist()), dtype=pl.Int64).cast(pl.Time),
        'dec': pl.Series(opt([f'{i}.{i % 100:02d}' for i in range(n)]), dtype=pl.String).cast(pl.Decimal(12, 2)),
    })
    for comp in ['zstd', 'snappy', 'lz4', 'uncompressed', 'gzip']:
        p = os.path.join(out_dir, f'polars-{comp}.parquet')
        df.write_parquet(p, compression=comp, row_group_size=1000, data_page_size=8192)
        paths.append(p)
else:
    skipped.append('polars')
fastparquet = available('fastparquet')
if fastparquet:
    import pandas as pd
    n = 2000
    pdf = pd.DataFrame({
        'i16': np.arange(n, dtype=np.int16), 'u32': np.arange(n, dtype=np.uint32) * 7, 'i64': np.arange(n, dtype=np.int64) - 1000,
        'f': np.linspace(-1, 1, n), 'f_nan': np.where(np.arange(n) % 5 == 0, np.nan, 1.25),
        'b': np.arange(n) % 2 == 0, 's': [f'w{i % 13}' if i % 9 else None for i in range(n)],
        'cat': pd.Categorical([['a', 'b'][i % 2] for i in range(n)]),
        'when': pd.Series(pd.date_range('2021-03-04', periods=n, freq='min').values.astype('datetime64[ns]')),
        'when_us': pd.Series(pd.date_range('1900-03-04', periods=n, freq='D').values.astype('datetime64[us]')),
    })
    for kw, name in [({}, 'fastparquet-plain'), ({'compression': 'SNAPPY', 'row_group_offsets': 700}, 'fastparquet-snappy'),
                     ({'times': 'int96', 'compression': 'GZIP'}, 'fastparquet-int96'), ({'compression': 'ZSTD', 'has_nulls': False}, 'fastparquet-zstd')]:
        p = os.path.join(out_dir, name + '.parquet')
        fastparquet.write(p, pdf.drop(columns=['s']) if kw.get('has_nulls') is False else pdf, **kw)
        paths.append(p)
else:
    skipped.append('fastparquet')
result = {p: try_dump(p) for p in paths}
print(json.dumps({'files': result, 'skipped': skipped}))
"""#

    struct OtherWriters: Decodable {
        var files: [String: PyFile]
        var skipped: [String]
    }

    @Test func filesOfOtherWritersMatchPyarrow() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-interop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = try TestEnvironment.runPython(ParquetTestSupport.pythonPrelude + "\n" + Self.interopPrelude + "\n" + Self.otherWritersScript, [dir.path])
        let result = try JSONDecoder().decode(OtherWriters.self, from: Data(out.utf8))
        if !result.skipped.isEmpty { print("interop: not installed, skipped: \(result.skipped.joined(separator: ", "))") }
        #expect(!result.files.isEmpty)
        for (path, dump) in result.files.sorted(by: { $0.key < $1.key }) {
            let name = (path as NSString).lastPathComponent
            if let error = dump.error { Issue.record("pyarrow cannot read \(name): \(error)"); continue }
            let reader = try ParquetFileReader(path: path)
            try ParquetTestSupport.expectMatches(reader, dump, file: name)
        }
    }

    /// score-cluster's files of every type, read by DuckDB and polars, equal pyarrow's reading
    /// (which `ParquetWriterTests` checks against the written values), type by type. Known,
    /// documented differences of those readers are listed in `allowed`.
    static let readOursScript = #"""
paths = sys.argv[1:]
problems, skipped = [], []
duckdb, pl = available('duckdb'), available('polars')
if not duckdb: skipped.append('duckdb')
if not pl: skipped.append('polars')
allowed = {
    # DuckDB has no half float (reads FLOAT16 as FLOAT, exactly), reads TIMESTAMP(MILLIS) as its
    # microsecond TIMESTAMP, and holds times of day in microseconds (TIME(NANOS) loses its
    # sub-microsecond digits: compared truncated).
    ('halffloat', 'float'), ('timestamp[ms]', 'timestamp[us]'), ('time[ms]', 'time[us]'), ('time[ns]', 'time[us]'),
    # Neither has fixed-size binary (BLOB / Binary) nor a UUID type in Arrow form (DuckDB hands
    # UUIDs over as their text, polars as 16 bytes); polars holds every time of day in
    # nanoseconds and reads the all-null UNKNOWN column as the INT32 it is stored in.
    ('fixed(3)', 'binary'), ('uuid', 'string'), ('uuid', 'binary'), ('time[ms]', 'time[ns]'), ('time[us]', 'time[ns]'),
    ('null', 'int32'),

}
for p in paths:
    base = pq.read_table(p)
    if duckdb:
        t = duckdb.connect().execute(f"SELECT * FROM read_parquet('{p}')").to_arrow_table()
        problems += compare(f'duckdb {os.path.basename(p)}', base, t, allowed)
    if pl:
        t = pl.read_parquet(p).to_arrow()
        problems += compare(f'polars {os.path.basename(p)}', base, t, allowed)
print(json.dumps({'problems': problems, 'skipped': skipped}))
"""#

    struct Problems: Decodable {
        var problems: [String]
        var skipped: [String]
    }

    @Test func ourFilesAreReadByDuckDBAndPolars() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-interop-out")
        defer { try? FileManager.default.removeItem(at: dir) }
        var paths: [String] = []
        for (k, (compression, dictionary)) in [(ParquetCompression.snappy, true), (.zstd, false), (.none, true), (.gzip, false)].enumerated() {
            let path = dir.appendingPathComponent("ours-\(k)-\(compression.rawValue).parquet").path
            let batch = ParquetWriterTests.makeBatch(rows: 1500, nulls: k % 2 == 0, seed: UInt64(10 + k), requiredEvery: true)
            let writer = try ParquetFileWriter(path: path, schema: batch.schema, compression: compression,
                                               createdBy: "score-cluster test", dictionary: dictionary)
            writer.maxRowsPerPage = 500
            try writer.write(batch)
            try writer.write(batch.slice(0..<100))
            try writer.close()
            paths.append(path)
        }
        let out = try TestEnvironment.runPython(ParquetTestSupport.pythonPrelude + "\n" + Self.interopPrelude + "\n" + Self.readOursScript, paths)
        let result = try JSONDecoder().decode(Problems.self, from: Data(out.utf8))
        if !result.skipped.isEmpty { print("interop: not installed, skipped: \(result.skipped.joined(separator: ", "))") }
        #expect(result.problems == [], "\(result.problems.joined(separator: "\n"))")
    }
}
