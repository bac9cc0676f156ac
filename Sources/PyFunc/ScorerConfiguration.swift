import CPython
import MLflowModel

/// Everything the bridge's `Scorer` needs to load one model and call it, named and typed.
///
/// Made once per loaded model from the MLmodel's pyfunc flavor and the job's invocation, and
/// rendered once to the keyword arguments of `Scorer(**keywords)` (each `Key` is the name of
/// a keyword-only parameter of `Scorer.__init__` in `Python/_score_cluster_bridge.py`), so a
/// field added, renamed or dropped on one side is a `TypeError` at the first load, not a
/// value bound to the wrong parameter.
struct ScorerConfiguration: Sendable, Equatable {
    /// The module whose `_load_pyfunc` (or the seed format's `load_pyfunc`) loads the model.
    var loaderModule: String
    /// Put first on `sys.path` before the loader module is imported (the flavor's `code`).
    var codeDirectory: String?
    /// What the loader gets: the flavor's `data`, else the model directory.
    var dataPath: String
    /// The loaded model's method that predicts (the flavor's `predict_fn`, default `predict`).
    var predictFunction: String
    /// The DataFrame's column labels, in the order of the batch's columns.
    var labels: [String]
    /// Label the columns with the integers 0, 1, ... (an unnamed signature) instead of `labels`.
    var integerLabels: Bool
    /// The result type as the bridge reads it (`ResultType.bridgeSpec`).
    var resultType: String
    /// Per column, the signature type cast to on each batch (nil: as it is).
    var enforcedTypes: [String?]
    /// The loader's `model_config`, as a JSON object (nil: the loader gets none).
    var modelConfigJSON: String?
    /// Params for a predict that declares them, as a JSON object.
    var paramsJSON: String?
    /// The column of a DataFrame result to convert, instead of spark_udf's leftmost compatible one.
    var outputField: String?
    /// Exact casts (or errors showing sample values) instead of spark_udf's silent choices.
    var strictTypes: Bool

    /// The keyword names, as `Scorer.__init__` spells them.
    enum Key: String, CaseIterable {
        case loaderModule = "loader_module"
        case codeDirectory = "code_dir"
        case dataPath = "data_path"
        case predictFunction = "predict_fn"
        case labels
        case resultType = "result_type"
        case enforcedTypes = "enforced_types"
        case modelConfigJSON = "model_config_json"
        case paramsJSON = "params_json"
        case outputField = "output_field"
        case strictTypes = "strict_types"
    }

    /// How the model `flavor` describes is loaded and called for `invocation`.
    init(flavor: PyFuncFlavor, invocation: PyFuncModel.Invocation) {
        loaderModule = flavor.loaderModule
        codeDirectory = flavor.codeDirectory
        dataPath = flavor.dataPath
        predictFunction = flavor.predictFunction
        labels = invocation.labels
        integerLabels = invocation.integerLabels
        resultType = invocation.resultType.bridgeSpec
        enforcedTypes = invocation.enforcedTypes
        modelConfigJSON = invocation.modelConfigJSON
        paramsJSON = invocation.paramsJSON
        outputField = invocation.outputField
        strictTypes = invocation.strictTypes
    }

    /// The keyword arguments of `Scorer`, as a new dict. The GIL must be held.
    func keywordArguments() -> PythonObject {
        let dict = PythonObject(owning: PyDict_New()!)
        func set(_ key: Key, _ value: PyObjectPointer) {
            PyDict_SetItemString(dict.pointer, key.rawValue, value)
            Py_DECREF(value)
        }
        func string(_ text: String?) -> PyObjectPointer {
            guard let text else {
                let none: PyObjectPointer = cpy_none()!
                Py_INCREF(none)
                return none
            }
            return PyUnicode_FromString(text)!
        }
        func list(_ items: [PyObjectPointer]) -> PyObjectPointer {
            let list = PyList_New(items.count)!
            for (i, item) in items.enumerated() { PyList_SetItem(list, i, item) }  // steals item
            return list
        }
        set(.loaderModule, string(loaderModule))
        set(.codeDirectory, string(codeDirectory))
        set(.dataPath, string(dataPath))
        set(.predictFunction, string(predictFunction))
        set(.labels, list(labels.indices.map { integerLabels ? PyLong_FromLong($0)! : string(labels[$0]) }))
        set(.resultType, string(resultType))
        set(.enforcedTypes, list(enforcedTypes.map(string)))
        set(.modelConfigJSON, string(modelConfigJSON))
        set(.paramsJSON, string(paramsJSON))
        set(.outputField, string(outputField))
        set(.strictTypes, PyBool_FromLong(strictTypes ? 1 : 0)!)
        return dict
    }
}
