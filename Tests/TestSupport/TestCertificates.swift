import Foundation

/// Certificates for TLS tests, made with the `openssl` command in a temporary directory: a CA,
/// a coordinator certificate it signed (names `coordinator.test`, `localhost`, IP 127.0.0.1)
/// with its key, and an unrelated self-signed certificate that nobody should trust.
public struct TestCertificates: Sendable {
    public let directory: URL
    /// The CA a worker trusts (`--tls-ca`).
    public var caFile: String { path("ca.pem") }
    /// The coordinator's certificate and key (`--tls-certificate`, `--tls-key`).
    public var certificateFile: String { path("coordinator.pem") }
    public var keyFile: String { path("coordinator.key") }
    /// A self-signed certificate and key unrelated to the CA.
    public var strangerFile: String { path("stranger.pem") }
    public var strangerKeyFile: String { path("stranger.key") }
    /// The coordinator's key encrypted with a passphrase (refused: there is no way to give one).
    public var encryptedKeyFile: String { path("coordinator-encrypted.key") }

    public static func make() throws -> TestCertificates {
        let directory = try TestEnvironment.makeTemporaryDirectory("tls")
        let certificates = TestCertificates(directory: directory)
        try "subjectAltName=DNS:coordinator.test,DNS:localhost,IP:127.0.0.1\n"
            .write(to: directory.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try certificates.openssl(["req", "-x509"] + key + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=score-cluster test CA"])
        try certificates.openssl(["req"] + key + ["-keyout", "coordinator.key", "-out", "coordinator.csr", "-subj", "/CN=coordinator.test"])
        try certificates.openssl(["x509", "-req", "-in", "coordinator.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                                  "-out", "coordinator.pem", "-days", "2", "-extfile", "san.ext"])
        try certificates.openssl(["req", "-x509"] + key + ["-keyout", "stranger.key", "-out", "stranger.pem", "-days", "2",
                                  "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        try certificates.openssl(["pkey", "-in", "coordinator.key", "-aes256", "-passout", "pass:secret",
                                  "-out", "coordinator-encrypted.key"])
        chmod(certificates.keyFile, 0o600)
        return certificates
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func openssl(_ arguments: [String]) throws {
        let result = try TestEnvironment.run("/usr/bin/openssl", arguments, workingDirectory: directory)
        guard result.status == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "openssl \(arguments.joined(separator: " ")): \(result.stderr)"])
        }
    }
}
