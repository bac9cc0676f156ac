/// Encodes definition levels (bit width 1) in the RLE / bit-packing hybrid encoding.
///
/// Runs of 8 or more equal levels become RLE runs; everything else is bit-packed in groups of 8
/// (at most 63 groups per run, so each run header is one byte and can be patched in place).
enum RLEHybridEncoder {
    /// Appends the levels of `count` values (`levels[i]` is 0 or 1; nil means all 1) to `out`.
    static func encodeBitWidth1(_ levels: UnsafePointer<UInt8>?, count: Int, into out: GrowableBuffer) {
        guard count > 0 else { return }
        guard let x = levels else {
            appendVarint(UInt64(count) << 1, out)
            out.append(byte: 1)
            return
        }
        var i = 0
        var literalHeader = -1
        var literalGroups = 0
        func closeLiteral() {
            if literalHeader >= 0 {
                out.base.storeBytes(of: UInt8(literalGroups << 1 | 1), toByteOffset: literalHeader, as: UInt8.self)
                literalHeader = -1
                literalGroups = 0
            }
        }
        while i < count {
            let v = x[i]
            var j = i + 1
            while j < count && x[j] == v { j += 1 }
            if j - i >= 8 {
                closeLiteral()
                appendVarint(UInt64(j - i) << 1, out)
                out.append(byte: v & 1)
                i = j
            } else {
                if literalHeader < 0 {
                    literalHeader = out.count
                    out.append(byte: 0)
                }
                var b: UInt8 = 0
                for k in 0..<min(8, count - i) { b |= (x[i + k] & 1) << UInt8(k) }
                out.append(byte: b)
                literalGroups += 1
                i += 8
                if literalGroups == 63 { closeLiteral() }
            }
        }
        closeLiteral()
    }

    static func appendVarint(_ value: UInt64, _ out: GrowableBuffer) {
        var v = value
        while v >= 0x80 {
            out.append(byte: UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(byte: UInt8(v))
    }
}
