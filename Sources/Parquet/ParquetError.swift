import Columnar

/// A failure to read or write a Parquet file.
///
/// Errors name the file and, where one is involved, the column and row group, so that a
/// message alone tells which part of which file is at fault.
public struct ParquetError: Error, CustomStringConvertible, Sendable {
    /// The file being read or written.
    public var path: String
    /// The column (dotted path) being decoded or encoded, if the error concerns one.
    public var column: String?
    /// The row group being decoded or written, if the error concerns one.
    public var rowGroup: Int?
    /// What is wrong.
    public var message: String

    public init(path: String, column: String? = nil, rowGroup: Int? = nil, message: String) {
        self.path = path
        self.column = column
        self.rowGroup = rowGroup
        self.message = message
    }

    public var description: String {
        var where_ = "Parquet file \(path)"
        if let rowGroup { where_ += ", row group \(rowGroup)" }
        if let column { where_ += ", column \(column)" }
        return "\(where_): \(message)"
    }
}

/// A format violation found while parsing bytes; the file reader and writer turn it into a
/// `ParquetError` that names the file, column and row group.
struct ParquetFormatError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
