/// An object or prefix in an S3 bucket, as written on the command line: `s3://bucket/key`
/// (`s3a://`, Spark's scheme, is read the same way).
public struct S3Location: Hashable, Sendable, CustomStringConvertible {
    public var bucket: String
    /// The key or prefix, without a leading `/`; empty for the whole bucket.
    public var key: String

    public init(bucket: String, key: String) {
        self.bucket = bucket
        self.key = key
    }

    /// Whether `text` names object storage rather than a local path.
    public static func isURI(_ text: String) -> Bool {
        text.hasPrefix("s3://") || text.hasPrefix("s3a://")
    }

    /// Parses `s3://bucket/key`.
    /// - Throws: `S3Error` saying what is wrong for anything else (no bucket, another scheme).
    public init(uri text: String) throws(S3Error) {
        guard let scheme = ["s3://", "s3a://"].first(where: { text.hasPrefix($0) }) else {
            throw S3Error("'\(text)' is not an S3 URI: write s3://BUCKET/KEY")
        }
        let rest = text.dropFirst(scheme.count)
        let bucket = rest.prefix { $0 != "/" }
        guard !bucket.isEmpty else { throw S3Error("'\(text)' names no bucket: write s3://BUCKET/KEY") }
        // Bucket names are 3-63 lower-case letters, digits, dots and hyphens.
        guard bucket.count >= 3, bucket.count <= 63,
              bucket.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "." || $0 == "-") }) else {
            throw S3Error("'\(bucket)' in '\(text)' is not a valid bucket name (3 to 63 lower-case letters, digits, dots and hyphens)")
        }
        self.bucket = String(bucket)
        var key = String(rest.dropFirst(bucket.count))
        while key.hasPrefix("/") { key.removeFirst() }
        self.key = key
    }

    /// The location `name` below this one (`prefix/name`).
    public func appending(_ name: String) -> S3Location {
        S3Location(bucket: bucket, key: key.isEmpty || key.hasSuffix("/") ? key + name : key + "/" + name)
    }

    /// The key as a prefix of the objects below it: ends with `/` unless empty.
    public var directoryPrefix: String { key.isEmpty || key.hasSuffix("/") ? key : key + "/" }

    /// Whether the key holds a glob character (`*`, `?`, `[`).
    public var hasGlob: Bool { key.contains { $0 == "*" || $0 == "?" || $0 == "[" } }

    public var description: String { "s3://\(bucket)/\(key)" }
}
