import Foundation
import MLflowModel

/// Checks `--model-config` and `--params` against what the model declares, before any work,
/// and turns them into the JSON the worker passes to the loader and to predict.
enum ModelArguments {
    /// The loader's `model_config`: the MLmodel's `config` with the overrides applied. Only keys
    /// the model declares may be overridden (as MLflow allows); anything else is an error here
    /// rather than MLflow's easily missed warning.
    static func modelConfig(model: MLModel, overrides: [(key: String, value: String)]) throws(JobError) -> String? {
        var config: [String: Any] = [:]
        if let json = model.pyfunc.configJSON, let data = json.data(using: .utf8),
           let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            config = object
        }
        if !overrides.isEmpty && model.pyfunc.configKeys.isEmpty {
            throw JobError("--model-config \(overrides.map(\.key).joined(separator: ", ")): the model declares no config, so it accepts no overrides (save it with model_config=... to allow them)")
        }
        for (key, value) in overrides {
            guard model.pyfunc.configKeys.contains(key) else {
                throw JobError("--model-config \(key): not a key of the model's config; it accepts: \(model.pyfunc.configKeys.joined(separator: ", "))")
            }
            config[key] = scalar(value)
        }
        guard !config.isEmpty, let data = try? JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The params predict gets: the declared defaults with `given` applied and converted to the
    /// declared types. A name the model does not declare, or a value that does not convert, is an error.
    static func params(signature: ModelSignature?, given: [(key: String, value: String)]) throws(JobError) -> String? {
        guard let declared = signature?.params, !declared.isEmpty else {
            if !given.isEmpty {
                throw JobError("--params \(given.map(\.key).joined(separator: ", ")): the model's signature declares no params (spark_udf would drop them with a warning)")
            }
            return nil
        }
        var values: [String: Any] = [:]
        for param in declared {
            if let json = param.defaultJSON, let data = json.data(using: .utf8),
               let value = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) {
                values[param.name] = value
            }
        }
        for (key, text) in given {
            guard let param = declared.first(where: { $0.name == key }) else {
                throw JobError("--params \(key): the model declares params \(declared.map(\.name).joined(separator: ", ")) only")
            }
            guard !param.isList, let value = convert(text, to: param.type) else {
                throw JobError("--params \(key)=\(text): Can not safely convert '\(text)' to the declared type \(param.isList ? "list of \(param.type)" : param.type)")
            }
            values[key] = value
        }
        guard let data = try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A param value converted as MLflow's `_enforce_param_datatype` allows from text.
    static func convert(_ text: String, to type: String) -> Any? {
        switch type {
        case "string", "datetime": return text
        case "boolean":
            switch text.lowercased() {
            case "true": return true
            case "false": return false
            default: return nil
            }
        case "integer", "long": return Int(text)
        case "float", "double": return Double(text)
        default: return nil
        }
    }

    /// A config value: a number or boolean when it reads as one, else the text.
    static func scalar(_ text: String) -> Any {
        if let int = Int(text) { return int }
        if let double = Double(text) { return double }
        if text == "true" || text == "True" { return true }
        if text == "false" || text == "False" { return false }
        return text
    }
}
