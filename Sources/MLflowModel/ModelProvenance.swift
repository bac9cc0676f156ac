/// Where a model named by an MLflow URI (`models:/fraud@champion`, `runs:/…/model`, …) came
/// from, as resolved once before a job starts: what `--report`, the job manifest and the job's
/// first log line record, and what `--resume` compares.
public struct ModelProvenance: Codable, Sendable, Equatable {
    /// The URI as the user gave it.
    public var uri: String
    /// The tracking server asked (its URL, never credentials).
    public var trackingServer: String
    /// The registered model and the version the URI resolved to (`models:/NAME/...` URIs).
    public var registeredModel: String?
    public var version: String?
    /// The run that logged the model, when the server knows it.
    public var runID: String?
    /// The MLflow 3 logged model (`m-…`), when there is one.
    public var loggedModelID: String?
    /// The artifact location the files were downloaded from.
    public var source: String
    /// `ModelDigest.sha256(ofDirectory:)` of the downloaded model.
    public var sha256: String

    public init(uri: String, trackingServer: String, registeredModel: String? = nil, version: String? = nil, runID: String? = nil,
                loggedModelID: String? = nil, source: String, sha256: String) {
        self.uri = uri
        self.trackingServer = trackingServer
        self.registeredModel = registeredModel
        self.version = version
        self.runID = runID
        self.loggedModelID = loggedModelID
        self.source = source
        self.sha256 = sha256
    }

    /// "version 3 of 'fraud'", "logged model m-…", or the source: what the URI resolved to, for people.
    public var resolvedName: String {
        if let registeredModel, let version { return "version \(version) of '\(registeredModel)'" }
        if let loggedModelID { return "logged model \(loggedModelID)" }
        return source
    }

    /// One line for logs: the URI, what it resolved to, the run and the digest.
    public var summary: String {
        var parts = ["\(uri) is \(resolvedName)"]
        if let runID { parts.append("run \(runID)") }
        parts.append("source \(source)")
        parts.append("sha256 \(sha256.prefix(12))…")
        return parts.joined(separator: ", ")
    }
}

/// How a model named by URI reached this machine for a job: downloaded now, or found in the
/// cache from an earlier job.
public struct ModelFetch: Codable, Sendable, Equatable {
    /// false: the cache had this identity with the same files; nothing was downloaded.
    public var downloaded: Bool
    public var files: Int
    /// Bytes downloaded (0 from the cache).
    public var bytes: Int
    /// Resolving, checking the cache and downloading.
    public var seconds: Double
    /// Where the model is on this machine.
    public var directory: String

    public init(downloaded: Bool, files: Int, bytes: Int, seconds: Double, directory: String) {
        self.downloaded = downloaded
        self.files = files
        self.bytes = bytes
        self.seconds = seconds
        self.directory = directory
    }
}

/// A model named by URI, resolved and on this machine.
public struct ModelOrigin: Codable, Sendable, Equatable {
    public var provenance: ModelProvenance
    public var fetch: ModelFetch

    public init(provenance: ModelProvenance, fetch: ModelFetch) {
        self.provenance = provenance
        self.fetch = fetch
    }
}
