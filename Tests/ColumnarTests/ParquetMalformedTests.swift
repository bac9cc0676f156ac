import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

@Suite("Parquet malformed input", .enabled(if: TestEnvironment.hasParquetTesting, "needs the parquet-testing files in ../shared"))
struct ParquetMalformedTests {
    /// Opens `path` and decodes every readable column of every row group; returns the error, if
    /// any. Anything but a `ParquetError` naming the file is a test failure.
    static func readEverything(_ path: String, includeUnsupported: Bool = false, verifyChecksums: Bool = false,
                               sourceLocation: SourceLocation = #_sourceLocation) -> ParquetError? {
        do {
            let reader = try ParquetFileReader(path: path, verifyChecksums: verifyChecksums)
            let readable = reader.columns.indices.filter { includeUnsupported || reader.columns[$0].dataType != nil }
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

    /// Every bad_data reproducer: read with pyarrow's values where pyarrow reads it, otherwise a
    /// ParquetError naming the file (reading every column, nested ones included).
    @Test func badDataFiles() throws {
        let dir = TestEnvironment.sharedDir.appendingPathComponent("parquet-testing/bad_data")
        let paths = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".parquet") }.sorted()
            .map { dir.appendingPathComponent($0).path }
        #expect(paths.count >= 5)
        let dumps = try ParquetTestSupport.pyarrowDump(paths)
        for path in paths {
            let name = (path as NSString).lastPathComponent
            let dump = try #require(dumps[path])
            if dump.error == nil {
                try ParquetTestSupport.expectMatches(try ParquetFileReader(path: path), dump, file: name)
            } else {
                let error = Self.readEverything(path, includeUnsupported: true)
                #expect(error != nil, "\(name) was accepted; pyarrow says \(dump.error!)")
                if let error { print("bad_data \(name): \(error.message)") }
            }
        }
    }

    /// The decoded batch is well formed: counts, validity bytes, null counts, offsets.
    static func structuralProblem(_ batch: RecordBatch, rows: Int) -> String? {
        guard batch.rowCount == rows || batch.columns.isEmpty else { return "\(batch.rowCount) rows, row group has \(rows)" }
        for c in batch.columns {
            if let v = c.validity {
                var nulls = 0
                for i in 0..<c.count {
                    let b = v.base.load(fromByteOffset: i, as: UInt8.self)
                    if b > 1 { return "validity byte \(b)" }
                    nulls += b == 0 ? 1 : 0
                }
                if nulls != c.nullCount { return "null count \(c.nullCount) != \(nulls)" }
            } else if c.nullCount != 0 { return "null count without validity" }
            if let o = c.offsets {
                let offs = o.typed(Int64.self)
                if offs[0] != 0 { return "first offset \(offs[0])" }
                for i in 0..<c.count where offs[i + 1] < offs[i] { return "offsets decrease at \(i)" }
                if Int(offs[c.count]) > c.values.count { return "offsets beyond the values" }
            } else if let w = c.type.byteWidth, c.values.count < c.count * w {
                return "values buffer too small"
            }
        }
        return nil
    }

    /// Reads every readable column of `data` (written to `path`): nil if the read succeeded with
    /// well-formed columns, "error" for a ParquetError; anything else is recorded as an issue.
    static func fuzzRead(_ data: Data, path: String, verifyChecksums: Bool) throws -> Bool {
        try data.write(to: URL(fileURLWithPath: path))
        do {
            let reader = try ParquetFileReader(path: path, verifyChecksums: verifyChecksums)
            let readable = reader.columns.indices.filter { reader.columns[$0].dataType != nil }
            for g in reader.rowGroupRowCounts.indices {
                let batch = try reader.readRowGroup(g, columns: readable)
                if let problem = structuralProblem(batch, rows: reader.rowGroupRowCounts[g]) {
                    Issue.record("malformed output without an error: \(problem)")
                }
            }
            return false
        } catch let e as ParquetError {
            #expect(e.path == path)
            return true
        }
    }

    /// Byte ranges of a file's structure: the footer, each page header and each page body.
    static func layout(_ data: Data) throws -> (footer: Range<Int>, headers: [Range<Int>], pages: [(range: Range<Int>, crc: Bool)]) {
        let bytes = [UInt8](data)
        let n = bytes.count
        let length = Int(UInt32(bytes[n - 8]) | UInt32(bytes[n - 7]) << 8 | UInt32(bytes[n - 6]) << 16 | UInt32(bytes[n - 5]) << 24)
        let footer = (n - 8 - length)..<(n - 8)
        let meta = try bytes[footer].withUnsafeBytes { b in
            var r = ThriftCompactReader(b)
            return try ParquetFileMetaData.decode(&r)
        }
        var headers: [Range<Int>] = [], pages: [(range: Range<Int>, crc: Bool)] = []
        for group in meta.rowGroups {
            for chunk in group.columns {
                guard let m = chunk.metaData else { continue }
                var pos = Int(m.dictionaryPageOffset.map { $0 > 0 && $0 < m.dataPageOffset ? $0 : m.dataPageOffset } ?? m.dataPageOffset)
                let end = pos + Int(m.totalCompressedSize)
                while pos < end {
                    let (header, size) = try bytes[pos..<footer.lowerBound].withUnsafeBytes { b in
                        var r = ThriftCompactReader(b)
                        return (try ParquetPageHeader.decode(&r), r.position)
                    }
                    headers.append(pos..<pos + size)
                    pages.append((pos + size..<pos + size + Int(header.compressedPageSize), header.crc != nil))
                    pos += size + Int(header.compressedPageSize)
                }
            }
        }
        return (footer, headers, pages)
    }

    /// Seeded fuzzing of real files (pyarrow-written with every codec, page version and the
    /// DELTA/BSS encodings, plus parquet-testing files with CRCs, LZ4, decimals, float16):
    /// truncation at every footer byte, every footer byte replaced, and random bytes replaced in
    /// page headers and page bodies. Never a crash or hang; always a ParquetError or a
    /// well-formed read. With CRC verification, a changed page body is always caught.
    @Test func fuzzTruncationsAndByteFlips() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-fuzz")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try TestEnvironment.runPython("""
        import sys, os, decimal, pyarrow as pa, pyarrow.parquet as pq
        n = 40
        t = pa.table({'d': pa.array([1.5, None, 2.5, -0.0] * 10), 's': ['a', 'bb', None, 'a'] * 10,
                      'b': [True, None, False, True] * 10, 'i': pa.array([1, 2, 3, None] * 10, type=pa.int32()),
                      'ts': pa.array([0, 10**15, None, 5] * 10, type=pa.timestamp('us')),
                      'dec': pa.array([decimal.Decimal('1.25'), None, decimal.Decimal('-3.50'), decimal.Decimal('0')] * 10, type=pa.decimal128(20, 2)),
                      'h': pa.array([1.0, 2.0, None, 0.5] * 10, type=pa.float16())})
        out = sys.argv[1]
        pq.write_table(t, os.path.join(out, 'snappy-v1.parquet'), compression='snappy', row_group_size=16, write_page_checksum=True)
        pq.write_table(t, os.path.join(out, 'zstd-v2.parquet'), compression='zstd', row_group_size=16, data_page_version='2.0',
                       use_dictionary=['s'], write_page_checksum=True)
        pq.write_table(t, os.path.join(out, 'gzip-delta.parquet'), compression='gzip', use_dictionary=False, write_page_checksum=True,
                       column_encoding={'i': 'DELTA_BINARY_PACKED', 'ts': 'DELTA_BINARY_PACKED', 's': 'DELTA_BYTE_ARRAY', 'd': 'BYTE_STREAM_SPLIT'})
        pq.write_table(t, os.path.join(out, 'lz4-plain.parquet'), compression='lz4', use_dictionary=False, write_page_checksum=True)
        """, [dir.path])
        var sources = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { dir.appendingPathComponent($0).path }
        for name in ["alltypes_plain.snappy", "datapage_v1-snappy-compressed-checksum", "rle-dict-snappy-checksum", "delta_length_byte_array",
                     "hadoop_lz4_compressed", "fixed_length_decimal", "float16_nonzeros_and_nans", "byte_stream_split.zstd"] {
            sources.append(TestEnvironment.parquetTestingData.appendingPathComponent("\(name).parquet").path)
        }
        var g = ParquetWriterTests.Generator(state: 2024)
        // Mutants go to memory-backed storage where there is some (thousands of small writes).
        let shm = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : dir
        let target = shm.appendingPathComponent("score-cluster-fuzz-\(getpid()).parquet").path
        defer { try? FileManager.default.removeItem(atPath: target) }
        let started = Date()
        var reads = 0, errors = 0, slowest = 0.0
        func read(_ data: Data, verify: Bool = false) throws -> Bool {
            let t0 = Date()
            let failed = try Self.fuzzRead(data, path: target, verifyChecksums: verify)
            slowest = max(slowest, Date().timeIntervalSince(t0))
            reads += 1
            errors += failed ? 1 : 0
            return failed
        }
        for source in sources {
            let original = try Data(contentsOf: URL(fileURLWithPath: source))
            #expect(try !read(original), "\(source) should read")
            let (footer, headers, pages) = try Self.layout(original)
            // Truncation at every footer byte (and the tail); every footer byte replaced by a
            // random value. Footers of more than 600 bytes are sampled (same seed every run).
            let positions = footer.count <= 600 ? Array(footer) : (0..<600).map { _ in footer.lowerBound + Int(g.next() % UInt64(footer.count)) }
            for cut in positions + Array(original.count - 8..<original.count) {
                #expect(try read(original.prefix(cut)), "\(source) cut at \(cut) was accepted")
            }
            for pos in positions {
                var bad = original
                bad[pos] = UInt8(truncatingIfNeeded: g.next())
                _ = try read(bad)
            }
            // Random bytes in page headers and page bodies (1 to 3 at a time).
            for round in 0..<400 {
                var bad = original
                let regions = round % 2 == 0 ? headers.map { ($0, false) } : pages.map { ($0.range, $0.crc) }
                var changedCheckedBody = false
                for _ in 0..<(1 + Int(g.next() % 3)) {
                    let (region, crc) = regions[Int(g.next() % UInt64(regions.count))]
                    guard !region.isEmpty else { continue }
                    let pos = region.lowerBound + Int(g.next() % UInt64(region.count))
                    let value = UInt8(truncatingIfNeeded: g.next())
                    if bad[pos] != value { bad[pos] = value; changedCheckedBody = changedCheckedBody || crc }
                }
                let failed = try read(bad, verify: true)
                if changedCheckedBody { #expect(failed, "\(source): a changed page body passed CRC verification") }
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        print("fuzz: \(reads) reads of \(sources.count) files, \(errors) rejected with ParquetError, slowest read \(String(format: "%.3f", slowest)) s, \(String(format: "%.1f", elapsed)) s in all")
        #expect(slowest < 2, "a corrupted file took \(slowest) s to read")
    }
}
