#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Columnar

/// Column chunks copied into another file as they are: whether a column's chunks can be, their
/// checked metadata, and the copy of their bytes (`sendfile`).
extension ParquetFileReader {
    /// Why column `column`'s chunks cannot be copied into a file that declares `element` and
    /// compresses with `codec` (nil when every row group's chunk can be): a copied chunk must
    /// be a flat leaf with the same physical type, repetition and annotations, and the same codec.
    func copyProblem(column: Int, as element: ParquetSchemaElement, codec: CompressionCodec) -> String? {
        let leaf = leaves[column]
        guard columns[column].dataType != nil, leaf.maxRepetitionLevel == 0 else { return "not a flat column" }
        let e = leaf.element
        guard e.type == element.type, (e.typeLength ?? 0) == (element.typeLength ?? 0),
              (e.repetition ?? .required) == (element.repetition ?? .required) else {
            return "stored as \(e.type?.name ?? "?") \(e.repetition ?? .required), written as \(element.type?.name ?? "?") \(element.repetition ?? .required)"
        }
        guard e.convertedType == element.convertedType, e.unknownConvertedType == nil, e.scale == element.scale,
              e.precision == element.precision, e.logicalType == element.logicalType else {
            return "annotated differently from what score-cluster writes"
        }
        for (g, group) in metadata.rowGroups.enumerated() {
            let chunk = group.columns[column]
            guard chunk.filePath == nil, let meta = chunk.metaData else { return "row group \(g): data in another file" }
            // parquet-mr reads DELTA_BYTE_ARRAY pages of parquet-mr < 1.8 with a workaround chosen by
            // created_by (PARQUET-246), which a copy under score-cluster's name would lose.
            guard !meta.encodings.contains(ParquetEncoding.deltaByteArray.rawValue) else { return "row group \(g) uses DELTA_BYTE_ARRAY" }
            guard meta.codec == codec.rawValue else {
                return "row group \(g) is compressed with \(CompressionCodec.name(meta.codec)), the output with \(CompressionCodec.name(codec.rawValue))"
            }
        }
        return nil
    }

    /// Column `column` of row group `rowGroup` as a chunk to copy: its page headers are walked
    /// and checked (they must hold exactly the row group's rows), its metadata kept with offsets
    /// relative to the chunk's first byte.
    /// - Throws: `ParquetError` naming the file, column and row group if the pages are corrupt.
    public func chunkCopy(rowGroup: Int, column: Int) throws -> ParquetChunkCopy {
        do {
            if let meta = metadata.rowGroups[rowGroup].columns[column].metaData, let range = try? byteRange(of: meta) {
                source.willRead([range])
            }
            let layout = try pageLayout(rowGroup: rowGroup, column: column)
            guard let last = layout.pages.last else { throw ParquetFormatError("column chunk has no data pages") }
            let start = layout.dictionary.first?.lowerBound ?? layout.pages[0].bytes.lowerBound
            guard layout.dictionary.allSatisfy({ $0.upperBound <= layout.pages[0].bytes.lowerBound }) else {
                throw ParquetFormatError("dictionary page after a data page")
            }
            var meta = metadata.rowGroups[rowGroup].columns[column].metaData!
            meta.totalCompressedSize = Int64(last.bytes.upperBound - start)
            meta.dictionaryPageOffset = layout.dictionary.isEmpty ? nil : 0
            meta.dataPageOffset = Int64(layout.pages[0].bytes.lowerBound - start)
            meta.indexPageOffset = nil
            meta.pathInSchema = [columns[column].name]
            if var stats = meta.statistics {
                // The deprecated min/max (field 1, 2) used a signed byte order some readers reject.
                stats.min = nil
                stats.max = nil
                meta.statistics = stats
            }
            return ParquetChunkCopy(source: self, bytes: start..<last.bytes.upperBound, rows: Int(metadata.rowGroups[rowGroup].numRows),
                                    metaData: meta, column: columns[column].name, rowGroup: rowGroup)
        } catch let e as ParquetFormatError {
            throw ParquetError(path: path, column: columns[column].name, rowGroup: rowGroup, message: e.message)
        } catch var e as ParquetError {
            e.column = columns[column].name
            e.rowGroup = rowGroup
            throw e
        }
    }

    /// Appends bytes `range` of this file to the file open as `out` at its current position
    /// (`sendfile`, which copies within the kernel; `pread` and `write` where it is refused).
    /// A failure to write names `destination` (a full disk is the output's problem, not this file's).
    func copyBytes(_ range: Range<Int>, to out: Int32, destination: String) throws {
        var offset = range.lowerBound
        #if os(Linux)
        var useSendfile = source.fileDescriptor != nil
        #else
        var useSendfile = false  // Darwin's sendfile writes to sockets only
        #endif
        var buffer: UnsafeMutableRawBufferPointer?
        defer { buffer?.deallocate() }
        if !useSendfile { source.willRead([range]) }
        while offset < range.upperBound {
            let want = min(range.upperBound - offset, 1 << 30)
            if useSendfile {
                var at = offset
                #if os(Linux)
                let n = sendfile(out, source.fileDescriptor!, &at, want)
                #else
                let n = -1
                #endif
                if n > 0 { offset = at; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EINVAL || errno == ENOSYS) { useSendfile = false; continue }
                if n == 0 { throw ParquetError(path: path, message: "unexpected end of file at offset \(offset)") }
                // sendfile does not say which side failed; these errors are the destination's.
                if [ENOSPC, EDQUOT, EFBIG, EROFS].contains(errno) { throw Self.writeFailure(destination, copying: path) }
                throw ParquetError(path: path, message: "copying bytes from offset \(offset) into \(destination) failed: \(String(cString: strerror(errno)))")
            }
            if buffer == nil { buffer = .allocate(byteCount: 1 << 20, alignment: 16) }
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer![0..<min(want, 1 << 20)])
            try source.read(at: offset, into: piece)
            var done = 0
            while done < piece.count {
                let n = write(out, piece.baseAddress! + done, piece.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Self.writeFailure(destination, copying: path) }
                done += n
            }
            offset += piece.count
        }
    }

    private static func writeFailure(_ destination: String, copying source: String) -> ParquetError {
        ParquetError(path: destination, message: "cannot write the output file (copying column chunks from \(source)): \(String(cString: strerror(errno)))")
    }
}
