import Columnar

/// Compression codecs the Parquet writer can use. SNAPPY is what pyarrow, Spark and DuckDB
/// write by default and every reader supports.
public enum ParquetCompression: String, Sendable, CaseIterable {
    case none, snappy, gzip, zstd

    var codec: CompressionCodec {
        switch self {
        case .none: .uncompressed
        case .snappy: .snappy
        case .gzip: .gzip
        case .zstd: .zstd
        }
    }
}
