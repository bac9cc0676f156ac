import Columnar

/// Wire types of the Thrift compact protocol (low nibble of a field header).
enum ThriftType: UInt8 {
    case stop = 0
    case boolTrue = 1
    case boolFalse = 2
    case i8 = 3
    case i16 = 4
    case i32 = 5
    case i64 = 6
    case double = 7
    case binary = 8
    case list = 9
    case set = 10
    case map = 11
    case `struct` = 12
    case uuid = 13
}

/// Reads Thrift compact-protocol values from a byte buffer (the Parquet footer and page headers).
///
/// Every length and count is checked against the bytes that remain, so that a corrupt footer
/// throws rather than reading out of bounds or allocating wildly; nesting is capped so that a
/// crafted struct cannot recurse without end. Unknown fields are skipped by wire type, which
/// keeps files from newer writers readable.
struct ThriftCompactReader {
    private let base: UnsafeRawPointer
    /// One past the last readable byte (offset from `base`).
    let end: Int
    /// Offset of the next byte to read.
    private(set) var position: Int
    private var depth = 0
    static let maxDepth = 64

    /// Reads `bytes`; the buffer must outlive the reader.
    init(_ bytes: UnsafeRawBufferPointer) {
        self.base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        self.end = bytes.count
        self.position = 0
    }

    var remaining: Int { end - position }

    // MARK: Primitives

    @inline(__always)
    mutating func readByte() throws -> UInt8 {
        guard position < end else { throw ParquetFormatError("Thrift data ends unexpectedly at byte \(position)") }
        let b = base.load(fromByteOffset: position, as: UInt8.self)
        position += 1
        return b
    }

    /// An unsigned LEB128 varint of at most 10 bytes.
    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try readByte()
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw ParquetFormatError("Thrift varint longer than 10 bytes at byte \(position)") }
        }
    }

    mutating func readI64() throws -> Int64 {
        let v = try readVarint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))  // zigzag
    }

    mutating func readI32() throws -> Int32 {
        let v = try readI64()
        guard let r = Int32(exactly: v) else { throw ParquetFormatError("Thrift i32 out of range: \(v)") }
        return r
    }

    mutating func readI16() throws -> Int16 {
        let v = try readI64()
        guard let r = Int16(exactly: v) else { throw ParquetFormatError("Thrift i16 out of range: \(v)") }
        return r
    }

    mutating func readDouble() throws -> Double {
        guard remaining >= 8 else { throw ParquetFormatError("Thrift double truncated at byte \(position)") }
        let bits = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self))
        position += 8
        return Double(bitPattern: bits)
    }

    /// A length-prefixed byte string, as a view into the buffer.
    mutating func readBinary() throws -> UnsafeRawBufferPointer {
        let n = try readVarint()
        guard n <= UInt64(remaining) else {
            throw ParquetFormatError("Thrift binary of \(n) bytes exceeds the \(remaining) bytes left")
        }
        let r = UnsafeRawBufferPointer(start: base + position, count: Int(n))
        position += Int(n)
        return r
    }

    mutating func readBytes() throws -> [UInt8] { Array(try readBinary()) }

    mutating func readString() throws -> String { String(decoding: try readBinary(), as: UTF8.self) }

    /// A list or set header: element wire type and element count (checked against the bytes left,
    /// since every element takes at least one byte).
    mutating func readListHeader() throws -> (ThriftType, Int) {
        let h = try readByte()
        var count = Int(h >> 4)
        if count == 15 {
            let n = try readVarint()
            guard n <= UInt64(Int32.max) else { throw ParquetFormatError("Thrift list size \(n) is too large") }
            count = Int(n)
        }
        // An empty list may carry element type 0 (fastparquet writes such lists).
        guard let t = ThriftType(rawValue: h & 0x0F), t != .stop || count == 0 else {
            throw ParquetFormatError("Thrift list has unknown element type \(h & 0x0F)")
        }
        // bool elements, i8 and every struct take >= 1 byte; so do varints.
        guard count <= remaining else {
            throw ParquetFormatError("Thrift list of \(count) elements exceeds the \(remaining) bytes left")
        }
        return (t, count)
    }

    // MARK: Structs

    /// Reads the fields of a struct, calling `body` for each with its id and wire type. `body`
    /// must consume the field's value (or call `skip`). Bool fields carry their value in the type.
    mutating func readStruct(_ body: (inout ThriftCompactReader, Int16, ThriftType) throws -> Void) throws {
        depth += 1
        guard depth <= Self.maxDepth else { throw ParquetFormatError("Thrift structs nested deeper than \(Self.maxDepth)") }
        defer { depth -= 1 }
        var lastID: Int16 = 0
        while true {
            let h = try readByte()
            if h == 0 { return }
            guard let t = ThriftType(rawValue: h & 0x0F), t != .stop else {
                throw ParquetFormatError("Thrift field has unknown wire type \(h & 0x0F) at byte \(position - 1)")
            }
            let delta = Int16(h >> 4)
            let id: Int16
            if delta == 0 { id = try readI16() } else {
                let (sum, overflow) = lastID.addingReportingOverflow(delta)
                guard !overflow else { throw ParquetFormatError("Thrift field id overflows") }
                id = sum
            }
            lastID = id
            try body(&self, id, t)
        }
    }

    /// Skips one value of wire type `type` (recursively for containers).
    mutating func skip(_ type: ThriftType) throws {
        switch type {
        case .stop: throw ParquetFormatError("Thrift: cannot skip a stop")
        case .boolTrue, .boolFalse: return  // a bool field's value is its type
        case .i8: _ = try readByte()
        case .i16, .i32, .i64: _ = try readVarint()
        case .double: _ = try readDouble()
        case .binary: _ = try readBinary()
        case .uuid:
            guard remaining >= 16 else { throw ParquetFormatError("Thrift uuid truncated") }
            position += 16
        case .list, .set:
            let (t, n) = try readListHeader()
            try nest {
                for _ in 0..<n {
                    if t == .boolTrue || t == .boolFalse { _ = try $0.readByte() } else { try $0.skip(t) }
                }
            }
        case .map:
            let n = try readVarint()
            guard n > 0 else { return }
            guard n <= UInt64(remaining) else { throw ParquetFormatError("Thrift map of \(n) entries exceeds the bytes left") }
            let kv = try readByte()
            guard let kt = ThriftType(rawValue: kv >> 4), let vt = ThriftType(rawValue: kv & 0x0F),
                  kt != .stop, vt != .stop else { throw ParquetFormatError("Thrift map has unknown key/value types") }
            try nest {
                for _ in 0..<Int(n) {
                    if kt == .boolTrue || kt == .boolFalse { _ = try $0.readByte() } else { try $0.skip(kt) }
                    if vt == .boolTrue || vt == .boolFalse { _ = try $0.readByte() } else { try $0.skip(vt) }
                }
            }
        case .struct:
            try readStruct { r, _, t in try r.skip(t) }
        }
    }

    private mutating func nest(_ body: (inout ThriftCompactReader) throws -> Void) throws {
        depth += 1
        guard depth <= Self.maxDepth else { throw ParquetFormatError("Thrift containers nested deeper than \(Self.maxDepth)") }
        defer { depth -= 1 }
        try body(&self)
    }

    // MARK: Typed field helpers (a field with an unexpected wire type is skipped, not fatal)

    /// Reads an i32 field value, or skips it and returns nil when the wire type is not i32.
    mutating func i32(_ t: ThriftType) throws -> Int32? {
        if t == .i32 || t == .i16 || t == .i8 {
            return t == .i8 ? Int32(Int8(bitPattern: try readByte())) : try readI32()
        }
        try skip(t)
        return nil
    }

    mutating func i64(_ t: ThriftType) throws -> Int64? {
        if t == .i64 || t == .i32 || t == .i16 { return try readI64() }
        try skip(t)
        return nil
    }

    mutating func bool(_ t: ThriftType) throws -> Bool? {
        if t == .boolTrue { return true }
        if t == .boolFalse { return false }
        try skip(t)
        return nil
    }

    mutating func string(_ t: ThriftType) throws -> String? {
        if t == .binary { return try readString() }
        try skip(t)
        return nil
    }

    mutating func binary(_ t: ThriftType) throws -> [UInt8]? {
        if t == .binary { return try readBytes() }
        try skip(t)
        return nil
    }

    /// Reads a list field whose elements are decoded by `element`; skips it if the wire type
    /// is not a list or the element type is not `elementType`.
    mutating func list<T>(_ t: ThriftType, of elementType: ThriftType,
                          _ element: (inout ThriftCompactReader) throws -> T) throws -> [T]? {
        guard t == .list || t == .set else { try skip(t); return nil }
        let start = position
        let (et, n) = try readListHeader()
        let compatible = et == elementType || (elementType == .i32 && et == .i16)
        guard compatible else {
            position = start
            try skip(t)
            return nil
        }
        var out: [T] = []
        out.reserveCapacity(n)
        try nest {
            for _ in 0..<n { out.append(try element(&$0)) }
        }
        return out
    }

    /// Reads a struct field with `decode`, or skips it if the wire type is not struct.
    mutating func structValue<T>(_ t: ThriftType, _ decode: (inout ThriftCompactReader) throws -> T) throws -> T? {
        guard t == .struct else { try skip(t); return nil }
        return try decode(&self)
    }
}
