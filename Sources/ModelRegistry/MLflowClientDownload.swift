import Foundation
import MLflowModel

/// Artifacts in a store the native client does not read (`s3://`, `gs://`, `wasbs://`, `hdfs://`,
/// `dbfs:/`, ...: locations a tracking server without `--serve-artifacts` hands to clients),
/// downloaded by MLflow's own Python client in the job's Python environment, which knows every
/// store MLflow supports and reads its credentials as MLflow does (`AWS_*`,
/// `MLFLOW_S3_ENDPOINT_URL`, `GOOGLE_APPLICATION_CREDENTIALS`, ...). It costs the seconds of
/// `import mlflow`, once per model version: the result is cached like any other download.
struct MLflowClientDownload {
    /// The interpreter of the environment to run MLflow's client in.
    let python: String

    /// The script: download `sys.argv[1]` into `sys.argv[2]`; a failure's last line says why.
    static let script = """
        import sys
        try:
            import mlflow.artifacts
        except ImportError as e:
            sys.exit(f"MLflow is not installed in this environment ({e})")
        mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])
        """

    /// Downloads `location` into the existing, empty directory `destination` (the model's files
    /// end up directly in it); errors name the URI, the location and MLflow's own words.
    func download(_ location: String, into destination: String, uri: String) throws(RegistryError) {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw RegistryError(uri: uri, "the model's files are at \(location), which score-cluster downloads with MLflow's Python client, "
                                + "but there is no Python environment to run it in (\(python) is missing): pass --python-env or set VIRTUAL_ENV")
        }
        let staging = destination + "/.download"
        let result = BuildProcess.run(python, ["-c", Self.script, location, staging], directory: destination)
        guard result.status == 0 else {
            let lines = result.output.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            let why = lines.last ?? "exit status \(result.status)"
            throw RegistryError(uri: uri, "MLflow's client (\(python)) could not download \(location): \(why). "
                                + "It reads the store's credentials as MLflow does (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                                + "MLFLOW_S3_ENDPOINT_URL); or run the tracking server with --serve-artifacts")
        }
        // download_artifacts puts a directory's files under its last path component.
        let name = URL(string: location)?.lastPathComponent ?? ""
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let downloaded = !name.isEmpty && fm.fileExists(atPath: staging + "/" + name, isDirectory: &isDirectory) && isDirectory.boolValue
            ? staging + "/" + name : staging
        do {
            for entry in try fm.contentsOfDirectory(atPath: downloaded) where entry != ".download" {
                try fm.moveItem(atPath: downloaded + "/" + entry, toPath: destination + "/" + entry)
            }
            try fm.removeItem(atPath: staging)
        } catch {
            throw RegistryError(uri: uri, "cannot move the download of \(location) into \(destination): \(error.localizedDescription)")
        }
    }
}
