import Columnar

/// How dense physical values (PLAIN layout: 4, 8, 12 or `type_length` bytes each) become the
/// storage of the output `DataType` (see DataType.swift).
enum ValueConversion: Equatable {
    /// Same bits, same width (INT32 → int32/uint32/date32, INT64 → int64/timestamp/time(us/ns),
    /// FLOAT/DOUBLE, FLBA → float16/uuid/fixedBinary, booleans decoded to bytes).
    case copy
    /// INT32 → 8- or 16-bit integers (the INT(8)/INT(16) annotation promises the values fit).
    case truncate
    /// INT32 TIME(MILLIS) → Int64 milliseconds.
    case signExtend32To64
    /// INT96 (nanoseconds of day, Julian day) → Int64 microseconds since the epoch.
    case int96ToMicros
    /// INT32 / INT64 unscaled decimal → 16-byte two's complement.
    case decimalFromInt32, decimalFromInt64
    /// Big-endian two's complement FIXED_LEN_BYTE_ARRAY → 16-byte little-endian.
    case decimalFromBigEndian

    /// Julian day number of 1970-01-01.
    static let julianDayOfEpoch: Int64 = 2_440_588

    /// The conversion from `physical` to `output`; nil when `output` is variable-width, null or
    /// decoded from BYTE_ARRAY values one by one.
    static func make(physical: ParquetPhysicalType, physicalWidth: Int, output: DataType) throws -> ValueConversion? {
        guard let outWidth = output.byteWidth, output != .null, physical != .byteArray else { return nil }
        switch (physical, output) {
        case (.int96, .timestamp): return .int96ToMicros
        case (.int32, .decimal): return .decimalFromInt32
        case (.int64, .decimal): return .decimalFromInt64
        case (.fixedLenByteArray, .decimal): return .decimalFromBigEndian
        case (.int32, .time): return .signExtend32To64
        case (.int32, _) where outWidth < 4: return .truncate
        case (.boolean, .bool): return .copy
        default:
            guard physicalWidth == outWidth else {
                throw ParquetFormatError("\(physical.name) values of \(physicalWidth) bytes cannot be read as \(output)")
            }
            return .copy
        }
    }

    /// A value the output type cannot hold (an INT96 timestamp beyond 64-bit microseconds): the
    /// caller names its row; never stored wrapped.
    struct OutOfRange: Error {
        /// Its position among the values converted.
        var index: Int
        var message: String
    }

    /// Converts `count` dense values of `physicalWidth` bytes at `src` into `dst` values of
    /// `outWidth` bytes. `src` and `dst` do not overlap. A value out of the output's range throws
    /// `OutOfRange`, or, given `outOfRange`, is reported to it and stored as 0 (a dictionary's
    /// entries, which are an error only where a row uses them).
    func convert(_ src: UnsafeRawPointer, count: Int, physicalWidth: Int, outWidth: Int,
                 into dst: UnsafeMutableRawPointer, outOfRange: ((Int, String) -> Void)? = nil) throws {
        switch self {
        case .copy:
            dst.copyMemory(from: src, byteCount: count * outWidth)
        case .truncate:
            if outWidth == 1 {
                for i in 0..<count {
                    dst.storeBytes(of: UInt8(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)),
                                   toByteOffset: i, as: UInt8.self)
                }
            } else {
                for i in 0..<count {
                    dst.storeBytes(of: UInt16(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)),
                                   toByteOffset: i &* 2, as: UInt16.self)
                }
            }
        case .signExtend32To64:
            for i in 0..<count {
                let v = Int32(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)))
                dst.storeBytes(of: Int64(v).littleEndian, toByteOffset: i &* 8, as: Int64.self)
            }
        case .int96ToMicros:
            // The Julian day as Spark writes and reads it (a signed 32-bit number; pyarrow reads it
            // unsigned, which differs only for days that do not fit below anyway), nanoseconds
            // truncated towards zero. A day too far from 1970 for 64-bit microseconds is out of
            // range, never wrapped.
            for i in 0..<count {
                let nanos = Int64(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: i &* 12, as: UInt64.self)))
                let day = Int64(Int32(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i &* 12 &+ 8, as: UInt32.self))))
                let (dayMicros, over1) = (day - Self.julianDayOfEpoch).multipliedReportingOverflow(by: 86_400_000_000)
                let (micros, over2) = dayMicros.addingReportingOverflow(nanos / 1000)
                if over1 || over2 {
                    let message = Self.int96OutOfRange(day: day, nanos: nanos)
                    guard let outOfRange else { throw OutOfRange(index: i, message: message) }
                    outOfRange(i, message)
                    dst.storeBytes(of: Int64(0), toByteOffset: i &* 8, as: Int64.self)
                    continue
                }
                dst.storeBytes(of: micros.littleEndian, toByteOffset: i &* 8, as: Int64.self)
            }
        case .decimalFromInt32:
            for i in 0..<count {
                let v = Int64(Int32(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))))
                Self.storeInt128(low: v, at: dst + i &* 16)
            }
        case .decimalFromInt64:
            for i in 0..<count {
                let v = Int64(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self)))
                Self.storeInt128(low: v, at: dst + i &* 16)
            }
        case .decimalFromBigEndian:
            for i in 0..<count {
                try Self.decimalFromBigEndian(src + i &* physicalWidth, physicalWidth, into: dst + i &* 16)
            }
        }
    }

    /// Why an INT96 timestamp cannot be read, for people.
    static func int96OutOfRange(day: Int64, nanos: Int64) -> String {
        let year = 1970 + Int((Double(day - julianDayOfEpoch) / 365.2425).rounded(.down))
        return "INT96 timestamp (Julian day \(day), \(nanos) ns into the day: about year \(year)) does not fit 64-bit microseconds "
            + "(years -290308 to 294247); it cannot be read as a timestamp. Rewrite the file with that value corrected, or leave the column out (--columns, --keep-columns)"
    }

    /// Stores `v` sign-extended to a 16-byte little-endian integer.
    @inline(__always)
    static func storeInt128(low v: Int64, at p: UnsafeMutableRawPointer) {
        p.storeBytes(of: UInt64(bitPattern: v).littleEndian, as: UInt64.self)
        p.storeBytes(of: (v < 0 ? UInt64.max : 0).littleEndian, toByteOffset: 8, as: UInt64.self)
    }

    /// A big-endian two's-complement integer of `length` bytes (FLBA or BYTE_ARRAY decimal) as a
    /// 16-byte little-endian one; an empty value is 0. Longer values must be sign extensions.
    @inline(__always)
    static func decimalFromBigEndian(_ src: UnsafeRawPointer, _ length: Int, into dst: UnsafeMutableRawPointer) throws {
        let s = src.assumingMemoryBound(to: UInt8.self)
        let d = dst.assumingMemoryBound(to: UInt8.self)
        guard length > 0 else {
            dst.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
            return
        }
        let significant = min(length, 16)
        let skip = length - significant
        let sign: UInt8 = s[skip] & 0x80 != 0 ? 0xFF : 0
        if skip > 0 {
            for k in 0..<skip where s[k] != sign {
                throw ParquetFormatError("DECIMAL value of \(length) bytes does not fit in 128 bits")
            }
        }
        for k in 0..<significant { d[k] = s[length - 1 - k] }
        if significant < 16 { for k in significant..<16 { d[k] = sign } }
    }
}
