import CSnappy
import CZlib
import CZstd

/// Decompresses Parquet pages with one codec; holds the codec's context so that it is reused
/// across the pages of a column chunk. Not thread-safe: use one per decoding thread.
// ZSTD_CONTENTSIZE_* are macros Swift does not import.
private let ZSTD_CONTENTSIZE_UNKNOWN_VALUE: UInt64 = 0 &- 1
private let ZSTD_CONTENTSIZE_ERROR_VALUE: UInt64 = 0 &- 2

final class Decompressor {
    let codec: CompressionCodec
    private var zstdContext: OpaquePointer?

    /// Throws for codecs score-cluster cannot decompress.
    init(codec raw: Int32) throws {
        guard let codec = CompressionCodec(rawValue: raw), codec.isSupported else {
            throw ParquetFormatError("compression codec \(CompressionCodec.name(raw)) is not supported (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD)")
        }
        self.codec = codec
    }

    deinit {
        if let zstdContext { ZSTD_freeDCtx(zstdContext) }
    }

    /// Checks, before anything is allocated, that `src` can decompress to `declared` bytes, so
    /// that a corrupt size field cannot make us allocate gigabytes for a tiny page.
    func checkDeclaredSize(_ src: UnsafeRawBufferPointer, declared: Int) throws {
        func implausible() -> ParquetFormatError {
            ParquetFormatError("page declares \(declared) uncompressed bytes, impossible for \(src.count) \(CompressionCodec.name(codec.rawValue)) bytes")
        }
        switch codec {
        case .uncompressed:
            if declared != src.count { throw implausible() }
        case .snappy:
            // The raw block starts with its uncompressed length.
            guard let s = src.baseAddress?.assumingMemoryBound(to: CChar.self), src.count > 0 else { throw implausible() }
            var length = 0
            guard snappy_uncompressed_length(s, src.count, &length) == SNAPPY_OK else {
                throw ParquetFormatError("corrupt SNAPPY block (bad length header)")
            }
            if length != declared {
                throw ParquetFormatError("SNAPPY block decompresses to \(length) bytes, header says \(declared)")
            }
        case .gzip:
            if declared > src.count &* 1032 &+ 4096 { throw implausible() }  // deflate's maximum ratio is 1032:1
        case .zstd:
            guard let s = src.baseAddress, src.count > 0 else { throw implausible() }
            // Sum the content sizes of the concatenated frames, when every frame records one.
            var position = 0, total: UInt64 = 0, known = true
            while position < src.count {
                let size = ZSTD_getFrameContentSize(s + position, src.count - position)
                if size == ZSTD_CONTENTSIZE_ERROR_VALUE { throw ParquetFormatError("corrupt ZSTD data (bad frame header)") }
                if size == ZSTD_CONTENTSIZE_UNKNOWN_VALUE { known = false } else { total &+= size }
                let frame = ZSTD_findFrameCompressedSize(s + position, src.count - position)
                if ZSTD_isError(frame) != 0 || frame == 0 { throw ParquetFormatError("corrupt ZSTD data (bad frame)") }
                position += frame
            }
            if known {
                if total != UInt64(declared) {
                    throw ParquetFormatError("ZSTD data decompresses to \(total) bytes, header says \(declared)")
                }
            } else if declared > src.count &* 32768 &+ 131072 {
                throw implausible()  // a 4-byte RLE block yields at most 128 KiB
            }
        default:
            break
        }
    }

    /// Decompresses `src` into `dst`, which must be exactly the declared uncompressed size;
    /// throws if the data is corrupt or decompresses to a different size.
    func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
        switch codec {
        case .uncompressed:
            guard src.count == dst.count else {
                throw ParquetFormatError("uncompressed page holds \(src.count) bytes, header says \(dst.count)")
            }
            if src.count > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: src.count) }
        case .snappy: try snappy(src, dst)
        case .gzip: try gzip(src, dst)
        case .zstd: try zstd(src, dst)
        default: throw ParquetFormatError("compression codec \(CompressionCodec.name(codec.rawValue)) is not supported")
        }
    }

    private func snappy(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) throws {
        guard let s = src.baseAddress?.assumingMemoryBound(to: CChar.self), src.count > 0 else {
            throw ParquetFormatError("empty SNAPPY block for a page of \(dst.count) bytes")
        }
        var length = 0
        guard snappy_uncompressed_length(s, src.count, &length) == SNAPPY_OK else {
            throw ParquetFormatError("corrupt SNAPPY block (bad length header)")
        }
        guard length == dst.count else {
            throw ParquetFormatError("SNAPPY block decompresses to \(length) bytes, header says \(dst.count)")
        }
        if length == 0 { return }
        var outLength = dst.count
        let status = snappy_uncompress(s, src.count, dst.baseAddress!.assumingMemoryBound(to: CChar.self), &outLength)
        guard status == SNAPPY_OK, outLength == dst.count else {
            throw ParquetFormatError("corrupt SNAPPY block")
        }
    }

    /// GZIP pages may hold several concatenated gzip members; inflate them all.
    private func gzip(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) throws {
        var stream = z_stream()
        // 15 + 32: window 32 KB, accept gzip or zlib headers.
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ParquetFormatError("zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var consumed = 0, produced = 0
        while consumed < src.count {
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress!.assumingMemoryBound(to: Bytef.self) + consumed)
            stream.avail_in = uInt(clamping: src.count - consumed)
            let outBase = dst.baseAddress?.assumingMemoryBound(to: Bytef.self)
            // zlib needs a non-null output pointer even with no room; a 1-byte dummy detects overflow.
            var dummy: Bytef = 0
            let room = dst.count - produced
            stream.next_out = room > 0 ? outBase! + produced : withUnsafeMutablePointer(to: &dummy) { $0 }
            stream.avail_out = uInt(clamping: max(room, 1))
            let inBefore = Int(stream.avail_in)
            let outBefore = Int(stream.avail_out)
            let rc = inflate(&stream, Z_FINISH)
            consumed += inBefore - Int(stream.avail_in)
            let made = outBefore - Int(stream.avail_out)
            if room == 0 && made > 0 { throw ParquetFormatError("GZIP data decompresses to more than the declared \(dst.count) bytes") }
            produced += made
            if rc == Z_STREAM_END {
                // Another member may follow; trailing zero padding is tolerated.
                if consumed < src.count {
                    let rest = UnsafeRawBufferPointer(rebasing: src[consumed...])
                    if rest.allSatisfy({ $0 == 0 }) { break }
                    guard inflateReset(&stream) == Z_OK else { throw ParquetFormatError("zlib inflateReset failed") }
                }
                continue
            }
            if rc == Z_BUF_ERROR && produced == dst.count && room > 0 {
                throw ParquetFormatError("GZIP data decompresses to more than the declared \(dst.count) bytes")
            }
            guard rc == Z_OK else {
                throw ParquetFormatError("corrupt GZIP data (zlib error \(rc))")
            }
        }
        guard produced == dst.count else {
            throw ParquetFormatError("GZIP data decompresses to \(produced) bytes, header says \(dst.count)")
        }
    }

    private func zstd(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) throws {
        if zstdContext == nil {
            zstdContext = ZSTD_createDCtx()
            guard zstdContext != nil else { throw ParquetFormatError("ZSTD_createDCtx failed") }
        }
        guard let s = src.baseAddress, src.count > 0 else {
            throw ParquetFormatError("empty ZSTD frame for a page of \(dst.count) bytes")
        }
        var dummy: UInt8 = 0
        // ZSTD_decompressDCtx decodes every concatenated frame.
        let n = withUnsafeMutablePointer(to: &dummy) { d in
            ZSTD_decompressDCtx(zstdContext, dst.baseAddress ?? UnsafeMutableRawPointer(d), dst.count, s, src.count)
        }
        if ZSTD_isError(n) != 0 {
            throw ParquetFormatError("corrupt ZSTD data: \(String(cString: ZSTD_getErrorName(n)))")
        }
        guard n == dst.count else {
            throw ParquetFormatError("ZSTD data decompresses to \(n) bytes, header says \(dst.count)")
        }
    }
}
