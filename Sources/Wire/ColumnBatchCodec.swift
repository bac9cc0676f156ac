import Columnar

/// Binary encoding of a batch of columns, used by `batch` (rows to score) and `result`
/// (predictions) frames.
///
/// Layout (little-endian): task id (u64), row count (u64), column count (u32), reserved (u32);
/// one 32-byte descriptor per column: type tag (u8), flags (u8, bit 0 = has validity), 4 bytes of
/// type parameters (unit, UTC, precision, scale, or a width), 2 reserved,
/// values length (u64), offsets length (u64), validity length (u64); then every values buffer,
/// then every offsets buffer, then every validity buffer, each padded to 8 bytes.
/// Values first and back to back means that consecutive float64 columns form one contiguous
/// column-major block, which the worker hands to pandas as a single 2-D array without copying.
public enum ColumnBatchCodec {
    static let headSize = 24
    static let descriptorSize = 32

    /// A batch laid out for sending: a small head plus the column buffers themselves (no copy).
    public struct Encoded: Sendable {
        public var head: [UInt8]
        /// Byte ranges to send after `head`, in order; `nil` buffer means zero padding.
        public var segments: [(buffer: ColumnBuffer?, count: Int)]
        public var payloadLength: Int {
            head.count + segments.reduce(0) { $0 + $1.count }
        }
    }

    /// Lays out `columns` (all of `rowCount` rows) under `taskID`.
    public static func encode(taskID: UInt64, rowCount: Int, columns: [Column]) -> Encoded {
        var head: [UInt8] = []
        head.reserveCapacity(headSize + columns.count * descriptorSize)
        appendLE(&head, taskID)
        appendLE(&head, UInt64(rowCount))
        appendLE(&head, UInt32(columns.count))
        appendLE(&head, UInt32(0))
        var segments: [(buffer: ColumnBuffer?, count: Int)] = []
        func add(_ buffer: ColumnBuffer, _ count: Int) {
            segments.append((buffer, count))
            let pad = (8 - count % 8) % 8
            if pad > 0 { segments.append((nil, pad)) }
        }
        for column in columns {
            precondition(column.count == rowCount, "column of \(column.count) rows in a batch of \(rowCount)")
            let valuesLength = column.type.byteWidth.map { $0 * rowCount }
                ?? Int(column.offsets!.typed(Int64.self)[rowCount])
            let offsetsLength = column.offsets == nil ? 0 : (rowCount + 1) * 8
            let validityLength = column.validity == nil ? 0 : rowCount
            let p = column.type.parameters
            head.append(column.type.kind)
            head.append(column.validity == nil ? 0 : 1)
            head.append(contentsOf: [p.0, p.1, p.2, p.3, 0, 0])
            appendLE(&head, UInt64(valuesLength))
            appendLE(&head, UInt64(offsetsLength))
            appendLE(&head, UInt64(validityLength))
        }
        for column in columns {
            let length = column.type.byteWidth.map { $0 * column.count } ?? Int(column.offsets!.typed(Int64.self)[column.count])
            add(column.values, length)
        }
        for column in columns where column.offsets != nil { add(column.offsets!, (column.count + 1) * 8) }
        for column in columns where column.validity != nil { add(column.validity!, column.count) }
        return Encoded(head: head, segments: segments)
    }

    /// A decoded batch: columns are views into the received payload.
    public struct Decoded: Sendable {
        public var taskID: UInt64
        public var rowCount: Int
        public var columns: [Column]
    }

    /// Parses a payload received from a peer; every length is checked against the payload.
    public static func decode(_ payload: ColumnBuffer) throws(WireError) -> Decoded {
        let bytes = payload.bytes
        guard bytes.count >= headSize else { throw .malformed("batch payload of \(bytes.count) bytes is shorter than its head") }
        let taskID = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        let rows64 = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        let columnCount = Int(bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self).littleEndian)
        guard rows64 <= UInt64(Int32.max) else { throw .malformed("batch claims \(rows64) rows") }
        let rows = Int(rows64)
        guard columnCount <= 100_000, headSize + columnCount * descriptorSize <= bytes.count else {
            throw .malformed("batch claims \(columnCount) columns, more than its payload holds")
        }
        struct Descriptor { var type: DataType; var values: Int; var offsets: Int; var validity: Int }
        var descriptors: [Descriptor] = []
        descriptors.reserveCapacity(columnCount)
        for i in 0..<columnCount {
            let at = headSize + i * descriptorSize
            guard let type = DataType(kind: bytes[at], parameters: (bytes[at + 2], bytes[at + 3], bytes[at + 4], bytes[at + 5])) else {
                throw .malformed("column \(i) has an unknown type (tag \(bytes[at]))")
            }
            let hasValidity = bytes[at + 1] & 1 == 1
            let values = bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self).littleEndian
            let offsets = bytes.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self).littleEndian
            let validity = bytes.loadUnaligned(fromByteOffset: at + 24, as: UInt64.self).littleEndian
            guard values <= UInt64(bytes.count), offsets <= UInt64(bytes.count), validity <= UInt64(bytes.count) else {
                throw .malformed("column \(i) claims buffers larger than the payload")
            }
            if let width = type.byteWidth {
                guard values == UInt64(width * rows), offsets == 0 else {
                    throw .malformed("column \(i) (\(type)) has \(values) value bytes for \(rows) rows")
                }
            } else {
                guard offsets == UInt64((rows + 1) * 8) else { throw .malformed("column \(i) has \(offsets) offset bytes for \(rows) rows") }
            }
            guard validity == (hasValidity ? UInt64(rows) : 0) else { throw .malformed("column \(i) has \(validity) validity bytes for \(rows) rows") }
            descriptors.append(Descriptor(type: type, values: Int(values), offsets: Int(offsets), validity: Int(validity)))
        }
        var cursor = headSize + columnCount * descriptorSize
        func take(_ count: Int) throws(WireError) -> ColumnBuffer {
            guard cursor + count <= bytes.count else { throw .malformed("column buffers run past the end of the payload") }
            let slice = payload.slice(cursor..<cursor + count)
            cursor += count + (8 - count % 8) % 8
            return slice
        }
        var values: [ColumnBuffer] = []
        for d in descriptors { values.append(try take(d.values)) }
        var offsets: [ColumnBuffer?] = []
        for d in descriptors { offsets.append(d.offsets > 0 ? try take(d.offsets) : nil) }
        var validity: [ColumnBuffer?] = []
        for d in descriptors { validity.append(d.validity > 0 ? try take(d.validity) : nil) }
        var columns: [Column] = []
        for (i, d) in descriptors.enumerated() {
            if let offs = offsets[i] {
                // Offsets must start at 0, never decrease and end within the values.
                let o = offs.typed(Int64.self)
                var previous: Int64 = 0
                guard o[0] == 0 else { throw .malformed("column \(i) offsets do not start at 0") }
                for k in 1...rows {
                    guard o[k] >= previous else { throw .malformed("column \(i) offsets decrease at row \(k)") }
                    previous = o[k]
                }
                guard previous == Int64(d.values) else { throw .malformed("column \(i) offsets end at \(previous), values hold \(d.values) bytes") }
            }
            columns.append(Column(type: d.type, count: rows, values: values[i], offsets: offsets[i], validity: validity[i]))
        }
        return Decoded(taskID: taskID, rowCount: rows, columns: columns)
    }

    private static func appendLE<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
