import Columnar

/// One leaf of a nested column, shredded into Dremel repetition and definition levels
/// (parquet-format's "Nested Encoding"), ready for `ColumnChunkEncoder.encodeNested`.
struct ShreddedLeaf {
    /// The leaf's `path_in_schema`: the names of all its ancestors below the root, then its own.
    var path: [String]
    /// The leaf's schema element (physical type and annotations).
    var element: ParquetSchemaElement
    var maxRepetitionLevel: Int
    var maxDefinitionLevel: Int
    /// One entry per level (value slot); empty when `maxRepetitionLevel` is 0.
    var repetitionLevels: [UInt32]
    /// One entry per level; empty when `maxDefinitionLevel` is 0.
    var definitionLevels: [UInt32]
    /// Number of levels (what ColumnMetaData.num_values and the pages' num_values count).
    var levelCount: Int
    /// The present values (those whose definition level is the maximum), in level order,
    /// as a dense column without nulls.
    var values: Column
}

/// Shreds a nested column (lists, structs, maps over flat leaves) into one `ShreddedLeaf` per
/// Parquet leaf, in schema order, following the schema `ParquetTypeMapping.writeElements` emits:
/// every node OPTIONAL (one definition level each) except the top node when not nullable, the
/// REPEATED `list` / `key_value` groups (one repetition and one definition level each: defined
/// means "the list has at least one element") and the REQUIRED map keys.
///
/// So for an optional `list<optional float64>` (max def 3, max rep 1): a null list is one
/// level (r 0, d 0), an empty list one level (0, 1), a null element (r, 2) and a value (r, 3).
enum NestedShredder {
    /// Where each slot of the current node stands: its repetition and definition levels so far,
    /// and the row of the current node's column it refers to (-1 once an ancestor is null or
    /// empty, so that the slot carries no value).
    private struct Slots {
        var rep: [UInt32] = []
        var def: [UInt32] = []
        var index: [Int] = []

        mutating func reserve(_ n: Int) {
            rep.reserveCapacity(n)
            def.reserveCapacity(n)
            index.reserveCapacity(n)
        }

        mutating func append(_ r: UInt32, _ d: UInt32, _ i: Int) {
            rep.append(r)
            def.append(d)
            index.append(i)
        }
    }

    /// The leaves of `column` (a top-level column named `name`), in schema order.
    static func shred(_ column: Column, name: String, nullable: Bool) throws -> [ShreddedLeaf] {
        var slots = Slots()
        slots.rep = [UInt32](repeating: 0, count: column.count)
        slots.def = [UInt32](repeating: 0, count: column.count)
        slots.index = Array(0..<column.count)
        var leaves: [ShreddedLeaf] = []
        try visit(column, name: name, optional: nullable, slots: slots, path: [], maxRep: 0, maxDef: 0, into: &leaves)
        return leaves
    }

    private static func visit(_ column: Column, name: String, optional: Bool, slots inSlots: Slots, path: [String],
                              maxRep: Int, maxDef: Int, into leaves: inout [ShreddedLeaf]) throws {
        var slots = inSlots
        var maxDef = maxDef
        let path = path + [name]
        if optional {
            // One more definition level: reached by the slots whose row here is valid.
            maxDef += 1
            let allNull = column.type == .null
            let validity = column.nullCount > 0 ? column.validity?.base.assumingMemoryBound(to: UInt8.self) : nil
            if allNull || validity != nil {
                for k in 0..<slots.index.count {
                    let i = slots.index[k]
                    guard i >= 0 else { continue }
                    if !allNull && validity![i] != 0 { slots.def[k] += 1 } else { slots.index[k] = -1 }
                }
            } else {
                for k in 0..<slots.index.count where slots.index[k] >= 0 { slots.def[k] += 1 }
            }
        } else if column.nullCount > 0 {
            for k in 0..<slots.index.count where slots.index[k] >= 0 && !column.isValid(slots.index[k]) {
                throw ParquetFormatError("\(path.joined(separator: ".")) is REQUIRED (a map key or a non-nullable column) but holds a null")
            }
        }
        switch column.type {
        case .list, .map:
            let inner = expand(column, slots, repLevel: UInt32(maxRep + 1))
            let innerPath = path + [column.type.isMap ? "key_value" : "list"]
            if case .map = column.type {
                try visit(column.children[0], name: "key", optional: false, slots: inner, path: innerPath,
                          maxRep: maxRep + 1, maxDef: maxDef + 1, into: &leaves)
                try visit(column.children[1], name: "value", optional: true, slots: inner, path: innerPath,
                          maxRep: maxRep + 1, maxDef: maxDef + 1, into: &leaves)
            } else {
                try visit(column.children[0], name: "element", optional: true, slots: inner, path: innerPath,
                          maxRep: maxRep + 1, maxDef: maxDef + 1, into: &leaves)
            }
        case .structure(let fields):
            for (field, child) in zip(fields, column.children) {
                try visit(child, name: field.name, optional: true, slots: slots, path: path,
                          maxRep: maxRep, maxDef: maxDef, into: &leaves)
            }
        default:
            let present = slots.index.filter { $0 >= 0 }
            leaves.append(ShreddedLeaf(
                path: path,
                element: ParquetTypeMapping.writeElement(name: name, type: column.type, nullable: optional),
                maxRepetitionLevel: maxRep, maxDefinitionLevel: maxDef,
                repetitionLevels: maxRep > 0 ? slots.rep : [], definitionLevels: maxDef > 0 ? slots.def : [],
                levelCount: slots.index.count, values: gather(column, present)))
        }
    }

    /// The slots of a list's or map's elements: each valid, non-empty list's slot becomes one
    /// slot per element (the first keeps the list's repetition level, the others repeat at
    /// `repLevel`), one definition level deeper; null and empty lists keep a single slot
    /// without a value.
    private static func expand(_ column: Column, _ slots: Slots, repLevel: UInt32) -> Slots {
        let offsets = column.offsets!.base.assumingMemoryBound(to: Int64.self)
        var out = Slots()
        out.reserve(max(slots.index.count, Int(offsets[column.count] - offsets[0])))
        for k in 0..<slots.index.count {
            let i = slots.index[k]
            let r = slots.rep[k], d = slots.def[k]
            guard i >= 0 else { out.append(r, d, -1); continue }
            let start = Int(offsets[i]), end = Int(offsets[i + 1])
            if start >= end { out.append(r, d, -1); continue }
            out.append(r, d + 1, start)
            for j in (start + 1)..<max(start + 1, end) { out.append(repLevel, d + 1, j) }
        }
        return out
    }

    /// Rows `rows` of flat `column` as a new dense column without nulls.
    static func gather(_ column: Column, _ rows: [Int]) -> Column {
        let n = rows.count
        if column.type == .null {
            return Column(type: .null, count: 0, values: ColumnBuffer(zeroedCount: 0))
        }
        if let width = column.type.byteWidth {
            let buffer = ColumnBuffer(uninitializedCount: n * width)
            let src = column.values.base, dst = buffer.mutableBase
            switch width {
            case 8:
                let s = src.assumingMemoryBound(to: UInt64.self), d = dst.assumingMemoryBound(to: UInt64.self)
                for (k, i) in rows.enumerated() { d[k] = s[i] }
            case 4:
                let s = src.assumingMemoryBound(to: UInt32.self), d = dst.assumingMemoryBound(to: UInt32.self)
                for (k, i) in rows.enumerated() { d[k] = s[i] }
            default:
                for (k, i) in rows.enumerated() { (dst + k * width).copyMemory(from: src + i * width, byteCount: width) }
            }
            return Column(type: column.type, count: n, values: buffer)
        }
        let o = column.offsets!.base.assumingMemoryBound(to: Int64.self)
        let offsets = ColumnBuffer(uninitializedCount: (n + 1) * 8)
        let newOffsets = offsets.mutableBase.assumingMemoryBound(to: Int64.self)
        var total: Int64 = 0
        newOffsets[0] = 0
        for (k, i) in rows.enumerated() {
            total += o[i + 1] - o[i]
            newOffsets[k + 1] = total
        }
        let bytes = ColumnBuffer(uninitializedCount: Int(total))
        for (k, i) in rows.enumerated() {
            (bytes.mutableBase + Int(newOffsets[k])).copyMemory(from: column.values.base + Int(o[i]), byteCount: Int(o[i + 1] - o[i]))
        }
        return Column(type: column.type, count: n, values: bytes, offsets: offsets)
    }
}

private extension DataType {
    var isMap: Bool {
        if case .map = self { return true }
        return false
    }
}
