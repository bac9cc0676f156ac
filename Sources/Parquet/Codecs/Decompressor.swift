import CLZ4
import CSnappy
import CZlib
import CZstd
import Columnar

/// zlib's CRC-32 of `bytes` (Parquet page checksums).
func zlibCRC32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard let p = bytes.baseAddress, bytes.count > 0 else { return 0 }
    var crc: uLong = 0
    var position = 0
    while position < bytes.count {
        let n = min(bytes.count - position, Int(Int32.max))
        crc = crc32(crc, p.assumingMemoryBound(to: Bytef.self) + position, uInt(n))
        position += n
    }
    return UInt32(truncatingIfNeeded: crc)
}

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
            throw ParquetFormatError("compression codec \(CompressionCodec.name(raw)) is not supported (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD, LZ4, LZ4_RAW)")
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
        case .lz4, .lz4Raw:
            // An LZ4 sequence of 255-length literals-free matches expands at most ~255:1.
            if declared > src.count &* 255 &+ 64 { throw implausible() }
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
        case .lz4Raw: try lz4Block(src, dst)
        case .lz4: try lz4Hadoop(src, dst)
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

    /// One raw LZ4 block (LZ4_RAW) that must fill `dst` exactly.
    private func lz4Block(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) throws {
        guard try lz4Decode(src, dst) == dst.count else {
            throw ParquetFormatError("LZ4 block decompresses to a size other than the declared \(dst.count) bytes")
        }
    }

    /// Decodes one LZ4 block; returns the bytes produced or nil on corrupt data.
    private func lz4Decode(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) throws -> Int? {
        if dst.count == 0 { return src.count == 1 && src[0] == 0 ? 0 : (src.isEmpty ? 0 : nil) }
        guard src.count > 0, src.count <= Int(Int32.max), dst.count <= Int(Int32.max) else {
            throw ParquetFormatError("LZ4 block of \(src.count) bytes cannot be decoded")
        }
        let n = LZ4_decompress_safe(src.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    dst.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(src.count), Int32(dst.count))
        return n < 0 ? nil : Int(n)
    }

    /// The deprecated LZ4 codec: Hadoop's framing (repeated big-endian u32 uncompressed size,
    /// u32 compressed size, LZ4 block), or, as parquet-cpp before 2.0 wrote it, one raw block.
    private func lz4Hadoop(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) throws {
        if try lz4HadoopFrames(src, dst) { return }
        guard try lz4Decode(src, dst) == dst.count else {
            throw ParquetFormatError("corrupt LZ4 data (neither Hadoop-framed nor a raw block of the declared \(dst.count) bytes)")
        }
    }

    private func lz4HadoopFrames(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer) throws -> Bool {
        func be32(_ at: Int) -> Int {
            Int(src[at]) << 24 | Int(src[at + 1]) << 16 | Int(src[at + 2]) << 8 | Int(src[at + 3])
        }
        var inPos = 0, outPos = 0
        while inPos < src.count {
            guard src.count - inPos >= 8 else { return false }
            let expanded = be32(inPos), compressed = be32(inPos + 4)
            inPos += 8
            guard compressed <= src.count - inPos, expanded <= dst.count - outPos else { return false }
            let block = UnsafeRawBufferPointer(rebasing: src[inPos..<inPos + compressed])
            let target = UnsafeMutableRawBufferPointer(rebasing: dst[outPos..<outPos + expanded])
            guard try lz4Decode(block, target) == expanded else { return false }
            inPos += compressed
            outPos += expanded
        }
        return outPos == dst.count
    }
}
