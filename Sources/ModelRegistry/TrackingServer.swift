import Foundation
import HTTP

/// Where the MLflow tracking server and model registry are and how to sign in, read as MLflow's
/// own client reads them: `MLFLOW_TRACKING_URI` (or `--tracking-uri`), `MLFLOW_REGISTRY_URI`,
/// `MLFLOW_TRACKING_TOKEN`, `MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD`,
/// `MLFLOW_TRACKING_SERVER_CERT_PATH`, `MLFLOW_TRACKING_INSECURE_TLS`.
///
/// Credentials never appear in `description`, in errors or in logs.
public struct TrackingServer: Sendable, CustomStringConvertible {
    /// How requests prove who sends them.
    public enum Credentials: Sendable {
        case none
        case bearer(token: String)
        case basic(username: String, password: String)
    }

    /// The tracking server's base URL, without a trailing slash (runs, logged models, artifacts).
    public var trackingURL: String
    /// The registry's base URL (registered models, versions, aliases); the tracking URL unless
    /// `MLFLOW_REGISTRY_URI` names another server.
    public var registryURL: String
    public var credentials: Credentials
    public var tls: HTTPSession.Options

    /// The server from `environment`, with `trackingURI` (`--tracking-uri`) taking precedence
    /// over `MLFLOW_TRACKING_URI`. `uri` is the model URI being resolved, for errors.
    public init(trackingURI: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                for uri: String) throws(RegistryError) {
        let givenTracking = trackingURI ?? environment["MLFLOW_TRACKING_URI"].flatMap { $0.isEmpty ? nil : $0 }
        guard let tracking = givenTracking else {
            throw RegistryError(uri: uri, "no MLflow tracking server is set: export MLFLOW_TRACKING_URI=http://HOST:5000 (or pass --tracking-uri)")
        }
        trackingURL = try Self.httpURL(tracking, setting: trackingURI != nil ? "--tracking-uri" : "MLFLOW_TRACKING_URI", for: uri)
        if let registry = environment["MLFLOW_REGISTRY_URI"].flatMap({ $0.isEmpty ? nil : $0 }) {
            registryURL = try Self.httpURL(registry, setting: "MLFLOW_REGISTRY_URI", for: uri)
        } else {
            registryURL = trackingURL
        }
        if let token = environment["MLFLOW_TRACKING_TOKEN"], !token.isEmpty {
            credentials = .bearer(token: token)
        } else if let user = environment["MLFLOW_TRACKING_USERNAME"], !user.isEmpty {
            credentials = .basic(username: user, password: environment["MLFLOW_TRACKING_PASSWORD"] ?? "")
        } else {
            credentials = .none
        }
        var tls = HTTPSession.Options()
        if let ca = environment["MLFLOW_TRACKING_SERVER_CERT_PATH"], !ca.isEmpty { tls.caFile = ca }
        if let insecure = environment["MLFLOW_TRACKING_INSECURE_TLS"], ["true", "1", "yes"].contains(insecure.lowercased()) {
            tls.verifyTLS = false
        }
        self.tls = tls
    }

    /// An http(s) URL without a trailing slash; other tracking URIs (a local `mlruns` directory,
    /// `sqlite:///`, `databricks`) are refused with what to do.
    private static func httpURL(_ text: String, setting: String, for uri: String) throws(RegistryError) -> String {
        guard let url = URL(string: text), URLComponents(string: text) != nil, let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", url.host != nil else {
            throw RegistryError(uri: uri, "\(setting)=\(Self.redacted(text)) is not an http(s) URL of an MLflow tracking server; score-cluster talks to the server's REST API. "
                                + "Serve that store with `mlflow server --backend-store-uri \(Self.redacted(text)) --serve-artifacts` and point \(setting) at it")
        }
        guard url.user == nil && url.password == nil else {
            throw RegistryError(uri: uri, "\(setting) holds credentials in its URL; put them in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) instead")
        }
        var result = text
        while result.hasSuffix("/") { result.removeLast() }
        return result
    }

    /// A URL with any user information replaced, for messages (by text: a password that makes
    /// the URL unparsable is still removed).
    static func redacted(_ text: String) -> String { ModelURI.withoutSecrets(text) }

    /// No tracking server, for a URI that needs none (an `s3://` or `https://` artifact
    /// location): nothing is asked of a server and no credentials are sent.
    init(unconfiguredWith environment: [String: String]) {
        trackingURL = ""
        registryURL = ""
        credentials = .none
        var tls = HTTPSession.Options()
        if let ca = environment["MLFLOW_TRACKING_SERVER_CERT_PATH"], !ca.isEmpty { tls.caFile = ca }
        self.tls = tls
    }

    /// Whether `url` is on the tracking server or the registry (same scheme, host and port):
    /// only requests there carry the credentials.
    func owns(_ url: String) -> Bool {
        guard let origin = Self.origin(url) else { return false }
        return [trackingURL, registryURL].contains { !$0.isEmpty && Self.origin($0) == origin }
    }

    /// `scheme://host:port` of a URL, lower-cased, with the scheme's default port made explicit.
    static func origin(_ url: String) -> String? {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), let host = parts.host?.lowercased() else { return nil }
        let port = parts.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(host):\(port)"
    }

    /// What the server is to the request that went to `url`, for messages.
    func name(of url: String) -> String {
        let origin = Self.origin(url)
        if let origin, origin == Self.origin(trackingURL) { return "the MLflow tracking server at \(trackingURL)" }
        if let origin, origin == Self.origin(registryURL) { return "the MLflow registry at \(registryURL)" }
        return "the artifact server at \(origin ?? url)"
    }

    /// The `Authorization` header for `credentials`, if any.
    var authorizationHeader: [(name: String, value: String)] {
        switch credentials {
        case .none: return []
        case .bearer(let token): return [("Authorization", "Bearer \(token)")]
        case .basic(let user, let password):
            return [("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())]
        }
    }

    /// What to set when the server refuses the request's credentials.
    var credentialAdvice: String {
        switch credentials {
        case .none: return "the server requires credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
        case .bearer: return "check MLFLOW_TRACKING_TOKEN"
        case .basic(let user, _): return "check MLFLOW_TRACKING_USERNAME (\(user)) and MLFLOW_TRACKING_PASSWORD"
        }
    }

    public var description: String {
        registryURL == trackingURL ? trackingURL : "\(trackingURL) (registry \(registryURL))"
    }
}
