import Columnar

/// Rows travelling between coordinator and worker: a batch to score, or its predictions.
/// Received columns are views into the frame's payload (no copy).
public struct ColumnBatch: Sendable {
    /// The scheduler's task this batch belongs to; a result carries its batch's id.
    public var taskID: UInt64
    public var rowCount: Int
    public var columns: [Column]

    public init(taskID: UInt64, rowCount: Int, columns: [Column]) {
        self.taskID = taskID
        self.rowCount = rowCount
        self.columns = columns
    }
}
