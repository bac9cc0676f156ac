/// Decodes one column chunk of a flat leaf (max repetition level 0, max definition level 0 or 1)
/// into a `Column`.
///
/// The chunk's bytes are walked twice: first the page headers only, to check that the pages hold
/// exactly the row group's rows before anything row-sized is allocated; then page by page,
/// decompressing into a reused scratch buffer and decoding straight into the output buffers.
/// Values of a page are decoded densely at the page's first row and then spread over the null
/// slots in place, so the no-null case is a plain copy or gather.
final class ColumnChunkDecoder {
    private let physical: ParquetPhysicalType
    private let maxDefinitionLevel: Int
    private let outputType: DataType
    private let numRows: Int
    private let codec: CompressionCodec
    private let decompressor: Decompressor

    // Output under construction.
    private var values: ColumnBuffer?
    private var offsets: ColumnBuffer?
    private var stringBytes: GrowableBuffer?
    private var validity: ColumnBuffer?
    private var rowsDone = 0
    private var nullCount = 0
    private var dictionary: ParquetDictionary?

    // Scratch reused across pages (and across the chunks of one row group read).
    private let scratch: DecodeScratch

    /// A page located by the header scan.
    private struct PageRef {
        var header: ParquetPageHeader
        var dataStart: Int
    }

    init(physical: ParquetPhysicalType, maxDefinitionLevel: Int, outputType: DataType, codec: Int32, numRows: Int,
         scratch: DecodeScratch = DecodeScratch()) throws {
        guard maxDefinitionLevel <= 1 else {
            throw ParquetFormatError("columns with definition level \(maxDefinitionLevel) (nested) are not supported")
        }
        self.physical = physical
        self.maxDefinitionLevel = maxDefinitionLevel
        self.outputType = outputType
        self.numRows = numRows
        self.scratch = scratch
        self.decompressor = try Decompressor(codec: codec)
        self.codec = decompressor.codec
    }

    /// Decodes the chunk whose bytes (from its first page header to its end) are `chunk`.
    func decode(_ chunk: UnsafeRawBufferPointer) throws -> Column {
        let pages = try scanPages(chunk)
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

    private func allocateOutput() {
        if let width = outputType.byteWidth {
            values = ColumnBuffer(uninitializedCount: numRows * width)
        } else {
            offsets = ColumnBuffer(uninitializedCount: (numRows + 1) * 8)
            offsets!.mutableBase.storeBytes(of: Int64(0), as: Int64.self)
            stringBytes = GrowableBuffer()
        }
        if maxDefinitionLevel > 0 { validity = ColumnBuffer(uninitializedCount: numRows) }
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
        switch outputType.byteWidth {
        case 1?: dictionary = try fixedDictionary(UInt8.self, data, count)
        case 2?: dictionary = try fixedDictionary(UInt16.self, data, count)
        case 4?: dictionary = try fixedDictionary(UInt32.self, data, count)
        case 8?: dictionary = try fixedDictionary(UInt64.self, data, count)
        case nil: dictionary = try ParquetDictionary.byteArrays(data: data, count: count)
        default: throw ParquetFormatError("unexpected output width")
        }
    }

    private func fixedDictionary<S: FixedWidthInteger & UnsignedInteger>(_: S.Type, _ data: UnsafeRawBufferPointer, _ count: Int) throws -> ParquetDictionary {
        // The page bounds the count (at least one bit per value) before anything is allocated.
        guard count <= data.count * 8 else {
            throw ParquetFormatError("dictionary page declares \(count) values but holds only \(data.count) bytes")
        }
        return try ParquetDictionary.fixed(S.self, physical: physical, data: data, count: count)
    }

    private func decodeDataPageV1(_ page: PageRef, _ chunk: UnsafeRawBufferPointer) throws {
        let header = page.header.dataPageHeader!
        let n = Int(header.numValues)
        let data = try pagePayload(page, chunk)
        var valuesStart = 0
        var nonNull = n
        if maxDefinitionLevel > 0 {
            let levels = validity!.mutableBase.assumingMemoryBound(to: UInt8.self) + rowsDone
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
            nonNull = countValid(levels, n)
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
            let levels = validity!.mutableBase.assumingMemoryBound(to: UInt8.self) + rowsDone
            var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: chunk[page.dataStart + repLength..<levelsEnd]), bitWidth: 1)
            try decoder.decode(into: levels, count: n)
            nonNull = countValid(levels, n)
        }
        let raw = UnsafeRawBufferPointer(rebasing: chunk[levelsEnd..<page.dataStart + size])
        let valuesData: UnsafeRawBufferPointer
        // pyarrow writes is_compressed = false for incompressible pages; an empty section must not
        // reach the decompressor.
        if header.isCompressed && codec != .uncompressed && raw.count > 0 {
            let uncompressed = Int(page.header.uncompressedPageSize) - repLength - defLength
            guard uncompressed >= 0 else { throw ParquetFormatError("data page v2 uncompressed size is smaller than its levels") }
            valuesData = try decompress(raw, uncompressedSize: uncompressed)
        } else {
            valuesData = raw
        }
        try decodeValues(encoding: header.encoding, valuesData, n: n, nonNull: nonNull)
    }

    @inline(__always)
    private func countValid(_ levels: UnsafeMutablePointer<UInt8>, _ n: Int) -> Int {
        var valid = 0
        for i in 0..<n { valid &+= Int(levels[i]) }
        return valid
    }

    // MARK: Values

    private func decodeValues(encoding: Int32, _ data: UnsafeRawBufferPointer, n: Int, nonNull: Int) throws {
        switch outputType.byteWidth {
        case 1?: try decodeFixed(UInt8.self, encoding, data, n, nonNull)
        case 2?: try decodeFixed(UInt16.self, encoding, data, n, nonNull)
        case 4?: try decodeFixed(UInt32.self, encoding, data, n, nonNull)
        case 8?: try decodeFixed(UInt64.self, encoding, data, n, nonNull)
        case nil: try decodeByteArrays(encoding, data, n, nonNull)
        default: throw ParquetFormatError("unexpected output width")
        }
        nullCount += n - nonNull
        rowsDone += n
    }

    private func unsupportedEncoding(_ encoding: Int32) -> ParquetFormatError {
        ParquetFormatError("encoding \(ParquetEncoding.name(encoding)) is not supported for \(physical.name) columns yet")
    }

    private func decodeFixed<S: FixedWidthInteger & UnsignedInteger>(_: S.Type, _ encoding: Int32, _ data: UnsafeRawBufferPointer,
                                                                     _ n: Int, _ nonNull: Int) throws {
        let out = values!.mutableBase.assumingMemoryBound(to: S.self) + rowsDone
        switch ParquetEncoding(rawValue: encoding) {
        case .plain:
            try PlainDecoder.decodeFixed(physical, data, into: out, count: nonNull)
        case .plainDictionary, .rleDictionary:
            let indices = try decodeIndices(data, count: nonNull)
            if nonNull > 0 { dictionary!.gather(indices, nonNull, into: out) }
        case .rle where physical == .boolean:
            // RLE booleans keep a 4-byte length prefix in v1 and v2 pages.
            if nonNull > 0 {
                guard data.count >= 4 else { throw ParquetFormatError("unexpected end of page in RLE boolean length") }
                let length = Int(UInt32(littleEndian: data.baseAddress!.loadUnaligned(as: UInt32.self)))
                guard length <= data.count - 4 else { throw ParquetFormatError("RLE booleans of \(length) bytes exceed the page") }
                var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: data[4..<4 + length]), bitWidth: 1)
                try decoder.decode(into: out, count: nonNull)
            }
        default:
            throw unsupportedEncoding(encoding)
        }
        if nonNull < n {
            spread(out, n: n, dense: nonNull, validity: validity!.base.assumingMemoryBound(to: UInt8.self) + rowsDone,
                   null: nullValue(S.self))
        }
    }

    /// The value of a null slot: NaN for floats (what pandas shows), zero otherwise.
    private func nullValue<S: FixedWidthInteger>(_: S.Type) -> S {
        switch outputType {
        case .float32: S(truncatingIfNeeded: Float.nan.bitPattern)
        case .float64: S(truncatingIfNeeded: Double.nan.bitPattern)
        default: 0
        }
    }

    /// Moves `dense` values at the start of `out` to the valid slots of `out[0..<n]`, back to
    /// front (so nothing is overwritten before it is moved), filling null slots with `null`.
    @inline(__always)
    private func spread<S>(_ out: UnsafeMutablePointer<S>, n: Int, dense: Int, validity: UnsafePointer<UInt8>, null: S) {
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
        guard physical == .byteArray else { throw ParquetFormatError("\(physical.name) cannot be read as \(outputType)") }
        let rowStart = rowsDone
        let o = offsets!.mutableBase.assumingMemoryBound(to: Int64.self) + rowStart
        let valid: UnsafePointer<UInt8>? = nonNull < n ? validity!.base.assumingMemoryBound(to: UInt8.self) + rowStart : nil
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
                bytes.reserve(dict.totalLength(indices, nonNull))
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
        default:
            throw unsupportedEncoding(encoding)
        }
        while i < n { o[i + 1] = current; i += 1 }
    }
}
