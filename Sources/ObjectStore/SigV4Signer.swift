#if canImport(Glibc)
import Glibc
#endif
import Digest

/// AWS Signature Version 4 for S3 requests (the `Authorization` header).
///
/// Written here over Digest's HMAC-SHA256 rather than left to libcurl's `CURLOPT_AWS_SIGV4`:
/// the libcurl of Debian 12 (7.88) signs the query string as the URL has it, while S3 wants it
/// sorted and encoded canonically (curl 8 does that), and one function of the request's parts
/// can be tested against AWS's published examples (`SigV4SignerTests`).
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// `x-amz-content-sha256` for a body that is not hashed (allowed over HTTPS and by every
    /// S3-compatible store; bodies are large and already checked by Content-MD5-free ETags).
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// The headers to add to a request (`x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` with temporary credentials, `Authorization`).
    /// - Parameters:
    ///   - path: the URL's path, already encoded by `encodePath` (as sent).
    ///   - query: the query's parameters, not encoded; the URL must carry `canonicalQuery(query)`.
    ///   - headers: the other headers sent that are signed (`host` is added here).
    ///   - date: the time of signing, `yyyyMMdd'T'HHmmss'Z'`.
    public func sign(method: String, host: String, path: String, query: [(String, String)], headers: [(String, String)],
                     payloadHash: String = unsignedPayload, date amzDate: String) -> [(String, String)] {
        var signed: [(String, String)] = headers.map { ($0.0.lowercased(), Self.trimmedValue($0.1)) }
        signed.append(("host", host))
        signed.append(("x-amz-date", amzDate))
        signed.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        signed.sort { $0.0 < $1.0 }
        let signedNames = signed.map(\.0).joined(separator: ";")
        let canonicalRequest = [
            method, path, Self.canonicalQuery(query),
            signed.map { "\($0.0):\($0.1)\n" }.joined(), signedNames, payloadHash,
        ].joined(separator: "\n")
        let day = String(amzDate.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, SHA256.hex(Array(canonicalRequest.utf8))].joined(separator: "\n")
        var key = HMAC.sha256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), message: Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = HMAC.sha256(key: key, message: Array(part.utf8)) }
        let signature = Hex.encode(HMAC.sha256(key: key, message: Array(stringToSign.utf8)))
        var added = [("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        added.append(("Authorization",
                      "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedNames), Signature=\(signature)"))
        return added
    }

    /// The query string as signed and sent: parameters sorted by name, then value, each encoded.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (encode($0.0, keepSlash: false), encode($0.1, keepSlash: false)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// A key as it goes in the URL's path: every byte but `A-Z a-z 0-9 - _ . ~ /` percent-encoded.
    public static func encodePath(_ path: String) -> String { encode(path, keepSlash: true) }

    static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(UnicodeScalar(hex[Int(byte >> 4)])) + String(UnicodeScalar(hex[Int(byte & 15)]))
            }
        }
        return out
    }

    private static func trimmedValue(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// `date` (seconds since 1970, UTC) as `yyyyMMdd'T'HHmmss'Z'`.
    public static func amzDate(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}
