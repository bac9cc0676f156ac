import CSnappy
import CZlib
import CZstd
import Columnar

/// Compresses Parquet pages with one codec, reusing the codec's context across pages.
/// Not thread-safe: use one per writing thread.
final class Compressor {
    let codec: CompressionCodec
    private var zstdContext: OpaquePointer?
    /// ZSTD level; 1 is what pyarrow uses by default (fast, good ratio for numeric data).
    static let zstdLevel: Int32 = 1

    init(codec: CompressionCodec) {
        precondition(codec == .uncompressed || codec == .snappy || codec == .gzip || codec == .zstd,
                     "cannot compress with \(codec)")
        self.codec = codec
    }

    deinit {
        if let zstdContext { ZSTD_freeCCtx(zstdContext) }
    }

    /// Compresses `src`, replacing the contents of `out`.
    func compress(_ src: UnsafeRawBufferPointer, into out: GrowableBuffer) throws {
        out.removeAll()
        switch codec {
        case .uncompressed:
            if let p = src.baseAddress { out.append(p, src.count) }
        case .snappy:
            var length = snappy_max_compressed_length(src.count)
            out.reserve(length)
            let empty: CChar = 0
            let status = withUnsafePointer(to: empty) { e in
                snappy_compress(src.baseAddress?.assumingMemoryBound(to: CChar.self) ?? e, src.count,
                                out.base.assumingMemoryBound(to: CChar.self), &length)
            }
            guard status == SNAPPY_OK else { throw ParquetFormatError("snappy_compress failed (\(status))") }
            out.count = length
        case .gzip:
            var stream = z_stream()
            // 15 + 16: gzip container, as Parquet's GZIP codec requires.
            guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                                zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw ParquetFormatError("zlib deflateInit2 failed")
            }
            defer { deflateEnd(&stream) }
            let bound = Int(deflateBound(&stream, uLong(src.count))) + 64
            out.reserve(bound)
            var dummy: Bytef = 0
            let rc = withUnsafeMutablePointer(to: &dummy) { d -> Int32 in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress?.assumingMemoryBound(to: Bytef.self) ?? UnsafePointer(d))
                stream.avail_in = uInt(src.count)
                stream.next_out = out.base.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(bound)
                return deflate(&stream, Z_FINISH)
            }
            guard rc == Z_STREAM_END else { throw ParquetFormatError("zlib deflate failed (\(rc))") }
            out.count = Int(stream.total_out)
        case .zstd:
            if zstdContext == nil {
                zstdContext = ZSTD_createCCtx()
                guard zstdContext != nil else { throw ParquetFormatError("ZSTD_createCCtx failed") }
            }
            let bound = ZSTD_compressBound(src.count)
            out.reserve(bound)
            var dummy: UInt8 = 0
            let n = withUnsafeMutablePointer(to: &dummy) { d in
                ZSTD_compressCCtx(zstdContext, out.base, bound, src.baseAddress ?? UnsafeRawPointer(d), src.count, Compressor.zstdLevel)
            }
            guard ZSTD_isError(n) == 0 else { throw ParquetFormatError("ZSTD compression failed: \(String(cString: ZSTD_getErrorName(n)))") }
            out.count = n
        default:
            throw ParquetFormatError("cannot compress with \(codec)")
        }
    }
}
