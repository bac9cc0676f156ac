import Columnar
import Parquet
import Coordinator

/// Prints the first rows of a job's output, read back from the committed files.
enum OutputPreview {
    static func print(summary: JobRunner.Summary, rows: Int) {
        guard let first = summary.outputFiles.first,
              let reader = try? ParquetFileReader(path: summary.outputDirectory + "/" + first),
              let groupRows = reader.rowGroupRowCounts.first, !reader.columns.isEmpty else { return }
        // The prediction column is last; show it with at most three leading columns. Only those
        // columns' first pages are decoded: a whole row group can be a million rows.
        let last = reader.columns.count - 1
        let columnIndices = Array(Array(0..<last).prefix(3)) + [last]
        let shown = min(rows, groupRows)
        guard let batch = try? ParquetRangeReader(file: reader, columns: columnIndices).read(rowGroup: 0, rows: 0..<shown)
        else { return }
        Swift.print("first \(shown) rows of \(first):")
        Swift.print(batch.schema.fields.map(\.name).joined(separator: "\t"))
        for row in 0..<shown {
            Swift.print(batch.columns.map { describe($0, row) }.joined(separator: "\t"))
        }
    }

    static func describe(_ column: Column, _ row: Int) -> String {
        guard column.isValid(row) else { return "null" }
        switch column.type {
        case .float64: return "\(column.values.typed(Double.self)[row])"
        case .float32: return "\(column.values.typed(Float.self)[row])"
        case .int64: return "\(column.values.typed(Int64.self)[row])"
        case .int32: return "\(column.values.typed(Int32.self)[row])"
        case .int16: return "\(column.values.typed(Int16.self)[row])"
        case .int8: return "\(column.values.typed(Int8.self)[row])"
        case .uint64: return "\(column.values.typed(UInt64.self)[row])"
        case .uint32: return "\(column.values.typed(UInt32.self)[row])"
        case .uint16: return "\(column.values.typed(UInt16.self)[row])"
        case .uint8: return "\(column.values.typed(UInt8.self)[row])"
        case .bool: return column.values.typed(UInt8.self)[row] != 0 ? "true" : "false"
        case .string: return column.string(at: row) ?? "null"
        case .binary: return "<\(column.string(at: row)?.utf8.count ?? 0) bytes>"
        default: return "<\(column.type)>"
        }
    }
}
