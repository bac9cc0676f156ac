#if canImport(Glibc)
import Glibc
#endif
import Columnar
import Foundation
import ObjectStore
import Parquet
import Wire

/// Scores whole partitions where the worker runs (`--workers-read`): reads the task's rows from
/// the input, hands the model its columns batch by batch, and writes the part file into the
/// job's temporary area, as the coordinator's reader and writer would have: the same blocks,
/// batches and row groups, kept columns copied chunk by chunk when the task says so. The
/// coordinator commits the file; this only writes and syncs it.
public final class PartitionScorer {
    /// Calls the model on `rows` rows of `columns` (batch `batch` in the job's batch order).
    public typealias Predict = (_ columns: [Column], _ rows: Int, _ batch: UInt64) throws -> Column

    private let spec: WorkersReadSpec
    private let decodeSchema: Schema
    private let outputSchema: Schema
    /// The prediction column alone: what a partition whose kept columns are copied appends.
    private let predictionSchema: Schema
    private let keys: [Field]
    private let resultType: DataType
    private let compression: ParquetCompression
    private let inputs: PartitionInputs
    private var stop: () -> Bool = { false }

    /// - Throws: `.specification` when a field's type is unknown to this build.
    public init(spec: WorkersReadSpec, resultType: DataType) throws(PartitionScoringError) {
        let fields = spec.decodeFields.compactMap(\.field), keys = spec.partitionKeys.compactMap(\.field)
        guard fields.count == spec.decodeFields.count, keys.count == spec.partitionKeys.count,
              let compression = ParquetCompression(rawValue: spec.compression), spec.batchSize > 0, spec.blockRows > 0,
              (spec.modelColumns + spec.keptColumns).allSatisfy(fields.indices.contains) else {
            throw .specification("the coordinator's --workers-read description is not one this worker understands: run the same score-cluster version on both")
        }
        self.spec = spec
        self.keys = keys
        self.resultType = resultType
        self.compression = compression
        decodeSchema = Schema(fields)
        outputSchema = Schema(spec.keptColumns.map { fields[$0] } + [Field(name: spec.outputColumn, type: resultType, nullable: true)])
        predictionSchema = Schema([outputSchema.fields.last!])
        inputs = PartitionInputs(verifyChecksums: spec.verifyChecksums)
    }

    /// Time spent, for the report.
    private struct Clock {
        var read = 0.0, predict = 0.0, write = 0.0
        static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    }

    /// Scores `task` and writes its part file (synced), or for an output in object storage
    /// uploads it and leaves the upload open; a failure removes what was written.
    /// `stop` is asked between blocks; when it says yes, what was written is removed and
    /// `.stopped` thrown.
    public func score(_ task: PartitionTask, stop: @escaping () -> Bool = { false }, predict: Predict) throws(PartitionScoringError) -> PartitionWritten {
        self.stop = stop
        guard let target = task.upload else { return try write(task, at: task.outputPath, predict: predict) }
        // The part is made on this machine's disk, then uploaded.
        let local = FileManager.default.temporaryDirectory.appendingPathComponent(
            "score-cluster-part-\(getpid())-\(task.partition)-\(task.attempt).parquet").path
        defer { unlink(local) }
        var written = try write(task, at: local, predict: predict)
        guard !stop() else { throw .stopped }
        let client: S3Client
        do { client = try inputs.client(for: "s3://\(target.bucket)/\(target.key)") } catch {
            throw .output("cannot upload partition \(task.partition): \(error)")
        }
        let before = client.statistics
        do {
            let upload = try client.uploadParts(bucket: target.bucket, key: target.key, file: local)
            written.upload = .init(key: upload.key, uploadID: upload.uploadID, partETags: upload.partETags, bytes: upload.bytes)
        } catch {
            throw .output("cannot upload partition \(task.partition) to s3://\(target.bucket)/\(target.key): \(error.message)")
        }
        let after = client.statistics
        written.path = "s3://\(target.bucket)/\(target.key)"
        written.storeRequests += after.requests - before.requests
        written.storeRetries += after.retries - before.retries
        return written
    }

    private func write(_ task: PartitionTask, at path: String, predict: Predict) throws(PartitionScoringError) -> PartitionWritten {
        if task.upload == nil {
            // The name comes over the network: it must stay inside the job's temporary area, which alone this may write or remove in.
            let components = task.outputName.split(separator: "/", omittingEmptySubsequences: false)
            guard !task.outputName.hasPrefix("/"), components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
                throw .specification("the part file name '\(task.outputName)' does not stay inside the job's temporary directory")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: task.temporaryDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw .output("the job's temporary directory \(task.temporaryDirectory) does not exist on this machine: with --workers-read the output must be a directory every worker sees at the same path (a shared file system), or in object storage")
            }
        }
        let fetchedBefore = inputs.fetched
        var clock = Clock()
        do {
            let parent = (path as NSString).deletingLastPathComponent
            if task.upload == nil && parent != task.temporaryDirectory {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
        } catch {
            throw .output("cannot create the directory of \(path): \(error.localizedDescription)")
        }
        let writer: ParquetFileWriter
        // The coordinator may have written the file's start while this worker started (a local or shared output).
        let continued = task.upload == nil
            ? PartHead.continueWriting(task, at: path, schema: outputSchema, compression: compression, createdBy: spec.createdBy)
            : nil
        if let continued {
            writer = continued
        } else {
            do {
                writer = try ParquetFileWriter(path: path, schema: outputSchema, compression: compression, createdBy: spec.createdBy, dictionary: false)
            } catch {
                throw .output("cannot write \(path): \(error)")
            }
        }
        var rows = 0
        do throws(PartitionScoringError) {
            rows = try score(task, into: writer, clock: &clock, predict: predict)
            let started = Clock.now()
            do { try writer.close() } catch { throw PartitionScoringError.output("cannot write \(path): \(error)") }
            clock.write += Clock.now() - started
        } catch {
            try? writer.close()
            unlink(path)
            throw error
        }
        var status = stat()
        let bytes = stat(path, &status) == 0 ? Int(status.st_size) : 0
        let fetched = inputs.fetched
        var written = PartitionWritten(partition: task.partition, attempt: task.attempt, path: path, rows: rows, bytes: bytes,
                                readSeconds: clock.read, predictSeconds: clock.predict, writeSeconds: clock.write,
                                bytesRead: fetched.bytes - fetchedBefore.bytes, storeRequests: fetched.requests - fetchedBefore.requests,
                                storeRetries: fetched.retries - fetchedBefore.retries)
        written.continuedHead = continued != nil
        return written
    }

    /// Blocks of small files waiting to be written as one row group.
    private struct Gathering {
        var pending: [RecordBatch] = []
        var rows: Int { pending.reduce(0) { $0 + $1.rowCount } }
    }

    private func score(_ task: PartitionTask, into writer: ParquetFileWriter, clock: inout Clock,
                       predict: Predict) throws(PartitionScoringError) -> Int {
        var nextBatch = task.firstBatch
        var written = 0
        var gathering = Gathering()
        let modelOnly = task.copiesKeptColumns && !spec.keptColumns.isEmpty
        for (inputIndex, input) in task.inputs.enumerated() {
            let file = try inputs.file(input.path, bytes: input.bytes)
            let partitioning: HivePartitioning?
            do { partitioning = keys.isEmpty ? nil : try HivePartitioning(keys: keys, directory: input.directory) } catch {
                throw .input("\(input.path): \(error.message)")
            }
            let fields = modelOnly ? Array(decodeSchema.fields.prefix(spec.modelColumns.count)) : decodeSchema.fields
            let schema = Schema(fields)
            // Each field's column in this file: a partition key's value (-2 - key), or -1 when the file lacks it (--merge-schema).
            let indices: [Int] = fields.map { field in
                if let key = keys.firstIndex(where: { $0.name == field.name }) { return -2 - key }
                return file.columns.firstIndex { $0.name == field.name } ?? -1
            }
            let wanted = indices.filter { $0 >= 0 }
            let keptChunks: [Int] = modelOnly ? spec.keptColumns.map { k in file.columns.firstIndex { $0.name == decodeSchema.fields[k].name } ?? -1 } : []
            guard !keptChunks.contains(-1) else { throw .input("\(input.path) lacks a kept column the coordinator planned to copy") }
            let range = input.rowRange
            guard range.upperBound <= file.rowCount else {
                throw .input("\(input.path) has \(file.rowCount) rows on this machine, fewer than the \(range.upperBound) the coordinator planned")
            }
            let reader = ParquetRangeReader(file: file, columns: wanted)
            let blocks = PartitionBlocks(rows: range, rowGroupRows: file.rowGroupRowCounts, blockRows: spec.blockRows).blocks
            var hinted = Set<Int>()
            for (b, block) in blocks.enumerated() {
                guard !stop() else { throw .stopped }
                // Ask a remote input for the next row groups while this one decodes.
                for g in (block.segments.first!.rowGroup)..<min(file.rowGroupRowCounts.count, block.segments.last!.rowGroup + 3)
                where hinted.insert(g).inserted {
                    file.prefetch(rowGroup: g, columns: wanted)
                }
                var started = Clock.now()
                var pieces: [RecordBatch] = []
                for segment in block.segments {
                    do {
                        var columns: [Column] = []
                        if !wanted.isEmpty {
                            let decoded = try reader.read(rowGroup: segment.rowGroup, rows: segment.rows)
                            guard decoded.rowCount == segment.rows.count else {
                                throw PartitionScoringError.input("\(input.path), row group \(segment.rowGroup): decoded \(decoded.rowCount) rows, expected \(segment.rows.count)")
                            }
                            columns = decoded.columns
                        }
                        let count = segment.rows.count
                        pieces.append(RecordBatch(schema: schema, columns: try ColumnConformance.conform(
                            columns, indices: indices, to: schema, rows: count, file: input.path,
                            partitionValue: { partitioning!.column(key: $0, file: 0, rows: count) })))
                    } catch let error as PartitionScoringError {
                        throw error
                    } catch {
                        throw .input("\(error)")
                    }
                }
                let decoded = RecordBatch.concatenate(pieces)
                clock.read += Clock.now() - started
                // The model's batches, in order.
                var predictions: [Column] = []
                var at = 0
                started = Clock.now()
                while at < decoded.rowCount {
                    let rows = at..<min(decoded.rowCount, at + spec.batchSize)
                    let columns = spec.modelColumns.map { decoded.columns[$0].slice(rows) }
                    do {
                        let prediction = try predict(columns, rows.count, nextBatch)
                        guard prediction.count == rows.count, prediction.type.hasSameShape(as: resultType) else {
                            throw PartitionScoringError.predict(batch: nextBatch, error: MalformedResult(rows: rows.count, got: prediction.count))
                        }
                        predictions.append(prediction.retyped(as: resultType))
                    } catch let error as PartitionScoringError {
                        throw error
                    } catch {
                        throw .predict(batch: nextBatch, error: error)
                    }
                    nextBatch += 1
                    at = rows.upperBound
                }
                clock.predict += Clock.now() - started
                started = Clock.now()
                let prediction = Column.concatenate(predictions)
                do {
                    if modelOnly {
                        try KeptChunkCopy.append(RecordBatch(schema: predictionSchema, columns: [prediction]),
                                                 segments: block.segments, copying: keptChunks, from: file, into: writer)
                    } else {
                        let kept = spec.keptColumns.map { decoded.columns[$0] }
                        gathering.pending.append(RecordBatch(schema: outputSchema, columns: kept + [prediction]))
                        let last = inputIndex == task.inputs.count - 1 && b == blocks.count - 1
                        if gathering.rows >= spec.blockRows || last {
                            try writer.write(RecordBatch.concatenate(gathering.pending))
                            gathering.pending = []
                        }
                    }
                } catch let error as PartitionScoringError {
                    throw error
                } catch let error as KeptChunkCopy.CorruptInput {
                    throw .input("\(error)")
                } catch {
                    throw .output("cannot write \(task.outputPath): \(error)")
                }
                clock.write += Clock.now() - started
                written += decoded.rowCount
            }
        }
        return written
    }

    /// Aborts the upload of a part whose report could not be sent (nobody would record it).
    public func abandon(_ written: PartitionWritten) {
        guard let upload = written.upload, written.path.hasPrefix("s3://"),
              let location = try? S3Location(uri: written.path), let client = try? inputs.client(for: written.path) else { return }
        try? client.abortUpload(bucket: location.bucket, key: upload.key, uploadID: upload.uploadID)
    }

    /// A model result of the wrong length or shape.
    struct MalformedResult: Error, CustomStringConvertible {
        var rows: Int
        var got: Int
        var description: String { "the model's result for \(rows) rows has \(got) values or another type than the result type" }
    }
}
