import Columnar
import Parquet
import Foundation
import TestSupport
import Testing
@testable import MLflowModel
@testable import PyFunc

/// Every column type reaches the model as `pyarrow.parquet.read_table(...).to_pandas()` hands it
/// to pandas with default options: same dtype, same values, same nulls. Checked column by
/// column inside the embedded interpreter with pandas' own `assert_series_equal`.
@Suite("Columns reach pandas as pyarrow's to_pandas() gives them", .serialized)
struct PandasMappingTests {
    /// A file written by pyarrow with one column of each type, with nulls.
    static let file: Result<String, Error> = Result {
        let dir = try TestEnvironment.makeTemporaryDirectory("pandas-mapping")
        let path = dir.appendingPathComponent("types.parquet").path
        try TestEnvironment.runPython("""
            import datetime, decimal, sys
            import numpy as np, pyarrow as pa, pyarrow.parquet as pq
            n = 40
            rng = np.random.default_rng(1)
            mask = np.arange(n) % 7 == 3
            def arr(values, type):
                return pa.array(values, type=type, mask=mask)
            ints = rng.integers(-100, 100, size=n)
            table = pa.table({
                "int8": arr(ints.astype(np.int8), pa.int8()),
                "int16": arr(ints.astype(np.int16), pa.int16()),
                "int32": arr(ints.astype(np.int32), pa.int32()),
                "int64": arr(ints.astype(np.int64), pa.int64()),
                "int64_nonnull": pa.array(ints.astype(np.int64)),
                "uint8": arr(np.abs(ints).astype(np.uint8), pa.uint8()),
                "uint16": arr(np.abs(ints).astype(np.uint16), pa.uint16()),
                "uint32": arr(np.abs(ints).astype(np.uint32) + 3_000_000_000, pa.uint32()),
                "uint64": arr(np.abs(ints).astype(np.uint64) + 2**63, pa.uint64()),
                "float16": arr(rng.normal(size=n).astype(np.float16), pa.float16()),
                "float32": arr(rng.normal(size=n).astype(np.float32), pa.float32()),
                "float64": arr(rng.normal(size=n), pa.float64()),
                "bool": arr(ints > 0, pa.bool_()),
                "bool_nonnull": pa.array(ints > 0),
                "string": arr([f"s{i}é" for i in range(n)], pa.string()),
                "large_string": arr([f"l{i}" for i in range(n)], pa.large_string()),
                "binary": arr([bytes([i, 0, 255]) for i in range(n)], pa.binary()),
                "fixed4": arr([bytes([i, 1, 2, 3]) for i in range(n)], pa.binary(4)),
                "date": arr([datetime.date(1970, 1, 1) + datetime.timedelta(days=int(d) * 100) for d in ints], pa.date32()),
                "ts_ms": arr((ints * 86_400_000).astype(np.int64), pa.timestamp("ms")),
                "ts_us": arr((ints * 86_400_000_000).astype(np.int64), pa.timestamp("us")),
                "ts_ns": arr((ints * 86_400_000_000_000).astype(np.int64), pa.timestamp("ns")),
                "ts_us_utc": arr((ints * 3_600_000_000).astype(np.int64), pa.timestamp("us", tz="UTC")),
                "time_ms": arr((np.abs(ints) * 1000).astype(np.int32), pa.time32("ms")),
                "time_us": arr((np.abs(ints) * 1_000_123).astype(np.int64), pa.time64("us")),
                "decimal_10_2": arr([decimal.Decimal(int(i)) / 100 for i in ints], pa.decimal128(10, 2)),
                "decimal_38_6": arr([decimal.Decimal(int(i) * 10**20) / 10**6 for i in ints], pa.decimal128(38, 6)),
                "null": pa.nulls(n),
            })
            pq.write_table(table, sys.argv[1], row_group_size=n)
            """, [path])
        return path
    }

    static let columnNames: [String] = {
        guard let path = try? file.get(), let reader = try? ParquetFileReader(path: path) else { return [] }
        return reader.columns.map(\.name)
    }()

    @Test("one column at a time", arguments: columnNames)
    func column(_ name: String) throws {
        let path = try Self.file.get()
        let reader = try ParquetFileReader(path: path)
        let index = try #require(reader.columns.firstIndex { $0.name == name })
        #expect(reader.columns[index].dataType != nil, "\(name) is unsupported: \(reader.columns[index].unsupportedReason ?? "")")
        let batch = try reader.readRowGroup(0, columns: [index])
        // The model compares what it got with pyarrow's to_pandas() of the same column.
        let model = try makeExpressionModel("""
            (pd.testing.assert_series_equal(df[\(String(reflecting: name))], __import__('pyarrow.parquet', fromlist=['read_table']).read_table(\(String(reflecting: path)), columns=[\(String(reflecting: name))]).to_pandas()[\(String(reflecting: name))], check_dtype=True), np.zeros(n))[1]
            """)
        let failure: String? = try PythonHost.shared.run { runtime in
            let pyfunc = try PyFuncModel(runtime: runtime, model: MLModel(directory: model.path),
                                         invocation: .init(labels: [name], resultType: .double))
            do throws(PyFuncModel.PredictError) {
                _ = try pyfunc.predict(batch.columns, rowCount: batch.rowCount)
                return nil
            } catch { return "\(error)" }
        }
        #expect(failure == nil, "\(name): \(failure ?? "")")
    }
}
