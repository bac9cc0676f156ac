import Foundation

/// Decodes one column chunk of a flat leaf (max repetition level 0, max definition level 0 or 1)
/// into a `Column`.
///
/// The chunk's bytes are walked twice: first the page headers only, to check that the pages hold
/// exactly the row group's rows before anything row-sized is allocated; then page by page,
/// decompressing into a reused scratch buffer and decoding straight into the output buffers.
/// Values of a page are decoded densely at the page's first row and then spread over the null
/// slots in place, so the no-null case is a plain copy or gather.
final class ColumnChunkDecoder {
    /// Most bytes one column chunk may decode to (fixed-width values or byte-array bytes): 4 GiB.
    /// Row counts come from the file; this cap bounds what they can make the reader allocate.
    static let maxOutputBytes = 1 << 32
    /// Most bytes reserved for byte arrays from estimates (page sizes, dictionary lengths) before
    /// they are decoded; beyond this the buffer grows with the bytes actually decoded.
    static let maxReservation = 256 << 20

    private let physical: ParquetPhysicalType
    /// Bytes per dense physical value: PLAIN width, FLBA type length, 1 for decoded booleans,
    /// 0 for BYTE_ARRAY.
    private let physicalWidth: Int
    private let maxDefinitionLevel: Int
    private let outputType: DataType
    private let outputWidth: Int?
    /// How dense physical values become output values (nil: byte arrays or null columns).
    private let conversion: ValueConversion?
    private let numRows: Int
    private let codec: CompressionCodec
    private let decompressor: Decompressor
    private let verifyChecksums: Bool

    // Output under construction.
    private var values: ColumnBuffer?
    private var offsets: ColumnBuffer?
    private var stringBytes: GrowableBuffer?
    private var validity: ColumnBuffer?
    private var rowsDone = 0
    private var nullCount = 0
    private var dictionary: ParquetDictionary?
    /// Bytes the data pages' byte arrays take at most if PLAIN (from the page headers).
    private var plainByteEstimate = 0

    // Scratch reused across pages (and across the chunks of one row group read).
    private let scratch: DecodeScratch

    /// A page located by the header scan.
    private struct PageRef {
        var header: ParquetPageHeader
        var dataStart: Int
    }

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
        let pages = try scanPages(chunk)
        if outputType == .null {
            // UNKNOWN (the null type): every value is null, whatever the pages hold.
            return Column(type: .null, count: numRows, values: ColumnBuffer(zeroedCount: 0),
                          validity: ColumnBuffer(zeroedCount: numRows), nullCount: numRows)
        }
        allocateOutput()
        for page in pages {
            switch ParquetPageType(rawValue: page.header.type) {
            case .dictionaryPage: try decodeDictionaryPage(page, chunk)
            case .dataPage: try decodeDataPageV1(page, chunk)
            case .dataPageV2: try decodeDataPageV2(page, chunk)
            default: break  // INDEX_PAGE and unknown page types carry no values
            }
        }
        guard rowsDone == numRows else {
            throw ParquetFormatError("decoded \(rowsDone) values, row group has \(numRows) rows")
        }
        return finish()
    }

    // MARK: Page walk

    private func scanPages(_ chunk: UnsafeRawBufferPointer) throws -> [PageRef] {
        var pages: [PageRef] = []
        var position = 0
        var valueCount = 0
        var sawData = false
        while valueCount < numRows {
            guard position < chunk.count else {
                throw ParquetFormatError("column chunk ends after \(valueCount) of \(numRows) values")
            }
            var reader = ThriftCompactReader(UnsafeRawBufferPointer(rebasing: chunk[position...]))
            let header: ParquetPageHeader
            do {
                header = try ParquetPageHeader.decode(&reader)
            } catch let e as ParquetFormatError {
                throw ParquetFormatError("corrupt page header at chunk offset \(position): \(e.message)")
            }
            let dataStart = position + reader.position
            let size = Int(header.compressedPageSize)
            guard size >= 0, header.uncompressedPageSize >= 0 else {
                throw ParquetFormatError("page at chunk offset \(position) has a negative size")
            }
            guard size <= chunk.count - dataStart else {
                throw ParquetFormatError("page at chunk offset \(position) needs \(size) bytes, column chunk has \(chunk.count - dataStart) left")
            }
            if verifyChecksums, let crc = header.crc {
                // CRC-32 (zlib's) of the page bytes as stored, after the header.
                let computed = zlibCRC32(UnsafeRawBufferPointer(rebasing: chunk[dataStart..<dataStart + size]))
                guard computed == UInt32(bitPattern: crc) else {
                    throw ParquetFormatError("page at chunk offset \(position) fails its CRC check (stored \(String(UInt32(bitPattern: crc), radix: 16)), computed \(String(computed, radix: 16)))")
                }
            }
            switch ParquetPageType(rawValue: header.type) {
            case .dictionaryPage:
                guard let dh = header.dictionaryPageHeader else { throw ParquetFormatError("dictionary page without its header") }
                guard dh.numValues >= 0 else { throw ParquetFormatError("dictionary page has negative value count \(dh.numValues)") }
                guard !sawData else { throw ParquetFormatError("dictionary page after data pages") }
                pages.append(PageRef(header: header, dataStart: dataStart))
            case .dataPage, .dataPageV2:
                let n: Int32
                if header.type == ParquetPageType.dataPage.rawValue {
                    guard let h = header.dataPageHeader else { throw ParquetFormatError("data page without its header") }
                    n = h.numValues
                } else {
                    guard let h = header.dataPageHeaderV2 else { throw ParquetFormatError("data page v2 without its header") }
                    guard h.definitionLevelsByteLength >= 0, h.repetitionLevelsByteLength >= 0,
                          Int(h.definitionLevelsByteLength) + Int(h.repetitionLevelsByteLength) <= size else {
                        throw ParquetFormatError("data page v2 level lengths exceed the page size")
                    }
                    n = h.numValues
                }
                guard n >= 0 else { throw ParquetFormatError("data page has negative value count \(n)") }
                valueCount += Int(n)
                guard valueCount <= numRows else {
                    throw ParquetFormatError("data pages hold more values (at least \(valueCount)) than the row group's \(numRows) rows")
                }
                sawData = true
                plainByteEstimate += max(0, Int(header.uncompressedPageSize) - 4 * Int(n))
                pages.append(PageRef(header: header, dataStart: dataStart))
            default:
                break  // skipped by size
            }
            position = dataStart + size
        }
        return pages
    }

    /// The page's bytes after decompression (v1 data and dictionary pages).
    private func pagePayload(_ page: PageRef, _ chunk: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer {
        let raw = UnsafeRawBufferPointer(rebasing: chunk[page.dataStart..<page.dataStart + Int(page.header.compressedPageSize)])
        if codec == .uncompressed { return raw }
        return try decompress(raw, uncompressedSize: Int(page.header.uncompressedPageSize))
    }

    private func decompress(_ raw: UnsafeRawBufferPointer, uncompressedSize: Int) throws -> UnsafeRawBufferPointer {
        if raw.isEmpty && uncompressedSize == 0 { return raw }
        try decompressor.checkDeclaredSize(raw, declared: uncompressedSize)
        let dst = scratch.pageBuffer(uncompressedSize)
        try decompressor.decompress(raw, into: dst)
        return UnsafeRawBufferPointer(dst)
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
    private func ensureValidity() -> UnsafeMutablePointer<UInt8> {
        if validity == nil {
            validity = RawAllocation.buffer(count: numRows)
            validity!.mutableBase.initializeMemory(as: UInt8.self, repeating: 1, count: rowsDone)
        }
        return validity!.mutableBase.assumingMemoryBound(to: UInt8.self)
    }

    /// Records the definition levels of the page at `rowsDone` (decoded in `levels`); returns
    /// the number of non-null values.
    private func recordLevels(_ levels: UnsafeMutablePointer<UInt8>, _ n: Int) -> Int {
        let nonNull = countValid(levels, n)
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

    // MARK: Pages

    private func decodeDictionaryPage(_ page: PageRef, _ chunk: UnsafeRawBufferPointer) throws {
        guard dictionary == nil else { throw ParquetFormatError("column chunk has more than one dictionary page") }
        let header = page.header.dictionaryPageHeader!
        guard header.encoding == ParquetEncoding.plain.rawValue || header.encoding == ParquetEncoding.plainDictionary.rawValue else {
            throw ParquetFormatError("dictionary page encoding \(ParquetEncoding.name(header.encoding)) is not supported")
        }
        let data = try pagePayload(page, chunk)
        let count = Int(header.numValues)
        guard let w = outputWidth else {
            let d = try ParquetDictionary.byteArrays(data: data, count: count)
            dictionary = d
            // Rows still to decode, at the dictionary's average entry length.
            if count > 0, let bytes = stringBytes {
                let estimate = min(d.totalBytes / count * (numRows - rowsDone) + bytes.count, Self.maxReservation)
                if estimate > bytes.count { bytes.reserve(estimate - bytes.count) }
            }
            return
        }
        // Entries are checked against the page's bytes before anything is allocated: at least one
        // bit per boolean, 4 bytes (the length) per byte array, the PLAIN width otherwise.
        let bound = physical == .boolean ? data.count * 8 : physical == .byteArray ? data.count / 4 : data.count / physicalWidth
        guard count <= bound else {
            throw ParquetFormatError("dictionary page declares \(count) values but holds only \(data.count) bytes")
        }
        dictionary = try ParquetDictionary.fixed(width: w, count: count) { out in
            if physical == .byteArray {
                var k = 0
                try PlainDecoder.forEachByteArray(data, count: count) { src, len in
                    try ValueConversion.decimalFromBigEndian(src, len, into: out + k * 16)
                    k += 1
                }
            } else {
                try decodeDense(encoding: ParquetEncoding.plain.rawValue, data, count: count, into: out)
            }
        }
    }

    private func decodeDataPageV1(_ page: PageRef, _ chunk: UnsafeRawBufferPointer) throws {
        let header = page.header.dataPageHeader!
        let n = Int(header.numValues)
        if try decodePlainPageInPlace(page, chunk, n: n) { return }
        try decodeV1Payload(header, try pagePayload(page, chunk), n: n)
    }

    /// Decodes a v1 page's decompressed bytes: definition levels (length-prefixed RLE or legacy
    /// BIT_PACKED) for OPTIONAL columns, then the values.
    private func decodeV1Payload(_ header: ParquetDataPageHeader, _ data: UnsafeRawBufferPointer, n: Int) throws {
        var valuesStart = 0
        var nonNull = n
        if maxDefinitionLevel > 0 {
            let levels = scratch.levelBuffer(n)
            switch header.definitionLevelEncoding {
            case ParquetEncoding.rle.rawValue:
                guard data.count >= 4 else { throw ParquetFormatError("unexpected end of page in definition level length") }
                let length = Int(UInt32(littleEndian: data.baseAddress!.loadUnaligned(as: UInt32.self)))
                guard length <= data.count - 4 else {
                    throw ParquetFormatError("definition levels of \(length) bytes exceed the page's \(data.count - 4) bytes")
                }
                var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: data[4..<4 + length]), bitWidth: 1)
                try decoder.decode(into: levels, count: n)
                valuesStart = 4 + length
            case ParquetEncoding.bitPacked.rawValue:
                // Legacy BIT_PACKED levels: MSB first, no length prefix.
                let length = (n + 7) / 8
                guard length <= data.count else { throw ParquetFormatError("unexpected end of page in BIT_PACKED definition levels") }
                if n > 0 {
                    let src = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    for i in 0..<n { levels[i] = (src[i >> 3] >> UInt8(7 - (i & 7))) & 1 }
                }
                valuesStart = length
            default:
                throw ParquetFormatError("definition level encoding \(ParquetEncoding.name(header.definitionLevelEncoding)) is not supported")
            }
            nonNull = recordLevels(levels, n)
        }
        let valuesData = UnsafeRawBufferPointer(rebasing: data[valuesStart...])
        try decodeValues(encoding: header.encoding, valuesData, n: n, nonNull: nonNull)
    }

    private func decodeDataPageV2(_ page: PageRef, _ chunk: UnsafeRawBufferPointer) throws {
        let header = page.header.dataPageHeaderV2!
        let n = Int(header.numValues)
        let size = Int(page.header.compressedPageSize)
        let repLength = Int(header.repetitionLevelsByteLength)
        let defLength = Int(header.definitionLevelsByteLength)
        let levelsEnd = page.dataStart + repLength + defLength
        var nonNull = n
        if maxDefinitionLevel > 0 {
            // v2 levels are never compressed and have no length prefix.
            let levels = scratch.levelBuffer(n)
            var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: chunk[page.dataStart + repLength..<levelsEnd]), bitWidth: 1)
            try decoder.decode(into: levels, count: n)
            nonNull = recordLevels(levels, n)
        }
        let raw = UnsafeRawBufferPointer(rebasing: chunk[levelsEnd..<page.dataStart + size])
        let valuesData: UnsafeRawBufferPointer
        // pyarrow writes is_compressed = false for incompressible pages; an empty section must not
        // reach the decompressor.
        if header.isCompressed && codec != .uncompressed && raw.count > 0 {
            let uncompressed = Int(page.header.uncompressedPageSize) - repLength - defLength
            guard uncompressed >= 0 else { throw ParquetFormatError("data page v2 uncompressed size is smaller than its levels") }
            if nonNull == n, let w = outputWidth, conversion == .copy, physical != .boolean,
               header.encoding == ParquetEncoding.plain.rawValue, uncompressed == n * w {
                // No nulls, PLAIN values of the output's width: decompress straight into place.
                try decompressor.checkDeclaredSize(raw, declared: uncompressed)
                try decompressor.decompress(raw, into: UnsafeMutableRawBufferPointer(start: values!.mutableBase + rowsDone * w, count: uncompressed))
                rowsDone += n
                return
            }
            valuesData = try decompress(raw, uncompressedSize: uncompressed)
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
    private func decodePlainPageInPlace(_ page: PageRef, _ chunk: UnsafeRawBufferPointer, n: Int) throws -> Bool {
        let header = page.header.dataPageHeader!
        guard codec != .uncompressed, let w = outputWidth, conversion == .copy, physical != .boolean,
              header.encoding == ParquetEncoding.plain.rawValue, n > 0 else { return false }
        var levelBytes = 0
        if maxDefinitionLevel > 0 {
            guard header.definitionLevelEncoding == ParquetEncoding.rle.rawValue else { return false }
            var run = UInt64(n) << 1, varintLength = 1
            while run >= 0x80 { run >>= 7; varintLength += 1 }
            levelBytes = 4 + varintLength + 1
        }
        let size = Int(page.header.uncompressedPageSize)
        guard size == n * w + levelBytes, levelBytes <= Self.frontSlack else { return false }
        let dst = values!.mutableBase + rowsDone * w - levelBytes
        var saved = (UInt64(0), UInt64(0))  // 16 bytes >= levelBytes (at most 4 + 5 + 1)
        withUnsafeMutableBytes(of: &saved) { $0.baseAddress!.copyMemory(from: dst, byteCount: levelBytes) }
        let raw = UnsafeRawBufferPointer(rebasing: chunk[page.dataStart..<page.dataStart + Int(page.header.compressedPageSize)])
        try decompressor.checkDeclaredSize(raw, declared: size)
        try decompressor.decompress(raw, into: UnsafeMutableRawBufferPointer(start: dst, count: size))
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

    @inline(__always)
    private func countValid(_ levels: UnsafeMutablePointer<UInt8>, _ n: Int) -> Int {
        var valid = 0
        for i in 0..<n { valid &+= Int(levels[i]) }
        return valid
    }

    // MARK: Values

    private func decodeValues(encoding: Int32, _ data: UnsafeRawBufferPointer, n: Int, nonNull: Int) throws {
        if let w = outputWidth {
            try decodeFixed(width: w, encoding, data, n, nonNull)
        } else {
            try decodeByteArrays(encoding, data, n, nonNull)
        }
        nullCount += n - nonNull
        rowsDone += n
    }

    private func unsupportedEncoding(_ encoding: Int32) -> ParquetFormatError {
        ParquetFormatError("encoding \(ParquetEncoding.name(encoding)) is not supported for \(physical.name) columns")
    }

    private func isDictionaryEncoding(_ encoding: Int32) -> Bool {
        encoding == ParquetEncoding.plainDictionary.rawValue || encoding == ParquetEncoding.rleDictionary.rawValue
    }

    /// Decodes `count` values of a non-dictionary encoding into `out` in the output storage.
    private func decodeDense(encoding: Int32, _ data: UnsafeRawBufferPointer, count: Int,
                             into out: UnsafeMutableRawPointer) throws {
        guard count > 0 else { return }
        if physical == .byteArray {
            // DECIMAL on BYTE_ARRAY: each big-endian value becomes 16 bytes.
            var k = 0
            try forEachByteArray(encoding, data, count: count) { src, len in
                try ValueConversion.decimalFromBigEndian(src, len, into: out + k * 16)
                k += 1
            }
            return
        }
        let conversion = self.conversion!
        let pw = physicalWidth
        let encodingValue = ParquetEncoding(rawValue: encoding)
        // PLAIN and BYTE_STREAM_SPLIT values must all be in the page before scratch is sized for them.
        if (encodingValue == .plain && physical != .boolean) || encodingValue == .byteStreamSplit, data.count < count * pw {
            throw ParquetFormatError("unexpected end of page: \(ParquetEncoding.name(encoding)) \(physical.name) values need \(count * pw) bytes, page holds \(data.count)")
        }
        let dense = conversion == .copy ? out : scratch.denseBuffer(count * pw)
        switch encodingValue {
        case .plain:
            if physical == .boolean {
                try PlainDecoder.decodeBooleans(data, into: dense.assumingMemoryBound(to: UInt8.self), count: count)
            } else {
                guard data.count >= count * pw else {
                    throw ParquetFormatError("unexpected end of page: PLAIN \(physical.name) values need \(count * pw) bytes, page holds \(data.count)")
                }
                dense.copyMemory(from: data.baseAddress!, byteCount: count * pw)
            }
        case .rle where physical == .boolean:
            // RLE booleans keep a 4-byte length prefix in v1 and v2 pages.
            guard data.count >= 4 else { throw ParquetFormatError("unexpected end of page in RLE boolean length") }
            let length = Int(UInt32(littleEndian: data.baseAddress!.loadUnaligned(as: UInt32.self)))
            guard length <= data.count - 4 else { throw ParquetFormatError("RLE booleans of \(length) bytes exceed the page") }
            var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: data[4..<4 + length]), bitWidth: 1)
            try decoder.decode(into: dense.assumingMemoryBound(to: UInt8.self), count: count)
        case .deltaBinaryPacked where physical == .int32 || physical == .int64:
            _ = try DeltaBinaryPackedDecoder.decode(data, count: count, width: pw, into: dense)
        case .byteStreamSplit where physical != .boolean:
            try ByteStreamSplitDecoder.decode(data, count: count, width: pw, into: dense)
        case .deltaByteArray where physical == .fixedLenByteArray:
            var k = 0
            try DeltaByteArrayDecoder.forEach(data, count: count, scratch: scratch) { src, len in
                guard len == pw else {
                    throw ParquetFormatError("DELTA_BYTE_ARRAY value of \(len) bytes in a FIXED_LEN_BYTE_ARRAY(\(pw)) column")
                }
                (dense + k * pw).copyMemory(from: src, byteCount: pw)
                k += 1
            }
        default:
            throw unsupportedEncoding(encoding)
        }
        if conversion != .copy {
            try conversion.convert(UnsafeRawPointer(dense), count: count, physicalWidth: pw, outWidth: outputWidth!, into: out)
        }
    }

    private func decodeFixed(width w: Int, _ encoding: Int32, _ data: UnsafeRawBufferPointer, _ n: Int, _ nonNull: Int) throws {
        let out = values!.mutableBase + rowsDone * w
        if isDictionaryEncoding(encoding) {
            let indices = try decodeIndices(data, count: nonNull)
            if nonNull > 0 { dictionary!.gather(indices, nonNull, into: out) }
        } else {
            try decodeDense(encoding: encoding, data, count: nonNull, into: out)
        }
        if nonNull < n {
            let valid = UnsafePointer(ensureValidity()) + rowsDone
            switch w {
            case 1: spread(out.assumingMemoryBound(to: UInt8.self), n: n, dense: nonNull, validity: valid, null: 0)
            case 2:
                spread(out.assumingMemoryBound(to: UInt16.self), n: n, dense: nonNull, validity: valid,
                       null: outputType == .float16 ? 0x7E00 : 0)
            case 4:
                spread(out.assumingMemoryBound(to: UInt32.self), n: n, dense: nonNull, validity: valid,
                       null: outputType == .float32 ? Float.nan.bitPattern : 0)
            case 8:
                spread(out.assumingMemoryBound(to: UInt64.self), n: n, dense: nonNull, validity: valid,
                       null: outputType == .float64 ? Double.nan.bitPattern : 0)
            case 16:
                spread(out.assumingMemoryBound(to: Int128Bits.self), n: n, dense: nonNull, validity: valid,
                       null: Int128Bits(low: 0, high: 0))
            default:
                spreadBytes(out, width: w, n: n, dense: nonNull, validity: valid)
            }
        }
    }

    /// `spread` for values of any width (fixed binary): moved back to front with memmove.
    private func spreadBytes(_ out: UnsafeMutableRawPointer, width w: Int, n: Int, dense: Int, validity: UnsafePointer<UInt8>) {
        var j = dense - 1
        var i = n - 1
        while i > j {
            if validity[i] != 0 {
                (out + i * w).copyMemory(from: out + j * w, byteCount: w)
                j -= 1
            } else {
                (out + i * w).initializeMemory(as: UInt8.self, repeating: 0, count: w)
            }
            i -= 1
        }
    }

    /// Walks `count` byte arrays of a non-dictionary encoding.
    @inline(__always)
    private func forEachByteArray(_ encoding: Int32, _ data: UnsafeRawBufferPointer, count: Int,
                                  _ body: (UnsafeRawPointer, Int) throws -> Void) throws {
        switch ParquetEncoding(rawValue: encoding) {
        case .plain: try PlainDecoder.forEachByteArray(data, count: count, body)
        case .deltaLengthByteArray: try DeltaLengthByteArrayDecoder.forEach(data, count: count, scratch: scratch, body)
        case .deltaByteArray: try DeltaByteArrayDecoder.forEach(data, count: count, scratch: scratch, body)
        default: throw unsupportedEncoding(encoding)
        }
    }

    /// Moves `dense` values at the start of `out` to the valid slots of `out[0..<n]`, back to
    /// front (so nothing is overwritten before it is moved), filling null slots with `null`.
    @inline(__always)
    private func spread<S: BitwiseCopyable>(_ out: UnsafeMutablePointer<S>, n: Int, dense: Int, validity: UnsafePointer<UInt8>, null: S) {
        var j = dense - 1
        var i = n - 1
        // Blocks of 8 slots: all valid (a block move) or all null (a fill) skip the per-slot branch.
        while i > j && i >= 7 {
            let word = UnsafeRawPointer(validity + (i - 7)).loadUnaligned(as: UInt64.self)
            if word == 0x0101_0101_0101_0101 {
                // j >= 7 here: the 8 valid slots have 8 dense values at j-7...j. Read all before
                // writing, as the ranges may overlap.
                let a0 = out[j - 7], a1 = out[j - 6], a2 = out[j - 5], a3 = out[j - 4]
                let a4 = out[j - 3], a5 = out[j - 2], a6 = out[j - 1], a7 = out[j]
                out[i - 7] = a0; out[i - 6] = a1; out[i - 5] = a2; out[i - 4] = a3
                out[i - 3] = a4; out[i - 2] = a5; out[i - 1] = a6; out[i] = a7
                j -= 8
                i -= 8
            } else if word == 0 {
                (out + (i - 7)).update(repeating: null, count: 8)
                i -= 8
            } else {
                for _ in 0..<8 {
                    if validity[i] != 0 {
                        out[i] = out[j]
                        j -= 1
                    } else {
                        out[i] = null
                    }
                    i -= 1
                }
            }
        }
        while i > j {
            if validity[i] != 0 {
                out[i] = out[j]
                j -= 1
            } else {
                out[i] = null
            }
            i -= 1
        }
        // From here on every slot is valid and already in place.
    }

    /// Decodes `count` dictionary indices (bit-width byte + RLE hybrid) into the index scratch
    /// and checks them against the dictionary.
    private func decodeIndices(_ data: UnsafeRawBufferPointer, count: Int) throws -> UnsafePointer<UInt32> {
        let indices = scratch.indexBuffer(count)
        guard count > 0 else { return UnsafePointer(indices) }
        guard let dictionary else {
            throw ParquetFormatError("dictionary-encoded data page but the column chunk has no dictionary page")
        }
        guard data.count >= 1 else { throw ParquetFormatError("unexpected end of page: missing dictionary index bit width") }
        let bitWidth = Int(data[0])
        var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: data[1...]), bitWidth: bitWidth)
        try decoder.decode(into: indices, count: count)
        try ParquetDictionary.checkIndices(indices, count, count: dictionary.count)
        return UnsafePointer(indices)
    }

    private func decodeByteArrays(_ encoding: Int32, _ data: UnsafeRawBufferPointer, _ n: Int, _ nonNull: Int) throws {
        let rowStart = rowsDone
        let o = offsets!.mutableBase.assumingMemoryBound(to: Int64.self) + rowStart
        let valid: UnsafePointer<UInt8>? = nonNull < n ? UnsafePointer(ensureValidity()) + rowStart : nil
        let bytes = stringBytes!
        var current = o[0]
        var i = 0
        switch ParquetEncoding(rawValue: encoding) {
        case .plain:
            bytes.reserve(data.count)  // the PLAIN section bounds the value bytes
            try PlainDecoder.forEachByteArray(data, count: nonNull) { src, len in
                if let valid { while valid[i] == 0 { o[i + 1] = current; i += 1 } }
                bytes.end.copyMemory(from: src, byteCount: len)
                bytes.count += len
                current += Int64(len)
                o[i + 1] = current
                i += 1
            }
        case .plainDictionary, .rleDictionary:
            let indices = try decodeIndices(data, count: nonNull)
            if nonNull > 0 {
                let dict = dictionary!
                let total = dict.totalLength(indices, nonNull)
                guard bytes.count + total <= Self.maxOutputBytes else {
                    throw ParquetFormatError("byte arrays exceed the reader's cap of \(Self.maxOutputBytes >> 30) GiB per column chunk")
                }
                bytes.reserve(total)
                for k in 0..<nonNull {
                    if let valid { while valid[i] == 0 { o[i + 1] = current; i += 1 } }
                    let (src, len) = dict.entry(Int(indices[k]))
                    bytes.end.copyMemory(from: src, byteCount: len)
                    bytes.count += len
                    current += Int64(len)
                    o[i + 1] = current
                    i += 1
                }
            }
        case .deltaLengthByteArray, .deltaByteArray:
            // The page bounds the bytes: suffix bytes are copied, prefixes repeat earlier bytes, so
            // grow as needed (each value is at most the page's size plus the previous value).
            try forEachByteArray(encoding, data, count: nonNull) { src, len in
                if let valid { while valid[i] == 0 { o[i + 1] = current; i += 1 } }
                guard bytes.count + len <= Self.maxOutputBytes else {
                    throw ParquetFormatError("byte arrays exceed the reader's cap of \(Self.maxOutputBytes >> 30) GiB per column chunk")
                }
                bytes.append(src, len)
                current += Int64(len)
                o[i + 1] = current
                i += 1
            }
        default:
            throw unsupportedEncoding(encoding)
        }
        while i < n { o[i + 1] = current; i += 1 }
    }
}
