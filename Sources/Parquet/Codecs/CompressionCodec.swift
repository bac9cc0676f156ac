import Columnar

/// Compression codecs as Parquet numbers them (enum `CompressionCodec` in parquet.thrift).
enum CompressionCodec: Int32, Sendable {
    case uncompressed = 0
    case snappy = 1
    case gzip = 2
    case lzo = 3
    case brotli = 4
    case lz4 = 5
    case zstd = 6
    case lz4Raw = 7

    static func name(_ raw: Int32) -> String {
        switch CompressionCodec(rawValue: raw) {
        case .uncompressed: "UNCOMPRESSED"
        case .snappy: "SNAPPY"
        case .gzip: "GZIP"
        case .lzo: "LZO"
        case .brotli: "BROTLI"
        case .lz4: "LZ4"
        case .zstd: "ZSTD"
        case .lz4Raw: "LZ4_RAW"
        case nil: "codec \(raw)"
        }
    }

    /// Whether score-cluster can decompress this codec.
    var isSupported: Bool {
        switch self {
        case .uncompressed, .snappy, .gzip, .zstd, .lz4, .lz4Raw: true
        case .lzo, .brotli: false
        }
    }
}
