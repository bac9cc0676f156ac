import Foundation
import Testing
import TestSupport
@testable import Columnar

@Suite("Parquet encodings")
struct ParquetEncodingTests {
    @Test func rleLevelsRoundTrip() throws {
        var g = ParquetWriterTests.Generator(state: 5)
        for pattern in 0..<6 {
            let n = [0, 1, 7, 8, 1000, 4097][pattern]
            let levels: [UInt8] = (0..<n).map { i in
                switch pattern % 3 {
                case 0: UInt8(g.next() & 1)  // random: bit-packed runs
                case 1: i / 100 % 2 == 0 ? 1 : 0  // long runs: RLE runs
                default: g.next() % 10 == 0 ? 0 : 1  // mixed
                }
            }
            let out = GrowableBuffer()
            levels.withUnsafeBufferPointer { RLEHybridEncoder.encodeBitWidth1($0.baseAddress, count: n, into: out) }
            var decoded = [UInt8](repeating: 9, count: n)
            var decoder = try RLEHybridDecoder(out.bytes, bitWidth: 1)
            try decoded.withUnsafeMutableBufferPointer { try decoder.decode(into: $0.baseAddress!, count: n) }
            #expect(decoded == levels, "pattern \(pattern)")
        }
    }

    @Test func rleDecoderHandlesWidthsAndRejectsBadInput() throws {
        // Bit-packed run of 8 values with width 3: 0...7, LSB first (Encodings.md example).
        let packed: [UInt8] = [0x03, 0x88, 0xC6, 0xFA]
        var values = [UInt32](repeating: 0, count: 8)
        try packed.withUnsafeBytes { bytes in
            var d = try RLEHybridDecoder(bytes, bitWidth: 3)
            try values.withUnsafeMutableBufferPointer { try d.decode(into: $0.baseAddress!, count: 8) }
        }
        #expect(values == [0, 1, 2, 3, 4, 5, 6, 7])
        // RLE run: 300 copies of 0x1234 at width 13.
        let rle: [UInt8] = [0xD8, 0x04, 0x34, 0x12]
        var many = [UInt32](repeating: 0, count: 300)
        try rle.withUnsafeBytes { bytes in
            var d = try RLEHybridDecoder(bytes, bitWidth: 13)
            try many.withUnsafeMutableBufferPointer { try d.decode(into: $0.baseAddress!, count: 300) }
        }
        #expect(many.allSatisfy { $0 == 0x1234 })
        // Too few values, truncated runs and absurd widths throw.
        #expect(throws: ParquetFormatError.self) {
            try rle.withUnsafeBytes { bytes in
                var d = try RLEHybridDecoder(bytes, bitWidth: 13)
                var more = [UInt32](repeating: 0, count: 301)
                try more.withUnsafeMutableBufferPointer { try d.decode(into: $0.baseAddress!, count: 301) }
            }
        }
        #expect(throws: ParquetFormatError.self) {
            try [UInt8(0x02)].withUnsafeBytes { bytes in
                var d = try RLEHybridDecoder(bytes, bitWidth: 8)  // RLE run whose value byte is missing
                var one: UInt32 = 0
                try d.decode(into: &one, count: 1)
            }
        }
        #expect(throws: ParquetFormatError.self) {
            _ = try [UInt8]().withUnsafeBytes { try RLEHybridDecoder($0, bitWidth: 254) }
        }
    }

    @Test func thriftRoundTripAndSkipping() throws {
        var meta = ParquetFileMetaData()
        meta.schema = [ParquetSchemaElement(name: "schema", numChildren: 2),
                       ParquetTypeMapping.writeElement(name: "a", type: .uint16, nullable: true),
                       ParquetTypeMapping.writeElement(name: "b", type: .string, nullable: false)]
        meta.numRows = 1 << 40
        var chunk = ParquetColumnChunk()
        var cmd = ParquetColumnMetaData()
        cmd.type = .int32
        cmd.encodings = [0, 3]
        cmd.pathInSchema = ["a"]
        cmd.codec = 1
        cmd.numValues = 5
        cmd.dataPageOffset = 4
        cmd.statistics = ParquetStatistics(nullCount: 2, maxValue: [1, 2], minValue: [0])
        chunk.metaData = cmd
        meta.rowGroups = [ParquetRowGroup(columns: [chunk], totalByteSize: 10, numRows: 5)]
        meta.keyValueMetadata = [(key: "k", value: "v"), (key: "novalue", value: nil)]
        meta.createdBy = "me"
        meta.typeOrderColumnCount = 2
        var w = ThriftCompactWriter()
        meta.encode(&w)
        let decoded = try w.bytes.withUnsafeBytes { bytes in
            var r = ThriftCompactReader(bytes)
            let m = try ParquetFileMetaData.decode(&r)
            #expect(r.remaining == 0)
            return m
        }
        #expect(decoded.numRows == 1 << 40 && decoded.createdBy == "me")
        #expect(decoded.schema.map(\.name) == ["schema", "a", "b"])
        #expect(decoded.schema[1].logicalType == .integer(bitWidth: 16, isSigned: false))
        #expect(decoded.schema[1].convertedType == .uint16 && decoded.schema[1].repetition == .optional)
        #expect(decoded.schema[2].logicalType == .string && decoded.schema[2].repetition == .required)
        let m = try #require(decoded.rowGroups.first?.columns.first?.metaData)
        #expect(m.encodings == [0, 3] && m.pathInSchema == ["a"] && m.numValues == 5 && m.dataPageOffset == 4)
        #expect(m.statistics?.nullCount == 2 && m.statistics?.maxValue == [1, 2])
        #expect(decoded.keyValueMetadata.map(\.key) == ["k", "novalue"])

        // Unknown fields of every wire type (ids 20+, and a long-form id) are skipped.
        var x = ThriftCompactWriter()
        x.i32Field(1, 7)
        x.fieldHeader(20, .list); x.writeListHeader(.struct, count: 1); x.beginStruct(); x.i64Field(1, -3); x.endStruct()
        x.fieldHeader(21, .double); for _ in 0..<8 { x.writeByte(0) }
        x.fieldHeader(300, .binary); x.writeBinaryValue([1, 2, 3])
        x.fieldHeader(301, .map); x.writeVarint(1); x.writeByte(0x58)  // 1 entry: i32 -> binary
        x.writeZigzag(5); x.writeBinaryValue([9])
        x.boolField(302, true)
        x.endTopLevelStruct()
        let partial = try x.bytes.withUnsafeBytes { bytes in
            var r = ThriftCompactReader(bytes)
            return try ParquetFileMetaData.decode(&r)
        }
        #expect(partial.version == 7)
    }

    @Test func thriftRejectsHostileInput() {
        // A list claiming a billion elements in a 3-byte buffer, and runaway nesting.
        let hostile: [[UInt8]] = [
            [0x19, 0xFC, 0xFF, 0xFF, 0xFF, 0x03],  // field 1, list of 2^30 structs
            Array(repeating: 0x1C, count: 200),  // struct in struct in struct...
            [0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],  // field 1, binary of 4 GB
            [0x15],  // truncated i32
        ]
        for bytes in hostile {
            #expect(throws: ParquetFormatError.self) {
                try bytes.withUnsafeBytes { b in
                    var r = ThriftCompactReader(b)
                    _ = try ParquetFileMetaData.decode(&r)
                }
            }
        }
    }

    @Test(arguments: [CompressionCodec.snappy, .gzip, .zstd, .uncompressed])
    func codecsRoundTripConcatenateAndRejectCorruption(_ codec: CompressionCodec) throws {
        let a = [UInt8]((0..<50_000).map { UInt8(truncatingIfNeeded: $0 / 7) })
        let b = [UInt8]("tail member".utf8)
        let compressor = Compressor(codec: codec)
        let decompressor = try Decompressor(codec: codec.rawValue)
        func compress(_ x: [UInt8]) throws -> [UInt8] {
            let out = GrowableBuffer()
            try x.withUnsafeBytes { try compressor.compress($0, into: out) }
            return Array(out.bytes)
        }
        func decompress(_ x: [UInt8], _ size: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: size)
            try x.withUnsafeBytes { src in
                try decompressor.checkDeclaredSize(src, declared: size)
                try out.withUnsafeMutableBytes { try decompressor.decompress(src, into: $0) }
            }
            return out
        }
        let ca = try compress(a), cb = try compress(b)
        #expect(try decompress(ca, a.count) == a)
        if codec == .gzip || codec == .zstd {
            // Several gzip members / zstd frames in one page decode as their concatenation.
            #expect(try decompress(ca + cb, a.count + b.count) == a + b)
        }
        if codec != .uncompressed {
            #expect(throws: ParquetFormatError.self) { _ = try decompress(ca, a.count + 1) }
            #expect(throws: ParquetFormatError.self) { _ = try decompress(Array(ca.prefix(ca.count / 2)), a.count) }
            var flipped = ca
            for i in stride(from: 2, to: flipped.count, by: 97) { flipped[i] ^= 0x5A }
            #expect(throws: ParquetFormatError.self) { _ = try decompress(flipped, a.count) }
        }
    }

    @Test func unsupportedCodecsAreNamed() {
        for raw: Int32 in [3, 4, 5, 7, 42] {
            do {
                _ = try Decompressor(codec: raw)
                Issue.record("codec \(raw) accepted")
            } catch let e as ParquetFormatError {
                #expect(e.message.contains(CompressionCodec.name(raw)))
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
