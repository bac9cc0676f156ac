import Columnar

// Part of the subset of parquet.thrift (apache/parquet-format) that score-cluster reads and writes.
// Field ids are quoted from the spec; fields not listed are skipped by wire type on read.

/// One node of the flattened schema tree (struct `SchemaElement`).
struct ParquetSchemaElement: Sendable {
    var type: ParquetPhysicalType?
    var typeLength: Int32?
    var repetition: ParquetRepetition?
    var name: String = ""
    var numChildren: Int32?
    var convertedType: ParquetConvertedType?
    /// A ConvertedType value this reader does not know.
    var unknownConvertedType: Int32?
    var scale: Int32?
    var precision: Int32?
    var fieldID: Int32?
    var logicalType: ParquetLogicalType?

    static func decode(_ r: inout ThriftCompactReader) throws -> ParquetSchemaElement {
        var e = ParquetSchemaElement()
        try r.readStruct { r, id, t in
            switch id {
            case 1:
                if let v = try r.i32(t) {
                    guard let pt = ParquetPhysicalType(rawValue: v) else { throw ParquetFormatError("unknown physical type \(v) in schema") }
                    e.type = pt
                }
            case 2: e.typeLength = try r.i32(t)
            case 3:
                if let v = try r.i32(t) {
                    guard let rep = ParquetRepetition(rawValue: v) else { throw ParquetFormatError("unknown repetition type \(v) in schema") }
                    e.repetition = rep
                }
            case 4: e.name = try r.string(t) ?? ""
            case 5: e.numChildren = try r.i32(t)
            case 6:
                if let v = try r.i32(t) {
                    if let ct = ParquetConvertedType(rawValue: v) { e.convertedType = ct } else { e.unknownConvertedType = v }
                }
            case 7: e.scale = try r.i32(t)
            case 8: e.precision = try r.i32(t)
            case 9: e.fieldID = try r.i32(t)
            case 10: e.logicalType = try r.structValue(t, ParquetLogicalType.decode)
            default: try r.skip(t)
            }
        }
        return e
    }

    func encode(_ w: inout ThriftCompactWriter) {
        w.beginStruct()
        if let type { w.i32Field(1, type.rawValue) }
        if let typeLength { w.i32Field(2, typeLength) }
        if let repetition { w.i32Field(3, repetition.rawValue) }
        w.stringField(4, name)
        if let numChildren { w.i32Field(5, numChildren) }
        if let convertedType { w.i32Field(6, convertedType.rawValue) }
        if let scale { w.i32Field(7, scale) }
        if let precision { w.i32Field(8, precision) }
        if let fieldID { w.i32Field(9, fieldID) }
        if let logicalType {
            w.fieldHeader(10, .struct)
            logicalType.encode(&w)
        }
        w.endStruct()
    }
}
