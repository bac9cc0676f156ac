import ArgumentParser
import Logging
import MLflowModel
import ModelRegistry

/// Where `--model` (or a model command's argument) is looked up when it is an MLflow URI.
struct ModelSourceArguments: ParsableArguments {
    @Option(name: .customLong("tracking-uri"),
            help: ArgumentHelp("The MLflow tracking server that resolves models:/, runs:/ and mlflow-artifacts:/ model URIs (default: $MLFLOW_TRACKING_URI; the registry is $MLFLOW_REGISTRY_URI when set). Credentials come from MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD.", valueName: "url"))
    var trackingURI: String?

    /// `model` as a directory on this machine: itself, or the model its URI names, resolved once
    /// and fetched into this machine's cache (or found there). `pythonEnvironment` (`--python-env`)
    /// runs MLflow's client for artifact stores the native client does not read.
    func fetch(_ model: String, pythonEnvironment: String?, warn: @escaping (String) -> Void) throws(RegistryError) -> ModelFetcher.Resolved {
        var python: String?
        var problem: String?
        do { python = try PythonEnvironment.resolve(explicit: pythonEnvironment).programPath } catch { problem = error.message }
        return try ModelFetcher(trackingURI: trackingURI, python: python, pythonProblem: problem, warn: warn).fetch(model)
    }
}
