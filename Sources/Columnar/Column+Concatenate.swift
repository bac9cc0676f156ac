extension Column {
    /// The rows of `columns` one after another, in one new column (all of the same type).
    public static func concatenate(_ columns: [Column]) -> Column {
        precondition(!columns.isEmpty, "nothing to concatenate")
        if columns.count == 1 { return columns[0] }
        let type = columns[0].type
        precondition(columns.allSatisfy { $0.type == type }, "concatenating columns of different types")
        let count = columns.reduce(0) { $0 + $1.count }
        var validity: ColumnBuffer?
        let nullCount = columns.reduce(0) { $0 + $1.nullCount }
        if nullCount > 0 {
            let buffer = ColumnBuffer(uninitializedCount: count)
            var at = 0
            for column in columns {
                if let v = column.validity {
                    (buffer.mutableBase + at).copyMemory(from: v.base, byteCount: column.count)
                } else {
                    (buffer.mutableBase + at).initializeMemory(as: UInt8.self, repeating: 1, count: column.count)
                }
                at += column.count
            }
            validity = buffer
        }
        if type.isNested {
            return concatenateNested(columns, count: count, validity: validity, nullCount: nullCount)
        }
        if let width = type.byteWidth {
            let values = ColumnBuffer(uninitializedCount: count * width)
            var at = 0
            for column in columns {
                (values.mutableBase + at).copyMemory(from: column.values.base, byteCount: column.count * width)
                at += column.count * width
            }
            return Column(type: type, count: count, values: values, validity: validity, nullCount: nullCount)
        }
        let totalBytes = columns.reduce(0) { $0 + Int($1.offsets!.typed(Int64.self)[$1.count]) }
        let values = ColumnBuffer(uninitializedCount: totalBytes)
        let offsets = ColumnBuffer(uninitializedCount: (count + 1) * 8)
        let out = offsets.mutableBase.assumingMemoryBound(to: Int64.self)
        out[0] = 0
        var row = 0
        var byte: Int64 = 0
        for column in columns {
            let o = column.offsets!.typed(Int64.self)
            let length = Int(o[column.count])
            (values.mutableBase + Int(byte)).copyMemory(from: column.values.base, byteCount: length)
            for i in 0..<column.count { out[row + i + 1] = byte + o[i + 1] }
            row += column.count
            byte += Int64(length)
        }
        return Column(type: type, count: count, values: values, offsets: offsets, validity: validity, nullCount: nullCount)
    }

    /// Lists and maps: offsets shifted by the children's rows before them; structs: fields concatenated.
    private static func concatenateNested(_ columns: [Column], count: Int, validity: ColumnBuffer?, nullCount: Int) -> Column {
        let type = columns[0].type
        let children = (0..<type.childTypes.count).map { k in concatenate(columns.map { $0.children[k] }) }
        var offsets: ColumnBuffer?
        if columns[0].offsets != nil {
            let buffer = ColumnBuffer(uninitializedCount: (count + 1) * 8)
            let out = buffer.mutableBase.assumingMemoryBound(to: Int64.self)
            out[0] = 0
            var row = 0
            var base: Int64 = 0
            for column in columns {
                let o = column.offsets!.typed(Int64.self)
                for i in 0..<column.count { out[row + i + 1] = base + o[i + 1] - o[0] }
                row += column.count
                base += o[column.count] - o[0]
            }
            offsets = buffer
        }
        return Column(type: type, count: count, values: ColumnBuffer(zeroedCount: 0), offsets: offsets,
                      validity: validity, nullCount: nullCount, children: children)
    }
}

extension Column {
    /// This column with `type`, which must have the same shape (used where struct field names
    /// did not travel with the buffers, as on the wire).
    public func retyped(as type: DataType) -> Column {
        precondition(self.type.hasSameShape(as: type), "\(self.type) does not have the shape of \(type)")
        if self.type == type { return self }
        let children = zip(self.children, type.childTypes).map { $0.retyped(as: $1) }
        return Column(type: type, count: count, values: values, offsets: offsets, validity: validity,
                      nullCount: nullCount, children: children)
    }
}
