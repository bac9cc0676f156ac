import Foundation
import MLflowModel

/// Where a model URI points, asked of the tracking server: an alias, `latest` or a stage becomes
/// a version, the version its run and logged model, and all of it an artifact location. No file
/// is downloaded here.
struct ModelVersionResolver {
    /// What a URI resolved to, before download.
    struct Resolution: Equatable {
        var registeredModel: String?
        var version: String?
        var runID: String?
        var loggedModelID: String?
        /// The artifact location of the model's files.
        var artifactURI: String
        /// What identifies these files for the cache, whatever the URI said (an alias and the
        /// version it points to share it).
        var identity: String
        /// Whether the files behind `identity` never change (a registered version, a logged
        /// model), so that a cached copy need not be compared with the store's: a run's
        /// artifacts or a plain location can be overwritten.
        var immutable = false
    }

    let client: MLflowRESTClient
    let warn: (String) -> Void

    private var registry: String { client.server.registryURL }
    private var tracking: String { client.server.trackingURL }
    private var uri: String { client.uri }

    func resolve(_ model: ModelURI) throws -> Resolution {
        switch model {
        case .localDirectory(let path):
            throw RegistryError(uri: path, "a local directory is not resolved by the registry")
        case .registered(let name, let selector):
            let version = try modelVersion(name: name, selector)
            let download = try client.get(registry, "/api/2.0/mlflow/model-versions/get-download-uri",
                                          query: [("name", name), ("version", version.version)])
            guard let artifact = download["artifact_uri"] as? String, !artifact.isEmpty else {
                throw RegistryError(uri: uri, "the registry gave no download location for version \(version.version) of '\(name)'")
            }
            return Resolution(registeredModel: name, version: version.version, runID: version.runID,
                              loggedModelID: version.loggedModelID, artifactURI: artifact,
                              identity: "\(registry) models:/\(name)/\(version.version)", immutable: true)
        case .loggedModel(let id):
            let info = try loggedModel(id)
            return Resolution(runID: info.runID, loggedModelID: id, artifactURI: info.artifactURI, identity: "models:/\(id)", immutable: true)
        case .run(let runID, let path):
            return try runArtifact(runID: runID, path: path)
        case .artifact(let location):
            return Resolution(artifactURI: location, identity: location)
        }
    }

    // MARK: - Registered models

    private struct Version {
        var version: String
        var runID: String?
        var loggedModelID: String?

        init(_ object: [String: Any]) {
            version = object["version"] as? String ?? (object["version"] as? Int).map(String.init) ?? ""
            runID = (object["run_id"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            let source = object["source"] as? String ?? ""
            let id = (object["model_id"] as? String).flatMap { $0.isEmpty ? nil : $0 }
            loggedModelID = id ?? (source.hasPrefix("models:/m-") ? String(source.dropFirst("models:/".count)) : nil)
        }
    }

    private func modelVersion(name: String, _ selector: ModelURI.VersionSelector) throws -> Version {
        switch selector {
        case .number(let number):
            do {
                let answer = try client.get(registry, "/api/2.0/mlflow/model-versions/get", query: [("name", name), ("version", number)])
                return Version(answer["model_version"] as? [String: Any] ?? [:])
            } catch is MLflowRESTClient.NotFound {
                let model = try registeredModel(name)
                let latest = (model["latest_versions"] as? [[String: Any]] ?? []).compactMap { Int(Version($0).version) }.max()
                throw RegistryError(uri: uri, "model '\(name)' has no version \(number)" + (latest.map { "; its latest version is \($0)" } ?? "; it has no versions yet"))
            }
        case .alias(let alias):
            do {
                let answer = try client.get(registry, "/api/2.0/mlflow/registered-models/alias", query: [("name", name), ("alias", alias)])
                return Version(answer["model_version"] as? [String: Any] ?? [:])
            } catch is MLflowRESTClient.NotFound {
                let model = try registeredModel(name)
                let aliases = (model["aliases"] as? [[String: Any]] ?? []).compactMap { entry -> String? in
                    guard let name = entry["alias"] as? String else { return nil }
                    return "@\(name) (version \(entry["version"] as? String ?? "?"))"
                }
                throw RegistryError(uri: uri, "model '\(name)' has no alias '\(alias)'; "
                                    + (aliases.isEmpty ? "it has no aliases (set one with MlflowClient().set_registered_model_alias)" : "its aliases: \(aliases.joined(separator: ", "))"))
            }
        case .latest, .stage:
            var request: [String: Any] = ["name": name]
            var stage: String?
            if case .stage(let given) = selector {
                stage = given
                request["stages"] = [given]
                warn("\(uri): model stages are deprecated since MLflow 2.9; use an alias instead (models:/\(name)@ALIAS)")
            }
            let answer: [String: Any]
            do {
                answer = try client.post(registry, "/api/2.0/mlflow/registered-models/get-latest-versions", request)
            } catch is MLflowRESTClient.NotFound {
                throw RegistryError(uri: uri, "the registry at \(registry) has no model named '\(name)'")
            }
            let versions = (answer["model_versions"] as? [[String: Any]] ?? []).map(Version.init)
            guard let newest = versions.max(by: { (Int($0.version) ?? 0) < (Int($1.version) ?? 0) }) else {
                throw RegistryError(uri: uri, stage.map { "model '\(name)' has no version in stage '\($0)'" } ?? "model '\(name)' has no versions")
            }
            return newest
        }
    }

    private func registeredModel(_ name: String) throws -> [String: Any] {
        do {
            return try client.get(registry, "/api/2.0/mlflow/registered-models/get", query: [("name", name)])["registered_model"] as? [String: Any] ?? [:]
        } catch is MLflowRESTClient.NotFound {
            throw RegistryError(uri: uri, "the registry at \(registry) has no model named '\(name)' (names are case-sensitive)")
        }
    }

    // MARK: - Logged models and runs

    private func loggedModel(_ id: String) throws -> (artifactURI: String, runID: String?) {
        let answer: [String: Any]
        do {
            answer = try client.get(tracking, "/api/2.0/mlflow/logged-models/\(Self.pathSegment(id))")
        } catch is MLflowRESTClient.NotFound {
            throw RegistryError(uri: uri, "the tracking server at \(tracking) has no logged model '\(id)'; "
                                + "for a registered model write models:/NAME/VERSION or models:/NAME@ALIAS")
        }
        let info = (answer["model"] as? [String: Any])?["info"] as? [String: Any] ?? [:]
        guard let artifact = info["artifact_uri"] as? String else {
            throw RegistryError(uri: uri, "the tracking server gave no artifact location for logged model '\(id)'")
        }
        return (artifact, (info["source_run_id"] as? String).flatMap { $0.isEmpty ? nil : $0 })
    }

    /// `runs:/RUN/PATH`: the run's own artifacts at PATH, or (MLflow 3, where `log_model` stores
    /// a model apart from the run) the model the run logged under the name PATH's first part.
    private func runArtifact(runID: String, path: String) throws -> Resolution {
        let run: [String: Any]
        do {
            run = try client.get(tracking, "/api/2.0/mlflow/runs/get", query: [("run_id", runID)])
        } catch is MLflowRESTClient.NotFound {
            throw RegistryError(uri: uri, "the tracking server at \(tracking) has no run '\(runID)'")
        }
        let info = (run["run"] as? [String: Any])?["info"] as? [String: Any] ?? [:]
        guard let root = info["artifact_uri"] as? String else {
            throw RegistryError(uri: uri, "the tracking server gave no artifact location for run '\(runID)'")
        }
        let identity = "runs:/\(runID)/\(path)"
        let direct = root + "/" + path
        if let store = ArtifactStore(location: direct, server: client.server), try store.exists(client: client) {
            return Resolution(runID: runID, artifactURI: direct, identity: identity)
        }
        let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
        let experiment = info["experiment_id"] as? String ?? ""
        var pageToken: String?
        repeat {
            var request: [String: Any] = ["experiment_ids": [experiment], "filter": "name = '\(parts[0].replacingOccurrences(of: "'", with: "\\'"))'"]
            if let pageToken { request["page_token"] = pageToken }
            let page = try client.post(tracking, "/api/2.0/mlflow/logged-models/search", request)
            for model in page["models"] as? [[String: Any]] ?? [] {
                let modelInfo = model["info"] as? [String: Any] ?? [:]
                if modelInfo["source_run_id"] as? String == runID, let location = modelInfo["artifact_uri"] as? String {
                    return Resolution(runID: runID, loggedModelID: modelInfo["model_id"] as? String,
                                      artifactURI: parts.count > 1 ? location + "/" + parts[1] : location, identity: identity)
                }
            }
            pageToken = (page["next_page_token"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        } while pageToken != nil
        throw RegistryError(uri: uri, "run '\(runID)' has no artifact '\(path)' and logged no model named '\(parts[0])'; "
                            + "check the path (the name given to log_model)")
    }

    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }
}
