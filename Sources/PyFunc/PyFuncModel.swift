import CPython
import Columnar
import Foundation

/// A pyfunc model loaded once into the embedded interpreter, scoring batches of columns.
///
/// Use it only on the runtime's thread. Each `predict` hands the batch to pandas without
/// copying the column data (numpy views over the Swift buffers, which Python keeps alive for
/// as long as it holds a view), calls the model's predict function, and converts the result to the result type
/// as spark_udf does.
public final class PyFuncModel {
    public let model: MLModel
    public let resultType: ResultType
    public let columnNames: [String]
    /// Seconds spent importing and loading the model.
    public let loadSeconds: Double
    private let runtime: PythonRuntime
    private let predictFunction: PyObjectPointer
    private let pythonNames: PyObjectPointer
    private let pythonResultType: PyObjectPointer
    private let makeFrame: PyObjectPointer
    private let convert: PyObjectPointer

    /// Imports the loader module (after putting `code` first on `sys.path`) and loads the model.
    public init(runtime: PythonRuntime, model: MLModel, columnNames: [String], resultType: ResultType) throws(PyFuncError) {
        let start = Date()
        let flavor = model.pyfunc
        let loaded = try runtime.withGIL { () throws(PyFuncError) -> (PyObjectPointer, PyObjectPointer, PyObjectPointer) in
            let arguments = [runtime.string(model.directory), runtime.string(flavor.loaderModule),
                             flavor.codeDirectory.map(runtime.string) ?? { let none: PyObjectPointer = cpy_none()!; Py_INCREF(none); return none }(),
                             runtime.string(flavor.dataPath), runtime.string(flavor.predictFunction)]
            defer { arguments.forEach { Py_DECREF($0) } }
            let function: PyObjectPointer
            do throws(PyFuncError) {
                function = try runtime.callBridge("load_model", arguments)
            } catch {
                throw PyFuncError("""
                    cannot load the model \(model.directory) with loader module '\(flavor.loaderModule)': \(error.message). \
                    Check that the Python environment \(runtime.environment.root) has the packages the model needs
                    """, traceback: error.traceback)
            }
            let names = PyList_New(columnNames.count)!
            for (i, name) in columnNames.enumerated() { PyList_SetItem(names, i, runtime.string(name)) }
            return (function, names, runtime.string(resultType.rawValue))
        }
        (predictFunction, pythonNames, pythonResultType) = loaded
        (makeFrame, convert) = runtime.withGIL {
            (PyObject_GetAttrString(runtime.bridge, "make_frame")!, PyObject_GetAttrString(runtime.bridge, "convert")!)
        }
        try runtime.restoreSignals()
        self.runtime = runtime
        self.model = model
        self.columnNames = columnNames
        self.resultType = resultType
        self.loadSeconds = Date().timeIntervalSince(start)
    }

    /// An error while scoring a batch.
    public enum PredictError: Error, Sendable, CustomStringConvertible {
        /// The model's predict function raised.
        case modelRaised(PythonError)
        /// The result could not be converted (no compatible values, wrong row count).
        case conversion(message: String)

        public var description: String {
            switch self {
            case .modelRaised(let error): "the model's predict raised \(error)"
            case .conversion(let message): message
            }
        }

        public var traceback: String? {
            if case .modelRaised(let error) = self { return error.traceback }
            return nil
        }
    }

    /// Scores `columns` (each of `rowCount` rows, in the order of `columnNames`).
    public func predict(_ columns: [Column], rowCount: Int) throws(PredictError) -> Column {
        precondition(columns.count == columnNames.count, "batch has \(columns.count) columns, model takes \(columnNames.count)")
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
                frameArguments = [pythonNames, nrows, none, view(columns[0].values, columns.count * rowCount * 8)]
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
                frameArguments = [pythonNames, nrows, list, none]
            }
            let frame: PyObjectPointer
            do throws(PythonError) { frame = try runtime.call(makeFrame, frameArguments) } catch {
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
                converted = try runtime.call(convert, [result, pythonResultType, nrows])
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
