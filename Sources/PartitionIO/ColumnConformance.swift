import Columnar

/// Decoded columns made to match the job's schema, wherever a partition is read (the
/// coordinator's `PartitionReader`, or a worker under `--workers-read`).
public enum ColumnConformance {
    /// Why a file's column cannot be read as the job's schema says.
    public struct Mismatch: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The decoded columns (those of `indices` the file has) as the job's `schema`: a missing
    /// column (index -1) made of nulls, a narrower one widened (`--merge-schema`), a partition
    /// directory's value (index `-2 - key`) made by `partitionValue`; as they are otherwise.
    public static func conform(_ decoded: [Column], indices: [Int], to schema: Schema, rows: Int, file: String,
                               partitionValue: (_ key: Int) -> Column) throws(Mismatch) -> [Column] {
        guard indices.contains(where: { $0 < 0 }) || zip(decoded, schema.fields).contains(where: { $0.type != $1.type }) else { return decoded }
        var next = decoded.makeIterator()
        var out: [Column] = []
        for (index, field) in zip(indices, schema.fields) {
            if index <= -2 {
                out.append(partitionValue(-2 - index))
                continue
            }
            guard index >= 0 else {
                guard let nulls = Column.nulls(field.type, count: rows) else {
                    throw Mismatch(description: "\(file) has no column '\(field.name)', and a \(field.type) column cannot be made of nulls")
                }
                out.append(nulls)
                continue
            }
            let column = next.next()!
            guard let widened = column.widened(to: field.type) else {
                throw Mismatch(description: "column '\(field.name)' of \(file) is \(column.type), which cannot be read as \(field.type)")
            }
            out.append(widened)
        }
        return out
    }
}
