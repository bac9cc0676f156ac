import Columnar

/// Computes the min/max statistics a writer stores for a column chunk (Statistics fields 5/6:
/// PLAIN bytes without length prefix, in the column's sort order).
///
/// NaN is ignored for floats; a zero minimum is written as -0 and a zero maximum as +0 (spec
/// rule, so readers that prune on them stay correct whichever zero the data holds).
enum ParquetStatisticsBuilder {
    /// Min/max values longer than this are omitted rather than truncated.
    static let maxBinaryStatisticLength = 1024

    static func minMax(_ column: Column) -> (min: [UInt8], max: [UInt8])? {
        let n = column.count
        guard n > column.nullCount else { return nil }
        let valid = column.validity?.base.assumingMemoryBound(to: UInt8.self)
        let v = column.values.base
        switch column.type {
        case .list, .structure, .map:
            return nil
        case .bool:
            guard let (lo, hi) = extremes(v.assumingMemoryBound(to: UInt8.self), n, valid, <) else { return nil }
            return ([lo], [hi])
        case .int8: return encode32(v.assumingMemoryBound(to: Int8.self), n, valid) { Int32($0) }
        case .int16: return encode32(v.assumingMemoryBound(to: Int16.self), n, valid) { Int32($0) }
        case .int32: return encode32(v.assumingMemoryBound(to: Int32.self), n, valid) { $0 }
        case .uint8: return encode32(v.assumingMemoryBound(to: UInt8.self), n, valid) { Int32($0) }
        case .uint16: return encode32(v.assumingMemoryBound(to: UInt16.self), n, valid) { Int32($0) }
        case .uint32: return encode32(v.assumingMemoryBound(to: UInt32.self), n, valid) { Int32(bitPattern: $0) }
        case .int64: return encode64(v.assumingMemoryBound(to: Int64.self), n, valid) { $0 }
        case .uint64: return encode64(v.assumingMemoryBound(to: UInt64.self), n, valid) { Int64(bitPattern: $0) }
        case .float32:
            guard let (lo, hi) = floatExtremes(v.assumingMemoryBound(to: Float.self), n, valid) else { return nil }
            return (bytes(of: (lo == 0 ? -Float(0) : lo).bitPattern), bytes(of: (hi == 0 ? Float(0) : hi).bitPattern))
        case .float64:
            guard let (lo, hi) = floatExtremes(v.assumingMemoryBound(to: Double.self), n, valid) else { return nil }
            return (bytes(of: (lo == 0 ? -Double(0) : lo).bitPattern), bytes(of: (hi == 0 ? Double(0) : hi).bitPattern))
        case .string, .binary:
            return byteArrayExtremes(column, valid)
        case .date32: return encode32(v.assumingMemoryBound(to: Int32.self), n, valid) { $0 }
        case .timestamp, .time(.microseconds), .time(.nanoseconds):
            return encode64(v.assumingMemoryBound(to: Int64.self), n, valid) { $0 }
        case .time(.milliseconds): return encode32(v.assumingMemoryBound(to: Int64.self), n, valid) { Int32(truncatingIfNeeded: $0) }
        case .float16:
            // Compared as floats; stored as the 2-byte half (FLBA(2) FLOAT16, signed float order).
            let halves = v.assumingMemoryBound(to: UInt16.self)
            var lo = Float.infinity, hi = -Float.infinity, loBits: UInt16 = 0, hiBits: UInt16 = 0, any = false
            for i in 0..<n where valid == nil || valid![i] != 0 {
                let x = Self.halfToFloat(halves[i])
                if x.isNaN { continue }
                if !any || x < lo { lo = x; loBits = halves[i] }
                if !any || x > hi { hi = x; hiBits = halves[i] }
                any = true
            }
            guard any else { return nil }
            if lo == 0 { loBits = 0x8000 }  // -0
            if hi == 0 { hiBits = 0 }  // +0
            return (bytes(of: loBits), bytes(of: hiBits))
        case .decimal(let precision, _):
            let p = v.assumingMemoryBound(to: Int128Bits.self)
            func value(_ x: Int128Bits) -> Int128 { Int128(bitPattern: UInt128(x.high) << 64 | UInt128(x.low)) }
            guard let (lo, hi) = extremes(p, n, valid, { value($0) < value($1) }) else { return nil }
            if precision <= 9 { return (bytes(of: Int32(truncatingIfNeeded: value(lo))), bytes(of: Int32(truncatingIfNeeded: value(hi)))) }
            if precision <= 18 { return (bytes(of: Int64(truncatingIfNeeded: value(lo))), bytes(of: Int64(truncatingIfNeeded: value(hi)))) }
            let w = ParquetTypeMapping.decimalByteWidth(precision: precision)
            func bigEndian(_ x: Int128Bits) -> [UInt8] {
                let le = withUnsafeBytes(of: x) { Array($0) }
                return (0..<w).map { le[w - 1 - $0] }
            }
            return (bigEndian(lo), bigEndian(hi))
        case .fixedBinary(let w): return fixedExtremes(v, width: w, n, valid)
        case .uuid: return fixedExtremes(v, width: 16, n, valid)
        case .null:
            return nil
        }
    }

    /// IEEE half to float (exact).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int((h >> 10) & 0x1F), mantissa = Float(h & 0x3FF)
        if exponent == 0x1F { return mantissa == 0 ? sign * .infinity : .nan }
        if exponent == 0 { return sign * mantissa * 0x1p-24 }
        return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }

    /// Unsigned lexicographic extremes of fixed-width byte strings.
    private static func fixedExtremes(_ base: UnsafeRawPointer, width w: Int, _ n: Int, _ valid: UnsafePointer<UInt8>?) -> ([UInt8], [UInt8])? {
        guard w <= maxBinaryStatisticLength else { return nil }
        var lo = -1, hi = -1
        func less(_ a: Int, _ b: Int) -> Bool { memcmpBytes(base + a * w, base + b * w, w) < 0 }
        for i in 0..<n where valid == nil || valid![i] != 0 {
            if lo < 0 { lo = i; hi = i; continue }
            if less(i, lo) { lo = i }
            if less(hi, i) { hi = i }
        }
        guard lo >= 0 else { return nil }
        return (Array(UnsafeRawBufferPointer(start: base + lo * w, count: w)), Array(UnsafeRawBufferPointer(start: base + hi * w, count: w)))
    }

    private static func extremes<T>(_ p: UnsafePointer<T>, _ n: Int, _ valid: UnsafePointer<UInt8>?,
                                    _ less: (T, T) -> Bool) -> (T, T)? {
        var lo: T?, hi: T?
        for i in 0..<n where valid == nil || valid![i] != 0 {
            let x = p[i]
            if lo == nil { lo = x; hi = x; continue }
            if less(x, lo!) { lo = x }
            if less(hi!, x) { hi = x }
        }
        guard let lo, let hi else { return nil }
        return (lo, hi)
    }

    /// Min and max of integers; without nulls a branch-free loop the compiler vectorizes.
    private static func integerExtremes<T: FixedWidthInteger>(_ p: UnsafePointer<T>, _ n: Int, _ valid: UnsafePointer<UInt8>?) -> (T, T)? {
        guard valid == nil else { return extremes(p, n, valid, <) }
        guard n > 0 else { return nil }
        var lo = T.max, hi = T.min
        for i in 0..<n {
            let x = p[i]
            lo = x < lo ? x : lo
            hi = x > hi ? x : hi
        }
        return (lo, hi)
    }

    private static func encode32<T: FixedWidthInteger>(_ p: UnsafePointer<T>, _ n: Int, _ valid: UnsafePointer<UInt8>?,
                                                _ toPhysical: (T) -> Int32) -> ([UInt8], [UInt8])? {
        guard let (lo, hi) = integerExtremes(p, n, valid) else { return nil }
        return (bytes(of: toPhysical(lo)), bytes(of: toPhysical(hi)))
    }

    private static func encode64<T: FixedWidthInteger>(_ p: UnsafePointer<T>, _ n: Int, _ valid: UnsafePointer<UInt8>?,
                                                _ toPhysical: (T) -> Int64) -> ([UInt8], [UInt8])? {
        guard let (lo, hi) = integerExtremes(p, n, valid) else { return nil }
        return (bytes(of: toPhysical(lo)), bytes(of: toPhysical(hi)))
    }

    private static func floatExtremes<T: BinaryFloatingPoint>(_ p: UnsafePointer<T>, _ n: Int, _ valid: UnsafePointer<UInt8>?) -> (T, T)? {
        if valid == nil {
            // Four independent accumulators and selects, no branches (the compiler turns them into
            // vector min/max): a comparison with NaN is false, so NaNs are skipped without a
            // test; all-NaN (or no) values leave the accumulators at ±infinity.
            var lo0 = T.infinity, lo1 = T.infinity, lo2 = T.infinity, lo3 = T.infinity
            var hi0 = -T.infinity, hi1 = -T.infinity, hi2 = -T.infinity, hi3 = -T.infinity
            var i = 0
            while i + 4 <= n {
                let a = p[i], b = p[i + 1], c = p[i + 2], d = p[i + 3]
                lo0 = a < lo0 ? a : lo0; hi0 = a > hi0 ? a : hi0
                lo1 = b < lo1 ? b : lo1; hi1 = b > hi1 ? b : hi1
                lo2 = c < lo2 ? c : lo2; hi2 = c > hi2 ? c : hi2
                lo3 = d < lo3 ? d : lo3; hi3 = d > hi3 ? d : hi3
                i += 4
            }
            while i < n {
                let x = p[i]
                lo0 = x < lo0 ? x : lo0; hi0 = x > hi0 ? x : hi0
                i += 1
            }
            let lo = Swift.min(Swift.min(lo0, lo1), Swift.min(lo2, lo3)), hi = Swift.max(Swift.max(hi0, hi1), Swift.max(hi2, hi3))
            return lo == .infinity && hi == -.infinity ? nil : (lo, hi)
        }
        var lo = T.infinity, hi = -T.infinity, any = false
        for i in 0..<n where valid == nil || valid![i] != 0 {
            let x = p[i]
            if x.isNaN { continue }
            any = true
            if x < lo { lo = x }
            if x > hi { hi = x }
        }
        return any ? (lo, hi) : nil
    }

    private static func byteArrayExtremes(_ column: Column, _ valid: UnsafePointer<UInt8>?) -> ([UInt8], [UInt8])? {
        let o = column.offsets!.base.assumingMemoryBound(to: Int64.self)
        let base = column.values.base
        func view(_ i: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: base + Int(o[i]), count: Int(o[i + 1] - o[i]))
        }
        // Unsigned lexicographic order, as Parquet orders BYTE_ARRAY.
        func less(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
            let common = min(a.count, b.count)
            if common > 0 {
                let c = memcmpBytes(a.baseAddress!, b.baseAddress!, common)
                if c != 0 { return c < 0 }
            }
            return a.count < b.count
        }
        var lo = -1, hi = -1
        for i in 0..<column.count where valid == nil || valid![i] != 0 {
            if lo < 0 { lo = i; hi = i; continue }
            let x = view(i)
            if less(x, view(lo)) { lo = i }
            if less(view(hi), x) { hi = i }
        }
        guard lo >= 0 else { return nil }
        let a = view(lo), b = view(hi)
        guard a.count <= maxBinaryStatisticLength, b.count <= maxBinaryStatisticLength else { return nil }
        return (Array(a), Array(b))
    }

    private static func memcmpBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Int {
        let pa = a.assumingMemoryBound(to: UInt8.self), pb = b.assumingMemoryBound(to: UInt8.self)
        for i in 0..<n where pa[i] != pb[i] { return pa[i] < pb[i] ? -1 : 1 }
        return 0
    }

    private static func bytes<T: FixedWidthInteger>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
