import Columnar

/// Decodes the indices of a dictionary-encoded data page (RLE_DICTIONARY, or PLAIN_DICTIONARY
/// as Parquet 1 called it; Encodings.md "Dictionary encoding"): one byte giving the bit width,
/// then the indices in the RLE / bit-packing hybrid. The values are the dictionary page's
/// entries at those indices (`ParquetDictionary`).
enum DictionaryIndexDecoder {
    /// Decodes `count` (> 0) indices at the start of `data` into `indices`, and checks that each
    /// is below `dictionaryCount`.
    static func decode(_ data: UnsafeRawBufferPointer, count: Int, dictionaryCount: Int,
                       into indices: UnsafeMutablePointer<UInt32>) throws {
        guard data.count >= 1 else { throw ParquetFormatError("unexpected end of page: missing dictionary index bit width") }
        let bitWidth = Int(data[0])
        var decoder = try RLEHybridDecoder(UnsafeRawBufferPointer(rebasing: data[1...]), bitWidth: bitWidth)
        try decoder.decode(into: indices, count: count)
        try ParquetDictionary.checkIndices(indices, count, count: dictionaryCount)
    }
}
