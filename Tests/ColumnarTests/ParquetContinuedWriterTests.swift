import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

/// A file started by one writer (`closeAsPrefix`) and finished by another
/// (`init(continuing:prefix:)`): what the coordinator's head start and a worker do with a part
/// file. The result must be byte for byte what one writer makes, and a start written for other
/// data must be refused, not continued into a wrong file.
@Suite("Parquet writer: a file continued from another writer's start")
struct ParquetContinuedWriterTests {
    /// An input of 50 rows in row groups of 30 and 20 (two kept columns), made by pyarrow.
    static func input(in dir: URL) throws -> ParquetFileReader {
        let path = dir.appendingPathComponent("in.parquet").path
        try TestEnvironment.runPython("""
            import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
            t = pa.table({'k': pa.array(np.arange(50, dtype=np.int64)), 's': pa.array([f'v{i % 7}' for i in range(50)])})
            pq.write_table(t, sys.argv[1], row_group_size=30)
            """, [path])
        return try ParquetFileReader(path: path)
    }

    static let schema = Schema([Field(name: "k", type: .int64, nullable: true), Field(name: "s", type: .string, nullable: true),
                                Field(name: "prediction", type: .float64, nullable: true)])

    /// Writes every row group of `reader` with `writer` (kept chunks copied, predictions appended in two pieces).
    static func finish(_ writer: ParquetFileWriter, from reader: ParquetFileReader) throws {
        let field = Schema([schema.fields[2]])
        var start = 0
        for (g, n) in reader.rowGroupRowCounts.enumerated() {
            try writer.beginRowGroup(rows: n, copying: try [0, 1].map { try reader.chunkCopy(rowGroup: g, column: $0) })
            for piece in [start..<(start + 5), (start + 5)..<(start + n)] {
                try writer.append(RecordBatch(schema: field, columns: [.fixed(.float64, piece.map { Double($0) / 3 })]))
            }
            try writer.endRowGroup()
            start += n
        }
        try writer.close()
    }

    /// Writes the start a head start writes: the magic and row group `rowGroup`'s kept chunks.
    static func head(at path: String, from reader: ParquetFileReader, rowGroup: Int) throws -> Int {
        let writer = try ParquetFileWriter(path: path, schema: schema, createdBy: "test", dictionary: false)
        try writer.beginRowGroup(rows: reader.rowGroupRowCounts[rowGroup],
                                 copying: try [0, 1].map { try reader.chunkCopy(rowGroup: rowGroup, column: $0) })
        return writer.closeAsPrefix()
    }

    @Test("a file continued from a head ends byte for byte as one writer's, and pyarrow reads it")
    func continuedEqualsWhole() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("continued-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        let reader = try Self.input(in: dir)
        let whole = dir.appendingPathComponent("whole.parquet").path
        try Self.finish(try ParquetFileWriter(path: whole, schema: Self.schema, createdBy: "test", dictionary: false), from: reader)

        let continued = dir.appendingPathComponent("continued.parquet").path
        let bytes = try Self.head(at: continued, from: reader, rowGroup: 0)
        #expect(bytes > 4)
        #expect(try FileManager.default.attributesOfItem(atPath: continued)[.size] as? Int == bytes)
        try Self.finish(try ParquetFileWriter(continuing: continued, prefix: bytes, schema: Self.schema, createdBy: "test",
                                              dictionary: false), from: reader)
        #expect(FileManager.default.contents(atPath: continued) == FileManager.default.contents(atPath: whole))
        let out = try TestEnvironment.runPython("""
            import sys, pyarrow.parquet as pq
            t = pq.read_table(sys.argv[1])
            print(t.num_rows, t['k'].to_pylist() == list(range(50)), t['prediction'].to_pylist()[49])
            """, [continued])
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "50 True \(49.0 / 3)")
    }

    @Test("a start written for other data, cut short, or not a Parquet file's is refused, not continued")
    func mismatchedStarts() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("continued-writer-refused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let reader = try Self.input(in: dir)

        // The second row group's head (20 rows: shorter chunks) under a writer that copies the first's first.
        let other = dir.appendingPathComponent("other.parquet").path
        let otherBytes = try Self.head(at: other, from: reader, rowGroup: 1)
        let crossing = try ParquetFileWriter(continuing: other, prefix: otherBytes, schema: Self.schema, createdBy: "test", dictionary: false)
        #expect(throws: ParquetError.self) { try Self.finish(crossing, from: reader) }

        // The length given is not the file's.
        let short = dir.appendingPathComponent("short.parquet").path
        let shortBytes = try Self.head(at: short, from: reader, rowGroup: 0)
        #expect(throws: ParquetError.self) {
            _ = try ParquetFileWriter(continuing: short, prefix: shortBytes + 1, schema: Self.schema, createdBy: "test", dictionary: false)
        }
        #expect(throws: ParquetError.self) {
            _ = try ParquetFileWriter(continuing: dir.appendingPathComponent("missing").path, prefix: 4, schema: Self.schema, createdBy: "test")
        }

        // Not a Parquet file's start.
        let text = dir.appendingPathComponent("text").path
        try Data("not parquet at all".utf8).write(to: URL(fileURLWithPath: text))
        #expect(throws: ParquetError.self) {
            _ = try ParquetFileWriter(continuing: text, prefix: 18, schema: Self.schema, createdBy: "test")
        }

        // A writer that ends before the start it was given does: close refuses to add a footer.
        let long = dir.appendingPathComponent("long.parquet").path
        let longBytes = try Self.head(at: long, from: reader, rowGroup: 0)
        let early = try ParquetFileWriter(continuing: long, prefix: longBytes, schema: Self.schema, createdBy: "test", dictionary: false)
        #expect(throws: ParquetError.self) { try early.close() }
    }
}
