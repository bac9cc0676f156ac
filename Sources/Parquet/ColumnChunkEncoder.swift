import Columnar

/// Encodes one column of a record batch as one Parquet column chunk (docs/parquet.md §5):
/// optionally one PLAIN dictionary page, then DATA_PAGE v1 pages of at most `maxRowsPerPage` rows
/// and about `targetPageBytes` bytes, whose values are RLE_DICTIONARY indices or PLAIN values
/// (booleans bit-packed), with RLE definition levels (4-byte length prefix) for OPTIONAL columns
/// only.
final class ColumnChunkEncoder {
    static let defaultMaxRowsPerPage = 20_000
    static let targetPageBytes = 1 << 20
    /// A dictionary whose PLAIN page would exceed this (pyarrow's default) is abandoned: the
    /// whole chunk is written PLAIN.
    static let dictionaryPageLimit = 1 << 20

    /// Rows per page at most (pyarrow's and parquet-mr's default); tests lower it.
    var maxRowsPerPage = ColumnChunkEncoder.defaultMaxRowsPerPage
    /// Whether to try dictionary encoding (not for booleans and null columns).
    var useDictionary = true

    private let compressor: Compressor
    private let page = GrowableBuffer(capacity: 1 << 20)
    private let compressed = GrowableBuffer(capacity: 1 << 20)
    private var header = ThriftCompactWriter()

    init(compressor: Compressor) {
        self.compressor = compressor
    }

    /// Appends the chunk's pages to `out` and returns its metadata; `fileOffset` is where
    /// `out`'s first byte will land in the file.
    func encode(_ column: Column, element: ParquetSchemaElement, nullable: Bool, fileOffset: Int,
                into out: GrowableBuffer) throws -> ParquetColumnMetaData {
        let chunkStart = out.count
        var uncompressedTotal = 0
        let n = column.count
        let validity = column.nullCount > 0 ? column.validity?.base.assumingMemoryBound(to: UInt8.self) : nil
        let allNull = column.type == .null
        let physicalWidth = Self.physicalWidth(element)

        var dictionary: ParquetDictionaryBuilder?
        if useDictionary && column.type != .bool && !allNull && n > column.nullCount {
            dictionary = ParquetDictionaryBuilder.build(column, physicalWidth: physicalWidth, limit: Self.dictionaryPageLimit)
            if let d = dictionary {
                // Keep it only when it pays: dictionary page plus indices smaller than PLAIN.
                let plain = physicalWidth > 0 ? (n - column.nullCount) * physicalWidth
                    : Int(column.offsets!.typed(Int64.self)[n]) + 4 * (n - column.nullCount)
                if d.plainSize + d.indices.count * d.bitWidth / 8 >= plain { dictionary = nil }
            }
        }

        var meta = ParquetColumnMetaData()
        meta.type = element.type!
        meta.pathInSchema = [element.name]
        meta.codec = compressor.codec.rawValue
        meta.numValues = Int64(n)

        let dataEncoding: ParquetEncoding = dictionary != nil ? .rleDictionary : .plain
        func emit(_ isDictionary: Bool, values: Int) throws {
            uncompressedTotal += try emitPage(dictionary: isDictionary, values: values, encoding: dataEncoding, into: out)
        }

        if let d = dictionary {
            let entries = d.entries(of: column)
            page.removeAll()
            try appendValues(entries, rows: 0..<entries.count, validity: nil)
            meta.dictionaryPageOffset = Int64(fileOffset)
            try emit(true, values: entries.count)
        }
        meta.dataPageOffset = Int64(fileOffset + out.count - chunkStart)

        var row = 0
        var nextIndex = 0  // first dictionary index of the page (indices cover non-null rows only)
        while row < n {
            let end = pageEnd(column, from: row)
            page.removeAll()
            if nullable {
                // 4-byte length prefix, patched once the levels are written.
                page.appendLittleEndian(0)
                if allNull {
                    // Every level is 0: one RLE run.
                    RLEHybridEncoder.appendVarint(UInt64(end - row) << 1, page)
                    page.append(byte: 0)
                } else {
                    RLEHybridEncoder.encodeBitWidth1(validity.map { $0 + row }, count: end - row, into: page)
                }
                page.base.storeBytes(of: UInt32(page.count - 4).littleEndian, as: UInt32.self)
            }
            if let d = dictionary {
                var present = end - row
                if let validity { present = 0; for i in row..<end { present &+= Int(validity[i]) } }
                page.append(byte: UInt8(d.bitWidth))
                d.indices.withUnsafeBufferPointer { p in
                    RLEHybridEncoder.encode(p.baseAddress! + nextIndex, count: present, bitWidth: d.bitWidth, into: page)
                }
                nextIndex += present
            } else if !allNull {
                try appendValues(column, rows: row..<end, validity: validity)
            }
            try emit(false, values: end - row)
            row = end
        }
        var encodings: [ParquetEncoding] = dictionary != nil ? [.plain, .rleDictionary] : [.plain]
        if nullable { encodings.append(.rle) }
        meta.encodings = encodings.map(\.rawValue)
        meta.totalUncompressedSize = Int64(uncompressedTotal)
        meta.totalCompressedSize = Int64(out.count - chunkStart)
        var stats = ParquetStatistics()
        stats.nullCount = Int64(allNull ? n : column.nullCount)
        if let (lo, hi) = ParquetStatisticsBuilder.minMax(column) {
            stats.minValue = lo
            stats.maxValue = hi
        }
        meta.statistics = stats
        return meta
    }

    /// Appends the chunk of one shredded leaf of a nested column to `out` and returns its
    /// metadata: like `encode`, but every page holds whole rows (it starts at repetition level
    /// 0), carries RLE repetition levels (when the leaf is repeated) and definition levels, each
    /// with a 4-byte length prefix, and counts levels, not rows, in `num_values`. Statistics hold
    /// the null count (levels without a value) and min/max of the present values.
    func encodeNested(_ leaf: ShreddedLeaf, fileOffset: Int, into out: GrowableBuffer) throws -> ParquetColumnMetaData {
        let chunkStart = out.count
        var uncompressedTotal = 0
        let values = leaf.values
        let levels = leaf.levelCount
        let maxRep = leaf.maxRepetitionLevel, maxDef = leaf.maxDefinitionLevel
        let allNull = values.type == .null
        let physicalWidth = Self.physicalWidth(leaf.element)

        var dictionary: ParquetDictionaryBuilder?
        if useDictionary && values.type != .bool && !allNull && values.count > 0 {
            dictionary = ParquetDictionaryBuilder.build(values, physicalWidth: physicalWidth, limit: Self.dictionaryPageLimit)
            if let d = dictionary {
                let plain = physicalWidth > 0 ? values.count * physicalWidth
                    : Int(values.offsets!.typed(Int64.self)[values.count]) + 4 * values.count
                if d.plainSize + d.indices.count * d.bitWidth / 8 >= plain { dictionary = nil }
            }
        }

        var meta = ParquetColumnMetaData()
        meta.type = leaf.element.type!
        meta.pathInSchema = leaf.path
        meta.codec = compressor.codec.rawValue
        meta.numValues = Int64(levels)

        if let d = dictionary {
            let entries = d.entries(of: values)
            page.removeAll()
            try appendValues(entries, rows: 0..<entries.count, validity: nil)
            meta.dictionaryPageOffset = Int64(fileOffset)
            uncompressedTotal += try emitPage(dictionary: true, values: entries.count, encoding: .plain, into: out)
        }
        meta.dataPageOffset = Int64(fileOffset + out.count - chunkStart)

        let valueOffsets = values.type.isVariableWidth ? values.offsets!.base.assumingMemoryBound(to: Int64.self) : nil
        try leaf.repetitionLevels.withUnsafeBufferPointer { repBuffer in
            try leaf.definitionLevels.withUnsafeBufferPointer { defBuffer in
                // (An empty array may still have a base address: go by the max levels.)
                let rep = maxRep > 0 ? repBuffer.baseAddress : nil, def = maxDef > 0 ? defBuffer.baseAddress : nil
                let repWidth = Int.bitWidth - maxRep.leadingZeroBitCount
                let defWidth = Int.bitWidth - maxDef.leadingZeroBitCount
                var start = 0
                var firstValue = 0  // index into `values` (and the dictionary indices) of the page's first value
                while start < levels {
                    // Whole rows, at most maxRowsPerPage of them and about targetPageBytes of values.
                    var end = start, rows = 0, bytes = 0, present = 0
                    while end < levels {
                        if rep == nil || rep![end] == 0 {
                            if rows == maxRowsPerPage || (rows > 0 && bytes >= Self.targetPageBytes) { break }
                            rows += 1
                        }
                        if def == nil || Int(def![end]) == maxDef {
                            if let valueOffsets {
                                let v = firstValue + present
                                bytes += 4 + Int(valueOffsets[v + 1] - valueOffsets[v])
                            } else {
                                bytes += physicalWidth
                            }
                            present += 1
                        }
                        bytes += 1
                        end += 1
                    }
                    page.removeAll()
                    for (levelsPointer, width) in [(rep, repWidth), (def, defWidth)] {
                        guard let levelsPointer else { continue }
                        let lengthAt = page.count
                        page.appendLittleEndian(0)
                        RLEHybridEncoder.encode(levelsPointer + start, count: end - start, bitWidth: width, into: page)
                        page.base.storeBytes(of: UInt32(page.count - lengthAt - 4).littleEndian, toByteOffset: lengthAt, as: UInt32.self)
                    }
                    if let d = dictionary {
                        page.append(byte: UInt8(d.bitWidth))
                        d.indices.withUnsafeBufferPointer { p in
                            RLEHybridEncoder.encode(p.baseAddress! + firstValue, count: present, bitWidth: d.bitWidth, into: page)
                        }
                    } else if !allNull {
                        try appendValues(values, rows: firstValue..<(firstValue + present), validity: nil)
                    }
                    uncompressedTotal += try emitPage(dictionary: false, values: end - start,
                                                      encoding: dictionary != nil ? .rleDictionary : .plain, into: out)
                    firstValue += present
                    start = end
                }
            }
        }
        var encodings: [ParquetEncoding] = dictionary != nil ? [.plain, .rleDictionary] : [.plain]
        encodings.append(.rle)
        meta.encodings = encodings.map(\.rawValue)
        meta.totalUncompressedSize = Int64(uncompressedTotal)
        meta.totalCompressedSize = Int64(out.count - chunkStart)
        var stats = ParquetStatistics()
        stats.nullCount = Int64(levels - values.count)
        if let (lo, hi) = ParquetStatisticsBuilder.minMax(values) {
            stats.minValue = lo
            stats.maxValue = hi
        }
        meta.statistics = stats
        return meta
    }

    /// Compresses `page` and appends it with its header to `out`; returns the uncompressed bytes
    /// (header plus page) it adds to the chunk.
    private func emitPage(dictionary isDictionary: Bool, values: Int, encoding: ParquetEncoding,
                          into out: GrowableBuffer) throws -> Int {
        guard page.count <= Int(Int32.max) else {
            throw ParquetFormatError("page of \(page.count) bytes exceeds Parquet's 2 GiB page limit")
        }
        guard values <= Int(Int32.max) else {
            throw ParquetFormatError("page of \(values) values exceeds Parquet's Int32 value count")
        }
        let body: UnsafeRawBufferPointer
        if compressor.codec == .uncompressed {
            body = page.bytes
        } else {
            try compressor.compress(page.bytes, into: compressed)
            body = compressed.bytes
        }
        if isDictionary {
            ParquetPageHeader.encodeDictionaryPage(&header, uncompressedSize: Int32(page.count), compressedSize: Int32(body.count),
                                                   numValues: Int32(values))
        } else {
            ParquetPageHeader.encodeDataPageV1(&header, uncompressedSize: Int32(page.count), compressedSize: Int32(body.count),
                                               numValues: Int32(values), encoding: encoding)
        }
        out.append(header.bytes)
        out.append(body.baseAddress!, body.count)
        return header.bytes.count + page.count
    }

    /// Bytes per PLAIN value of `element` (0 for BYTE_ARRAY, 1 for BOOLEAN's purposes).
    static func physicalWidth(_ element: ParquetSchemaElement) -> Int {
        switch element.type! {
        case .boolean: 1
        case .byteArray: 0
        case .fixedLenByteArray: Int(element.typeLength ?? 0)
        case let t: t.plainWidth!
        }
    }

    /// The end of the page starting at `row`.
    private func pageEnd(_ column: Column, from row: Int) -> Int {
        let limit = min(column.count, row + maxRowsPerPage)
        if let width = column.type.byteWidth {
            // Wide fixed values (fixed binary) also respect the byte target.
            guard width > 0 else { return limit }
            return min(limit, row + max(1, Self.targetPageBytes / width))
        }
        let o = column.offsets!.base.assumingMemoryBound(to: Int64.self)
        var end = row + 1
        while end < limit && Int(o[end + 1] - o[row]) + 4 * (end + 1 - row) <= Self.targetPageBytes { end += 1 }
        return end
    }

    private func appendValues(_ column: Column, rows: Range<Int>, validity: UnsafePointer<UInt8>?) throws {
        let v = column.values.base
        let valid = validity
        switch column.type {
        case .list, .structure, .map:
            throw ParquetFormatError("\(column.type) is not a leaf column")
        case .bool: appendBooleans(v.assumingMemoryBound(to: UInt8.self), rows, valid)
        case .int8: appendWidened(v.assumingMemoryBound(to: Int8.self), rows, valid) { UInt32(bitPattern: Int32($0)) }
        case .int16: appendWidened(v.assumingMemoryBound(to: Int16.self), rows, valid) { UInt32(bitPattern: Int32($0)) }
        case .uint8: appendWidened(v.assumingMemoryBound(to: UInt8.self), rows, valid) { UInt32($0) }
        case .uint16: appendWidened(v.assumingMemoryBound(to: UInt16.self), rows, valid) { UInt32($0) }
        case .int32, .uint32, .float32, .date32: appendSame(v.assumingMemoryBound(to: UInt32.self), rows, valid)
        case .int64, .uint64, .float64, .timestamp, .time(.microseconds), .time(.nanoseconds):
            appendSame(v.assumingMemoryBound(to: UInt64.self), rows, valid)
        case .time(.milliseconds):
            // Held as Int64 milliseconds; TIME(MILLIS) is INT32.
            appendWidened(v.assumingMemoryBound(to: Int64.self), rows, valid) { UInt32(truncatingIfNeeded: $0) }
        case .float16: appendSame(v.assumingMemoryBound(to: UInt16.self), rows, valid)
        case .string, .binary: appendByteArrays(column, rows, valid)
        case .fixedBinary(let w): appendRaw(v, width: w, rows, valid)
        case .uuid: appendRaw(v, width: 16, rows, valid)
        case .decimal(let precision, _):
            if precision <= 9 {
                appendWidened(v.assumingMemoryBound(to: Int128Bits.self), rows, valid) { UInt32(truncatingIfNeeded: $0.low) }
            } else if precision <= 18 {
                appendSame64(v.assumingMemoryBound(to: Int128Bits.self), rows, valid)
            } else {
                appendBigEndianDecimals(v, width: ParquetTypeMapping.decimalByteWidth(precision: precision), rows, valid)
            }
        case .null: break
        }
    }

    /// Values whose Parquet width equals their in-memory width: one copy when there are no nulls.
    private func appendSame<T: FixedWidthInteger>(_ p: UnsafePointer<T>, _ rows: Range<Int>, _ valid: UnsafePointer<UInt8>?) {
        let size = MemoryLayout<T>.size
        page.reserve(rows.count * size)
        if valid == nil {
            page.end.copyMemory(from: p + rows.lowerBound, byteCount: rows.count * size)
            page.count += rows.count * size
            return
        }
        let dst = page.end.assumingMemoryBound(to: T.self)
        var k = 0
        for i in rows where valid![i] != 0 {
            dst[k] = p[i]
            k += 1
        }
        page.count += k * size
    }

    /// The low 8 bytes of 16-byte decimals (INT64 decimals).
    private func appendSame64(_ p: UnsafePointer<Int128Bits>, _ rows: Range<Int>, _ valid: UnsafePointer<UInt8>?) {
        page.reserve(rows.count * 8)
        let dst = page.end
        var k = 0
        for i in rows where valid == nil || valid![i] != 0 {
            dst.storeBytes(of: p[i].low.littleEndian, toByteOffset: k * 8, as: UInt64.self)
            k += 1
        }
        page.count += k * 8
    }

    /// Values narrowed or widened to INT32.
    private func appendWidened<T>(_ p: UnsafePointer<T>, _ rows: Range<Int>, _ valid: UnsafePointer<UInt8>?,
                                  _ widen: (T) -> UInt32) {
        page.reserve(rows.count * 4)
        let dst = page.end
        var k = 0
        for i in rows where valid == nil || valid![i] != 0 {
            dst.storeBytes(of: widen(p[i]).littleEndian, toByteOffset: k * 4, as: UInt32.self)
            k += 1
        }
        page.count += k * 4
    }

    /// Fixed-width bytes copied as they are (FIXED_LEN_BYTE_ARRAY).
    private func appendRaw(_ p: UnsafeRawPointer, width w: Int, _ rows: Range<Int>, _ valid: UnsafePointer<UInt8>?) {
        page.reserve(rows.count * w)
        if valid == nil {
            page.end.copyMemory(from: p + rows.lowerBound * w, byteCount: rows.count * w)
            page.count += rows.count * w
            return
        }
        for i in rows where valid![i] != 0 {
            page.end.copyMemory(from: p + i * w, byteCount: w)
            page.count += w
        }
    }

    /// 16-byte little-endian decimals as big-endian FIXED_LEN_BYTE_ARRAY(width) (width <= 16).
    private func appendBigEndianDecimals(_ p: UnsafeRawPointer, width w: Int, _ rows: Range<Int>, _ valid: UnsafePointer<UInt8>?) {
        page.reserve(rows.count * w)
        let src = p.assumingMemoryBound(to: UInt8.self)
        for i in rows where valid == nil || valid![i] != 0 {
            let dst = page.end.assumingMemoryBound(to: UInt8.self)
            for k in 0..<w { dst[k] = src[i * 16 + w - 1 - k] }
            page.count += w
        }
    }

    /// Booleans bit-packed LSB first.
    private func appendBooleans(_ p: UnsafePointer<UInt8>, _ rows: Range<Int>, _ valid: UnsafePointer<UInt8>?) {
        page.reserve((rows.count + 7) / 8)
        let dst = page.end.assumingMemoryBound(to: UInt8.self)
        var k = 0
        var byte: UInt8 = 0
        for i in rows where valid == nil || valid![i] != 0 {
            if p[i] != 0 { byte |= 1 << UInt8(k & 7) }
            k += 1
            if k & 7 == 0 {
                dst[(k >> 3) - 1] = byte
                byte = 0
            }
        }
        if k & 7 != 0 { dst[k >> 3] = byte }
        page.count += (k + 7) / 8
    }

    /// Byte arrays: u32 length then the bytes, for each non-null value.
    private func appendByteArrays(_ column: Column, _ rows: Range<Int>, _ valid: UnsafePointer<UInt8>?) {
        let o = column.offsets!.base.assumingMemoryBound(to: Int64.self)
        let base = column.values.base
        page.reserve(Int(o[rows.upperBound] - o[rows.lowerBound]) + 4 * rows.count)
        for i in rows where valid == nil || valid![i] != 0 {
            let start = Int(o[i]), len = Int(o[i + 1]) - start
            page.end.storeBytes(of: UInt32(len).littleEndian, as: UInt32.self)
            (page.end + 4).copyMemory(from: base + start, byteCount: len)
            page.count += 4 + len
        }
    }
}
