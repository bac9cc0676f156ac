import Columnar
import Testing
@testable import Wire

@Suite("Column batch encoding")
struct ColumnBatchCodecTests {
    /// Lays an encoded batch out as the receiver gets it: one contiguous payload.
    func payload(_ encoded: ColumnBatchCodec.Encoded) -> ColumnBuffer {
        let buffer = ColumnBuffer(zeroedCount: encoded.payloadLength)
        var at = 0
        encoded.head.withUnsafeBytes { (buffer.mutableBase + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        at += encoded.head.count
        for segment in encoded.segments {
            if let source = segment.buffer { (buffer.mutableBase + at).copyMemory(from: source.base, byteCount: segment.count) }
            at += segment.count
        }
        return buffer
    }

    @Test("every column type survives a round trip, nulls included")
    func roundTrip() throws {
        let columns: [Column] = [
            .fixed(.float64, [1.5, -2.25, .nan], validity: [true, true, false]),
            .fixed(.int64, [Int64.min, 0, Int64.max]),
            .fixed(.int32, [Int32(7), -7, 0], validity: [false, true, true]),
            .fixed(.float32, [Float(0.5), 1, 2]),
            .fixed(.bool, [UInt8(1), 0, 1]),
            .strings(["a", nil, "ünïcödé"]),
        ]
        let decoded = try ColumnBatchCodec.decode(payload(ColumnBatchCodec.encode(taskID: 42, rowCount: 3, columns: columns)))
        #expect(decoded.taskID == 42)
        #expect(decoded.rowCount == 3)
        #expect(decoded.columns.map(\.type) == [.float64, .int64, .int32, .float32, .bool, .string])
        #expect(decoded.columns[0].array(of: Double.self)[0...1] == [1.5, -2.25])
        #expect(!decoded.columns[0].isValid(2) && decoded.columns[0].isValid(1))
        #expect(decoded.columns[1].array(of: Int64.self) == [Int64.min, 0, Int64.max])
        #expect(!decoded.columns[2].isValid(0) && decoded.columns[2].nullCount == 1)
        #expect(decoded.columns[3].array(of: Float.self) == [0.5, 1, 2])
        #expect(decoded.columns[4].array(of: UInt8.self) == [1, 0, 1])
        #expect((0..<3).map { decoded.columns[5].string(at: $0) } == ["a", nil, "ünïcödé"])
    }

    @Test("consecutive float64 columns are laid out as one contiguous block")
    func contiguousFloat64() throws {
        let columns: [Column] = (0..<4).map { c in .fixed(.float64, (0..<5).map { Double(c * 10 + $0) }) }
        let decoded = try ColumnBatchCodec.decode(payload(ColumnBatchCodec.encode(taskID: 1, rowCount: 5, columns: columns)))
        for (i, column) in decoded.columns.enumerated() {
            #expect(column.values.base == decoded.columns[0].values.base + i * 5 * 8)
        }
    }

    @Test("a sliced column encodes only its rows")
    func slicedColumns() throws {
        let column = Column.fixed(.int64, Array(Int64(0)..<100)).slice(10..<13)
        let strings = Column.strings(["x", "yy", "zzz", "w"]).slice(1..<4)
        let decoded = try ColumnBatchCodec.decode(payload(ColumnBatchCodec.encode(taskID: 0, rowCount: 3, columns: [column, strings])))
        #expect(decoded.columns[0].array(of: Int64.self) == [10, 11, 12])
        #expect((0..<3).map { decoded.columns[1].string(at: $0) } == ["yy", "zzz", "w"])
    }

    @Test("lengths that do not fit the payload are rejected, never read")
    func malformedPayloads() throws {
        let good = payload(ColumnBatchCodec.encode(taskID: 1, rowCount: 2, columns: [.fixed(.float64, [1.0, 2.0])]))
        // Truncated at every length: always an error, never a crash.
        for length in 0..<good.count {
            let truncated = good.slice(0..<length)
            #expect(throws: WireError.self) { try ColumnBatchCodec.decode(truncated) }
        }
        // A row count that disagrees with the buffer lengths.
        let lying = ColumnBuffer(copying: good.bytes)
        lying.mutableBase.storeBytes(of: UInt64(1_000_000).littleEndian, toByteOffset: 8, as: UInt64.self)
        #expect(throws: WireError.self) { try ColumnBatchCodec.decode(lying) }
        // An unknown column type.
        let unknownType = ColumnBuffer(copying: good.bytes)
        unknownType.mutableBase.storeBytes(of: UInt8(200), toByteOffset: 24, as: UInt8.self)
        #expect(throws: WireError.self) { try ColumnBatchCodec.decode(unknownType) }
    }

    @Test("string offsets that decrease or overrun are rejected")
    func badOffsets() throws {
        let good = payload(ColumnBatchCodec.encode(taskID: 1, rowCount: 2, columns: [.strings(["ab", "c"])]))
        // Offsets follow the 8-byte padded values ("abc" + 5 bytes of padding).
        let offsetsAt = ColumnBatchCodec.headSize + ColumnBatchCodec.descriptorSize + 8
        let bad = ColumnBuffer(copying: good.bytes)
        bad.mutableBase.storeBytes(of: Int64(3).littleEndian, toByteOffset: offsetsAt + 8, as: Int64.self)
        bad.mutableBase.storeBytes(of: Int64(1).littleEndian, toByteOffset: offsetsAt + 16, as: Int64.self)
        #expect(throws: WireError.self) { try ColumnBatchCodec.decode(bad) }
    }
}

@Suite("Frame header")
struct FrameHeaderTests {
    @Test("round trip")
    func roundTrip() throws {
        let header = FrameHeader(type: .result, payloadLength: 123_456, flags: 0x0102)
        let decoded = try header.encoded().withUnsafeBytes { try FrameHeader.decode($0, maxPayload: 1 << 20) }
        #expect(decoded == header)
    }

    @Test("a stranger, another version, an unknown type and an oversized frame are refused")
    func refusals() {
        func decode(_ bytes: [UInt8]) -> WireError? {
            do { _ = try bytes.withUnsafeBytes { try FrameHeader.decode($0, maxPayload: 1000) }; return nil } catch { return error as? WireError }
        }
        #expect(decode(Array("GET / HTTP/1.1\r\n\r\n".utf8)) == .notAScoreClusterPeer)
        var other = FrameHeader(type: .hello, payloadLength: 1).encoded()
        other[4] = 9
        #expect(decode(other) == .versionMismatch(theirs: 9, ours: FrameHeader.currentVersion))
        var unknown = FrameHeader(type: .hello, payloadLength: 1).encoded()
        unknown[5] = 99
        if case .malformed = decode(unknown) {} else { Issue.record("unknown type accepted") }
        if case .malformed = decode(FrameHeader(type: .batch, payloadLength: 1001).encoded()) {} else {
            Issue.record("oversized frame accepted")
        }
    }
}

@Suite("Nested column encoding")
struct NestedCodecTests {
    @Test("lists, structs and maps survive a round trip and are retyped with their field names")
    func nestedRoundTrip() throws {
        // list<float64>: [[1, 2], null, []]
        let elements = Column.fixed(.float64, [1.0, 2.0])
        let list = Column(type: .list(.float64), count: 3, values: ColumnBuffer(zeroedCount: 0),
                          offsets: [Int64(0), 2, 2, 2].withUnsafeBytes { ColumnBuffer(copying: $0) },
                          validity: Column.validityBuffer([true, false, true]), children: [elements])
        // struct<label: string, score: float64>
        let fields = [Field(name: "label", type: .string, nullable: true), Field(name: "score", type: .float64, nullable: true)]
        let structure = Column(type: .structure(fields), count: 3, values: ColumnBuffer(zeroedCount: 0),
                               children: [.strings(["a", nil, "c"]), .fixed(.float64, [0.1, 0.2, 0.3])])
        // map<string, int64>: [{x: 1}, {}, {y: 2, z: 3}]
        let map = Column(type: .map(.int64), count: 3, values: ColumnBuffer(zeroedCount: 0),
                         offsets: [Int64(0), 1, 1, 3].withUnsafeBytes { ColumnBuffer(copying: $0) },
                         children: [.strings(["x", "y", "z"]), .fixed(.int64, [Int64(1), 2, 3])])
        let encoded = ColumnBatchCodec.encode(taskID: 5, rowCount: 3, columns: [list, structure, map])
        let decoded = try ColumnBatchCodec.decode(ColumnBatchCodecTests().payload(encoded))
        #expect(decoded.columns[0].type == .list(.float64))
        #expect(!decoded.columns[0].isValid(1))
        #expect(decoded.columns[0].children[0].array(of: Double.self) == [1, 2])
        #expect(decoded.columns[1].type.hasSameShape(as: .structure(fields)))
        let named = decoded.columns[1].retyped(as: .structure(fields))
        #expect(named.type == .structure(fields))
        #expect(named.children[0].string(at: 2) == "c" && !named.children[0].isValid(1))
        #expect(decoded.columns[2].type == .map(.int64))
        #expect(decoded.columns[2].offsets!.typed(Int64.self).map { $0 } == [0, 1, 1, 3])
        #expect(decoded.columns[2].children[1].array(of: Int64.self) == [1, 2, 3])
    }

    @Test("list offsets pointing past the child rows are refused")
    func badNestedOffsets() throws {
        let list = Column(type: .list(.int64), count: 1, values: ColumnBuffer(zeroedCount: 0),
                          offsets: [Int64(0), 2].withUnsafeBytes { ColumnBuffer(copying: $0) },
                          children: [.fixed(.int64, [Int64(7), 8])])
        let payload = ColumnBatchCodecTests().payload(ColumnBatchCodec.encode(taskID: 1, rowCount: 1, columns: [list]))
        let bad = ColumnBuffer(copying: payload.bytes)
        // The list's offsets follow the child's 16 value bytes; claim 5 child rows.
        let offsetsAt = ColumnBatchCodec.headSize + 2 * ColumnBatchCodec.descriptorSize + 16
        bad.mutableBase.storeBytes(of: Int64(5).littleEndian, toByteOffset: offsetsAt + 8, as: Int64.self)
        #expect(throws: WireError.self) { try ColumnBatchCodec.decode(bad) }
    }
}
