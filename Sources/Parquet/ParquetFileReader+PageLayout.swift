#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Columnar

/// Where a column chunk's pages are, read header by header from the file, and the decoding of
/// only the pages that hold some rows (for `ParquetRangeReader`) or of a chunk to copy.
extension ParquetFileReader {
    /// Where a column chunk's pages are, from its page headers (read with small reads): what a
    /// reader of row ranges needs to read only the pages that hold them.
    struct PageLayout {
        /// Dictionary pages' bytes (header included).
        var dictionary: [Range<Int>] = []
        /// Data pages' bytes (header included) and the rows they hold.
        var pages: [(bytes: Range<Int>, rows: Range<Int>)] = []
    }

    /// Walks the page headers of column `column` of row group `rowGroup`. (Flat columns only,
    /// as every column this reader decodes: a data page's value count is its row count.)
    func pageLayout(rowGroup: Int, column: Int) throws -> PageLayout {
        let chunk = metadata.rowGroups[rowGroup].columns[column]
        let numRows = Int(metadata.rowGroups[rowGroup].numRows)
        guard chunk.filePath == nil else { throw ParquetFormatError("column data in another file (\(chunk.filePath!)) is not supported") }
        let bytes = try byteRange(of: chunk.metaData!)
        let end = bytes.upperBound
        var layout = PageLayout()
        var position = bytes.lowerBound
        var rowAt = 0
        while rowAt < numRows {
            guard position < end else { throw ParquetFormatError("column chunk ends after \(rowAt) of \(numRows) values") }
            let (header, headerLength) = try readPageHeader(at: position, end: end)
            let size = Int(header.compressedPageSize)
            guard size >= 0, size <= end - position - headerLength else {
                throw ParquetFormatError("page at file offset \(position) needs \(size) bytes, column chunk has \(end - position - headerLength) left")
            }
            let page = position..<(position + headerLength + size)
            switch ParquetPageType(rawValue: header.type) {
            case .dictionaryPage:
                layout.dictionary.append(page)
            case .dataPage, .dataPageV2:
                guard let n = header.dataPageHeader?.numValues ?? header.dataPageHeaderV2?.numValues, n >= 0 else {
                    throw ParquetFormatError("data page at file offset \(position) has no valid value count")
                }
                let rows = rowAt..<(rowAt + Int(n))
                guard rows.upperBound <= numRows else {
                    throw ParquetFormatError("data pages hold more values (at least \(rows.upperBound)) than the row group's \(numRows) rows")
                }
                if n > 0 { layout.pages.append((page, rows)) }
                rowAt = rows.upperBound
            default:
                break
            }
            position = page.upperBound
        }
        return layout
    }

    /// Decodes the data pages of `layout` that overlap `rows` (with the dictionary): returns the
    /// rows they cover and their column (all of those rows).
    func decodePages(_ layout: PageLayout, rowGroup: Int, column: Int, type: DataType, rows: Range<Int>,
                     scratch: DecodeScratch, dictionary: ParquetDictionary? = nil)
        throws -> (covered: Range<Int>, column: Column, dictionary: ParquetDictionary?) {
        let selected = layout.pages.filter { $0.rows.overlaps(rows) }
        guard let first = selected.first, let last = selected.last else { throw ParquetFormatError("no data page holds rows \(rows)") }
        let covered = first.rows.lowerBound..<last.rows.upperBound
        // Read the kept pages (adjacent ones in one read) into one buffer: to the decoder, a
        // column chunk of `covered.count` rows.
        // A dictionary decoded for an earlier range of the chunk is not read again.
        let keep = (dictionary == nil ? layout.dictionary : []) + selected.map(\.bytes)
        let total = keep.reduce(0) { $0 + $1.count }
        let buffer = scratch.chunkBuffer(total)
        var at = 0, i = 0
        while i < keep.count {
            var run = keep[i]
            while i + 1 < keep.count && keep[i + 1].lowerBound == run.upperBound {
                i += 1
                run = run.lowerBound..<keep[i].upperBound
            }
            try source.read(at: run.lowerBound, into: UnsafeMutableRawBufferPointer(rebasing: buffer[at..<(at + run.count)]))
            at += run.count
            i += 1
        }
        let leaf = leaves[column]
        let decoder = try ColumnChunkDecoder(physical: leaf.physical, typeLength: leaf.typeLength,
                                             maxDefinitionLevel: leaf.maxDefinitionLevel, outputType: type,
                                             codec: metadata.rowGroups[rowGroup].columns[column].metaData!.codec,
                                             numRows: covered.count, verifyChecksums: verifyChecksums, scratch: scratch,
                                             dictionary: dictionary)
        decoder.firstRow = covered.lowerBound
        let column = try decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<total]))
        return (covered, column, decoder.decodedDictionary)
    }

    /// The page header at `offset`, read with a small window that grows for headers that carry
    /// large statistics; and its length in bytes.
    private func readPageHeader(at offset: Int, end: Int) throws -> (ParquetPageHeader, Int) {
        var window = min(1024, end - offset)
        while true {
            let bytes = try source.read(at: offset, count: window)
            let parsed: (ParquetPageHeader, Int)? = bytes.withUnsafeBytes { raw in
                var reader = ThriftCompactReader(raw)
                guard let header = try? ParquetPageHeader.decode(&reader) else { return nil }
                return (header, reader.position)
            }
            if let parsed { return parsed }
            guard window < end - offset, window < 16 << 20 else {
                throw ParquetFormatError("corrupt page header at file offset \(offset)")
            }
            window = min(window * 4, end - offset)
        }
    }
}
