import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

@Suite("Parquet writer")
struct ParquetWriterTests {
    /// The types the writer handles.
    static let writableTypes: [DataType] = [
        .bool, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .float32, .float64, .string, .binary,
        .float16, .date32, .timestamp(.milliseconds, utc: false), .timestamp(.microseconds, utc: true),
        .timestamp(.nanoseconds, utc: false), .timestamp(.nanoseconds, utc: true), .time(.milliseconds), .time(.microseconds),
        .time(.nanoseconds), .decimal(precision: 7, scale: 2), .decimal(precision: 18, scale: 0), .decimal(precision: 25, scale: 5),
        .decimal(precision: 38, scale: 10), .fixedBinary(3), .uuid, .null,
    ]

    /// A random value of at most `digits` decimal digits, as a 16-byte two's complement.
    static func decimalValue(_ g: inout Generator, digits: Int) -> Int128Bits {
        var limit: Int128 = 1
        for _ in 0..<digits { limit *= 10 }
        let raw = Int128(bitPattern: UInt128(g.next()) << 64 | UInt128(g.next()))
        let v = raw % limit
        let u = UInt128(bitPattern: v)
        return Int128Bits(low: UInt64(truncatingIfNeeded: u), high: UInt64(truncatingIfNeeded: u >> 64))
    }

    /// A deterministic generator (SplitMix64) so that failures reproduce.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A batch with one column of every `DataType`; with `nulls`, about 15% of each column is
    /// null (null slots hold NaN / zero as `Column` requires).
    static func makeBatch(rows n: Int, nulls: Bool, seed: UInt64, requiredEvery: Bool) -> RecordBatch {
        var g = Generator(state: seed)
        var fields: [Field] = []
        var columns: [Column] = []
        for (k, type) in ParquetWriterTests.writableTypes.enumerated() {
            let valid: [Bool]? = nulls ? (0..<n).map { _ in g.next() % 100 >= 15 } : nil
            let isValid = { (i: Int) in valid?[i] ?? true }
            let column: Column
            switch type {
            case .bool: column = .fixed(type, (0..<n).map { i in isValid(i) ? UInt8(g.next() & 1) : 0 }, validity: valid)
            case .int8: column = .fixed(type, (0..<n).map { i in isValid(i) ? Int8(truncatingIfNeeded: g.next()) : 0 }, validity: valid)
            case .int16: column = .fixed(type, (0..<n).map { i in isValid(i) ? Int16(truncatingIfNeeded: g.next()) : 0 }, validity: valid)
            case .int32: column = .fixed(type, (0..<n).map { i in isValid(i) ? Int32(truncatingIfNeeded: g.next()) : 0 }, validity: valid)
            case .int64: column = .fixed(type, (0..<n).map { i in isValid(i) ? Int64(bitPattern: g.next()) : 0 }, validity: valid)
            case .uint8: column = .fixed(type, (0..<n).map { i in isValid(i) ? UInt8(truncatingIfNeeded: g.next()) : 0 }, validity: valid)
            case .uint16: column = .fixed(type, (0..<n).map { i in isValid(i) ? UInt16(truncatingIfNeeded: g.next()) : 0 }, validity: valid)
            case .uint32: column = .fixed(type, (0..<n).map { i in isValid(i) ? UInt32(truncatingIfNeeded: g.next()) : 0 }, validity: valid)
            case .uint64: column = .fixed(type, (0..<n).map { i in isValid(i) ? g.next() : 0 }, validity: valid)
            case .float32:
                let special: [Float] = [.nan, -0.0, 0.0, .infinity, -.infinity, .leastNonzeroMagnitude]
                column = .fixed(type, (0..<n).map { i -> Float in
                    guard isValid(i) else { return .nan }
                    return i < special.count ? special[i] : Float(Int64(bitPattern: g.next() >> 8)) / 1e9
                }, validity: valid)
            case .float64:
                let special: [Double] = [-0.0, .nan, 0.0, .infinity, -.infinity, .leastNonzeroMagnitude]
                column = .fixed(type, (0..<n).map { i -> Double in
                    guard isValid(i) else { return .nan }
                    return i < special.count ? special[i] : Double(Int64(bitPattern: g.next())) / 1e12
                }, validity: valid)
            case .string:
                column = .strings((0..<n).map { i -> String? in
                    guard isValid(i) else { return nil }
                    let len = Int(g.next() % 12)
                    return String((0..<len).map { j in j == 3 && i % 4 == 0 ? "é" : Character(UnicodeScalar(UInt8(97 + g.next() % 26))) })
                })
            case .binary:
                var bytes: [UInt8] = []
                var offsets: [Int64] = [0]
                for i in 0..<n {
                    if isValid(i) { for _ in 0..<(g.next() % 9) { bytes.append(UInt8(truncatingIfNeeded: g.next())) } }
                    offsets.append(Int64(bytes.count))
                }
                column = Column(type: .binary, count: n, values: bytes.withUnsafeBytes { ColumnBuffer(copying: $0) },
                                offsets: offsets.withUnsafeBytes { ColumnBuffer(copying: $0) },
                                validity: valid.map(Column.validityBuffer))
            case .float16:
                let special: [UInt16] = [0x7E00, 0x8000, 0x0000, 0x7C00, 0xFC00, 0x0001]
                column = .fixed(type, (0..<n).map { i -> UInt16 in
                    guard isValid(i) else { return 0x7E00 }
                    return i < special.count ? special[i] : UInt16(truncatingIfNeeded: g.next()) & 0xBBFF  // finite
                }, validity: valid)
            case .date32: column = .fixed(type, (0..<n).map { i in isValid(i) ? Int32(Int64(g.next() % 100_000) - 40_000) : 0 }, validity: valid)
            case .timestamp(let unit, _):
                let perSecond: Int64 = unit == .milliseconds ? 1000 : unit == .microseconds ? 1_000_000 : 1_000_000_000
                // Within 1700...2200, which every unit (and every reader) holds.
                column = .fixed(type, (0..<n).map { i in isValid(i) ? (Int64(g.next() % 15_778_800_000) - 8_520_000_000) * perSecond / 1000 * 1000 + Int64(g.next() % 1000) : 0 }, validity: valid)
            case .time(let unit):
                let perDay: UInt64 = unit == .milliseconds ? 86_400_000 : unit == .microseconds ? 86_400_000_000 : 86_400_000_000_000
                column = .fixed(type, (0..<n).map { i in isValid(i) ? Int64(g.next() % perDay) : 0 }, validity: valid)
            case .decimal(let precision, _):
                column = .fixed(type, (0..<n).map { i in isValid(i) ? decimalValue(&g, digits: precision) : Int128Bits(low: 0, high: 0) }, validity: valid)
            case .fixedBinary(let w):
                let bytes = (0..<n * w).map { i in isValid(i / w) ? UInt8(truncatingIfNeeded: g.next() % 4) : 0 }  // low cardinality
                column = Column(type: type, count: n, values: bytes.withUnsafeBytes { ColumnBuffer(copying: $0) },
                                validity: valid.map(Column.validityBuffer))
            case .uuid:
                let bytes = (0..<n * 16).map { i in isValid(i / 16) ? UInt8(truncatingIfNeeded: g.next()) : 0 }
                column = Column(type: type, count: n, values: bytes.withUnsafeBytes { ColumnBuffer(copying: $0) },
                                validity: valid.map(Column.validityBuffer))
            case .null:
                column = Column(type: .null, count: n, values: ColumnBuffer(zeroedCount: 0), validity: ColumnBuffer(zeroedCount: n), nullCount: n)
            case .list, .structure, .map:
                fatalError("\(type) is not a flat writable type")
            }
            // Without nulls, every other column is declared REQUIRED.
            let nullable = nulls || !(requiredEvery && k % 2 == 0) || type == .null
            fields.append(Field(name: "c\(k)_\(type)".filter { $0.isLetter || $0.isNumber || $0 == "_" }, type: type, nullable: nullable))
            columns.append(column)
        }
        return RecordBatch(schema: Schema(fields), columns: columns)
    }

    @Test func filesReadBackByPyarrowAndReader() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        var expected: [String: [RecordBatch]] = [:]
        for compression in ParquetCompression.allCases {
            for (nulls, dictionary) in [(false, true), (true, true), (true, false)] {
                let path = dir.appendingPathComponent("\(compression.rawValue)-\(nulls ? "nulls" : "dense")-\(dictionary ? "dict" : "plain").parquet").path
                let b1 = Self.makeBatch(rows: 2000, nulls: nulls, seed: 1, requiredEvery: true)
                let b2 = Self.makeBatch(rows: 1300, nulls: nulls, seed: 2, requiredEvery: true)
                let writer = try ParquetFileWriter(path: path, schema: b1.schema, compression: compression,
                                                   createdBy: "score-cluster test", dictionary: dictionary)
                writer.maxRowsPerPage = 700  // several pages per chunk, last one partial
                try writer.write(b1)
                try writer.write(b2)
                try writer.close()
                expected[path] = [b1, b2]
            }
        }
        let dumps = try ParquetTestSupport.pyarrowDump(Array(expected.keys), checkStatistics: true)
        for (path, batches) in expected.sorted(by: { $0.key < $1.key }) {
            let name = (path as NSString).lastPathComponent
            let dump = try #require(dumps[path])
            #expect(dump.problems == [], "\(name): statistics")
            #expect(dump.created_by == "score-cluster test")
            let codecName = ["none": "UNCOMPRESSED", "snappy": "SNAPPY", "gzip": "GZIP", "zstd": "ZSTD"][name.components(separatedBy: "-")[0]]
            #expect(dump.codecs == [codecName!], "\(name): codecs \(dump.codecs)")
            #expect(dump.row_groups.count == 2)
            for (g, batch) in batches.enumerated() where g < dump.row_groups.count {
                let group = dump.row_groups[g]
                #expect(group.num_rows == batch.rowCount)
                for (i, field) in batch.schema.fields.enumerated() {
                    let py = group.columns[i]
                    #expect(py.name == field.name)
                    #expect(py.type == field.type.description, "\(name) \(field.name): pyarrow type \(py.type)")
                    #expect(py.nullable == field.nullable, "\(name) \(field.name): nullability")
                    #expect(py.values == ParquetTestSupport.canonicalValues(batch.columns[i]), "\(name) \(field.name): pyarrow values")
                }
            }
            // And our own reader gets the same back.
            let reader = try ParquetFileReader(path: path)
            #expect(reader.columns.map(\.dataType) == batches[0].schema.fields.map(\.type))
            #expect(reader.columns.map(\.nullable) == batches[0].schema.fields.map(\.nullable))
            try ParquetTestSupport.expectMatches(reader, dump, file: name)
        }
    }

    @Test func defaultPageLimitsAndLargeValues() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("large.parquet").path
        // 45,000 rows: three pages at 20,000 rows per page; strings of up to 700 KB force pages
        // that end on the 1 MB byte limit and pages holding a single value.
        let n = 45_000
        let doubles = (0..<n).map { Double($0) * 0.5 }
        let strings: [String?] = (0..<n).map { i in
            if i % 10_000 == 7 { return String(repeating: "x", count: 700_000 + i) }
            return i % 11 == 0 ? nil : "row \(i)"
        }
        let schema = Schema([Field(name: "d", type: .float64, nullable: false), Field(name: "s", type: .string, nullable: true)])
        let batch = RecordBatch(schema: schema, columns: [.fixed(.float64, doubles), .strings(strings)])
        let writer = try ParquetFileWriter(path: path, schema: schema, createdBy: "score-cluster test")
        try writer.write(batch)
        try writer.close()
        let check = try TestEnvironment.runPython("""
        import sys, pyarrow.parquet as pq
        t = pq.read_table(sys.argv[1])
        d = t.column('d').to_pylist(); s = t.column('s').to_pylist()
        assert d == [i * 0.5 for i in range(45000)], 'doubles'
        exp = [('x' * (700000 + i)) if i % 10000 == 7 else (None if i % 11 == 0 else f'row {i}') for i in range(45000)]
        assert s == exp, 'strings'
        print('ok')
        """, [path])
        #expect(check.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        let back = try ParquetFileReader(path: path).readRowGroup(0, columns: [0, 1])
        #expect(back.columns[0].array(of: Double.self) == doubles)
        #expect((0..<n).map { back.columns[1].string(at: $0) } == strings)
    }

    @Test func rejectsMismatchedBatchesAndNullsInRequiredColumns() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-writer")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.parquet").path
        let schema = Schema([Field(name: "x", type: .int32, nullable: false)])
        let writer = try ParquetFileWriter(path: path, schema: schema, createdBy: "t")
        let other = RecordBatch(schema: Schema([Field(name: "y", type: .int32, nullable: false)]), columns: [.fixed(.int32, [Int32(1)])])
        #expect(throws: ParquetError.self) { try writer.write(other) }
        let withNull = RecordBatch(schema: schema, columns: [.fixed(.int32, [Int32(1), 0], validity: [true, false])])
        do {
            try writer.write(withNull)
            Issue.record("expected an error")
        } catch let e as ParquetError {
            #expect(e.column == "x" && e.path == path && e.description.contains("nulls"))
        }
        // Empty batches write nothing; the file is still valid.
        try writer.write(RecordBatch(schema: schema, columns: [.fixed(.int32, [Int32]())]))
        try writer.close()
        let reader = try ParquetFileReader(path: path)
        #expect(reader.rowCount == 0 && reader.rowGroupRowCounts.isEmpty)
        #expect(reader.columns.map(\.name) == ["x"])
    }

    /// Dictionary encoding: low-cardinality columns get a PLAIN dictionary page and
    /// RLE_DICTIONARY data pages; a dictionary past 1 MB falls back to PLAIN; `dictionary: false`
    /// writes PLAIN only. pyarrow reads all of them.
    @Test func dictionaryEncodingAndFallback() throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("parquet-writer-dict")
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 60_000
        let low = Column.strings((0..<n).map { $0 % 13 == 0 ? nil : "category-\($0 % 7)" })
        let high = Column.strings((0..<n).map { "unique value number \($0) " + String(repeating: "x", count: $0 % 20) })  // ~2.5 MB of distinct values
        let ints = Column.fixed(.int64, (0..<n).map { Int64($0 % 100) })
        let schema = Schema([Field(name: "low", type: .string, nullable: true), Field(name: "high", type: .string, nullable: false),
                             Field(name: "ints", type: .int64, nullable: false)])
        let batch = RecordBatch(schema: schema, columns: [low, high, ints])
        var paths: [String] = []
        for dictionary in [true, false] {
            let path = dir.appendingPathComponent("dict-\(dictionary).parquet").path
            let writer = try ParquetFileWriter(path: path, schema: schema, createdBy: "score-cluster test", dictionary: dictionary)
            try writer.write(batch)
            try writer.close()
            paths.append(path)
            let back = try ParquetFileReader(path: path).readRowGroup(0, columns: [0, 1, 2])
            for i in 0..<3 { #expect(ParquetTestSupport.canonicalValues(back.columns[i]) == ParquetTestSupport.canonicalValues(batch.columns[i])) }
        }
        let out = try TestEnvironment.runPython("""
        import sys, json, pyarrow.parquet as pq
        res = {}
        for p in sys.argv[1:]:
            m = pq.ParquetFile(p).metadata.row_group(0)
            res[p] = [[m.column(i).has_dictionary_page, sorted(m.column(i).encodings)] for i in range(m.num_columns)]
            pq.read_table(p)
        print(json.dumps(res))
        """, paths)
        let info = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: [[Any]]]
        let on = info[paths[0]]!, off = info[paths[1]]!
        #expect(on[0][0] as? Bool == true && (on[0][1] as? [String])?.contains("RLE_DICTIONARY") == true, "\(on[0])")
        #expect(on[1][0] as? Bool == false && (on[1][1] as? [String]) == ["PLAIN"], "\(on[1])")
        #expect(on[2][0] as? Bool == true, "\(on[2])")
        for column in off { #expect(column[0] as? Bool == false, "\(column)") }
    }
}

@Suite("Parquet statistics")
struct ParquetStatisticsTests {
    func doubles(_ values: [Double]) -> (Double, Double)? {
        guard let (lo, hi) = ParquetStatisticsBuilder.minMax(.fixed(.float64, values)) else { return nil }
        return (lo.withUnsafeBytes { $0.loadUnaligned(as: Double.self) }, hi.withUnsafeBytes { $0.loadUnaligned(as: Double.self) })
    }

    @Test("float min/max skip NaN at any position, keep infinities, sign their zeros; all-NaN has none")
    func floats() throws {
        let mixed = try #require(doubles([.nan, 1, -2, .nan, 5, 0.5, .nan]))
        #expect(mixed == (-2, 5))
        #expect(doubles([.nan, .nan, .nan, .nan, .nan]) == nil)
        let infinite = try #require(doubles([.infinity, .nan, -.infinity, 3, 1, 2, 4, 9, 8]))
        #expect(infinite == (-.infinity, .infinity))
        let zeros = try #require(doubles([0.0, 0.0, 0.0, 0.0, 0.0]))
        #expect(zeros.0.sign == .minus && zeros.1.sign == .plus)
        var rng = SplitMix(seed: 4)
        let many = (0..<1001).map { _ in Double(rng.next() % 10_000) - 5000 }
        let found = try #require(doubles(many))
        #expect(found == (many.min()!, many.max()!))
    }

    @Test("integer min/max with and without nulls")
    func integers() throws {
        let column = Column.fixed(.int64, [Int64(5), -7, 3, Int64.max, 0])
        let (lo, hi) = try #require(ParquetStatisticsBuilder.minMax(column))
        #expect(lo.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) } == -7)
        #expect(hi.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) } == Int64.max)
        let withNulls = Column.fixed(.int32, [Int32(5), -100, 3], validity: [true, false, true])
        let (lo2, hi2) = try #require(ParquetStatisticsBuilder.minMax(withNulls))
        #expect(lo2.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } == 3)
        #expect(hi2.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } == 5)
    }
}
