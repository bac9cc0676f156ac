import Columnar

// From parquet.thrift (apache/parquet-format): enum `Encoding`. The decoders of the encodings
// score-cluster reads are the other files of this folder.

/// How a page's values or levels are laid out (enum `Encoding`).
///
/// Page headers and column metadata carry the Thrift integer; a reader turns it into this enum
/// with `init(validating:)` where it acts on it, so that a value parquet-format does not define
/// is an error that names it.
enum ParquetEncoding: Int32, Sendable, CaseIterable {
    case plain = 0
    // 1 was GROUP_VAR_INT, never used by any writer and removed from the spec.
    case plainDictionary = 2
    case rle = 3
    case bitPacked = 4
    case deltaBinaryPacked = 5
    case deltaLengthByteArray = 6
    case deltaByteArray = 7
    case rleDictionary = 8
    case byteStreamSplit = 9
    case alp = 10

    /// The encoding `raw` (a Thrift `Encoding` value) names.
    /// - Parameter field: what `raw` was read as, for the error ("definition level encoding").
    /// - Throws: `ParquetFormatError` naming `raw` when parquet-format defines no such encoding.
    init(validating raw: Int32, field: String = "encoding") throws {
        guard let encoding = ParquetEncoding(rawValue: raw) else {
            throw ParquetFormatError("unknown \(field) \(raw)")
        }
        self = encoding
    }

    /// The name parquet-format gives it.
    var name: String {
        switch self {
        case .plain: "PLAIN"
        case .plainDictionary: "PLAIN_DICTIONARY"
        case .rle: "RLE"
        case .bitPacked: "BIT_PACKED"
        case .deltaBinaryPacked: "DELTA_BINARY_PACKED"
        case .deltaLengthByteArray: "DELTA_LENGTH_BYTE_ARRAY"
        case .deltaByteArray: "DELTA_BYTE_ARRAY"
        case .rleDictionary: "RLE_DICTIONARY"
        case .byteStreamSplit: "BYTE_STREAM_SPLIT"
        case .alp: "ALP"
        }
    }

    /// Values are indices into the column chunk's dictionary page (PLAIN_DICTIONARY, the
    /// Parquet 1 name, or RLE_DICTIONARY).
    var isDictionary: Bool { self == .plainDictionary || self == .rleDictionary }
}
