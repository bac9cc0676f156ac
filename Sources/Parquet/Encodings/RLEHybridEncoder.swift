import Columnar

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

extension RLEHybridEncoder {
    /// Appends `count` values of `bitWidth` bits (1...32) in the RLE / bit-packing hybrid: runs of
    /// 8 or more equal values become RLE runs, the rest bit-packed groups of 8 (the last group
    /// padded with zeros; readers stop at the value count).
    static func encode(_ values: UnsafePointer<UInt32>, count: Int, bitWidth: Int, into out: GrowableBuffer) {
        precondition(bitWidth >= 1 && bitWidth <= 32)
        let valueBytes = (bitWidth + 7) / 8
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
            let v = values[i]
            var j = i + 1
            while j < count && values[j] == v { j += 1 }
            if j - i >= 8 {
                closeLiteral()
                appendVarint(UInt64(j - i) << 1, out)
                for k in 0..<valueBytes { out.append(byte: UInt8(truncatingIfNeeded: v >> UInt32(8 * k))) }
                i = j
                continue
            }
            if literalHeader < 0 {
                literalHeader = out.count
                out.append(byte: 0)
            }
            // One group of 8 values: 8 * bitWidth bits = bitWidth bytes.
            var acc: UInt64 = 0
            var bits = 0
            for k in 0..<8 {
                let x = i + k < count ? UInt64(values[i + k]) : 0
                acc |= x << UInt64(bits)
                bits += bitWidth
                while bits >= 8 {
                    out.append(byte: UInt8(truncatingIfNeeded: acc))
                    acc >>= 8
                    bits -= 8
                }
            }
            literalGroups += 1
            i += 8
            if literalGroups == 63 { closeLiteral() }
        }
        closeLiteral()
    }
}
