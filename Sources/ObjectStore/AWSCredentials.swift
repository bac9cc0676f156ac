/// The keys requests are signed with. `description` never shows the secret or the token.
public struct AWSCredentials: Sendable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// `AWS_SESSION_TOKEN` for temporary credentials, sent as `x-amz-security-token`.
    public var sessionToken: String?
    /// Where they were found, for messages (`AWS_ACCESS_KEY_ID`, `profile 'dev' in ~/.aws/credentials`).
    public var origin: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, origin: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.origin = origin
    }

    public var description: String { "access key \(accessKeyID) from \(origin)" }
}

/// The AWS shared configuration files (`~/.aws/credentials`, `~/.aws/config`): INI sections of
/// `key = value` lines. In `config` a profile's section is `[profile NAME]` (`[default]` for the
/// default one); in `credentials` it is `[NAME]`. Nested settings (indented lines under `s3 =`)
/// are read as `s3.key`.
struct AWSSharedFile {
    private(set) var sections: [String: [String: String]] = [:]

    init(text: String) {
        var section: String?
        var parent: String?
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let indented = raw.first == " " || raw.first == "\t"
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: " \t")
                parent = nil
                continue
            }
            guard let section, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: " \t").lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: " \t")
            if indented, let parent {
                sections[section, default: [:]]["\(parent).\(key)"] = value
            } else if value.isEmpty {
                parent = key
            } else {
                parent = nil
                sections[section, default: [:]][key] = value
            }
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
