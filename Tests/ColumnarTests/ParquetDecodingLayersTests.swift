import Testing
@testable import Columnar
@testable import Parquet

/// The layers of the column chunk decoder on hand-made bytes: the encoding enum, the page reader,
/// the level decoder, the small value decoders and the spreading of dense values over nulls.
@Suite("Parquet decoding layers")
struct ParquetDecodingLayersTests {
    /// The message of the `ParquetFormatError` that `body` throws (nil if it throws none).
    static func message(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let e as ParquetFormatError {
            return e.message
        } catch {
            return "not a ParquetFormatError: \(error)"
        }
    }

    // MARK: Encodings

    @Test func encodingEnumValidatesThriftValues() throws {
        #expect(ParquetEncoding.allCases.map(\.rawValue) == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        for encoding in ParquetEncoding.allCases {
            #expect(try ParquetEncoding(validating: encoding.rawValue) == encoding)
        }
        for raw: Int32 in [-1, 1, 11, 42, .max] {
            #expect(Self.message { _ = try ParquetEncoding(validating: raw) } == "unknown encoding \(raw)")
        }
        #expect(Self.message { _ = try ParquetEncoding(validating: 42, field: "definition level encoding") }
            == "unknown definition level encoding 42")
        #expect(ParquetEncoding.allCases.filter(\.isDictionary) == [.plainDictionary, .rleDictionary])
        #expect(ParquetEncoding.allCases.map(\.name) == [
            "PLAIN", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY",
            "DELTA_BYTE_ARRAY", "RLE_DICTIONARY", "BYTE_STREAM_SPLIT", "ALP",
        ])
    }

    // MARK: Levels

    /// Decodes `n` v1 levels of `bytes`; returns them and the bytes they took.
    static func v1Levels(_ bytes: [UInt8], _ encoding: ParquetEncoding, _ n: Int) throws -> ([UInt8], Int) {
        var levels = [UInt8](repeating: 9, count: n)
        let used = try bytes.withUnsafeBytes { data in
            try levels.withUnsafeMutableBufferPointer { try LevelDecoder.decodeV1(data, encoding: encoding, count: n, into: $0.baseAddress!) }
        }
        return (levels, used)
    }

    @Test func levelDecoderReadsV1Levels() throws {
        // RLE: a 4-byte length (4), a run of five 1s (header 5 << 1, value 1), then one bit-packed
        // group (header 1 << 1 | 1) of 8 levels LSB first: 0xB5 = 1,0,1,0,1,1,0,1; then a value byte.
        let rle: [UInt8] = [4, 0, 0, 0, 0x0A, 0x01, 0x03, 0xB5, 0xEE]
        let (levels, used) = try Self.v1Levels(rle, .rle, 13)
        #expect(levels == [1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1])
        #expect(used == 8)
        #expect(levels.withUnsafeBufferPointer { LevelDecoder.countNonNull($0.baseAddress!, 13) } == 10)
        // Legacy BIT_PACKED: MSB first, no length, whole bytes.
        #expect(try Self.v1Levels([0b1011_0000], .bitPacked, 4) == ([1, 0, 1, 1], 1))
        #expect(try Self.v1Levels([0xFF, 0b0100_0000, 0xEE], .bitPacked, 10) == ([1, 1, 1, 1, 1, 1, 1, 1, 0, 1], 2))
        #expect(try Self.v1Levels([], .bitPacked, 0) == ([], 0))
    }

    @Test func levelDecoderRejectsBadV1Levels() {
        #expect(Self.message { _ = try Self.v1Levels([1, 0, 0], .rle, 1) } == "unexpected end of page in definition level length")
        #expect(Self.message { _ = try Self.v1Levels([9, 0, 0, 0, 0x0A, 0x01], .rle, 5) }
            == "definition levels of 9 bytes exceed the page's 2 bytes")
        #expect(Self.message { _ = try Self.v1Levels([2, 0, 0, 0, 0x0A, 0x01], .rle, 6) }
            == "RLE/bit-packed data holds 5 values, 6 expected")
        #expect(Self.message { _ = try Self.v1Levels([0xFF], .bitPacked, 9) } == "unexpected end of page in BIT_PACKED definition levels")
        #expect(Self.message { _ = try Self.v1Levels([0, 0, 0, 0], .plain, 1) } == "definition level encoding PLAIN is not supported")
    }

    @Test func levelDecoderReadsV2Sections() throws {
        // No length prefix: a bit-packed group of 8 (0x5A = 0,1,0,1,1,0,1,0), then a run of three 0s.
        let section: [UInt8] = [0x03, 0x5A, 0x06, 0x00]
        var levels = [UInt8](repeating: 9, count: 11)
        try section.withUnsafeBytes { data in
            try levels.withUnsafeMutableBufferPointer { try LevelDecoder.decodeRLE(data, count: 11, into: $0.baseAddress!) }
        }
        #expect(levels == [0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0])
        #expect(levels.withUnsafeBufferPointer { LevelDecoder.countNonNull($0.baseAddress!, 11) } == 4)
        #expect(Self.message {
            try section.withUnsafeBytes { data in
                try levels.withUnsafeMutableBufferPointer { _ = try LevelDecoder.decodeRLE(data, count: 12, into: $0.baseAddress!) }
            }
        } == "RLE/bit-packed data holds 11 values, 12 expected")
    }

    // MARK: Small value decoders

    @Test func rleBooleansAndDictionaryIndices() throws {
        // RLE booleans: a 4-byte length, one bit-packed group: 0x06 = 0,1,1,0,0,0,0,0.
        var booleans = [UInt8](repeating: 9, count: 3)
        try [UInt8]([2, 0, 0, 0, 0x03, 0x06]).withUnsafeBytes { data in
            try booleans.withUnsafeMutableBufferPointer { try RLEBooleanDecoder.decode(data, count: 3, into: $0.baseAddress!) }
        }
        #expect(booleans == [0, 1, 1])
        for (bytes, expected) in [([UInt8]([2, 0, 0]), "unexpected end of page in RLE boolean length"),
                                  ([9, 0, 0, 0, 0x03, 0x06], "RLE booleans of 9 bytes exceed the page")] {
            #expect(Self.message {
                try bytes.withUnsafeBytes { data in
                    try booleans.withUnsafeMutableBufferPointer { try RLEBooleanDecoder.decode(data, count: 3, into: $0.baseAddress!) }
                }
            } == expected)
        }

        // Indices: bit width 2, one bit-packed group of 0,1,2,3,3,2,1,0 (LSB first: 0xE4, 0x1B).
        let page: [UInt8] = [2, 0x03, 0xE4, 0x1B]
        func indices(_ bytes: [UInt8], dictionaryCount: Int) throws -> [UInt32] {
            var out = [UInt32](repeating: 99, count: 8)
            try bytes.withUnsafeBytes { data in
                try out.withUnsafeMutableBufferPointer {
                    try DictionaryIndexDecoder.decode(data, count: 8, dictionaryCount: dictionaryCount, into: $0.baseAddress!)
                }
            }
            return out
        }
        #expect(try indices(page, dictionaryCount: 4) == [0, 1, 2, 3, 3, 2, 1, 0])
        #expect(Self.message { _ = try indices(page, dictionaryCount: 3) } == "dictionary index 3 out of range for a dictionary of 3 entries")
        #expect(Self.message { _ = try indices([], dictionaryCount: 4) } == "unexpected end of page: missing dictionary index bit width")
        #expect(Self.message { _ = try indices([40, 0x03], dictionaryCount: 4) } == "RLE/bit-packed bit width 40 is out of range 0...32")
    }

    // MARK: Spreading dense values over nulls

    @Test func denseValuesSpreadOverNulls() {
        var g = ParquetWriterTests.Generator(state: 11)
        let patterns: [[UInt8]] = [
            [],
            [1, 1, 1],
            [0, 0, 0, 0, 0, 0, 0, 0, 0],
            Array(repeating: 1, count: 16) + Array(repeating: 0, count: 8) + Array(repeating: 1, count: 9),
            (0..<37).map { UInt8($0 % 2) },
            (0..<100).map { _ in UInt8(g.next() % 3 == 0 ? 0 : 1) },
            (0..<64).map { $0 / 8 % 2 == 0 ? 1 : 0 },
        ]
        for validity in patterns {
            let n = validity.count
            let dense = validity.reduce(0) { $0 + Int($1) }
            var expected: [UInt32] = []
            var k: UInt32 = 0
            for v in validity {
                if v != 0 { expected.append(100 + k); k += 1 } else { expected.append(0xDEAD) }
            }
            var out = (0..<UInt32(n)).map { $0 < UInt32(dense) ? 100 + $0 : 7 }
            validity.withUnsafeBufferPointer { valid in
                out.withUnsafeMutableBufferPointer {
                    DenseSpread.spread($0.baseAddress!, n: n, dense: dense, validity: valid.baseAddress!, null: UInt32(0xDEAD))
                }
            }
            #expect(out == expected, "\(validity)")

            // Three-byte values (fixed binary): null slots zeroed.
            var bytes = [UInt8](repeating: 0xAA, count: 3 * n)
            for i in 0..<dense { bytes[3 * i] = UInt8(i); bytes[3 * i + 1] = UInt8(i + 1); bytes[3 * i + 2] = UInt8(i + 2) }
            var expectedBytes: [UInt8] = []
            var j = 0
            for v in validity {
                if v != 0 { expectedBytes += [UInt8(j), UInt8(j + 1), UInt8(j + 2)]; j += 1 } else { expectedBytes += [0, 0, 0] }
            }
            validity.withUnsafeBufferPointer { valid in
                bytes.withUnsafeMutableBytes {
                    DenseSpread.spreadBytes($0.baseAddress!, width: 3, n: n, dense: dense, validity: valid.baseAddress!)
                }
            }
            #expect(bytes == expectedBytes, "\(validity)")
        }
    }

    // MARK: Page reader

    /// A DATA_PAGE (v1) header, with a CRC when given.
    static func v1Header(size: Int, values: Int32, encoding: Int32 = 0, crc: UInt32? = nil) -> [UInt8] {
        var w = ThriftCompactWriter()
        w.i32Field(1, ParquetPageType.dataPage.rawValue)
        w.i32Field(2, Int32(size))
        w.i32Field(3, Int32(size))
        if let crc { w.i32Field(4, Int32(bitPattern: crc)) }
        w.beginStructField(5)
        w.i32Field(1, values)
        w.i32Field(2, encoding)
        w.i32Field(3, ParquetEncoding.rle.rawValue)
        w.i32Field(4, ParquetEncoding.rle.rawValue)
        w.endStruct()
        w.endTopLevelStruct()
        return w.bytes
    }

    /// A DATA_PAGE_V2 header.
    static func v2Header(size: Int, uncompressedSize: Int, values: Int32, definitionLength: Int32, repetitionLength: Int32 = 0) -> [UInt8] {
        var w = ThriftCompactWriter()
        w.i32Field(1, ParquetPageType.dataPageV2.rawValue)
        w.i32Field(2, Int32(uncompressedSize))
        w.i32Field(3, Int32(size))
        w.beginStructField(8)
        w.i32Field(1, values)
        w.i32Field(2, 0)
        w.i32Field(3, values)
        w.i32Field(4, ParquetEncoding.plain.rawValue)
        w.i32Field(5, definitionLength)
        w.i32Field(6, repetitionLength)
        w.boolField(7, false)
        w.endStruct()
        w.endTopLevelStruct()
        return w.bytes
    }

    static func dictionaryPage(values: Int32, body: [UInt8]) -> [UInt8] {
        var w = ThriftCompactWriter()
        ParquetPageHeader.encodeDictionaryPage(&w, uncompressedSize: Int32(body.count), compressedSize: Int32(body.count),
                                               numValues: values)
        return w.bytes + body
    }

    static func indexPage(body: [UInt8]) -> [UInt8] {
        var w = ThriftCompactWriter()
        w.i32Field(1, ParquetPageType.indexPage.rawValue)
        w.i32Field(2, Int32(body.count))
        w.i32Field(3, Int32(body.count))
        w.endTopLevelStruct()
        return w.bytes + body
    }

    static func withPages<T>(_ chunk: [UInt8], rows: Int, verifyChecksums: Bool = false,
                             _ body: (ParquetPageReader) throws -> T) throws -> T {
        try chunk.withUnsafeBytes { bytes in
            let reader = try ParquetPageReader(chunk: bytes, numRows: rows, decompressor: Decompressor(codec: 0),
                                               verifyChecksums: verifyChecksums, scratch: DecodeScratch())
            return try body(reader)
        }
    }

    @Test func pageReaderWalksAndChecksHeaders() throws {
        let dictionary = Self.dictionaryPage(values: 2, body: [1, 0, 0, 0, 2, 0, 0, 0])
        let v1Body: [UInt8] = [7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0]
        let v1 = Self.v1Header(size: 12, values: 3) + v1Body
        let index = Self.indexPage(body: [0xEE, 0xEE])
        // v2: 2 bytes of definition levels (a run of five 1s), then 20 bytes of values.
        let v2Body: [UInt8] = [0x0A, 0x01] + [UInt8](repeating: 5, count: 20)
        let v2 = Self.v2Header(size: 22, uncompressedSize: 22, values: 5, definitionLength: 2) + v2Body
        let chunk = dictionary + v1 + index + v2
        try Self.withPages(chunk, rows: 8) { reader in
            #expect(reader.pages.count == 3)  // the index page is skipped
            guard reader.pages.count == 3 else { return }
            let (d, p1, p2) = (reader.pages[0], reader.pages[1], reader.pages[2])
            guard case .dictionary(let dh) = d.kind, case .dataV1(let h1) = p1.kind, case .dataV2(let h2) = p2.kind else {
                Issue.record("page kinds \(reader.pages.map(\.kind))")
                return
            }
            #expect(dh.numValues == 2 && h1.numValues == 3 && h2.numValues == 5 && h2.definitionLevelsByteLength == 2)
            #expect(d.dataStart == dictionary.count - 8 && d.compressedSize == 8 && d.uncompressedSize == 8)
            #expect(p1.dataStart == dictionary.count + v1.count - 12 && p1.compressedSize == 12)
            #expect(p2.dataStart == chunk.count - 22 && p2.compressedSize == 22 && p2.uncompressedSize == 22)
            let payload = try reader.payload(p1)
            #expect(Array(payload) == v1Body)
            #expect(Array(reader.stored(p2)) == v2Body)
            // PLAIN bound for byte arrays: each data page's size less 4 bytes per value.
            #expect(reader.plainByteEstimate == 0 + 2)
        }
        // The pages must hold exactly the rows.
        #expect(Self.message { try Self.withPages(chunk, rows: 9) { _ in } } == "column chunk ends after 8 of 9 values")
        #expect(Self.message { try Self.withPages(chunk, rows: 2) { _ in } }
            == "data pages hold more values (at least 3) than the row group's 2 rows")
        // A page that stops the walk once the rows are accounted for is never looked at.
        #expect(throws: Never.self) { try Self.withPages(dictionary + v1 + [0xFF, 0xFF], rows: 3) { _ in } }
        #expect(Self.message { try Self.withPages(v1 + dictionary, rows: 4) { _ in } } == "dictionary page after data pages")
        let truncated = Array(v1.dropLast())
        #expect(Self.message { try Self.withPages(truncated, rows: 3) { _ in } }
            == "page at chunk offset 0 needs 12 bytes, column chunk has 11 left")
        let badLevels = Self.v2Header(size: 22, uncompressedSize: 22, values: 5, definitionLength: 20, repetitionLength: 3) + v2Body
        #expect(Self.message { try Self.withPages(badLevels, rows: 5) { _ in } } == "data page v2 level lengths exceed the page size")
        #expect(Self.message { try Self.withPages([0x15], rows: 1) { _ in } }?.hasPrefix("corrupt page header at chunk offset 0: ") == true)
    }

    @Test func pageReaderChecksCRCsWhenAsked() throws {
        let body: [UInt8] = [7, 0, 0, 0]
        let crc = body.withUnsafeBytes { zlibCRC32($0) }
        let good = Self.v1Header(size: 4, values: 1, crc: crc) + body
        let bad = Self.v1Header(size: 4, values: 1, crc: crc ^ 1) + body
        #expect(try Self.withPages(good, rows: 1, verifyChecksums: true) { $0.pages.count } == 1)
        #expect(try Self.withPages(bad, rows: 1, verifyChecksums: false) { $0.pages.count } == 1)
        #expect(Self.message { try Self.withPages(bad, rows: 1, verifyChecksums: true) { _ in } }?
            .hasPrefix("page at chunk offset 0 fails its CRC check") == true)
    }

    // MARK: The decoder's errors for encodings

    @Test func chunkDecoderNamesUnknownAndUnsupportedEncodings() throws {
        func decode(encoding: Int32) throws {
            let chunk = Self.v1Header(size: 12, values: 3, encoding: encoding) + [UInt8](repeating: 1, count: 12)
            try chunk.withUnsafeBytes { bytes in
                let decoder = try ColumnChunkDecoder(physical: .int32, maxDefinitionLevel: 0, outputType: .int32, codec: 0, numRows: 3)
                _ = try decoder.decode(bytes)
            }
        }
        #expect(throws: Never.self) { try decode(encoding: ParquetEncoding.plain.rawValue) }
        #expect(Self.message { try decode(encoding: 42) } == "unknown encoding 42")
        #expect(Self.message { try decode(encoding: ParquetEncoding.deltaLengthByteArray.rawValue) }
            == "encoding DELTA_LENGTH_BYTE_ARRAY is not supported for INT32 columns")
    }
}
