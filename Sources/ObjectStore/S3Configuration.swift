#if canImport(Glibc)
import Glibc
#endif

/// Where the store is and how to sign for it, read as the AWS command-line tools read it.
///
/// - Credentials: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`);
///   else the profile `AWS_PROFILE` (or `default`) in `AWS_SHARED_CREDENTIALS_FILE`
///   (`~/.aws/credentials`), then in `AWS_CONFIG_FILE` (`~/.aws/config`).
/// - Region: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else `us-east-1`.
/// - Endpoint: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else
///   AWS's own (`https://s3.REGION.amazonaws.com`).
/// - Addressing: virtual-hosted (`bucket.s3...`) for AWS, path-style (`endpoint/bucket/key`)
///   for another endpoint (MinIO, R2, GCS's S3 API, moto...) or a bucket with dots; the
///   profile's `s3.addressing_style` (`path` or `virtual`) overrides.
/// - TLS: `AWS_CA_BUNDLE` (or the profile's `ca_bundle`) instead of the system's CAs.
public struct S3Configuration: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    /// The endpoint's scheme and authority (`https://s3.us-east-1.amazonaws.com`), no trailing `/`.
    public var endpoint: String
    /// Whether the endpoint is one the user chose (not AWS's own).
    public var customEndpoint: Bool
    /// nil: path-style for a custom endpoint, virtual-hosted for AWS.
    public var addressingStyle: String?
    public var caFile: String?

    public init(credentials: AWSCredentials, region: String = "us-east-1", endpoint: String? = nil) {
        self.credentials = credentials
        self.region = region
        self.customEndpoint = endpoint != nil
        self.endpoint = Self.trimmed(endpoint ?? "https://s3.\(region).amazonaws.com")
    }

    private static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// Reads the configuration from `environment` and the shared files under `home`.
    /// - Throws: `S3Error` saying which variables or files to set when no credentials are found,
    ///   or when a profile named by `AWS_PROFILE` does not exist.
    public static func fromEnvironment(_ environment: [String: String], home: String?) throws(S3Error) -> S3Configuration {
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let profile = nonEmpty("AWS_PROFILE") ?? nonEmpty("AWS_DEFAULT_PROFILE") ?? "default"
        let credentialsPath = nonEmpty("AWS_SHARED_CREDENTIALS_FILE") ?? home.map { "\($0)/.aws/credentials" }
        let configPath = nonEmpty("AWS_CONFIG_FILE") ?? home.map { "\($0)/.aws/config" }
        let credentialsFile = credentialsPath.flatMap(readText).map(AWSSharedFile.init)
        let configFile = configPath.flatMap(readText).map(AWSSharedFile.init)
        let fromCredentials = credentialsFile?.sections[profile]
        let fromConfig = configFile?.sections[profile == "default" ? "default" : "profile \(profile)"]
        func setting(_ key: String) -> String? { fromConfig?[key] ?? fromCredentials?[key] }

        if nonEmpty("AWS_PROFILE") != nil, fromCredentials == nil, fromConfig == nil {
            throw S3Error("AWS_PROFILE names profile '\(profile)', which is in neither \(credentialsPath ?? "~/.aws/credentials") nor \(configPath ?? "~/.aws/config")")
        }

        let credentials: AWSCredentials
        if let key = nonEmpty("AWS_ACCESS_KEY_ID"), let secret = nonEmpty("AWS_SECRET_ACCESS_KEY") {
            credentials = AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: nonEmpty("AWS_SESSION_TOKEN"),
                                         origin: "AWS_ACCESS_KEY_ID")
        } else if let section = fromCredentials, let key = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] {
            credentials = AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: section["aws_session_token"],
                                         origin: "profile '\(profile)' in \(credentialsPath!)")
        } else if let section = fromConfig, let key = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] {
            credentials = AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: section["aws_session_token"],
                                         origin: "profile '\(profile)' in \(configPath!)")
        } else {
            let half = nonEmpty("AWS_ACCESS_KEY_ID") != nil ? " (AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not)"
                : nonEmpty("AWS_SECRET_ACCESS_KEY") != nil ? " (AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not)" : ""
            throw S3Error("""
                no AWS credentials found\(half): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for \
                temporary ones), or AWS_PROFILE naming a profile with aws_access_key_id in \(credentialsPath ?? "~/.aws/credentials") \
                (instance roles and SSO are not read: export their keys, e.g. with `aws configure export-credentials --format env`)
                """)
        }
        let region = nonEmpty("AWS_REGION") ?? nonEmpty("AWS_DEFAULT_REGION") ?? setting("region") ?? "us-east-1"
        let endpoint = nonEmpty("AWS_ENDPOINT_URL_S3") ?? nonEmpty("AWS_ENDPOINT_URL") ?? fromConfig?["s3.endpoint_url"] ?? setting("endpoint_url")
        if let endpoint, !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            throw S3Error("the S3 endpoint '\(endpoint)' (AWS_ENDPOINT_URL or endpoint_url) must start with http:// or https://")
        }
        var configuration = S3Configuration(credentials: credentials, region: region, endpoint: endpoint)
        configuration.addressingStyle = fromConfig?["s3.addressing_style"].flatMap { $0 == "auto" ? nil : $0 }
        configuration.caFile = nonEmpty("AWS_CA_BUNDLE") ?? setting("ca_bundle")
        return configuration
    }

    /// Whether `bucket` is addressed in the path (`endpoint/bucket/key`).
    func usesPathStyle(for bucket: String) -> Bool {
        if let style = addressingStyle { return style == "path" }
        return customEndpoint || bucket.contains(".")
    }

    private static func readText(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
