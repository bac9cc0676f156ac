// MARK: - Constant-time comparison

/// Comparisons whose running time does not depend on where two secrets differ.
public enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes, looking at every byte whatever the content.
    ///
    /// Only the lengths may make it return early: a length is not a secret (tags and digests
    /// have fixed lengths). Use it to check a MAC or a proof against the expected one.
    @inline(never)
    public static func equals<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
