import Foundation

/// What `--model` names: a directory here, or a model an MLflow tracking server knows, parsed as
/// MLflow parses it (`mlflow/store/artifact/utils/models.py`, `runs_artifact_repo.py`).
public enum ModelURI: Sendable, Equatable {
    /// How a `models:/NAME/...` URI picks a version.
    public enum VersionSelector: Sendable, Equatable {
        /// `models:/NAME/3`
        case number(String)
        /// `models:/NAME@champion`
        case alias(String)
        /// `models:/NAME/latest`: the highest version.
        case latest
        /// `models:/NAME/Production`: the highest version in a stage (deprecated by MLflow).
        case stage(String)
    }

    /// A directory on this machine (a plain path, or `file://`).
    case localDirectory(String)
    /// `models:/NAME/VERSION`, `models:/NAME@ALIAS`, `models:/NAME/latest`, `models:/NAME/STAGE`.
    case registered(name: String, selector: VersionSelector)
    /// `models:/m-…`: an MLflow 3 logged model, by id.
    case loggedModel(id: String)
    /// `runs:/RUN_ID/PATH`: a model logged by a run.
    case run(id: String, path: String)
    /// An artifact location: `mlflow-artifacts:/…`, `http(s)://…`, `s3://…`, …
    case artifact(String)

    /// Parses `text`; errors say which forms are accepted.
    public init(parsing text: String) throws(RegistryError) {
        guard let colon = text.firstIndex(of: ":"), !text.hasPrefix("/"), !text.hasPrefix("."),
              let scheme = Self.scheme(text[..<colon]) else {
            self = .localDirectory(text)
            return
        }
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "file":
            guard let url = URL(string: text), url.isFileURL, !url.path.isEmpty else {
                throw RegistryError(uri: text, "not a file URI; write file:///absolute/path or just the path")
            }
            self = .localDirectory(url.path)
        case "models":
            self = try Self.parseModels(text, path: rest)
        case "runs":
            self = try Self.parseRuns(text, path: rest)
        case _ where Self.artifactSchemes.contains(scheme):
            if (scheme == "http" || scheme == "https") && (Self.withoutSecrets(text) != text || text.contains("?")) {
                throw RegistryError(uri: Self.withoutSecrets(text), "an artifact URL with credentials or a query is not accepted; "
                                    + "put credentials in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")
            }
            self = .artifact(text)
        default:
            // Not a scheme MLflow stores artifacts under: a local path with a colon in it.
            self = .localDirectory(text)
        }
    }

    /// The artifact stores MLflow knows (mlflow/store/artifact/artifact_repository_registry.py).
    static let artifactSchemes: Set<String> = [
        "mlflow-artifacts", "http", "https", "s3", "gs", "wasbs", "abfss", "hdfs", "viewfs", "dbfs", "ftp", "sftp", "oss", "uc-volumes",
    ]

    /// `text` with any user information of a URL replaced, for messages: everything between
    /// `://` and the last `@` (a password may hold '/', '#' or '?', which would end a parser's
    /// authority early and leave the rest of the password in view).
    static func withoutSecrets(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return text }
        return String(text[..<scheme.upperBound]) + "***@" + String(rest[rest.index(after: at)...])
    }

    /// A URI scheme (letters, digits, `+-.`, starting with a letter, at least two characters, so
    /// that nothing like `C:` is read as one).
    private static func scheme(_ text: Substring) -> String? {
        guard text.count >= 2, let first = text.first, first.isLetter,
              text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return nil }
        return text.lowercased()
    }

    private static func parseModels(_ uri: String, path: String) throws(RegistryError) -> ModelURI {
        let usage = "write models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest, models:/NAME/STAGE or models:/MODEL_ID"
        guard path.hasPrefix("/"), !path.hasPrefix("//") else {
            throw RegistryError(uri: uri, "a registry other than the tracking server's (models://PROFILE/...) is not supported; \(usage)")
        }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts[0].trimmingCharacters(in: .whitespaces).isEmpty else {
            throw RegistryError(uri: uri, "not a model URI; \(usage)")
        }
        if parts.count == 2 {
            let suffix = parts[1]
            guard !suffix.trimmingCharacters(in: .whitespaces).isEmpty else { throw RegistryError(uri: uri, "not a model URI; \(usage)") }
            if suffix.allSatisfy(\.isASCII) && suffix.allSatisfy(\.isNumber) { return .registered(name: parts[0], selector: .number(suffix)) }
            if suffix.lowercased() == "latest" { return .registered(name: parts[0], selector: .latest) }
            return .registered(name: parts[0], selector: .stage(suffix))
        }
        if let at = parts[0].lastIndex(of: "@") {
            let name = String(parts[0][..<at]), alias = String(parts[0][parts[0].index(after: at)...])
            guard !name.isEmpty, !alias.trimmingCharacters(in: .whitespaces).isEmpty else { throw RegistryError(uri: uri, "not a model URI; \(usage)") }
            return .registered(name: name, selector: .alias(alias))
        }
        return .loggedModel(id: parts[0])
    }

    private static func parseRuns(_ uri: String, path: String) throws(RegistryError) -> ModelURI {
        let trimmed = path.drop(while: { $0 == "/" })
        let parts = trimmed.split(separator: "/", maxSplits: 1).map(String.init)
        guard path.hasPrefix("/"), parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw RegistryError(uri: uri, "not a run URI; write runs:/RUN_ID/PATH, e.g. runs:/0123abcd/model")
        }
        return .run(id: parts[0], path: parts[1].hasSuffix("/") ? String(parts[1].dropLast()) : parts[1])
    }

    /// Whether resolving this URI needs a tracking server.
    public var needsTrackingServer: Bool {
        switch self {
        case .localDirectory: return false
        case .artifact(let uri): return uri.hasPrefix("mlflow-artifacts:/") && !uri.hasPrefix("mlflow-artifacts://")
        default: return true
        }
    }
}
