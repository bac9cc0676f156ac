import Foundation
import MLflowModel

/// Checks `--model-config` and `--params` against what the model declares, before any work,
/// and turns them into the JSON the worker passes to the loader and to predict.
enum ModelArguments {
    /// The loader's `model_config`: the MLmodel's `config` with the overrides applied. Only keys
    /// the model declares may be overridden (as MLflow allows); anything else is an error here
    /// rather than MLflow's easily missed warning.
    static func modelConfig(model: MLModel, overrides: [(key: String, value: String)]) throws(JobError) -> [String: JSONValue]? {
        var config = model.pyfunc.config ?? [:]
        if !overrides.isEmpty && model.pyfunc.configKeys.isEmpty {
            throw JobError("--model-config \(overrides.map(\.key).joined(separator: ", ")): the model declares no config, so it accepts no overrides (save it with model_config=... to allow them)")
        }
        for (key, value) in overrides {
            guard model.pyfunc.configKeys.contains(key) else {
                throw JobError("--model-config \(key): not a key of the model's config; it accepts: \(model.pyfunc.configKeys.joined(separator: ", "))")
            }
            config[key] = scalar(value)
        }
        for (key, value) in config.sorted(by: { $0.key < $1.key }) where !value.isFinite {
            throw JobError("the model's config key '\(key)' holds NaN or infinity, which cannot be passed to its loader as JSON; "
                           + "override it with --model-config \(key)=VALUE")
        }
        return config.isEmpty ? nil : config
    }

    /// The params predict gets: the declared defaults with `given` applied and converted to the
    /// declared types. A name the model does not declare, or a value that does not convert, is an error.
    static func params(signature: ModelSignature?, given: [(key: String, value: String)]) throws(JobError) -> [String: JSONValue]? {
        guard let declared = signature?.params, !declared.isEmpty else {
            if !given.isEmpty {
                throw JobError("--params \(given.map(\.key).joined(separator: ", ")): the model's signature declares no params (spark_udf would drop them with a warning)")
            }
            return nil
        }
        var values: [String: JSONValue] = [:]
        for param in declared {
            if let value = param.defaultValue, value != .null { values[param.name] = value }
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
        return values
    }

    /// A param value converted as MLflow's `_enforce_param_datatype` allows from text.
    static func convert(_ text: String, to type: String) -> JSONValue? {
        switch type {
        case "string", "datetime": return .string(text)
        case "boolean":
            switch text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return nil
            }
        case "integer", "long": return Int(text).map(JSONValue.int)
        case "float", "double": return Double(text).flatMap { $0.isFinite ? JSONValue.double($0) : nil }
        default: return nil
        }
    }

    /// A config value: a number or boolean when it reads as one, else the text.
    static func scalar(_ text: String) -> JSONValue {
        if let int = Int(text) { return .int(int) }
        if let double = Double(text), double.isFinite { return .double(double) }
        if text == "true" || text == "True" { return .bool(true) }
        if text == "false" || text == "False" { return .bool(false) }
        return .string(text)
    }
}
