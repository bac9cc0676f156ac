import CPython
import Columnar
import Foundation
import MLflowModel

/// A pyfunc model loaded once into the embedded interpreter, scoring batches of columns.
///
/// Use it only on the runtime's thread. Each `predict` hands the batch to pandas without
/// copying the column data (numpy views over the Swift buffers, which Python keeps alive for
/// as long as it holds a view), calls the model's predict function, and converts the result to the result type
/// as spark_udf does.
public final class PyFuncModel {
    /// How the model is called: the DataFrame's labels, the signature types enforced on each
    /// batch, the inference configuration, params, and the result type.
    public struct Invocation: Sendable, Equatable {
        public var labels: [String]
        /// Labels are the integers 0, 1, ... (an unnamed signature) rather than strings.
        public var integerLabels: Bool
        /// Per column, the signature type cast to on each batch (nil: as it is).
        public var enforcedTypes: [String?]
        /// The loader's `model_config`, as a JSON object (nil: the loader gets none).
        public var modelConfigJSON: String?
        /// Params for a predict that declares them, as a JSON object.
        public var paramsJSON: String?
        public var resultType: ResultType
        /// The column of a DataFrame result to convert, instead of spark_udf's leftmost compatible one.
        public var outputField: String?
        /// Exact casts (or errors showing sample values) instead of spark_udf's silent choices.
        public var strictTypes: Bool

        public init(labels: [String], integerLabels: Bool = false, enforcedTypes: [String?]? = nil,
                    modelConfigJSON: String? = nil, paramsJSON: String? = nil, resultType: ResultType,
                    outputField: String? = nil, strictTypes: Bool = false) {
            self.labels = labels
            self.integerLabels = integerLabels
            self.enforcedTypes = enforcedTypes ?? Array(repeating: nil, count: labels.count)
            self.modelConfigJSON = modelConfigJSON
            self.paramsJSON = paramsJSON
            self.resultType = resultType
            self.outputField = outputField
            self.strictTypes = strictTypes
        }
    }

    public let model: MLModel
    public let invocation: Invocation
    public var resultType: ResultType { invocation.resultType }
    /// Seconds spent importing and loading the model.
    public let loadSeconds: Double
    private let runtime: PythonRuntime
    /// The bridge's `Scorer` methods for this model.
    private let makeFrame: PyObjectPointer
    private let predictFunction: PyObjectPointer
    private let convert: PyObjectPointer

    /// Scores with string labels and no signature enforcement (spark_udf's default).
    public convenience init(runtime: PythonRuntime, model: MLModel, columnNames: [String], resultType: ResultType) throws(PyFuncError) {
        try self.init(runtime: runtime, model: model, invocation: Invocation(labels: columnNames, resultType: resultType))
    }

    /// Imports the loader module (after putting `code` first on `sys.path`) and loads the model.
    public init(runtime: PythonRuntime, model: MLModel, invocation: Invocation) throws(PyFuncError) {
        let start = Date()
        let flavor = model.pyfunc
        let methods = try runtime.withGIL { () throws(PyFuncError) -> (PyObjectPointer, PyObjectPointer, PyObjectPointer) in
            func optional(_ text: String?) -> PyObjectPointer {
                if let text { return runtime.string(text) }
                let none: PyObjectPointer = cpy_none()!
                Py_INCREF(none)
                return none
            }
            let labels = PyList_New(invocation.labels.count)!
            for (i, label) in invocation.labels.enumerated() {
                PyList_SetItem(labels, i, invocation.integerLabels ? PyLong_FromLong(i) : runtime.string(label))
            }
            let enforced = PyList_New(invocation.enforcedTypes.count)!
            for (i, type) in invocation.enforcedTypes.enumerated() { PyList_SetItem(enforced, i, optional(type)) }
            let arguments: [PyObjectPointer] = [runtime.string(flavor.loaderModule), optional(flavor.codeDirectory), runtime.string(flavor.dataPath),
                             runtime.string(flavor.predictFunction), labels, runtime.string(invocation.resultType.bridgeSpec),
                             enforced, optional(invocation.modelConfigJSON), optional(invocation.paramsJSON),
                             optional(invocation.outputField), PyBool_FromLong(invocation.strictTypes ? 1 : 0)!]
            defer { arguments.forEach { Py_DECREF($0) } }
            let scorer: PyObjectPointer
            do throws(PyFuncError) {
                scorer = try runtime.callBridge("Scorer", arguments)
            } catch {
                throw PyFuncError("""
                    cannot load the model \(model.directory) with loader module '\(flavor.loaderModule)': \(error.message). \
                    Check that the Python environment \(runtime.environment.root) has the packages the model needs
                    """, traceback: error.traceback)
            }
            defer { Py_DECREF(scorer) }
            return (PyObject_GetAttrString(scorer, "frame")!, PyObject_GetAttrString(scorer, "predict")!,
                    PyObject_GetAttrString(scorer, "convert")!)
        }
        (makeFrame, predictFunction, convert) = methods
        try runtime.restoreSignals()
        self.runtime = runtime
        self.model = model
        self.invocation = invocation
        self.loadSeconds = Date().timeIntervalSince(start)
    }

    /// An error while scoring a batch.
    public enum PredictError: Error, Sendable, CustomStringConvertible {
        /// The model's predict function raised.
        case modelRaised(PythonError)
        /// The result could not be converted (no compatible values, wrong row count).
        case conversion(message: String)
        /// The batch does not fit the model's input signature (e.g. nulls in an integer column).
        case schema(message: String)

        public var description: String {
            switch self {
            case .modelRaised(let error): "the model's predict raised \(error)"
            case .conversion(let message), .schema(let message): message
            }
        }

        public var traceback: String? {
            if case .modelRaised(let error) = self { return error.traceback }
            return nil
        }
    }

    /// Scores `columns` (each of `rowCount` rows, in the order of the invocation's labels).
    public func predict(_ columns: [Column], rowCount: Int) throws(PredictError) -> Column {
        precondition(columns.count == invocation.labels.count, "batch has \(columns.count) columns, model takes \(invocation.labels.count)")
        if rowCount == 0 { return ResultColumnBuilder.empty(resultType) }
        return try runtime.withGIL { () throws(PredictError) -> Column in
            var views: [PyObjectPointer] = []
            defer { views.forEach { Py_DECREF($0) } }
            // (address, size, owner): Python keeps the Swift buffer alive while it uses the memory.
            func view(_ buffer: ColumnBuffer, _ count: Int) -> PyObjectPointer {
                let spec = PyTuple_New(3)!
                PyTuple_SetItem(spec, 0, PyLong_FromSize_t(Int(bitPattern: buffer.mutableBase)))
                PyTuple_SetItem(spec, 1, PyLong_FromLong(count))
                PyTuple_SetItem(spec, 2, PyCapsule_New(Unmanaged.passRetained(buffer).toOpaque(), nil, releaseColumnBuffer))
                views.append(spec)
                return spec
            }
            let none: PyObjectPointer = cpy_none()!
            let frameArguments: [PyObjectPointer]
            let nrows = PyLong_FromLong(rowCount)!
            defer { Py_DECREF(nrows) }
            if isContiguousFloat64Block(columns, rowCount: rowCount) {
                frameArguments = [nrows, none, view(columns[0].values, columns.count * rowCount * 8)]
            } else {
                let list = PyList_New(columns.count)!
                for (i, column) in columns.enumerated() {
                    let width = column.type.byteWidth
                    let valuesLength = width.map { $0 * rowCount } ?? Int(column.offsets!.typed(Int64.self)[rowCount])
                    let item = PyTuple_New(5)!
                    PyTuple_SetItem(item, 0, PyLong_FromLong(Int(column.type.kind)))
                    let p = column.type.parameters
                    let params = PyTuple_New(4)!
                    for (k, byte) in [p.0, p.1, p.2, p.3].enumerated() { PyTuple_SetItem(params, k, PyLong_FromLong(Int(byte))) }
                    PyTuple_SetItem(item, 1, params)
                    let parts: [PyObjectPointer] = [
                        view(column.values, valuesLength),
                        column.offsets.map { view($0, (rowCount + 1) * 8) } ?? none,
                        column.validity.map { view($0, rowCount) } ?? none,
                    ]
                    for (k, part) in parts.enumerated() {
                        Py_INCREF(part)
                        PyTuple_SetItem(item, k + 2, part)
                    }
                    PyList_SetItem(list, i, item)
                }
                views.append(list)  // released with the views
                frameArguments = [nrows, list, none]
            }
            let frame: PyObjectPointer
            do throws(PythonError) { frame = try runtime.call(makeFrame, frameArguments) } catch {
                if error.typeName == "SchemaError" { throw .schema(message: error.message) }
                throw .conversion(message: "cannot build the input DataFrame: \(error)")
            }
            let result: PyObjectPointer
            do throws(PythonError) {
                result = try runtime.call(predictFunction, [frame])
            } catch {
                Py_DECREF(frame)
                throw .modelRaised(error)
            }
            Py_DECREF(frame)
            let converted: PyObjectPointer
            do throws(PythonError) {
                converted = try runtime.call(convert, [result, nrows])
            } catch {
                Py_DECREF(result)
                // The bridge's own errors carry spark_udf's messages; others say what raised.
                let own = error.typeName == "ResultTypeError" || error.typeName == "ResultRowsError"
                throw .conversion(message: own ? error.message : "cannot convert the prediction to \(resultType.rawValue): \(error)")
            }
            Py_DECREF(result)
            defer { Py_DECREF(converted) }
            return ResultColumnBuilder.build(from: converted, resultType: resultType, rowCount: rowCount)
        }
    }

    /// Whether every column is float64 and their values lie back to back, so that pandas can
    /// take them as one 2-D block (one numpy array, no consolidation copy in the model).
    private func isContiguousFloat64Block(_ columns: [Column], rowCount: Int) -> Bool {
        guard let first = columns.first else { return false }
        for (i, column) in columns.enumerated() {
            guard column.type == .float64, column.values.base == first.values.base + i * rowCount * 8 else { return false }
        }
        return true
    }
}

/// Releases the Swift buffer a capsule holds, when Python drops its last view of the memory.
private let releaseColumnBuffer: PyCapsule_Destructor = { capsule in
    guard let capsule, let pointer = PyCapsule_GetPointer(capsule, nil) else { return }
    Unmanaged<ColumnBuffer>.fromOpaque(pointer).release()
}
