import Columnar

/// The values of a column chunk's pages: each page's encoding picks its decoder in `Encodings/`,
/// which writes the page's non-null values densely at its first row (converted to the output's
/// storage), then `DenseSpread` moves them to their rows around the nulls.
extension ColumnChunkDecoder {
    // MARK: Dictionary page

    func decodeDictionaryPage(_ page: ParquetPage, _ header: ParquetDictionaryPageHeader, _ pages: ParquetPageReader) throws {
        guard dictionary == nil else { throw ParquetFormatError("column chunk has more than one dictionary page") }
        let encoding = try ParquetEncoding(validating: header.encoding, field: "dictionary page encoding")
        guard encoding == .plain || encoding == .plainDictionary else {
            throw ParquetFormatError("dictionary page encoding \(encoding.name) is not supported")
        }
        let data = try pages.payload(page)
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
        var outOfRange: [UInt32: String] = [:]
        dictionary = try ParquetDictionary.fixed(width: w, count: count) { out in
            if physical == .byteArray {
                var k = 0
                try PlainDecoder.forEachByteArray(data, count: count) { src, len in
                    try ValueConversion.decimalFromBigEndian(src, len, into: out + k * 16)
                    k += 1
                }
            } else {
                try decodeDense(encoding: .plain, data, count: count, into: out) { outOfRange[UInt32($0)] = $1 }
            }
        }
        dictionary!.outOfRange = outOfRange
    }

    // MARK: Data pages' values

    /// Decodes the values of a data page of `n` rows, `nonNull` of them with a value, whose
    /// definition levels are recorded.
    func decodeValues(encoding raw: Int32, _ data: UnsafeRawBufferPointer, n: Int, nonNull: Int) throws {
        let encoding = try ParquetEncoding(validating: raw)
        if let w = outputWidth {
            try decodeFixed(width: w, encoding, data, n, nonNull)
        } else {
            try decodeByteArrays(encoding, data, n, nonNull)
        }
        nullCount += n - nonNull
        rowsDone += n
    }

    private func unsupportedEncoding(_ encoding: ParquetEncoding) -> ParquetFormatError {
        ParquetFormatError("encoding \(encoding.name) is not supported for \(physical.name) columns")
    }

    /// Decodes `count` values of a non-dictionary encoding into `out` in the output storage.
    private func decodeDense(encoding: ParquetEncoding, _ data: UnsafeRawBufferPointer, count: Int,
                             into out: UnsafeMutableRawPointer, outOfRange: ((Int, String) -> Void)? = nil) throws {
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
        // PLAIN and BYTE_STREAM_SPLIT values must all be in the page before scratch is sized for them.
        if (encoding == .plain && physical != .boolean) || encoding == .byteStreamSplit, data.count < count * pw {
            throw ParquetFormatError("unexpected end of page: \(encoding.name) \(physical.name) values need \(count * pw) bytes, page holds \(data.count)")
        }
        let dense = conversion == .copy ? out : scratch.denseBuffer(count * pw)
        switch encoding {
        case .plain:
            if physical == .boolean {
                try PlainDecoder.decodeBooleans(data, into: dense.assumingMemoryBound(to: UInt8.self), count: count)
            } else {
                try PlainDecoder.decodeFixedWidth(physical, data, width: pw, count: count, into: dense)
            }
        case .rle where physical == .boolean:
            try RLEBooleanDecoder.decode(data, count: count, into: dense.assumingMemoryBound(to: UInt8.self))
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
            try conversion.convert(UnsafeRawPointer(dense), count: count, physicalWidth: pw, outWidth: outputWidth!, into: out,
                                   outOfRange: outOfRange)
        }
    }

    private func decodeFixed(width w: Int, _ encoding: ParquetEncoding, _ data: UnsafeRawBufferPointer, _ n: Int, _ nonNull: Int) throws {
        let out = values!.mutableBase + rowsDone * w
        if encoding.isDictionary {
            let indices = try decodeIndices(data, count: nonNull)
            if let bad = dictionary?.outOfRange, !bad.isEmpty {
                for k in 0..<nonNull { if let why = bad[indices[k]] { throw outOfRangeError(nonNull: k, rows: n, why) } }
            }
            if nonNull > 0 { dictionary!.gather(indices, nonNull, into: out) }
        } else {
            do {
                try decodeDense(encoding: encoding, data, count: nonNull, into: out)
            } catch let error as ValueConversion.OutOfRange {
                throw outOfRangeError(nonNull: error.index, rows: n, error.message)
            }
        }
        if nonNull < n {
            let valid = UnsafePointer(ensureValidity()) + rowsDone
            switch w {
            case 1: DenseSpread.spread(out.assumingMemoryBound(to: UInt8.self), n: n, dense: nonNull, validity: valid, null: 0)
            case 2:
                DenseSpread.spread(out.assumingMemoryBound(to: UInt16.self), n: n, dense: nonNull, validity: valid,
                                   null: outputType == .float16 ? 0x7E00 : 0)
            case 4:
                DenseSpread.spread(out.assumingMemoryBound(to: UInt32.self), n: n, dense: nonNull, validity: valid,
                                   null: outputType == .float32 ? Float.nan.bitPattern : 0)
            case 8:
                DenseSpread.spread(out.assumingMemoryBound(to: UInt64.self), n: n, dense: nonNull, validity: valid,
                                   null: outputType == .float64 ? Double.nan.bitPattern : 0)
            case 16:
                DenseSpread.spread(out.assumingMemoryBound(to: Int128Bits.self), n: n, dense: nonNull, validity: valid,
                                   null: Int128Bits(low: 0, high: 0))
            default:
                DenseSpread.spreadBytes(out, width: w, n: n, dense: nonNull, validity: valid)
            }
        }
    }

    /// The error for the `k`-th non-null value of the page being decoded (of `rows` rows at
    /// `rowsDone`): it names the value's row in the row group.
    private func outOfRangeError(nonNull k: Int, rows: Int, _ why: String) -> ParquetFormatError {
        var row = rowsDone + k
        if let validity {
            let valid = UnsafePointer(validity.mutableBase.assumingMemoryBound(to: UInt8.self)) + rowsDone
            var seen = -1
            for r in 0..<rows where valid[r] != 0 {
                seen += 1
                if seen == k { row = rowsDone + r; break }
            }
        }
        return ParquetFormatError("row \(firstRow + row) of the row group: \(why)")
    }

    /// Walks `count` byte arrays of a non-dictionary encoding.
    @inline(__always)
    private func forEachByteArray(_ encoding: ParquetEncoding, _ data: UnsafeRawBufferPointer, count: Int,
                                  _ body: (UnsafeRawPointer, Int) throws -> Void) throws {
        switch encoding {
        case .plain: try PlainDecoder.forEachByteArray(data, count: count, body)
        case .deltaLengthByteArray: try DeltaLengthByteArrayDecoder.forEach(data, count: count, scratch: scratch, body)
        case .deltaByteArray: try DeltaByteArrayDecoder.forEach(data, count: count, scratch: scratch, body)
        default: throw unsupportedEncoding(encoding)
        }
    }

    /// Decodes `count` dictionary indices into the index scratch and checks them against the
    /// dictionary.
    private func decodeIndices(_ data: UnsafeRawBufferPointer, count: Int) throws -> UnsafePointer<UInt32> {
        let indices = scratch.indexBuffer(count)
        guard count > 0 else { return UnsafePointer(indices) }
        guard let dictionary else {
            throw ParquetFormatError("dictionary-encoded data page but the column chunk has no dictionary page")
        }
        try DictionaryIndexDecoder.decode(data, count: count, dictionaryCount: dictionary.count, into: indices)
        return UnsafePointer(indices)
    }

    private func decodeByteArrays(_ encoding: ParquetEncoding, _ data: UnsafeRawBufferPointer, _ n: Int, _ nonNull: Int) throws {
        let rowStart = rowsDone
        let o = offsets!.mutableBase.assumingMemoryBound(to: Int64.self) + rowStart
        let valid: UnsafePointer<UInt8>? = nonNull < n ? UnsafePointer(ensureValidity()) + rowStart : nil
        let bytes = stringBytes!
        var current = o[0]
        var i = 0
        switch encoding {
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
