import Foundation
import Testing
import TestSupport
@testable import Columnar

@Suite("Parquet malformed input")
struct ParquetMalformedTests {
    /// Opens `path` and decodes every readable column of every row group; returns the error, if
    /// any. Anything but a `ParquetError` naming the file is a test failure.
    static func readEverything(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> ParquetError? {
        do {
            let reader = try ParquetFileReader(path: path)
            let readable = reader.columns.indices.filter { reader.columns[$0].dataType != nil }
            for g in reader.rowGroupRowCounts.indices {
                let batch = try reader.readRowGroup(g, columns: readable)
                #expect(batch.rowCount == reader.rowGroupRowCounts[g], sourceLocation: sourceLocation)
            }
            return nil
        } catch let e as ParquetError {
            #expect(e.path == path && e.description.contains(path), "error does not name the file: \(e)", sourceLocation: sourceLocation)
            return e
        } catch {
            Issue.record("unexpected error type \(type(of: error)): \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    static func validFile() throws -> (URL, Data) {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-malformed")
        let path = TestEnvironment.parquetTestingData.appendingPathComponent("alltypes_plain.snappy.parquet")
        return (dir, try Data(contentsOf: path))
    }

    @Test func truncatedFiles() throws {
        let (dir, data) = try Self.validFile()
        defer { try? FileManager.default.removeItem(at: dir) }
        for cut in [0, 3, 4, 11, 12, 100, data.count / 2, data.count - 9, data.count - 8, data.count - 1] {
            let path = dir.appendingPathComponent("cut\(cut).parquet").path
            try data.prefix(cut).write(to: URL(fileURLWithPath: path))
            #expect(Self.readEverything(path) != nil, "file cut at \(cut) of \(data.count) bytes was accepted")
        }
    }

    @Test func wrongFooterLength() throws {
        let (dir, data) = try Self.validFile()
        defer { try? FileManager.default.removeItem(at: dir) }
        let actual = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: data.count - 8, as: UInt32.self) }
        for length: UInt32 in [0, 1, actual - 7, actual + 5, UInt32(data.count), UInt32(data.count - 11), .max] {
            var bad = data
            withUnsafeBytes(of: length.littleEndian) { bad.replaceSubrange(bad.count - 8..<bad.count - 4, with: $0) }
            let path = dir.appendingPathComponent("len\(length).parquet").path
            try bad.write(to: URL(fileURLWithPath: path))
            let error = Self.readEverything(path)
            #expect(error != nil, "footer length \(length) (actual \(actual)) was accepted")
        }
        // Encrypted-footer magic is refused with a clear message.
        var encrypted = data
        encrypted.replaceSubrange(encrypted.count - 4..<encrypted.count, with: Array("PARE".utf8))
        let path = dir.appendingPathComponent("encrypted.parquet").path
        try encrypted.write(to: URL(fileURLWithPath: path))
        #expect(Self.readEverything(path)?.message.contains("encrypted") == true)
        // Not Parquet at all.
        let text = dir.appendingPathComponent("text.parquet").path
        try Data(repeating: 65, count: 100).write(to: URL(fileURLWithPath: text))
        #expect(Self.readEverything(text)?.message.contains("not a Parquet file") == true)
        #expect(Self.readEverything(dir.appendingPathComponent("missing.parquet").path) != nil)
    }

    /// parquet-testing bad_data reproducers: each throws a ParquetError or, where the defect lies
    /// only in columns score-cluster does not read yet (nested, timestamp, FLBA), decodes the
    /// readable columns; never crashes.
    @Test(arguments: [
        ("ARROW-GH-41321", true),  // dictionary index run with bit width 254 in an int64 column
        ("ARROW-GH-41317", false),  // row count mismatch in a timestamp column (unsupported)
        ("ARROW-GH-45185", false),  // bad repetition levels in a nested column
        ("ARROW-GH-47662", false),  // short pages in a REQUIRED FLBA column (unsupported)
        ("ARROW-RS-GH-6229-LEVELS", false),  // too few levels in a nested column
    ])
    func badDataFiles(_ name: String, mustFail: Bool) throws {
        let path = TestEnvironment.sharedDir.appendingPathComponent("parquet-testing/bad_data/\(name).parquet").path
        let error = Self.readEverything(path)
        if mustFail { #expect(error != nil, "\(name) was accepted") }
        // Reading the unsupported column itself is refused with a reason, not attempted.
        if name == "ARROW-GH-47662", let reader = try? ParquetFileReader(path: path) {
            #expect(throws: ParquetError.self) { try reader.readRowGroup(0, columns: Array(reader.columns.indices)) }
        }
    }

    /// Random byte flips and truncations of small valid files never crash or hang the reader.
    @Test func corruptedBytesNeverCrash() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-fuzz")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A small file with dictionary, v1/v2 pages, nulls and every codec.
        _ = try TestEnvironment.runPython("""
        import sys, os, pyarrow as pa, pyarrow.parquet as pq
        t = pa.table({'d': [1.5, None, 2.5, 1.5] * 8, 's': ['a', 'bb', None, 'a'] * 8, 'b': [True, None, False, True] * 8,
                      'i': pa.array([1, 2, 3, None] * 8, type=pa.int32())})
        for c in ['none', 'snappy', 'gzip', 'zstd']:
            pq.write_table(t, os.path.join(sys.argv[1], f'{c}-1.parquet'), compression=c, row_group_size=16)
            pq.write_table(t, os.path.join(sys.argv[1], f'{c}-2.parquet'), compression=c, row_group_size=16,
                           data_page_version='2.0', use_dictionary=['s'])
        """, [dir.path])
        var g = ParquetWriterTests.Generator(state: 99)
        let sources = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        var failures = 0, total = 0
        for source in sources {
            let original = try Data(contentsOf: dir.appendingPathComponent(source))
            #expect(Self.readEverything(dir.appendingPathComponent(source).path) == nil)
            for round in 0..<150 {
                var bad = original
                let flips = 1 + Int(g.next() % 4)
                for _ in 0..<flips {
                    // Bias towards the footer and page headers, where structure lives.
                    let pos = g.next() % 3 == 0 ? Int(g.next() % UInt64(bad.count)) : max(0, bad.count - 1 - Int(g.next() % 400))
                    bad[pos] = UInt8(truncatingIfNeeded: g.next())
                }
                let path = dir.appendingPathComponent("fuzz-\(source)-\(round).parquet").path
                try bad.write(to: URL(fileURLWithPath: path))
                if Self.readEverything(path) != nil { failures += 1 }
                total += 1
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        print("fuzz: \(failures) of \(total) corrupted files rejected with ParquetError, the rest decoded")
    }
}
