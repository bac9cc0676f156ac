import Columnar

/// Decodes DELTA_BYTE_ARRAY (Encodings.md "Delta strings"): each value is a prefix of the previous
/// one plus a suffix; prefix lengths as DELTA_BINARY_PACKED, suffixes as DELTA_LENGTH_BYTE_ARRAY.
///
/// Counts in the data (block sizes, value totals, lengths) never size an allocation: values are
/// written into buffers the caller sized from the page's value count, and every read is checked
/// against the bytes of the page.
enum DeltaByteArrayDecoder {
    /// Walks `count` DELTA_BYTE_ARRAY values (prefix lengths, then suffixes as
    /// DELTA_LENGTH_BYTE_ARRAY), calling `body` with each rebuilt value.
    static func forEach(_ data: UnsafeRawBufferPointer, count: Int, scratch: DecodeScratch,
                        _ body: (UnsafeRawPointer, Int) throws -> Void) throws {
        guard count > 0 else { return }
        let prefixes = scratch.lengthBuffer(count, slot: 1)
        let (prefixBytes, _) = try DeltaBinaryPackedDecoder.decodeLengths(data, count: count, into: prefixes)
        let rest = UnsafeRawBufferPointer(rebasing: data[prefixBytes...])
        let suffixes = scratch.lengthBuffer(count, slot: 0)
        let (suffixBytes, total) = try DeltaBinaryPackedDecoder.decodeLengths(rest, count: count, into: suffixes)
        guard total <= rest.count - suffixBytes else {
            throw ParquetFormatError("DELTA_BYTE_ARRAY suffixes sum to \(total) bytes, page holds \(rest.count - suffixBytes)")
        }
        let value = scratch.previousValue
        value.removeAll()
        var p = rest.baseAddress! + suffixBytes
        for i in 0..<count {
            let prefix = Int(prefixes[i]), suffix = Int(suffixes[i])
            guard prefix <= value.count else {
                throw ParquetFormatError("DELTA_BYTE_ARRAY prefix of \(prefix) bytes exceeds the previous value's \(value.count)")
            }
            value.count = prefix
            value.append(p, suffix)
            p += suffix
            try body(UnsafeRawPointer(value.base), value.count)
        }
    }
}
