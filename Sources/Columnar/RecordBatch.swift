/// Columns of equal length with their schema.
public struct RecordBatch: Sendable {
    public let schema: Schema
    public let columns: [Column]
    public let rowCount: Int

    public init(schema: Schema, columns: [Column]) {
        precondition(schema.fields.count == columns.count, "schema has \(schema.fields.count) fields, batch \(columns.count) columns")
        let rows = columns.first?.count ?? 0
        for (f, c) in zip(schema.fields, columns) {
            precondition(c.count == rows, "column \(f.name) has \(c.count) rows, expected \(rows)")
            precondition(c.type == f.type, "column \(f.name) is \(c.type), schema says \(f.type)")
        }
        self.schema = schema
        self.columns = columns
        self.rowCount = rows
    }

    /// An empty batch with `rowCount` rows and no columns.
    public init(rowCount: Int) {
        self.schema = Schema([])
        self.columns = []
        self.rowCount = rowCount
    }

    /// Rows `range` of every column.
    public func slice(_ range: Range<Int>) -> RecordBatch {
        if columns.isEmpty { return RecordBatch(rowCount: range.count) }
        return RecordBatch(schema: schema, columns: columns.map { $0.slice(range) })
    }

    /// `batches` (at least one, all with the first's schema) as one batch, rows in order.
    public static func concatenate(_ batches: [RecordBatch]) -> RecordBatch {
        precondition(!batches.isEmpty, "nothing to concatenate")
        if batches.count == 1 { return batches[0] }
        let schema = batches[0].schema
        return RecordBatch(schema: schema, columns: schema.fields.indices.map { c in Column.concatenate(batches.map { $0.columns[c] }) })
    }

    /// The columns at `indices`, in that order.
    public func select(_ indices: [Int]) -> RecordBatch {
        RecordBatch(schema: Schema(indices.map { schema.fields[$0] }), columns: indices.map { columns[$0] })
    }
}
