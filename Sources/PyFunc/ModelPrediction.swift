import CPython
import Columnar
import Foundation
import MLflowModel
import Parquet

/// Scores a small Parquet input in this process, like `mlflow models predict`: the engine of
/// `score-cluster model predict`.
///
/// The batches reach the model exactly as `score-cluster run` hands them to its workers (the
/// same bridge, DataFrame columns named "0", "1", ... in the order of `columns`, results
/// converted to the result type as spark_udf converts them), so a quick check here predicts
/// what a run would write. The embedded interpreter is started on the calling thread, and can
/// be started once per process.
public enum ModelPrediction {
    /// What to score.
    public struct Request: Sendable {
        public var modelDirectory: String
        /// A Parquet file or a directory of part files.
        public var input: String
        /// Input columns handed to the model, in order (default: every column).
        public var columns: [String]?
        public var resultType: ResultType
        /// The Python environment (default: `$VIRTUAL_ENV`, else the project's `.venv`).
        public var pythonEnvironment: String?
        /// Score at most this many rows (the first ones).
        public var limit: Int?
        /// Rows per predict call, as `run --batch-size`.
        public var batchSize: Int
        /// Send what the model prints to standard error, keeping standard output for the predictions.
        public var quietStdout: Bool

        public init(modelDirectory: String, input: String, columns: [String]? = nil, resultType: ResultType = .double,
                    pythonEnvironment: String? = nil, limit: Int? = nil, batchSize: Int = 10_000, quietStdout: Bool = true) {
            self.modelDirectory = modelDirectory
            self.input = input
            self.columns = columns
            self.resultType = resultType
            self.pythonEnvironment = pythonEnvironment
            self.limit = limit
            self.batchSize = batchSize
            self.quietStdout = quietStdout
        }
    }

    /// The predictions, one per input row in input order.
    public struct Result: Sendable {
        public var predictions: Column
        public var rowCount: Int
        /// The input columns the model got, in order.
        public var columns: [String]
        public var resultType: ResultType
        public var loadSeconds: Double
        public var predictSeconds: Double
        /// The environment and the interpreter version used.
        public var pythonEnvironment: String
        public var pythonVersion: String
    }

    /// Reads the input, loads the model once and scores every row (or the first `limit`).
    ///
    /// - Throws: `PyFuncError` for a model, input, environment or prediction error; Python's
    ///   traceback is in its `traceback`.
    public static func score(_ request: Request) throws(PyFuncError) -> Result {
        let model = try MLModel(directory: request.modelDirectory)
        let (names, columns, rowCount, binding) = try read(request, signature: model.signature)
        let environment = try PythonEnvironment.resolve(explicit: request.pythonEnvironment)
        let runtime = try PythonRuntime.start(environment: environment)
        if request.quietStdout {
            runtime.withGIL { _ = PyRun_SimpleString("import sys\nsys.stdout = sys.stderr\n") }
        }
        // The columns, labels and signature casts score-cluster run would use.
        let pyfunc = try PyFuncModel(runtime: runtime, model: model, invocation: .init(
            labels: binding.labels, integerLabels: binding.integerLabels, enforcedTypes: binding.enforcedTypes,
            resultType: request.resultType))
        let start = Date()
        var parts: [Column] = []
        var offset = 0
        repeat {
            let end = min(rowCount, offset + request.batchSize)
            let batch = columns.map { $0.slice(offset..<end) }
            do {
                parts.append(try pyfunc.predict(batch, rowCount: end - offset))
            } catch {
                throw PyFuncError("rows \(offset)..<\(end): \(error)", traceback: error.traceback)
            }
            offset = end
        } while offset < rowCount
        return Result(predictions: Column.concatenate(parts), rowCount: rowCount, columns: names,
                      resultType: request.resultType, loadSeconds: pyfunc.loadSeconds,
                      predictSeconds: Date().timeIntervalSince(start), pythonEnvironment: environment.root,
                      pythonVersion: runtime.version)
    }

    /// The selected columns of the whole input (or its first `limit` rows), each as one column.
    private static func read(_ request: Request, signature: ModelSignature?) throws(PyFuncError) -> ([String], [Column], Int, InputBinding) {
        let dataset: ParquetDataset
        do throws(DatasetError) { dataset = try ParquetDataset(path: request.input) } catch { throw PyFuncError(error.message) }
        let binding = try InputBinding.resolve(
            signature: signature,
            dataset: dataset.files[0].columns.map { .init(name: $0.name, type: $0.dataType, nullable: $0.nullable) },
            requested: request.columns, naming: .ordinal, source: dataset.files[0].path)
        let names = binding.columns
        let resolved: (schema: Schema, indices: [[Int]])
        do throws(DatasetError) {
            guard !names.isEmpty else { throw DatasetError("\(request.input) has no columns to score") }
            resolved = try dataset.resolve(columns: names)
        } catch {
            throw PyFuncError(error.message)
        }
        let wanted = min(dataset.rowCount, request.limit ?? Int.max)
        var pieces: [[Column]] = Array(repeating: [], count: names.count)
        var read = 0
        fileLoop: for (f, file) in dataset.files.enumerated() {
            for group in file.rowGroupRowCounts.indices {
                guard read < wanted else { break fileLoop }
                let batch: RecordBatch
                do { batch = try file.readRowGroup(group, columns: resolved.indices[f]) } catch {
                    throw PyFuncError("cannot read row group \(group) of \(file.path): \(error)")
                }
                let take = min(batch.rowCount, wanted - read)
                for (c, column) in batch.columns.enumerated() {
                    pieces[c].append(take == batch.rowCount ? column : column.slice(0..<take))
                }
                read += take
            }
        }
        guard read > 0 else { throw PyFuncError("\(request.input) has no rows to score") }
        return (names, pieces.map(Column.concatenate), read, binding)
    }
}

// MARK: - Writing predictions

extension ModelPrediction {
    /// How predictions are written.
    public enum Format: String, Sendable, CaseIterable {
        /// One value per line, `null` for nulls.
        case text
        /// A `prediction` header, then one value per line; nulls are empty quoted fields (`""`, which pandas
        /// reads as NaN), strings quoted as RFC 4180 needs.
        case csv
        /// One JSON object per line: `{"prediction": value}`; NaN and nulls are `null`.
        case jsonl

        /// The format a file name asks for (`.csv`, `.jsonl`/`.ndjson`), if any.
        public init?(fileName: String) {
            switch URL(fileURLWithPath: fileName).pathExtension.lowercased() {
            case "csv": self = .csv
            case "jsonl", "ndjson": self = .jsonl
            default: return nil
            }
        }
    }

    /// The predictions of `result` in `format`, each line ending in a newline.
    public static func render(_ result: Result, as format: Format, columnName: String = "prediction") -> String {
        var out = ""
        out.reserveCapacity(result.rowCount * 20)
        if format == .csv { out += csvField(columnName) + "\n" }
        let key = jsonString(columnName)
        for row in 0..<result.rowCount {
            let value = cell(result.predictions, row)
            switch format {
            case .text: out += value.map(\.text) ?? "null"
            // A lone empty field would be a blank line, which CSV readers skip: quote it.
            case .csv: out += value.map { $0.isString ? csvField($0.text) : $0.text } ?? "\"\""
            case .jsonl: out += "{\(key): \(value.map(\.json) ?? "null")}"
            }
            out += "\n"
        }
        return out
    }

    private struct Cell {
        var text: String
        var json: String
        var isString = false
    }

    private static func cell(_ column: Column, _ row: Int) -> Cell? {
        guard column.isValid(row) else { return nil }
        func number<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) -> Cell {
            Cell(text: "\(value)", json: value.isFinite ? "\(value)" : "null")
        }
        switch column.type {
        case .float64: return number(column.values.typed(Double.self)[row])
        case .float32: return number(column.values.typed(Float.self)[row])
        case .int64: let v = column.values.typed(Int64.self)[row]; return Cell(text: "\(v)", json: "\(v)")
        case .int32: let v = column.values.typed(Int32.self)[row]; return Cell(text: "\(v)", json: "\(v)")
        case .bool: let v = column.values.typed(UInt8.self)[row] != 0; return Cell(text: "\(v)", json: "\(v)")
        default:
            let text = column.string(at: row) ?? ""
            return Cell(text: text, json: jsonString(text), isString: true)
        }
    }

    private static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || text.isEmpty else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
