import Columnar

/// One page of a column chunk, as `ParquetPageReader` found it: its header, checked, and where
/// its bytes are.
struct ParquetPage {
    /// The page's type and its type's header.
    enum Kind {
        case dictionary(ParquetDictionaryPageHeader)
        case dataV1(ParquetDataPageHeader)
        case dataV2(ParquetDataPageHeaderV2)
    }

    /// The header as read: a dictionary, v1 or v2 data page's, with its type's header present
    /// (the page reader keeps no other page).
    let header: ParquetPageHeader
    /// Offset in the chunk of the page's stored bytes (just after its header).
    let dataStart: Int

    // The page keeps its whole header (88 bytes a page, as when the page walk was part of
    // ColumnChunkDecoder) rather than only `Kind` and the sizes (56 bytes). This small array,
    // made for every chunk, changes where glibc places later blocks; with glibc's default
    // (dynamic) mmap and trim thresholds, 56 bytes a page made decode-bench fault 6% more pages
    // in on one file (and fewer on others). A process that fixes M_TRIM_THRESHOLD, as the
    // coordinator does (`MemoryTuning`), faults the same pages either way.

    var kind: Kind {
        switch ParquetPageType(rawValue: header.type) {
        case .dictionaryPage: .dictionary(header.dictionaryPageHeader!)
        case .dataPage: .dataV1(header.dataPageHeader!)
        default: .dataV2(header.dataPageHeaderV2!)
        }
    }

    /// Bytes stored (`compressed_page_size`, within the chunk).
    var compressedSize: Int { Int(header.compressedPageSize) }
    /// Bytes once decompressed (`uncompressed_page_size`, not negative).
    var uncompressedSize: Int { Int(header.uncompressedPageSize) }
}

/// The pages of one column chunk held in memory (from its first page header to its end): walks
/// their headers, checking them, and gives each page's bytes, decompressed into scratch that is
/// reused from page to page. (arrow-rs: `SerializedPageReader`.)
///
/// The walk reads headers only: the data pages must hold exactly the chunk's rows before the
/// caller allocates anything row-sized; a dictionary page must come before them; page CRCs are
/// checked when asked for. It stops at the page that completes the rows.
struct ParquetPageReader {
    /// The chunk's bytes, from its first page header.
    let chunk: UnsafeRawBufferPointer
    let decompressor: Decompressor
    /// Owns the buffer pages are decompressed into.
    let scratch: DecodeScratch
    /// Dictionary and data pages, in chunk order.
    private(set) var pages: [ParquetPage] = []
    /// Bytes the data pages' byte arrays take at most if PLAIN (each page's uncompressed size less
    /// a 4-byte length per value).
    private(set) var plainByteEstimate = 0

    var codec: CompressionCodec { decompressor.codec }

    /// Walks the page headers of `chunk`, whose data pages must hold `numRows` values.
    /// - Throws: `ParquetFormatError` for a corrupt or truncated header, a page beyond the
    ///   chunk, a CRC mismatch (with `verifyChecksums`), or pages holding other than `numRows`
    ///   values.
    init(chunk: UnsafeRawBufferPointer, numRows: Int, decompressor: Decompressor, verifyChecksums: Bool,
         scratch: DecodeScratch) throws {
        self.chunk = chunk
        self.decompressor = decompressor
        self.scratch = scratch
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
            var keep = false
            switch ParquetPageType(rawValue: header.type) {
            case .dictionaryPage:
                guard let dh = header.dictionaryPageHeader else { throw ParquetFormatError("dictionary page without its header") }
                guard dh.numValues >= 0 else { throw ParquetFormatError("dictionary page has negative value count \(dh.numValues)") }
                guard !sawData else { throw ParquetFormatError("dictionary page after data pages") }
                keep = true
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
                keep = true
            default:
                break  // skipped by size
            }
            if keep { pages.append(ParquetPage(header: header, dataStart: dataStart)) }
            position = dataStart + size
        }
    }

    /// The page's bytes as stored.
    func stored(_ page: ParquetPage) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: chunk[page.dataStart..<page.dataStart + page.compressedSize])
    }

    /// The page's bytes after decompression (v1 data and dictionary pages): the stored bytes when
    /// the chunk is not compressed, else the scratch page buffer (valid until the next call).
    func payload(_ page: ParquetPage) throws -> UnsafeRawBufferPointer {
        let raw = stored(page)
        if codec == .uncompressed { return raw }
        return try decompress(raw, uncompressedSize: page.uncompressedSize)
    }

    /// `raw` decompressed into the scratch page buffer (valid until the next call).
    func decompress(_ raw: UnsafeRawBufferPointer, uncompressedSize: Int) throws -> UnsafeRawBufferPointer {
        if raw.isEmpty && uncompressedSize == 0 { return raw }
        try decompressor.checkDeclaredSize(raw, declared: uncompressedSize)
        let dst = scratch.pageBuffer(uncompressedSize)
        try decompressor.decompress(raw, into: dst)
        return UnsafeRawBufferPointer(dst)
    }

    /// `raw` decompressed straight into `dst`, which is exactly its declared uncompressed size
    /// (pages whose bytes are the output's values).
    func decompress(_ raw: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
        try decompressor.checkDeclaredSize(raw, declared: dst.count)
        try decompressor.decompress(raw, into: dst)
    }
}
