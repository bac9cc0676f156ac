import Foundation
import Testing
import TestSupport
@testable import Columnar
@testable import Parquet

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
        for raw: Int32 in [3, 4, 42] {
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

    /// The type mapping's rules that no test file exercises.
    @Test func typeMappingRules() {
        func map(_ type: ParquetPhysicalType, _ lt: ParquetLogicalType? = nil, _ ct: ParquetConvertedType? = nil,
                 length: Int32? = nil, precision: Int32? = nil, scale: Int32? = nil) -> ParquetTypeMapping.ReadMapping {
            var e = ParquetSchemaElement()
            e.type = type; e.logicalType = lt; e.convertedType = ct; e.typeLength = length; e.precision = precision; e.scale = scale
            return ParquetTypeMapping.readMapping(e)
        }
        #expect(map(.byteArray, .decimal(scale: 2, precision: 40)).unsupportedReason?.contains("38") == true)
        #expect(map(.fixedLenByteArray, nil, .decimal, length: 20, precision: 45, scale: 0).dataType == nil)
        #expect(map(.byteArray, nil, .decimal, precision: 38, scale: 3).dataType == .decimal(precision: 38, scale: 3))
        #expect(map(.int32, .other(id: 2555)).dataType == .int32)  // unknown future annotation: physical type
        #expect(map(.byteArray, .other(id: 77), .utf8).dataType == .string)  // ...or its ConvertedType
        #expect(map(.double, .unknown).dataType == .null)
        #expect(map(.int64, nil, .timestampMillis).dataType == .timestamp(.milliseconds, utc: true))
        #expect(map(.int64, nil, .timestampMicros).dataType == .timestamp(.microseconds, utc: true))
        #expect(map(.int64, .timestamp(isAdjustedToUTC: false, unit: .nanos)).dataType == .timestamp(.nanoseconds, utc: false))
        #expect(map(.int64, .timestamp(isAdjustedToUTC: false, unit: .micros), .timestampMicros).dataType == .timestamp(.microseconds, utc: false))
        #expect(map(.int96).dataType == .timestamp(.microseconds, utc: false))
        #expect(map(.int32, nil, .timeMillis).dataType == .time(.milliseconds))
        #expect(map(.int64, .time(isAdjustedToUTC: true, unit: .nanos)).dataType == .time(.nanoseconds))
        #expect(map(.int32, nil, .uint8).dataType == .uint8 && map(.int64, nil, .uint64).dataType == .uint64)
        #expect(map(.byteArray, nil, .enumType).dataType == .string && map(.byteArray, .json).dataType == .string)
        #expect(map(.byteArray, .geometry).dataType == .binary && map(.byteArray, nil, .bson).dataType == .binary)
        #expect(map(.fixedLenByteArray, nil, .interval, length: 12).dataType == .fixedBinary(12))
        #expect(map(.fixedLenByteArray, .float16, length: 4).dataType == nil)
        #expect(map(.fixedLenByteArray, .uuid, length: 16).dataType == .uuid)
        #expect(map(.fixedLenByteArray, length: 0).unsupportedReason?.contains("type length") == true)
        #expect(map(.int32, .string).dataType == nil && map(.int32, .integer(bitWidth: 64, isSigned: true)).dataType == nil)
        // Writing: decimal layouts follow the precision; invalid parameters are refused up front.
        #expect(ParquetTypeMapping.decimalByteWidth(precision: 10) == 5 && ParquetTypeMapping.decimalByteWidth(precision: 38) == 16)
        #expect(ParquetTypeMapping.writeElement(name: "d", type: .decimal(precision: 9, scale: 2), nullable: true).type == .int32)
        #expect(ParquetTypeMapping.writeElement(name: "d", type: .decimal(precision: 18, scale: 2), nullable: true).type == .int64)
        #expect(ParquetTypeMapping.writeElement(name: "d", type: .decimal(precision: 30, scale: 2), nullable: true).typeLength == 13)
        #expect(ParquetTypeMapping.writeProblem(.decimal(precision: 39, scale: 0)) != nil)
        #expect(ParquetTypeMapping.writeProblem(.fixedBinary(0)) != nil)
    }

    /// DELTA_BINARY_PACKED edge cases: INT32 wrap-around, 64-bit widths, a stream shorter than
    /// the page needs, a truncated miniblock.
    @Test func deltaBinaryPackedEdgeCases() throws {
        func varint(_ v: UInt64) -> [UInt8] { var v = v, out: [UInt8] = []; while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }; return out + [UInt8(v)] }
        func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
        // Block of 128, 4 miniblocks of 32; 3 values: Int32.max, then +1 twice (wraps).
        var stream = varint(128) + varint(4) + varint(3) + varint(zigzag(Int64(Int32.max)))
        stream += varint(zigzag(1)) + [0, 0, 0, 0]  // min delta 1, all bit widths 0
        var out = [Int32](repeating: 0, count: 3)
        let used = try stream.withUnsafeBytes { b in
            try out.withUnsafeMutableBytes { try DeltaBinaryPackedDecoder.decode(b, count: 3, width: 4, into: $0.baseAddress!) }
        }
        #expect(out == [Int32.max, Int32.min, Int32.min + 1] && used == stream.count)
        // Width 64 deltas for INT64.
        var wide = varint(128) + varint(1) + varint(2) + varint(zigzag(-5)) + varint(zigzag(0)) + [64]
        wide += withUnsafeBytes(of: UInt64(0x0123_4567_89AB_CDEF).littleEndian) { Array($0) } + [UInt8](repeating: 0, count: 127 * 8)
        var out64 = [Int64](repeating: 0, count: 2)
        _ = try wide.withUnsafeBytes { b in try out64.withUnsafeMutableBytes { try DeltaBinaryPackedDecoder.decode(b, count: 2, width: 8, into: $0.baseAddress!) } }
        #expect(out64 == [-5, -5 &+ 0x0123_4567_89AB_CDEF])
        #expect(throws: ParquetFormatError.self) {
            _ = try stream.withUnsafeBytes { b in try out.withUnsafeMutableBytes { try DeltaBinaryPackedDecoder.decode(b, count: 4, width: 4, into: $0.baseAddress!) } }
        }
        let truncated = Array(wide.prefix(10))  // 3 of the 8 bytes the first delta needs
        #expect(throws: ParquetFormatError.self) {
            _ = try truncated.withUnsafeBytes { b in try out64.withUnsafeMutableBytes { try DeltaBinaryPackedDecoder.decode(b, count: 2, width: 8, into: $0.baseAddress!) } }
        }
        // Hostile headers: absurd block sizes are refused.
        let hostile = varint(1 << 40) + varint(4) + varint(3) + varint(0)
        #expect(throws: ParquetFormatError.self) {
            _ = try hostile.withUnsafeBytes { b in try out.withUnsafeMutableBytes { try DeltaBinaryPackedDecoder.decode(b, count: 3, width: 4, into: $0.baseAddress!) } }
        }
    }
}
