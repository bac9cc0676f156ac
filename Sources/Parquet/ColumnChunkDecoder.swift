import Foundation
import Columnar

/// Decodes one column chunk of a flat leaf (max repetition level 0, max definition level 0 or 1)
/// into a `Column`.
///
/// The layers are arrow-rs's: `ParquetPageReader` walks the chunk's page headers and gives each
/// page's bytes, decompressed; `LevelDecoder` reads a data page's definition levels; the
/// decoders in `Encodings/` read its values, chosen by encoding in
/// `ColumnChunkDecoder+Values.swift`; this class holds the output under construction.
///
/// The chunk's bytes are walked twice: first the page headers only, to check that the pages hold
/// exactly the row group's rows before anything row-sized is allocated; then page by page,
/// decompressing into a reused scratch buffer and decoding straight into the output buffers.
/// Values of a page are decoded densely at the page's first row and then spread over the null
/// slots in place (`DenseSpread`), so the no-null case is a plain copy or gather.
final class ColumnChunkDecoder {
    /// Most bytes one column chunk may decode to (fixed-width values or byte-array bytes): 4 GiB.
    /// Row counts come from the file; this cap bounds what they can make the reader allocate.
    static let maxOutputBytes = 1 << 32
    /// Most bytes reserved for byte arrays from estimates (page sizes, dictionary lengths) before
    /// they are decoded; beyond this the buffer grows with the bytes actually decoded.
    static let maxReservation = 256 << 20

    let physical: ParquetPhysicalType
    /// Bytes per dense physical value: PLAIN width, FLBA type length, 1 for decoded booleans,
    /// 0 for BYTE_ARRAY.
    let physicalWidth: Int
    let maxDefinitionLevel: Int
    let outputType: DataType
    let outputWidth: Int?
    /// How dense physical values become output values (nil: byte arrays or null columns).
    let conversion: ValueConversion?
    let numRows: Int
    let codec: CompressionCodec
    let decompressor: Decompressor
    let verifyChecksums: Bool

    // Output under construction.
    var values: ColumnBuffer?
    var offsets: ColumnBuffer?
    var stringBytes: GrowableBuffer?
    var validity: ColumnBuffer?
    var rowsDone = 0
    /// The row group's row at which the decoded pages start (a reader of a row range decodes
    /// from the first page that holds it), for errors that name a row.
    var firstRow = 0
    var nullCount = 0
    var dictionary: ParquetDictionary?
    /// Bytes the data pages' byte arrays take at most if PLAIN (from the page headers).
    var plainByteEstimate = 0

    // Scratch reused across pages (and across the chunks of one row group read).
    let scratch: DecodeScratch

    init(physical: ParquetPhysicalType, typeLength: Int = 0, maxDefinitionLevel: Int, outputType: DataType, codec: Int32,
         numRows: Int, verifyChecksums: Bool = false, scratch: DecodeScratch = DecodeScratch(),
         dictionary: ParquetDictionary? = nil) throws {
        self.dictionary = dictionary
        guard maxDefinitionLevel <= 1 else {
            throw ParquetFormatError("columns with definition level \(maxDefinitionLevel) (nested) are not supported")
        }
        self.physical = physical
        switch physical {
        case .boolean: physicalWidth = 1
        case .byteArray: physicalWidth = 0
        case .fixedLenByteArray:
            guard typeLength > 0 && typeLength <= ParquetTypeMapping.maxFixedWidth else {
                throw ParquetFormatError("FIXED_LEN_BYTE_ARRAY type length \(typeLength) is out of range")
            }
            physicalWidth = typeLength
        default: physicalWidth = physical.plainWidth!
        }
        self.maxDefinitionLevel = maxDefinitionLevel
        self.outputType = outputType
        self.outputWidth = outputType.byteWidth
        self.conversion = try ValueConversion.make(physical: physical, physicalWidth: physicalWidth, output: outputType)
        if outputType.isVariableWidth && physical != .byteArray {
            throw ParquetFormatError("\(physical.name) cannot be read as \(outputType)")
        }
        self.numRows = numRows
        self.scratch = scratch
        self.verifyChecksums = verifyChecksums
        self.decompressor = try Decompressor(codec: codec)
        self.codec = decompressor.codec
        // Output (and scratch for physical values awaiting conversion) is sized from the row count,
        // which the page headers must account for exactly; this cap bounds it.
        if let w = outputWidth, numRows * max(w, physicalWidth) > Self.maxOutputBytes {
            throw ParquetFormatError("\(numRows) rows of \(outputType) exceed the reader's cap of \(Self.maxOutputBytes >> 30) GiB per column chunk")
        }
    }

    /// The chunk's dictionary, once decoded (or as given): a reader of several row ranges of one
    /// chunk decodes it once.
    var decodedDictionary: ParquetDictionary? { dictionary }

    /// Decodes the chunk whose bytes (from its first page header to its end) are `chunk`.
    func decode(_ chunk: UnsafeRawBufferPointer) throws -> Column {
        let pages = try ParquetPageReader(chunk: chunk, numRows: numRows, decompressor: decompressor,
                                          verifyChecksums: verifyChecksums, scratch: scratch)
        plainByteEstimate = pages.plainByteEstimate
        if outputType == .null {
            // UNKNOWN (the null type): every value is null, whatever the pages hold.
            return Column(type: .null, count: numRows, values: ColumnBuffer(zeroedCount: 0),
                          validity: ColumnBuffer(zeroedCount: numRows), nullCount: numRows)
        }
        allocateOutput()
        for page in pages.pages {
            switch page.kind {
            case .dictionary(let header): try decodeDictionaryPage(page, header, pages)
            case .dataV1(let header): try decodeDataPageV1(page, header, pages)
            case .dataV2(let header): try decodeDataPageV2(page, header, pages)
            }
        }
        guard rowsDone == numRows else {
            throw ParquetFormatError("decoded \(rowsDone) values, row group has \(numRows) rows")
        }
        return finish()
    }

    // MARK: Output buffers

    /// Bytes before the values buffer that a page may be decompressed over (its definition levels
    /// land there, the values in place): see `decodePlainPageInPlace`.
    static let frontSlack = 64

    private func allocateOutput() {
        if let width = outputType.byteWidth {
            values = RawAllocation.buffer(count: numRows * width, offset: Self.frontSlack)
        } else {
            offsets = RawAllocation.buffer(count: (numRows + 1) * 8)
            offsets!.mutableBase.storeBytes(of: Int64(0), as: Int64.self)
            // PLAIN pages bound the bytes they decode to (page size less a 4-byte length per
            // value); dictionary pages re-estimate when their dictionary is known.
            stringBytes = GrowableBuffer(capacity: min(max(plainByteEstimate, 4096), Self.maxReservation), recycled: true)
        }
        // The validity buffer is made when the first null appears (most columns have none).
    }

    /// The validity buffer, made (with every row so far valid) on first use.
    func ensureValidity() -> UnsafeMutablePointer<UInt8> {
        if validity == nil {
            validity = RawAllocation.buffer(count: numRows)
            validity!.mutableBase.initializeMemory(as: UInt8.self, repeating: 1, count: rowsDone)
        }
        return validity!.mutableBase.assumingMemoryBound(to: UInt8.self)
    }

    /// Records the definition levels of the page at `rowsDone` (decoded in `levels`); returns
    /// the number of non-null values.
    private func recordLevels(_ levels: UnsafeMutablePointer<UInt8>, _ n: Int) -> Int {
        let nonNull = LevelDecoder.countNonNull(levels, n)
        if nonNull < n {
            (ensureValidity() + rowsDone).update(from: levels, count: n)
        } else if let validity {
            (validity.mutableBase + rowsDone).initializeMemory(as: UInt8.self, repeating: 1, count: n)
        }
        return nonNull
    }

    private func finish() -> Column {
        let valid = nullCount > 0 ? validity : nil
        if let values {
            return Column(type: outputType, count: numRows, values: values, validity: valid, nullCount: nullCount)
        }
        return Column(type: outputType, count: numRows, values: stringBytes!.toColumnBuffer(), offsets: offsets!,
                      validity: valid, nullCount: nullCount)
    }

    // MARK: Data pages

    private func decodeDataPageV1(_ page: ParquetPage, _ header: ParquetDataPageHeader, _ pages: ParquetPageReader) throws {
        let n = Int(header.numValues)
        if try decodePlainPageInPlace(page, header, pages, n: n) { return }
        try decodeV1Payload(header, try pages.payload(page), n: n)
    }

    /// Decodes a v1 page's decompressed bytes: definition levels (length-prefixed RLE or legacy
    /// BIT_PACKED) for OPTIONAL columns, then the values.
    private func decodeV1Payload(_ header: ParquetDataPageHeader, _ data: UnsafeRawBufferPointer, n: Int) throws {
        var valuesStart = 0
        var nonNull = n
        if maxDefinitionLevel > 0 {
            let levels = scratch.levelBuffer(n)
            let encoding = try ParquetEncoding(validating: header.definitionLevelEncoding, field: "definition level encoding")
            valuesStart = try LevelDecoder.decodeV1(data, encoding: encoding, count: n, into: levels)
            nonNull = recordLevels(levels, n)
        }
        let valuesData = UnsafeRawBufferPointer(rebasing: data[valuesStart...])
        try decodeValues(encoding: header.encoding, valuesData, n: n, nonNull: nonNull)
    }

    private func decodeDataPageV2(_ page: ParquetPage, _ header: ParquetDataPageHeaderV2, _ pages: ParquetPageReader) throws {
        let n = Int(header.numValues)
        let repLength = Int(header.repetitionLevelsByteLength)
        let defLength = Int(header.definitionLevelsByteLength)
        let stored = pages.stored(page)
        let levelsEnd = repLength + defLength
        var nonNull = n
        if maxDefinitionLevel > 0 {
            let levels = scratch.levelBuffer(n)
            try LevelDecoder.decodeRLE(UnsafeRawBufferPointer(rebasing: stored[repLength..<levelsEnd]), count: n, into: levels)
            nonNull = recordLevels(levels, n)
        }
        let raw = UnsafeRawBufferPointer(rebasing: stored[levelsEnd...])
        let valuesData: UnsafeRawBufferPointer
        // pyarrow writes is_compressed = false for incompressible pages; an empty section must not
        // reach the decompressor.
        if header.isCompressed && codec != .uncompressed && raw.count > 0 {
            let uncompressed = page.uncompressedSize - repLength - defLength
            guard uncompressed >= 0 else { throw ParquetFormatError("data page v2 uncompressed size is smaller than its levels") }
            if nonNull == n, let w = outputWidth, conversion == .copy, physical != .boolean,
               ParquetEncoding(rawValue: header.encoding) == .plain, uncompressed == n * w {
                // No nulls, PLAIN values of the output's width: decompress straight into place.
                try pages.decompress(raw, into: UnsafeMutableRawBufferPointer(start: values!.mutableBase + rowsDone * w, count: uncompressed))
                rowsDone += n
                return
            }
            valuesData = try pages.decompress(raw, uncompressedSize: uncompressed)
        } else {
            valuesData = raw
        }
        try decodeValues(encoding: header.encoding, valuesData, n: n, nonNull: nonNull)
    }

    /// The common case of a v1 page: PLAIN fixed-width values stored as the output holds them
    /// and no nulls, compressed. The page is decompressed straight into the output, placed so that
    /// its values land at their rows and its definition levels (when the page has them: one RLE
    /// run of 1s, 4 + varint + 1 bytes) over the bytes just before, which are saved and restored.
    /// Saves a copy of the page. Returns false (having changed nothing) when the page does not
    /// qualify.
    private func decodePlainPageInPlace(_ page: ParquetPage, _ header: ParquetDataPageHeader, _ pages: ParquetPageReader,
                                        n: Int) throws -> Bool {
        guard codec != .uncompressed, let w = outputWidth, conversion == .copy, physical != .boolean,
              ParquetEncoding(rawValue: header.encoding) == .plain, n > 0 else { return false }
        var levelBytes = 0
        if maxDefinitionLevel > 0 {
            guard ParquetEncoding(rawValue: header.definitionLevelEncoding) == .rle else { return false }
            var run = UInt64(n) << 1, varintLength = 1
            while run >= 0x80 { run >>= 7; varintLength += 1 }
            levelBytes = 4 + varintLength + 1
        }
        let size = page.uncompressedSize
        guard size == n * w + levelBytes, levelBytes <= Self.frontSlack else { return false }
        let dst = values!.mutableBase + rowsDone * w - levelBytes
        var saved = (UInt64(0), UInt64(0))  // 16 bytes >= levelBytes (at most 4 + 5 + 1)
        withUnsafeMutableBytes(of: &saved) { $0.baseAddress!.copyMemory(from: dst, byteCount: levelBytes) }
        try pages.decompress(pages.stored(page), into: UnsafeMutableRawBufferPointer(start: dst, count: size))
        var allValid = true
        if levelBytes > 0 {
            // Exactly one RLE run of n 1s?
            allValid = dst.loadUnaligned(as: UInt32.self) == UInt32(levelBytes - 4).littleEndian
            var run = UInt64(n) << 1, at = 4
            while allValid && run >= 0x80 {
                allValid = dst.load(fromByteOffset: at, as: UInt8.self) == UInt8(truncatingIfNeeded: run) | 0x80
                run >>= 7
                at += 1
            }
            allValid = allValid && dst.load(fromByteOffset: at, as: UInt8.self) == UInt8(run)
                && dst.load(fromByteOffset: at + 1, as: UInt8.self) == 1
        }
        if !allValid {
            // Levels of another shape: move the page aside and decode it the general way.
            let copy = scratch.pageBuffer(size)
            copy.baseAddress!.copyMemory(from: dst, byteCount: size)
            withUnsafeBytes(of: saved) { dst.copyMemory(from: $0.baseAddress!, byteCount: levelBytes) }
            try decodeV1Payload(header, UnsafeRawBufferPointer(copy), n: n)
            return true
        }
        withUnsafeBytes(of: saved) { dst.copyMemory(from: $0.baseAddress!, byteCount: levelBytes) }
        if let validity { (validity.mutableBase + rowsDone).initializeMemory(as: UInt8.self, repeating: 1, count: n) }
        rowsDone += n
        return true
    }
}
