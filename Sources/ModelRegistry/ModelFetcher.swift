#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HTTP
import MLflowModel

/// Turns what `--model` names into a model directory on this machine: a local directory as it
/// is; an MLflow URI (`models:/fraud@champion`, `models:/fraud/3`, `models:/m-…`, `runs:/…/model`,
/// `mlflow-artifacts:/…`) resolved once against the tracking server, then taken from this
/// machine's cache or downloaded, checked and cached, with its provenance.
///
/// The client is native (MLflow's REST API over libcurl), not MLflow's Python client run in a
/// subprocess: resolving and downloading take milliseconds instead of the seconds `import mlflow`
/// costs before the first request, the coordinator needs no Python with mlflow installed, and
/// every failure is told in terms of the URI, the URL tried and what to do. Only artifacts in a
/// store it does not read (`s3://`, `gs://`, ... handed out by a server without the artifact
/// proxy) are downloaded by MLflow's own client (`MLflowClientDownload`).
public struct ModelFetcher {
    /// The model's directory here, and where it came from when it was named by URI.
    public struct Resolved: Sendable {
        public var directory: String
        public var origin: ModelOrigin?
    }

    /// `--tracking-uri`; nil reads `MLFLOW_TRACKING_URI`.
    public var trackingURI: String?
    public var environment: [String: String]
    /// Where fetched models are kept (`RegistryModelCache`).
    public var cacheDirectory: String
    /// The interpreter that runs MLflow's client for stores the native client does not read
    /// (`s3://`, ...); nil: `$VIRTUAL_ENV/bin/python`.
    public var python: String?
    /// Why there is no `python` (the `--python-env` given could not be used), for the message
    /// of a fetch that needs one.
    public var pythonProblem: String?
    public var retry = RetryPolicy()
    /// Told what the user should know (a deprecated stage URI).
    public var warn: (String) -> Void

    public init(trackingURI: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                cacheDirectory: String? = nil, python: String? = nil, pythonProblem: String? = nil, warn: @escaping (String) -> Void = { _ in }) {
        self.trackingURI = trackingURI
        self.python = python
        self.pythonProblem = pythonProblem
        self.environment = environment
        self.cacheDirectory = cacheDirectory ?? RegistryModelCache.defaultDirectory(environment: environment)
        self.warn = warn
    }

    /// Resolves `text` and brings its model here (see the type's documentation).
    public func fetch(_ text: String) throws(RegistryError) -> Resolved {
        let model = try ModelURI(parsing: text)
        if case .localDirectory(let path) = model { return Resolved(directory: path, origin: nil) }
        // A local directory whose name merely looks like a URI ("data:v1") is that directory.
        if case .artifact = model, FileManager.default.fileExists(atPath: text) { return Resolved(directory: text, origin: nil) }
        let started = Date()
        let configured = trackingURI != nil || environment["MLFLOW_TRACKING_URI"].map { !$0.isEmpty } == true
        // An s3:// or https:// location needs no tracking server; anything else does.
        let server = configured || model.needsTrackingServer
            ? try TrackingServer(trackingURI: trackingURI, environment: environment, for: text)
            : TrackingServer(unconfiguredWith: environment)
        let client = try MLflowRESTClient(server: server, uri: text, retry: retry)
        do {
            let resolution = try ModelVersionResolver(client: client, warn: warn).resolve(model)
            guard let store = ArtifactStore(location: resolution.artifactURI, server: server) else {
                return try bringWithMLflowClient(resolution, client: client, started: started)
            }
            let files = try store.list(client: client)
            guard !files.isEmpty else {
                throw RegistryError(uri: text, "nothing is stored at \(resolution.artifactURI) (the model's artifacts are missing from the artifact store)")
            }
            guard files.contains(where: { $0.path == "MLmodel" }) else {
                let shown = files.prefix(8).map(\.path).joined(separator: ", ")
                throw RegistryError(uri: text, "\(resolution.artifactURI) is not an MLflow model: it has no MLmodel file (it holds \(shown)\(files.count > 8 ? ", …" : "")); "
                                    + "name the directory that log_model wrote")
            }
            return try bring(resolution, files: files, store: store, client: client, started: started)
        } catch let error as RegistryError {
            throw error
        } catch let error as HTTPError {
            throw RegistryError(uri: text, error.description)
        } catch is MLflowRESTClient.NotFound {
            throw RegistryError(uri: text, "the tracking server at \(server.trackingURL) does not know it")
        } catch {
            throw RegistryError(uri: text, "\(error)")
        }
    }

    /// The cached copy of the resolution's files, or a fresh download checked and cached.
    private func bring(_ resolution: ModelVersionResolver.Resolution, files: [ArtifactStore.RemoteFile], store: ArtifactStore,
                       client: MLflowRESTClient, started: Date) throws -> Resolved {
        // Files that can be overwritten (a run's artifacts) may keep their names and sizes: the
        // cached copy must also have the store's MLmodel, which every save writes anew (its uuid).
        let still: ((String) throws -> Bool)? = resolution.immutable ? nil : { directory in
            FileManager.default.contents(atPath: directory + "/MLmodel").map(Array.init) == (try store.read("MLmodel", client: client))
        }
        return try cached(resolution, files: files, still: still, client: client, started: started) { modelDirectory in
            var bytes = 0
            // The listing's names were checked as they came in (`ArtifactStore.list`): none leaves the model.
            for file in files {
                let path = modelDirectory + "/" + file.path
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw RegistryError(uri: client.uri, "cannot create \(path): \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                bytes += try store.download(file, into: fd, client: client)
                guard fsync(fd) == 0 else { throw RegistryError(uri: client.uri, "cannot write \(path): \(String(cString: strerror(errno)))") }
            }
            return (files, bytes)
        }
    }

    /// A store the native client does not read: MLflow's own client downloads it (once; then the
    /// cache has it, trusted while its files hash as recorded: registered versions do not change).
    private func bringWithMLflowClient(_ resolution: ModelVersionResolver.Resolution, client: MLflowRESTClient, started: Date) throws -> Resolved {
        guard let python = self.python ?? environment["VIRTUAL_ENV"].flatMap({ $0.isEmpty ? nil : $0 + "/bin/python" }) else {
            throw RegistryError(uri: client.uri, "the model's files are at \(resolution.artifactURI), which score-cluster downloads with MLflow's Python client, "
                                + "but there is no Python environment to run it in" + (pythonProblem.map { " (\($0))" } ?? "") + ": pass --python-env or set VIRTUAL_ENV")
        }
        // Where the files can change and only MLflow's client can read them, nothing is taken from the cache.
        let still: ((String) throws -> Bool)? = resolution.immutable ? nil : { _ in false }
        return try cached(resolution, files: nil, still: still, client: client, started: started) { modelDirectory in
            try FileManager.default.createDirectory(atPath: modelDirectory, withIntermediateDirectories: true)
            try MLflowClientDownload(python: python).download(resolution.artifactURI, into: modelDirectory, uri: client.uri)
            let files = ArtifactStore.localFiles(in: modelDirectory)
            guard files.contains(where: { $0.path == "MLmodel" }) else {
                let shown = files.prefix(8).map(\.path).joined(separator: ", ")
                throw RegistryError(uri: client.uri, "\(resolution.artifactURI) is not an MLflow model: it has no MLmodel file (it holds \(shown.isEmpty ? "nothing" : shown)); "
                                    + "name the directory that log_model wrote")
            }
            return (files, files.reduce(0) { $0 + ($1.size ?? 0) })
        }
    }

    /// The model of `resolution` from the cache when it holds it with `files` (nil: whatever files
    /// it recorded), else downloaded by `download` into a fresh directory, checked (an MLflow pyfunc
    /// model), hashed and put in the cache by one rename. `download` returns the files and bytes.
    private func cached(_ resolution: ModelVersionResolver.Resolution, files: [ArtifactStore.RemoteFile]?, still: ((String) throws -> Bool)?,
                        client: MLflowRESTClient, started: Date,
                        download: (_ modelDirectory: String) throws -> (files: [ArtifactStore.RemoteFile], bytes: Int)) throws -> Resolved {
        let uri = client.uri
        let cache = RegistryModelCache(directory: cacheDirectory)
        let key = RegistryModelCache.key(server: client.server.trackingURL, identity: resolution.identity)
        let lock = try cache.lock(key, uri: uri, onWait: { warn("\(uri): waiting for another process fetching this model into \(cacheDirectory)") })
        defer { lock.unlock() }
        if let (entry, directory) = cache.valid(key, files: files), try still?(directory) ?? true {
            var provenance = entry.provenance
            provenance.uri = uri
            let fetch = ModelFetch(downloaded: false, files: entry.files.count, bytes: 0, seconds: Date().timeIntervalSince(started), directory: directory)
            return Resolved(directory: directory, origin: ModelOrigin(provenance: provenance, fetch: fetch))
        }

        let incoming = try cache.incoming(key, uri: uri)
        var installed = false
        defer { if !installed { try? FileManager.default.removeItem(atPath: incoming) } }
        let modelDirectory = incoming + "/model"
        let (downloaded, bytes) = try download(modelDirectory)
        do {
            _ = try MLModel(directory: modelDirectory)
        } catch {
            // The download directory is removed: name the files by where they came from.
            let message = error.message.replacingOccurrences(of: modelDirectory, with: resolution.artifactURI)
            throw RegistryError(uri: uri, "\(resolution.artifactURI) is not a pyfunc model score-cluster can score: \(message)")
        }
        let digest: String
        do { digest = try ModelDigest.sha256(ofDirectory: modelDirectory) } catch { throw RegistryError(uri: uri, error.message) }
        let provenance = ModelProvenance(uri: uri, trackingServer: client.server.trackingURL, registeredModel: resolution.registeredModel,
                                         version: resolution.version, runID: resolution.runID, loggedModelID: resolution.loggedModelID,
                                         source: resolution.artifactURI, sha256: digest)
        let directory = try cache.install(incoming, as: key, entry: .init(provenance: provenance, files: downloaded), uri: uri)
        installed = true
        let fetch = ModelFetch(downloaded: true, files: downloaded.count, bytes: bytes, seconds: Date().timeIntervalSince(started), directory: directory)
        return Resolved(directory: directory, origin: ModelOrigin(provenance: provenance, fetch: fetch))
    }
}
