import Columnar

/// A column chunk of an input file that a `ParquetFileWriter` copies byte for byte into a row
/// group of its own: a kept input column goes to the output without being decoded, re-encoded
/// and compressed again. Made by `ParquetFileReader.chunkCopy(rowGroup:column:)`, which walks
/// and checks the chunk's page headers.
public struct ParquetChunkCopy: @unchecked Sendable {
    /// The file the chunk is read from.
    let source: ParquetFileReader
    /// Its pages in the source file, dictionary page first.
    let bytes: Range<Int>
    /// Rows (values, for a flat column) the chunk holds.
    public let rows: Int
    /// The chunk's metadata, offsets relative to `bytes.lowerBound`.
    let metaData: ParquetColumnMetaData
    /// Where it comes from, for messages.
    public let column: String
    public let rowGroup: Int
}
