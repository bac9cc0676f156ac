import Columnar

/// One leaf column of a Parquet file as the file declares it.
public struct ParquetColumnDescriptor: Sendable {
    /// The column name; the dotted path for leaves inside groups.
    public var name: String
    /// The physical type, as the spec spells it (e.g. "DOUBLE", "BYTE_ARRAY").
    public var physicalType: String
    /// The logical annotation (LogicalType, else legacy ConvertedType), e.g. "STRING", "INT(8,signed)".
    public var logicalTypeDescription: String?
    /// The type the column decodes to; nil when score-cluster cannot read it yet.
    public var dataType: DataType?
    /// Whether the column may hold nulls (not REQUIRED).
    public var nullable: Bool
    /// Why the column cannot be read (set exactly when `dataType` is nil).
    public var unsupportedReason: String?
}
