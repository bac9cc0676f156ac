import Foundation
import HTTP

/// Calls to the MLflow REST API (`/api/2.0/mlflow/...`), JSON in and out, with the server's
/// credentials, retries of transient failures, and errors that name the URI being resolved, the
/// URL tried and what to do. Never logs or repeats a credential.
final class MLflowRESTClient {
    /// A JSON object from the server.
    typealias Object = [String: Any]

    /// An answer that is not a success but that the caller explains better (the server has no
    /// such model, version, alias, run or artifact).
    struct NotFound: Error {
        /// The server's own words (`message` of its error body).
        var serverMessage: String
    }

    let server: TrackingServer
    let session: HTTPSession
    let uri: String
    let retry: RetryPolicy

    init(server: TrackingServer, uri: String, retry: RetryPolicy = RetryPolicy()) throws(RegistryError) {
        self.server = server
        self.uri = uri
        self.retry = retry
        do { session = try HTTPSession(options: server.tls) } catch { throw RegistryError(uri: uri, error.description) }
    }

    /// GET `base + path` with `query`; the decoded object, or `NotFound` for a 404 (or MLflow's
    /// RESOURCE_DOES_NOT_EXIST).
    func get(_ base: String, _ path: String, query: [(String, String)] = []) throws -> Object {
        guard var components = URLComponents(string: base + path) else {
            throw RegistryError(uri: uri, "cannot make a URL of \(TrackingServer.redacted(base + path))")
        }
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        // URLComponents leaves '+' as is, which servers read as a space.
        guard let url = components.string?.replacingOccurrences(of: "+", with: "%2B") else {
            throw RegistryError(uri: uri, "cannot make a URL of \(TrackingServer.redacted(base + path))")
        }
        return try call(HTTPRequest(.get, url, headers: headers(for: url) + [("Accept", "application/json")]))
    }

    /// POST `object` as JSON to `base + path`.
    func post(_ base: String, _ path: String, _ object: Object) throws -> Object {
        let body = try JSONSerialization.data(withJSONObject: object)
        let url = base + path
        return try call(HTTPRequest(.post, url, headers: headers(for: url) + [("Content-Type", "application/json"), ("Accept", "application/json")],
                                    body: Array(body)))
    }

    /// The credentials, for a URL on the tracking server or the registry only: an artifact
    /// location elsewhere never receives them.
    func headers(for url: String) -> [(name: String, value: String)] {
        server.owns(url) ? server.authorizationHeader : []
    }

    private func call(_ request: HTTPRequest) throws -> Object {
        let response = try send(request)
        if response.isSuccess {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? Object else {
                throw RegistryError(uri: uri, "\(request.method.rawValue) \(Self.withoutQuery(request.url)) answered \(response.status) with something that is not JSON (\(Self.excerpt(response.text))); is \(server.trackingURL) an MLflow tracking server?")
            }
            return object
        }
        let error = Self.errorBody(response)
        // MLflow says what it does not have in its JSON error (an unknown alias is a 400
        // INVALID_PARAMETER_VALUE "... not found."); a 404 without one is a missing endpoint.
        if error.code == "RESOURCE_DOES_NOT_EXIST" || (response.status == 404 && error.code != nil)
            || (error.code == "INVALID_PARAMETER_VALUE" && error.message?.hasSuffix("not found.") == true) {
            throw NotFound(serverMessage: error.message ?? "not found")
        }
        if response.status == 404 {
            throw RegistryError(uri: uri, "\(server.name(of: request.url)) has no endpoint \(request.method.rawValue) \(Self.withoutQuery(request.url)) (404): "
                                + "is it an MLflow tracking server, and recent enough (logged models need MLflow 3)?")
        }
        throw refusal(response, request: request, error: error)
    }

    /// Sends `request`, trying again after transient failures (connection refused, reset or cut
    /// off, timeouts, 429, 5xx) with backoff; what is left is the answer or an error for people.
    func send(_ request: HTTPRequest) throws(RegistryError) -> HTTPResponse {
        var attempt = 1
        while true {
            do {
                let response = try session.send(request)
                if Self.isTransient(response.status) && attempt < retry.attempts {
                    retry.pause(beforeRetry: attempt)
                    attempt += 1
                    continue
                }
                return response
            } catch {
                if error.isTransient && attempt < retry.attempts {
                    retry.pause(beforeRetry: attempt)
                    attempt += 1
                    continue
                }
                throw unreachable(error, request: request, attempts: attempt)
            }
        }
    }

    static func isTransient(_ status: Int) -> Bool { status == 429 || (500..<600).contains(status) && status != 501 }

    /// The error for a request that got no answer.
    func unreachable(_ error: HTTPError, request: HTTPRequest, attempts: Int) -> RegistryError {
        let tried = "\(request.method.rawValue) \(error.url)"
        let times = attempts > 1 ? " (\(attempts) attempts)" : ""
        let who = server.name(of: request.url)
        let setting = who.hasPrefix("the MLflow registry") ? "MLFLOW_REGISTRY_URI" : "MLFLOW_TRACKING_URI (or --tracking-uri)"
        switch error.kind {
        case .cannotConnect:
            return RegistryError(uri: uri, "cannot reach \(who)\(times): \(error.message) (tried \(tried)). Check \(setting) and that the server is running")
        case .tls:
            let advice = server.tls.caFile.map { "Check MLFLOW_TRACKING_SERVER_CERT_PATH (\($0)): it must hold the CA that signed the server's certificate" }
                ?? "Set MLFLOW_TRACKING_SERVER_CERT_PATH to the server's CA bundle"
            return RegistryError(uri: uri, "TLS with \(who) failed: \(error.message) (tried \(tried)). \(advice)")
        case .timedOut:
            return RegistryError(uri: uri, "\(who) stopped answering\(times): \(error.message) (tried \(tried))")
        case .cutOff:
            return RegistryError(uri: uri, "the connection to \(who) was cut off\(times): \(error.message) (tried \(tried))")
        case .tooLarge, .localWrite, .other:
            return RegistryError(uri: uri, "\(tried) failed\(times): \(error.message)")
        }
    }

    /// The error for an answer that refuses the request.
    func refusal(_ response: HTTPResponse, request: HTTPRequest, error: (code: String?, message: String?)) -> RegistryError {
        let tried = "\(request.method.rawValue) \(Self.withoutQuery(request.url))"
        let said = error.message.map { ": \($0)" } ?? (response.body.isEmpty ? "" : ": \(Self.excerpt(response.text))")
        let who = server.name(of: request.url)
        switch response.status {
        case 401:
            return RegistryError(uri: uri, "\(who) refused the request as unauthenticated (401, \(tried)); \(server.credentialAdvice)")
        case 403:
            return RegistryError(uri: uri, "\(who) refused access (403 Forbidden, \(tried))\(said); the user needs READ permission on this model or experiment")
        default:
            return RegistryError(uri: uri, "\(who) answered \(response.status) to \(tried)\(said)")
        }
    }

    /// MLflow's error body: `{"error_code": ..., "message": ...}`.
    static func errorBody(_ response: HTTPResponse) -> (code: String?, message: String?) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? Object else { return (nil, nil) }
        return (object["error_code"] as? String, object["message"] as? String)
    }

    static func withoutQuery(_ url: String) -> String { url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url }

    static func excerpt(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return flat.count > 200 ? String(flat.prefix(200)) + "…" : flat
    }
}
