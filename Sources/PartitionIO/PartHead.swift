#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Parquet
import Wire

/// The start of a part file whose kept columns are copied: the magic and the kept chunks of the
/// partition's first row group. None of it depends on the predictions, so the coordinator
/// writes it while the workers start (its head start), and the worker that gets the partition
/// takes the file over and writes the rest, skipping what is there (`ParquetFileWriter`'s
/// `init(continuing:)`): the file ends byte for byte as the worker alone would have written it.
public enum PartHead {
    /// The file name of `partition`'s head within the job's temporary directory.
    public static func name(of partition: Int) -> String {
        "head-" + String(repeating: "0", count: max(0, 5 - String(partition).count)) + String(partition) + ".parquet"
    }

    /// Writes at `path` the start of a part file of `schema` (kept columns, then the
    /// prediction) whose first row group is row group `rowGroup` of `file`, the kept chunks
    /// being `file`'s columns `columns`: what `PartitionScorer` writes before the first
    /// prediction. The file is left without a footer and its write-back started. Returns its length.
    /// - Throws: `ParquetError` for a chunk that cannot be read or a file that cannot be written.
    public static func write(at path: String, schema: Schema, compression: ParquetCompression, createdBy: String,
                             file: ParquetFileReader, rowGroup: Int, copying columns: [Int]) throws -> Int {
        let copies = try columns.map { try file.chunkCopy(rowGroup: rowGroup, column: $0) }
        // dictionary: false, as the worker's writer (the copied chunks do not depend on it).
        let writer = try ParquetFileWriter(path: path, schema: schema, compression: compression, createdBy: createdBy,
                                           dictionary: false)
        do {
            try writer.beginRowGroup(rows: file.rowGroupRowCounts[rowGroup], copying: copies)
        } catch {
            _ = writer.closeAsPrefix()
            unlink(path)
            throw error
        }
        return writer.closeAsPrefix()
    }

    /// Takes the head `task` names over as the part file at `path` (a rename: of two attempts
    /// only one can have it) and returns a writer continuing it; nil when it is gone, not the
    /// head of the task's partition, or not what `schema`'s writer would have written first, and
    /// the part is then written from its start.
    static func continueWriting(_ task: PartitionTask, at path: String, schema: Schema, compression: ParquetCompression,
                                createdBy: String) -> ParquetFileWriter? {
        // The name comes over the network: only the partition's own head, in the job's temporary area, is taken.
        guard let head = task.head, head.name == name(of: task.partition),
              rename(task.temporaryDirectory + "/" + head.name, path) == 0 else { return nil }
        return try? ParquetFileWriter(continuing: path, prefix: head.bytes, schema: schema, compression: compression,
                                      createdBy: createdBy, dictionary: false)
    }
}
