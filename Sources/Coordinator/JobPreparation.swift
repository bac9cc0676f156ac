import Columnar
import Foundation
import MLflowModel
import ObjectStore
import Parquet
import Wire

/// Everything checked before any worker starts: the model's MLmodel, the result type, the
/// Python environment, every input footer and the selected columns in every file.
struct JobPreparation {
    var model: MLModel
    var resultType: ResultType
    var dataset: ParquetDataset
    /// The columns decoded from the input: model inputs first, then kept columns not among them.
    var decodeSchema: Schema
    var decodeIndices: [[Int]]
    /// Positions in `decodeSchema` of the model's inputs and of the kept columns.
    var modelColumns: [Int]
    var keptColumns: [Int]
    var outputSchema: Schema
    /// The prediction column alone: what a partition whose kept columns are copied writes.
    var predictionSchema: Schema
    /// Per input file, the file's column of each kept column when they can be copied to the
    /// output chunk by chunk (same physical type, annotations and codec as the output's); nil
    /// when they are decoded and written again.
    var keptChunkColumns: [[Int]?]
    /// Per partition, whether its kept columns are copied from the input (its row groups whole
    /// and not tiny, its files' chunks copyable): then only the model's columns are decoded.
    var copiesKeptColumns: [Bool]
    var plan: JobPlan
    var pythonEnvironment: PythonEnvironment
    /// Which columns the model gets, under which labels, with which signature types.
    var binding: InputBinding
    var modelConfig: [String: JSONValue]?
    var params: [String: JSONValue]?
    /// The object store the input is read from, when it is not local (for the report).
    var inputStore: S3Client?
    /// Things worth telling the user that do not stop the job.
    var warnings: [String] = []

    init(options: JobOptions, log: @escaping @Sendable (String) -> Void = { _ in }) throws(JobError) {
        do {
            model = try MLModel(directory: options.modelPath)
            if let text = options.resultType {
                resultType = try ResultType(parsing: text)
            } else {
                let inferred = try ResultType.inferred(from: model.signature?.outputs)
                resultType = inferred.type
                if let note = inferred.note { warnings.append(note) }
            }
            switch options.environmentManager {
            case .local:
                pythonEnvironment = try PythonEnvironment.resolve(explicit: options.pythonEnvironment)
            case .virtualenv, .uv:
                // Built (or found) before any worker starts; it may take a while the first time.
                let builder = ModelEnvironmentBuilder(
                    cacheDirectory: options.environmentCache ?? ModelEnvironmentBuilder.defaultCacheDirectory(),
                    installer: options.environmentManager == .uv ? try EnvironmentInstaller.findUV() : .pip, log: log)
                pythonEnvironment = try builder.environment(for: model)
            }
        } catch {
            throw JobError(error.message)
        }
        do {
            if let warning = try model.checkPythonVersion(runtimeVersion: pythonEnvironment.version) { warnings.append(warning) }
        } catch {
            throw JobError(error.message)
        }
        modelConfig = try ModelArguments.modelConfig(model: model, overrides: options.modelConfig)
        params = try ModelArguments.params(signature: model.signature, given: options.params)
        guard options.batchSize > 0 else { throw JobError("--batch-size must be at least 1 (got \(options.batchSize))") }
        guard options.workers > 0 || options.workerSource != .local else { throw JobError("--workers must be at least 1 (got \(options.workers))") }
        let input = try JobInput(options: options)
        dataset = input.dataset
        inputStore = input.store

        let allNames = options.mergeSchema ? dataset.mergedColumnNames : dataset.columnNames
        do {
            // Under --merge-schema the model binds to the merged columns (a column a later file
            // adds, types widened); otherwise to the first file's, which every file shares.
            let columns: [InputBinding.DatasetColumn]
            if options.mergeSchema {
                // A column that cannot be merged binds with no type, as an unreadable one does; the
                // error comes when it is selected.
                let data = dataset
                columns = allNames.map { name in
                    let field = (try? data.resolve(columns: [name], mergeSchema: true))?.schema.fields.first
                    return .init(name: name, type: field?.type, nullable: field?.nullable ?? true)
                }
            } else {
                columns = dataset.files[0].columns.map { .init(name: $0.name, type: $0.dataType, nullable: $0.nullable) }
                    + (dataset.partitioning?.keys ?? []).map { .init(name: $0.name, type: $0.type, nullable: $0.nullable) }
            }
            binding = try InputBinding.resolve(signature: model.signature, dataset: columns, requested: options.columns,
                                               naming: options.columnNaming, source: options.mergeSchema ? dataset.path : dataset.files[0].path)
        } catch {
            throw JobError(error.message)
        }
        let modelNames = binding.columns
        guard !modelNames.isEmpty else { throw JobError("no input columns to score: the dataset has no columns and --columns is empty") }
        // Mirrored partition directories hold the partition columns in their paths: the files do
        // not repeat them (Spark refuses a column that is in both).
        let mirrored = options.outputLayout == .mirror ? dataset.partitionColumnNames : []
        let keptNames: [String]
        switch options.keepColumns {
        case .all: keptNames = allNames.filter { !mirrored.contains($0) }
        case .none: keptNames = []
        case .some(let names):
            if let name = names.first(where: { mirrored.contains($0) }) {
                throw JobError("--keep-columns names '\(name)', a partition column: the output mirrors the input's partition directories, whose paths hold it (as Spark's partitionBy writes them); pass --output-layout flat to keep it as a column in flat output files")
            }
            keptNames = names
        }
        if let clash = keptNames.first(where: { $0 == options.outputColumn }) {
            throw JobError("the output column '\(clash)' is also an input column kept in the output; choose another --output-column, or leave '\(clash)' out with --keep-columns")
        }
        var decodeNames = modelNames
        for name in keptNames where !decodeNames.contains(name) { decodeNames.append(name) }
        let resolved: (schema: Schema, indices: [[Int]])
        do { resolved = try dataset.resolve(columns: decodeNames, mergeSchema: options.mergeSchema) } catch { throw JobError(error.message) }
        decodeSchema = resolved.schema
        decodeIndices = resolved.indices
        modelColumns = modelNames.map { name in decodeNames.firstIndex(of: name)! }
        keptColumns = keptNames.map { name in decodeNames.firstIndex(of: name)! }
        outputSchema = Schema(keptColumns.map { resolved.schema.fields[$0] }
            + [Field(name: options.outputColumn, type: resultType.dataType, nullable: true)])
        predictionSchema = Schema([outputSchema.fields.last!])
        plan = JobPlan(rowGroups: dataset.files.map(\.rowGroupRowCounts), batchSize: options.batchSize,
                       partitionRows: options.partitionRows, blockRows: options.blockRows,
                       directories: dataset.partitioning?.directories ?? [], mirrorDirectories: options.outputLayout == .mirror)
        // Copying skips decoding kept columns, so it is off when every page's checksum must be
        // checked; and for nested results, whose columns are not cut at row-group boundaries.
        let (kept, output, indices) = (keptColumns, outputSchema, decodeIndices)
        let nestedResult = resultType.dataType.isNested
        let chunkColumns: [[Int]?] = dataset.files.enumerated().map { f, file in
            guard !options.verifyChecksums, !kept.isEmpty, !nestedResult else { return nil }
            let columns = kept.map { indices[f][$0] }
            // A column the file lacks, or holds narrower (--merge-schema), is decoded and written.
            for (k, c) in columns.enumerated() where c < 0 || file.columns[c].dataType != output.fields[k].type { return nil }
            for (k, c) in columns.enumerated() where ParquetFileWriter.copyProblem(
                field: output.fields[k], compression: options.compression, reader: file, column: c) != nil { return nil }
            return columns
        }
        keptChunkColumns = chunkColumns
        copiesKeptColumns = plan.partitions.map { partition in
            guard partition.isWholeRowGroups && partition.inputs.allSatisfy({ chunkColumns[$0.file] != nil }) else { return false }
            // Copied row groups stay the input's: tiny ones (many small files) are decoded and
            // written again as blocks instead, so that the output is not thousands of row groups.
            let rowGroups = partition.inputs.reduce(0) { $0 + $1.rowGroups!.count }
            return partition.rowCount >= Self.minimumCopiedRowGroupRows * rowGroups
        }
    }

    /// The average input row group a partition must have for its kept columns to be copied.
    static let minimumCopiedRowGroupRows = 1_000

    /// What identifies this job for `--resume`, given the model's content hash.
    func fingerprint(modelSHA256: String, options: JobOptions) -> JobFingerprint {
        // Paths relative to the input, so that a moved dataset is still the same job.
        let root = dataset.path.hasSuffix("/") ? dataset.path : dataset.path + "/"
        let files = dataset.files.map { file in
            JobFingerprint.InputFile(path: file.path.hasPrefix(root) ? String(file.path.dropFirst(root.count)) : URL(fileURLWithPath: file.path).lastPathComponent, bytes: file.byteCount,
                                     rows: file.rowCount)
        }
        let settings: [String: String?] = [
            "result type": resultType.rawValue,
            "output schema": outputSchema.fields.map { "\($0.name): \($0.type)" }.joined(separator: ", "),
            "model columns": zip(binding.columns, binding.labels).map { "\($0) as \($1)" }.joined(separator: ", "),
            "--output-field": options.outputField,
            "--strict-types": String(options.strictTypes),
            "--compression": options.compression.rawValue,
            "partition rows": String(options.partitionRows),
            "block rows": String(max(options.batchSize, options.blockRows / options.batchSize * options.batchSize)),
            "--model-config": modelConfig.map { JSONValue.object($0).jsonText },
            "--params": params.map { JSONValue.object($0).jsonText },
            "--merge-schema": options.mergeSchema ? "on" : nil,
            "--input-filter": options.inputFilter,
            "--output-layout": dataset.partitioning != nil ? options.outputLayout.rawValue : nil,
        ]
        return JobFingerprint(inputFiles: files, modelSHA256: modelSHA256, settings: settings.compactMapValues { $0 },
                              model: options.modelOrigin?.provenance)
    }

    /// What a worker needs to read and write partitions itself (`--workers-read`).
    func workersReadSpec(options: JobOptions, createdBy: String) -> WorkersReadSpec {
        WorkersReadSpec(decodeFields: decodeSchema.fields.map(WireField.init), modelColumns: modelColumns, keptColumns: keptColumns,
                        partitionKeys: (dataset.partitioning?.keys ?? []).map(WireField.init), outputColumn: options.outputColumn,
                        batchSize: plan.batchSize, blockRows: plan.blockRows, compression: options.compression.rawValue,
                        verifyChecksums: options.verifyChecksums, createdBy: createdBy)
    }

    /// Where a task's rows come from, for messages.
    func describe(task: TaskID) -> String {
        let rows = plan.fileRows(of: task)
        let block = plan.block(of: task)
        return "partition \(block.partition) (\(dataset.files[block.file].path), rows \(rows.lowerBound)..<\(rows.upperBound) of the file)"
    }
}
