import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

/// INT96 timestamps (Spark's default) beyond what 64-bit microseconds hold are an error naming
/// the file, column and row, never a wrapped number; values far out that still fit read exactly.
@Suite struct ParquetInt96RangeTests {
    /// Writes, with pyarrow, INT96 column `ts` = [0, null, 1 day, null, 9e18 µs (year ~287,000), MARKER]
    /// (PLAIN or dictionary-encoded, uncompressed), then patches MARKER's Julian day to 0x7FFFFFF0
    /// (year ~5.9 million) where its 12 bytes are stored.
    static func file(dictionary: Bool, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent(dictionary ? "dict.parquet" : "plain.parquet").path
        try TestEnvironment.runPython("""
            import struct, sys
            import pyarrow as pa, pyarrow.parquet as pq
            marker = 1_234_567_890_123_456
            values = pa.array([0, None, 86_400_000_000, None, 9_000_000_000_000_000_000, marker], pa.int64()).cast(pa.timestamp("us"))
            pq.write_table(pa.table({"ts": values}), sys.argv[1], use_deprecated_int96_timestamps=True,
                           compression="none", use_dictionary=sys.argv[2] == "dict")
            day, micros = divmod(marker, 86_400_000_000)
            pattern = struct.pack("<qI", micros * 1000, day + 2_440_588)
            data = open(sys.argv[1], "rb").read()
            assert data.count(pattern) == 1, data.count(pattern)
            at = data.index(pattern) + 8
            data = data[:at] + struct.pack("<I", 0x7FFFFFF0) + data[at + 4:]
            open(sys.argv[1], "wb").write(data)
            """, [path, dictionary ? "dict" : "plain"])
        return path
    }

    @Test(arguments: [false, true])
    func outOfRangeValueNamesTheRow(dictionary: Bool) throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("int96")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Self.file(dictionary: dictionary, in: dir)
        let reader = try ParquetFileReader(path: path)
        #expect(reader.columns[0].dataType == .timestamp(.microseconds, utc: false))
        let error = #expect(throws: ParquetError.self) { _ = try reader.readRowGroup(0, columns: [0]) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("Parquet file \(path), row group 0, column ts: row 5 of the row group: INT96 timestamp (Julian day 2147483632"), "\(text)")
        #expect(text.contains("does not fit 64-bit microseconds"))
    }

    @Test func farValuesThatFitReadExactly() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("int96")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("fits.parquet").path
        try TestEnvironment.runPython("""
            import sys
            import pyarrow as pa, pyarrow.parquet as pq
            values = pa.array([0, None, -9_000_000_000_000_000_000, 9_000_000_000_000_000_000], pa.int64()).cast(pa.timestamp("us"))
            pq.write_table(pa.table({"ts": values}), sys.argv[1], use_deprecated_int96_timestamps=True)
            """, [path])
        let column = try ParquetFileReader(path: path).readRowGroup(0, columns: [0]).columns[0]
        let micros = column.values.base.assumingMemoryBound(to: Int64.self)
        #expect(column.nullCount == 1)
        #expect([micros[0], micros[2], micros[3]] == [0, -9_000_000_000_000_000_000, 9_000_000_000_000_000_000])
    }

    /// parquet-testing's file, written by Spark 3.4.3: its sixth value is out of range.
    @Test func sparksOwnFileNamesTheRow() throws {
        let path = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/parquet/int96_from_spark.parquet").path
        let reader = try ParquetFileReader(path: path)
        #expect(reader.rowCount == 6)
        let error = #expect(throws: ParquetError.self) { _ = try reader.readRowGroup(0, columns: [0]) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("Parquet file \(path), row group 0, column a: row 5 of the row group: INT96 timestamp"), "\(text)")
        #expect(text.contains("does not fit 64-bit microseconds"))
    }
}
