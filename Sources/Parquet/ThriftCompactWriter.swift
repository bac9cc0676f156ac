import Columnar

/// Writes Thrift compact-protocol structs (the Parquet footer and page headers) into a byte array.
///
/// Field ids are written as deltas from the previous field of the same struct, so fields must be
/// written in increasing id order within each struct.
struct ThriftCompactWriter {
    private(set) var bytes: [UInt8] = []
    private var lastFieldIDs: [Int16] = [0]

    init() { bytes.reserveCapacity(256) }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        lastFieldIDs = [0]
    }

    // MARK: Primitives

    mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func writeByte(_ value: UInt8) { bytes.append(value) }

    mutating func writeZigzag(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func writeBinaryValue<C: Collection>(_ value: C) where C.Element == UInt8 {
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func writeListHeader(_ elementType: ThriftType, count: Int) {
        if count < 15 {
            bytes.append(UInt8(count) << 4 | elementType.rawValue)
        } else {
            bytes.append(0xF0 | elementType.rawValue)
            writeVarint(UInt64(count))
        }
    }

    // MARK: Fields

    mutating func fieldHeader(_ id: Int16, _ type: ThriftType) {
        let last = lastFieldIDs[lastFieldIDs.count - 1]
        let delta = id - last
        if delta > 0 && delta <= 15 {
            bytes.append(UInt8(delta) << 4 | type.rawValue)
        } else {
            bytes.append(type.rawValue)
            writeZigzag(Int64(id))
        }
        lastFieldIDs[lastFieldIDs.count - 1] = id
    }

    mutating func i32Field(_ id: Int16, _ value: Int32) {
        fieldHeader(id, .i32)
        writeZigzag(Int64(value))
    }

    mutating func i64Field(_ id: Int16, _ value: Int64) {
        fieldHeader(id, .i64)
        writeZigzag(value)
    }

    mutating func i16Field(_ id: Int16, _ value: Int16) {
        fieldHeader(id, .i16)
        writeZigzag(Int64(value))
    }

    mutating func i8Field(_ id: Int16, _ value: Int8) {
        fieldHeader(id, .i8)
        bytes.append(UInt8(bitPattern: value))
    }

    mutating func boolField(_ id: Int16, _ value: Bool) {
        fieldHeader(id, value ? .boolTrue : .boolFalse)
    }

    mutating func stringField(_ id: Int16, _ value: String) {
        fieldHeader(id, .binary)
        writeBinaryValue(Array(value.utf8))
    }

    mutating func binaryField(_ id: Int16, _ value: [UInt8]) {
        fieldHeader(id, .binary)
        writeBinaryValue(value)
    }

    /// Starts a struct-valued field; close it with `endStruct`.
    mutating func beginStructField(_ id: Int16) {
        fieldHeader(id, .struct)
        beginStruct()
    }

    /// Starts a struct that is a list element (no field header).
    mutating func beginStruct() { lastFieldIDs.append(0) }

    /// Writes the stop byte of the current struct.
    mutating func endStruct() {
        bytes.append(0)
        lastFieldIDs.removeLast()
    }

    /// Starts a list-valued field; write `count` elements after it.
    mutating func listField(_ id: Int16, _ elementType: ThriftType, count: Int) {
        fieldHeader(id, .list)
        writeListHeader(elementType, count: count)
    }

    /// Writes the stop byte of a top-level struct (no matching `beginStruct`).
    mutating func endTopLevelStruct() { bytes.append(0) }
}
