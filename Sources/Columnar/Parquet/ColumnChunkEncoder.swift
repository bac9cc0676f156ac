/// Encodes one column of a record batch as one Parquet column chunk: DATA_PAGE v1 pages of at
/// most `maxRowsPerPage` rows and about `targetPageBytes` bytes, PLAIN values (booleans
/// bit-packed), RLE definition levels with a 4-byte length prefix for OPTIONAL columns only.
final class ColumnChunkEncoder {
    static let defaultMaxRowsPerPage = 20_000
    static let targetPageBytes = 1 << 20

    /// Rows per page at most (pyarrow's and parquet-mr's default); tests lower it.
    var maxRowsPerPage = ColumnChunkEncoder.defaultMaxRowsPerPage

    private let compressor: Compressor
    private let page = GrowableBuffer(capacity: 1 << 20)
    private let compressed = GrowableBuffer(capacity: 1 << 20)
    private var header = ThriftCompactWriter()

    init(compressor: Compressor) {
        self.compressor = compressor
    }

    /// Appends the chunk's pages to `out` and returns its metadata, with `data_page_offset` set
    /// to `fileOffset` (where `out`'s first byte will land in the file).
    func encode(_ column: Column, element: ParquetSchemaElement, nullable: Bool, fileOffset: Int,
                into out: GrowableBuffer) throws -> ParquetColumnMetaData {
        let chunkStart = out.count
        var uncompressedTotal = 0
        var row = 0
        let n = column.count
        let validity = column.validity?.base.assumingMemoryBound(to: UInt8.self)
        while row < n {
            let end = pageEnd(column, from: row)
            page.removeAll()
            if nullable {
                // 4-byte length prefix, patched once the levels are written.
                page.appendLittleEndian(0)
                RLEHybridEncoder.encodeBitWidth1(validity.map { $0 + row }, count: end - row, into: page)
                page.base.storeBytes(of: UInt32(page.count - 4).littleEndian, as: UInt32.self)
            }
            try appendValues(column, rows: row..<end, validity: validity)
            guard page.count <= Int(Int32.max) else {
                throw ParquetFormatError("page of \(page.count) bytes exceeds Parquet's 2 GiB page limit")
            }
            let body: UnsafeRawBufferPointer
            if compressor.codec == .uncompressed {
                body = page.bytes
            } else {
                try compressor.compress(page.bytes, into: compressed)
                body = compressed.bytes
            }
            ParquetPageHeader.encodeDataPageV1(&header, uncompressedSize: Int32(page.count), compressedSize: Int32(body.count),
                                               numValues: Int32(end - row), encoding: .plain)
            out.append(header.bytes)
            out.append(body.baseAddress!, body.count)
            uncompressedTotal += header.bytes.count + page.count
            row = end
        }
        var meta = ParquetColumnMetaData()
        meta.type = element.type!
        meta.encodings = nullable ? [ParquetEncoding.plain.rawValue, ParquetEncoding.rle.rawValue] : [ParquetEncoding.plain.rawValue]
        meta.pathInSchema = [element.name]
        meta.codec = compressor.codec.rawValue
        meta.numValues = Int64(n)
        meta.totalUncompressedSize = Int64(uncompressedTotal)
        meta.totalCompressedSize = Int64(out.count - chunkStart)
        meta.dataPageOffset = Int64(fileOffset)
        var stats = ParquetStatistics()
        stats.nullCount = Int64(column.nullCount)
        if let (lo, hi) = ParquetStatisticsBuilder.minMax(column) {
            stats.minValue = lo
            stats.maxValue = hi
        }
        meta.statistics = stats
        return meta
    }

    /// The end of the page starting at `row`.
    private func pageEnd(_ column: Column, from row: Int) -> Int {
        let limit = min(column.count, row + maxRowsPerPage)
        guard column.type.isVariableWidth else { return limit }
        let o = column.offsets!.base.assumingMemoryBound(to: Int64.self)
        var end = row + 1
        while end < limit && Int(o[end + 1] - o[row]) + 4 * (end + 1 - row) <= Self.targetPageBytes { end += 1 }
        return end
    }

    private func appendValues(_ column: Column, rows: Range<Int>, validity: UnsafePointer<UInt8>?) throws {
        let v = column.values.base
        let valid = column.nullCount > 0 ? validity : nil
        switch column.type {
        case .bool: appendBooleans(v.assumingMemoryBound(to: UInt8.self), rows, valid)
        case .int8: appendWidened(v.assumingMemoryBound(to: Int8.self), rows, valid) { UInt32(bitPattern: Int32($0)) }
        case .int16: appendWidened(v.assumingMemoryBound(to: Int16.self), rows, valid) { UInt32(bitPattern: Int32($0)) }
        case .uint8: appendWidened(v.assumingMemoryBound(to: UInt8.self), rows, valid) { UInt32($0) }
        case .uint16: appendWidened(v.assumingMemoryBound(to: UInt16.self), rows, valid) { UInt32($0) }
        case .int32, .uint32, .float32: appendSame(v.assumingMemoryBound(to: UInt32.self), rows, valid)
        case .int64, .uint64, .float64: appendSame(v.assumingMemoryBound(to: UInt64.self), rows, valid)
        case .string, .binary: appendByteArrays(column, rows, valid)
        default: throw ParquetFormatError("writing \(column.type) columns is not supported yet")
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

    /// 8- and 16-bit integers widened to INT32.
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
