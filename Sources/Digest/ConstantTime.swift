import CSSL

// MARK: - Constant-time comparison

/// Comparisons whose running time does not depend on where two secrets differ.
public enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes, looking at every byte whatever the content
    /// (OpenSSL's `CRYPTO_memcmp`).
    ///
    /// Only the lengths may make it return early: a length is not a secret (tags and digests
    /// have fixed lengths). Use it to check a MAC or a proof against the expected one.
    public static func equals<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return withBytes(of: a) { x in
            withBytes(of: b) { y in CRYPTO_memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
    }

    /// Calls `body` with the bytes of `bytes` in contiguous memory (copied when they are not).
    private static func withBytes<Bytes: Collection<UInt8>>(of bytes: Bytes, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        if let result = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return result }
        return Array(bytes).withUnsafeBytes(body)
    }
}
