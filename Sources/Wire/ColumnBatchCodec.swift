import Columnar

/// Binary encoding of a batch of columns, used by `batch` (rows to score) and `result`
/// (predictions) frames.
///
/// Layout (little-endian): task id (u64), row count (u64), column count (u32), node count (u32);
/// one 32-byte descriptor per node, columns and their children in pre-order: type tag (u8),
/// flags (u8, bit 0 = has validity), 4 bytes of type parameters (unit, UTC, precision, scale, or
/// a width), child count (u16), values length (u64), offsets length (u64), rows (u64); then every
/// node's values buffer, then every offsets buffer, then every validity buffer (one byte per
/// row when present), each padded to 8 bytes.
/// Values first and back to back means that consecutive float64 columns form one contiguous
/// column-major block, which the worker hands to pandas as a single 2-D array without copying.
/// Struct field names do not travel: the receiver knows the type it expects (`Column.retyped`).
public enum ColumnBatchCodec {
    static let headSize = 24
    static let descriptorSize = 32
    /// Bounds what a peer can make the decoder walk through.
    static let maxNodes = 100_000
    static let maxDepth = 32

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
    /// Lays `batch` out for `writev`: its buffers are referenced, not copied.
    static func encode(_ batch: ColumnBatch) -> Encoded {
        encode(taskID: batch.taskID, rowCount: batch.rowCount, columns: batch.columns)
    }

    public static func encode(taskID: UInt64, rowCount: Int, columns: [Column]) -> Encoded {
        var nodes: [Column] = []
        func flatten(_ column: Column) {
            nodes.append(column)
            column.children.forEach(flatten)
        }
        for column in columns {
            precondition(column.count == rowCount, "column of \(column.count) rows in a batch of \(rowCount)")
            flatten(column)
        }
        var head: [UInt8] = []
        head.reserveCapacity(headSize + nodes.count * descriptorSize)
        appendLE(&head, taskID)
        appendLE(&head, UInt64(rowCount))
        appendLE(&head, UInt32(columns.count))
        appendLE(&head, UInt32(nodes.count))
        var segments: [(buffer: ColumnBuffer?, count: Int)] = []
        func add(_ buffer: ColumnBuffer, _ count: Int) {
            segments.append((buffer, count))
            let pad = (8 - count % 8) % 8
            if pad > 0 { segments.append((nil, pad)) }
        }
        for node in nodes {
            let p = node.type.parameters
            head.append(node.type.kind)
            head.append(node.validity == nil ? 0 : 1)
            head.append(contentsOf: [p.0, p.1, p.2, p.3])
            appendLE(&head, UInt16(node.children.count))
            appendLE(&head, UInt64(valuesLength(node)))
            appendLE(&head, UInt64(node.offsets == nil ? 0 : (node.count + 1) * 8))
            appendLE(&head, UInt64(node.count))
        }
        for node in nodes where valuesLength(node) > 0 { add(node.values, valuesLength(node)) }
        for node in nodes where node.offsets != nil { add(node.offsets!, (node.count + 1) * 8) }
        for node in nodes where node.validity != nil { add(node.validity!, node.count) }
        return Encoded(head: head, segments: segments)
    }

    private static func valuesLength(_ column: Column) -> Int {
        if column.type.isNested { return 0 }
        return column.type.byteWidth.map { $0 * column.count } ?? Int(column.offsets!.typed(Int64.self)[column.count])
    }

    private struct Descriptor {
        var type: DataType
        var hasValidity: Bool
        var children: Int
        var values: Int
        var offsets: Int
        var rows: Int
    }

    /// Parses a payload received from a peer; every length is checked against the payload.
    public static func decode(_ payload: ColumnBuffer) throws(WireError) -> ColumnBatch {
        let bytes = payload.bytes
        guard bytes.count >= headSize else { throw .malformed("batch payload of \(bytes.count) bytes is shorter than its head") }
        let taskID = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        let rows64 = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        let columnCount = Int(bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self).littleEndian)
        let nodeCount = Int(bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self).littleEndian)
        guard rows64 <= UInt64(Int32.max) else { throw .malformed("batch claims \(rows64) rows") }
        let rows = Int(rows64)
        guard columnCount <= nodeCount, nodeCount <= maxNodes, headSize + nodeCount * descriptorSize <= bytes.count else {
            throw .malformed("batch claims \(columnCount) columns in \(nodeCount) nodes, more than its payload holds")
        }
        var descriptors: [Descriptor] = []
        descriptors.reserveCapacity(nodeCount)
        for i in 0..<nodeCount {
            let at = headSize + i * descriptorSize
            guard let type = DataType(kind: bytes[at], parameters: (bytes[at + 2], bytes[at + 3], bytes[at + 4], bytes[at + 5])) else {
                throw .malformed("node \(i) has an unknown type (tag \(bytes[at]))")
            }
            let children = Int(bytes.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self).littleEndian)
            let values = bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self).littleEndian
            let offsets = bytes.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self).littleEndian
            let nodeRows = bytes.loadUnaligned(fromByteOffset: at + 24, as: UInt64.self).littleEndian
            guard values <= UInt64(bytes.count), offsets <= UInt64(bytes.count), nodeRows <= UInt64(bytes.count) * 8 + 1 else {
                throw .malformed("node \(i) claims buffers larger than the payload")
            }
            descriptors.append(Descriptor(type: type, hasValidity: bytes[at + 1] & 1 == 1, children: children,
                                          values: Int(values), offsets: Int(offsets), rows: Int(nodeRows)))
        }
        var cursor = headSize + nodeCount * descriptorSize
        func take(_ count: Int) throws(WireError) -> ColumnBuffer {
            guard count >= 0, cursor + count <= bytes.count else { throw .malformed("column buffers run past the end of the payload") }
            let slice = payload.slice(cursor..<cursor + count)
            cursor += count + (8 - count % 8) % 8
            return slice
        }
        var values: [ColumnBuffer?] = []
        for d in descriptors { values.append(d.values > 0 ? try take(d.values) : nil) }
        var offsets: [ColumnBuffer?] = []
        for d in descriptors { offsets.append(d.offsets > 0 ? try take(d.offsets) : nil) }
        var validity: [ColumnBuffer?] = []
        for d in descriptors { validity.append(d.hasValidity ? try take(d.rows) : nil) }

        // Rebuild the trees from the pre-order list, checking every node's sizes.
        var next = 0
        func node(rows expected: Int, depth: Int) throws(WireError) -> Column {
            guard next < descriptors.count else { throw .malformed("the batch's nodes end in the middle of a column") }
            guard depth <= maxDepth else { throw .malformed("columns nested deeper than \(maxDepth)") }
            let i = next
            next += 1
            let d = descriptors[i]
            guard d.rows == expected else { throw .malformed("node \(i) has \(d.rows) rows where its parent gives \(expected)") }
            if d.type.isNested {
                var childRows = expected
                if case .structure = d.type {
                    guard d.offsets == 0 else { throw .malformed("struct node \(i) has offsets") }
                } else {
                    guard let offs = offsets[i], d.offsets == (expected + 1) * 8 else {
                        throw .malformed("node \(i) (\(d.type)) has \(d.offsets) offset bytes for \(expected) rows")
                    }
                    childRows = try checkOffsets(offs, rows: expected, limit: nil, node: i)
                }
                guard d.values == 0, d.children == (d.type.kind == 23 ? d.children : d.type.childTypes.count) else {
                    throw .malformed("node \(i) (\(d.type)) has \(d.children) children")
                }
                var children: [Column] = []
                for _ in 0..<d.children { children.append(try node(rows: childRows, depth: depth + 1)) }
                guard let type = d.type.withChildren(children.map(\.type)) else {
                    throw .malformed("node \(i): children of types \(children.map(\.type)) do not fit \(d.type)")
                }
                return Column(type: type, count: expected, values: ColumnBuffer(zeroedCount: 0), offsets: offsets[i],
                              validity: validity[i], children: children)
            }
            guard d.children == 0 else { throw .malformed("leaf node \(i) claims children") }
            let valueBuffer = values[i] ?? ColumnBuffer(zeroedCount: 0)
            if let width = d.type.byteWidth {
                guard d.values == width * expected, d.offsets == 0 else {
                    throw .malformed("node \(i) (\(d.type)) has \(d.values) value bytes for \(expected) rows")
                }
            } else {
                guard let offs = offsets[i], d.offsets == (expected + 1) * 8 else {
                    throw .malformed("node \(i) has \(d.offsets) offset bytes for \(expected) rows")
                }
                _ = try checkOffsets(offs, rows: expected, limit: d.values, node: i)
            }
            return Column(type: d.type, count: expected, values: valueBuffer, offsets: offsets[i], validity: validity[i])
        }
        var columns: [Column] = []
        for _ in 0..<columnCount { columns.append(try node(rows: rows, depth: 0)) }
        guard next == descriptors.count else { throw .malformed("the batch has \(descriptors.count - next) nodes that belong to no column") }
        return ColumnBatch(taskID: taskID, rowCount: rows, columns: columns)
    }

    /// Offsets must start at 0, never decrease, and (for strings) end at the values' length;
    /// returns the last offset.
    private static func checkOffsets(_ buffer: ColumnBuffer, rows: Int, limit: Int?, node: Int) throws(WireError) -> Int {
        let o = buffer.typed(Int64.self)
        guard o[0] == 0 else { throw .malformed("node \(node) offsets do not start at 0") }
        var previous: Int64 = 0
        for k in stride(from: 1, through: rows, by: 1) {
            guard o[k] >= previous else { throw .malformed("node \(node) offsets decrease at row \(k)") }
            previous = o[k]
        }
        if let limit, previous != Int64(limit) { throw .malformed("node \(node) offsets end at \(previous), values hold \(limit) bytes") }
        guard previous <= Int64(Int32.max) else { throw .malformed("node \(node) offsets claim \(previous) child rows") }
        return Int(previous)
    }

    private static func appendLE<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
