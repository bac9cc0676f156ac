/// What reading files with different schemas as one dataset needs (`--merge-schema`, as Spark's
/// `mergeSchema`): the type two files' columns merge to, a column widened to it, and an all-null
/// column for a file that lacks one.
extension DataType {
    /// The type `self` and `other` merge to: themselves when equal; the wider of two signed
    /// integers (int32 and int64 make int64); float64 for two floating-point types. Nil for
    /// anything else (Spark refuses those too).
    public func merged(with other: DataType) -> DataType? {
        if self == other { return self }
        let integers: [DataType] = [.int8, .int16, .int32, .int64]
        let floats: [DataType] = [.float16, .float32, .float64]
        if let a = integers.firstIndex(of: self), let b = integers.firstIndex(of: other) { return integers[max(a, b)] }
        if let a = floats.firstIndex(of: self), let b = floats.firstIndex(of: other) { return floats[max(a, b)] }
        return nil
    }
}

extension Column {
    /// `count` nulls of a flat `type` (NaN in the null slots of floating-point types, zero
    /// elsewhere, as every column holds them); nil for nested types.
    public static func nulls(_ type: DataType, count: Int) -> Column? {
        let validity = ColumnBuffer(zeroedCount: count)
        if let width = type.byteWidth {
            let values = ColumnBuffer(zeroedCount: count * width)
            switch type {
            case .float64: values.mutableBase.initializeMemory(as: Double.self, repeating: .nan, count: count)
            case .float32: values.mutableBase.initializeMemory(as: Float.self, repeating: .nan, count: count)
            case .float16: values.mutableBase.initializeMemory(as: UInt16.self, repeating: 0x7E00, count: count)
            default: break
            }
            return Column(type: type, count: count, values: values, validity: type == .null ? nil : validity, nullCount: count)
        }
        guard type == .string || type == .binary else { return nil }
        return Column(type: type, count: count, values: ColumnBuffer(zeroedCount: 0), offsets: ColumnBuffer(zeroedCount: (count + 1) * 8),
                      validity: validity, nullCount: count)
    }

    /// This column's values as `type`, one of the wider types `DataType.merged(with:)` gives
    /// (a signed integer widened, a float made float64); itself when it already is; nil otherwise.
    public func widened(to type: DataType) -> Column? {
        if self.type == type { return self }
        guard self.type.merged(with: type) == type, let width = type.byteWidth else { return nil }
        let values = ColumnBuffer(uninitializedCount: count * width)
        let out = values.mutableBase
        let src = self.values.base
        switch (self.type, type) {
        case (.int8, .int16): for i in 0..<count { out.storeBytes(of: Int16(src.load(fromByteOffset: i, as: Int8.self)), toByteOffset: i * 2, as: Int16.self) }
        case (.int8, .int32): for i in 0..<count { out.storeBytes(of: Int32(src.load(fromByteOffset: i, as: Int8.self)), toByteOffset: i * 4, as: Int32.self) }
        case (.int8, .int64): for i in 0..<count { out.storeBytes(of: Int64(src.load(fromByteOffset: i, as: Int8.self)), toByteOffset: i * 8, as: Int64.self) }
        case (.int16, .int32): for i in 0..<count { out.storeBytes(of: Int32(src.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)), toByteOffset: i * 4, as: Int32.self) }
        case (.int16, .int64): for i in 0..<count { out.storeBytes(of: Int64(src.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)), toByteOffset: i * 8, as: Int64.self) }
        case (.int32, .int64): for i in 0..<count { out.storeBytes(of: Int64(src.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)), toByteOffset: i * 8, as: Int64.self) }
        case (.float32, .float64):
            for i in 0..<count { out.storeBytes(of: Double(src.loadUnaligned(fromByteOffset: i * 4, as: Float.self)), toByteOffset: i * 8, as: Double.self) }
        case (.float16, .float32):
            for i in 0..<count { out.storeBytes(of: Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))), toByteOffset: i * 4, as: Float.self) }
        case (.float16, .float64):
            for i in 0..<count { out.storeBytes(of: Double(Float16(bitPattern: src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))), toByteOffset: i * 8, as: Double.self) }
        default: return nil
        }
        return Column(type: type, count: count, values: values, validity: validity, nullCount: nullCount)
    }
}
