/// One column of values with optional nulls.
///
/// - Fixed-width types: `values` holds `count` values of `type.byteWidth` bytes.
///   Null slots hold NaN for float types (what pandas shows for a null double) and zero otherwise.
/// - `string`/`binary`: `offsets` holds `count + 1` `Int64` offsets into `values`, starting at 0.
/// - `validity`, when present, holds one byte per value: 1 = valid, 0 = null. A byte per value
///   (rather than a bitmap) is numpy's mask layout and costs little next to the values.
/// - Nested types (`list`, `structure`, `map`) have an empty `values` buffer and `children`:
///   a list's or map's `offsets` index into its children's rows; a struct's children have its rows.
public struct Column: Sendable {
    public let type: DataType
    public let count: Int
    public let values: ColumnBuffer
    public let offsets: ColumnBuffer?
    public let validity: ColumnBuffer?
    /// Number of null values (0 when `validity` is nil).
    public let nullCount: Int
    /// Child columns of nested types (see `DataType.childTypes`); empty otherwise.
    public let children: [Column]

    /// Creates a column from its buffers; checks that the sizes agree with `count`.
    public init(type: DataType, count: Int, values: ColumnBuffer, offsets: ColumnBuffer? = nil,
                validity: ColumnBuffer? = nil, nullCount: Int? = nil, children: [Column] = []) {
        precondition(children.map(\.type) == type.childTypes, "children do not match \(type)")
        if case .structure = type {
            precondition(children.allSatisfy { $0.count == count }, "struct fields must have the struct's rows")
        } else if type.isNested {
            precondition(offsets != nil && offsets!.count >= (count + 1) * 8, "a list or map column needs count + 1 offsets")
        } else if let width = type.byteWidth {
            precondition(values.count >= count * width, "values buffer too small for \(count) \(type)")
            precondition(offsets == nil, "fixed-width column with offsets")
        } else {
            precondition(offsets != nil && offsets!.count >= (count + 1) * 8, "variable-width column needs count + 1 offsets")
        }
        if let validity { precondition(validity.count >= count, "validity buffer too small") }
        self.type = type
        self.count = count
        self.values = values
        self.offsets = offsets
        self.validity = validity
        self.children = children
        if let nullCount {
            self.nullCount = nullCount
        } else if let validity {
            var valid = 0
            let v = validity.typed(UInt8.self)
            for i in 0..<count { valid &+= Int(v[i]) }
            self.nullCount = count - valid
        } else {
            self.nullCount = 0
        }
    }

    /// Whether row `i` holds a value.
    @inlinable public func isValid(_ i: Int) -> Bool {
        guard let validity else { return true }
        return validity.base.load(fromByteOffset: i, as: UInt8.self) != 0
    }

    /// Rows `range` of this column. Fixed-width columns share memory; variable-width ones are
    /// copied so that their offsets start at 0 again.
    public func slice(_ range: Range<Int>) -> Column {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) out of 0..<\(count)")
        precondition(!type.isNested, "nested columns are not sliced")
        if range == 0..<count { return self }
        let validitySlice = validity?.slice(range)
        let nulls = validity == nil ? 0 : nil as Int?
        if let width = type.byteWidth {
            return Column(type: type, count: range.count,
                          values: values.slice(range.lowerBound * width..<range.upperBound * width),
                          validity: validitySlice, nullCount: nulls)
        }
        let offs = offsets!.typed(Int64.self)
        let start = Int(offs[range.lowerBound]), end = Int(offs[range.upperBound])
        let newOffsets = ColumnBuffer(uninitializedCount: (range.count + 1) * 8)
        let dst = newOffsets.mutableBase.assumingMemoryBound(to: Int64.self)
        for i in 0...range.count { dst[i] = offs[range.lowerBound + i] - Int64(start) }
        let newValues = ColumnBuffer(copying: UnsafeRawBufferPointer(rebasing: values.bytes[start..<end]))
        return Column(type: type, count: range.count, values: newValues, offsets: newOffsets,
                      validity: validitySlice, nullCount: nulls)
    }
}

extension Column {
    /// This column in buffers of its own, sized to its rows: a slice of a larger decoded buffer
    /// stops holding the rest of it. (Variable-width slices are copies already.)
    public func compacted() -> Column {
        guard let width = type.byteWidth, !type.isNested else { return self }
        let copy = ColumnBuffer(copying: UnsafeRawBufferPointer(start: values.base, count: count * width))
        let valid = validity.map { ColumnBuffer(copying: UnsafeRawBufferPointer(start: $0.base, count: count)) }
        return Column(type: type, count: count, values: copy, validity: valid, nullCount: valid == nil ? 0 : nil)
    }
}

extension Column {
    /// A column of fixed-width values copied from `array` (for tests and small results).
    public static func fixed<T: BitwiseCopyable>(_ type: DataType, _ array: [T], validity: [Bool]? = nil) -> Column {
        precondition(type.byteWidth == MemoryLayout<T>.stride, "\(T.self) does not match \(type)")
        let buffer = array.withUnsafeBytes { ColumnBuffer(copying: $0) }
        return Column(type: type, count: array.count, values: buffer, validity: validity.map(Column.validityBuffer))
    }

    /// A string column from Swift strings; nil entries are nulls.
    public static func strings(_ array: [String?]) -> Column {
        var bytes: [UInt8] = []
        var offsets: [Int64] = [0]
        offsets.reserveCapacity(array.count + 1)
        for s in array {
            if let s { bytes.append(contentsOf: s.utf8) }
            offsets.append(Int64(bytes.count))
        }
        let hasNulls = array.contains { $0 == nil }
        return Column(type: .string, count: array.count,
                      values: bytes.withUnsafeBytes { ColumnBuffer(copying: $0) },
                      offsets: offsets.withUnsafeBytes { ColumnBuffer(copying: $0) },
                      validity: hasNulls ? validityBuffer(array.map { $0 != nil }) : nil)
    }

    /// A validity buffer from booleans (true = valid).
    public static func validityBuffer(_ valid: [Bool]) -> ColumnBuffer {
        let buffer = ColumnBuffer(uninitializedCount: valid.count)
        let p = buffer.mutableBase.assumingMemoryBound(to: UInt8.self)
        for (i, v) in valid.enumerated() { p[i] = v ? 1 : 0 }
        return buffer
    }

    /// The values as a Swift array (for tests and small results); `T` must match `type`.
    public func array<T: BitwiseCopyable>(of _: T.Type) -> [T] {
        precondition(type.byteWidth == MemoryLayout<T>.stride, "\(T.self) does not match \(type)")
        return Array(UnsafeBufferPointer(start: values.base.assumingMemoryBound(to: T.self), count: count))
    }

    /// The string at row `i` (nil when null); valid for `string` and `binary` columns.
    public func string(at i: Int) -> String? {
        guard isValid(i), let offsets else { return nil }
        let o = offsets.typed(Int64.self)
        let bytes = UnsafeRawBufferPointer(rebasing: values.bytes[Int(o[i])..<Int(o[i + 1])])
        return String(decoding: bytes, as: UTF8.self)
    }
}
