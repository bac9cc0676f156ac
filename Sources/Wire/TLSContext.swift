import CSSL
import Digest
import Foundation

/// TLS settings for links that leave the machine, shared by all of one side's connections.
///
/// The coordinator presents a certificate (`coordinator --tls-certificate FILE --tls-key FILE`);
/// workers check it against the certificates they trust (`worker --tls-ca FILE`) and against the
/// coordinator's name. The shared token still proves each worker to the coordinator, inside TLS.
/// TLS 1.3 (both ends are score-cluster); OpenSSL's default cipher suites; no session resumption.
public final class TLSContext: @unchecked Sendable {
    /// An OpenSSL `SSL_CTX`: safe to make sessions from on any thread once configured.
    let context: OpaquePointer
    /// Whether this side accepts connections (the coordinator) or makes them (a worker).
    public let isServer: Bool
    /// For a worker: the name the coordinator's certificate must carry (a DNS name or an IP
    /// address); nil means the host it connects to.
    public let serverName: String?

    private init(context: OpaquePointer, isServer: Bool, serverName: String?) {
        self.context = context
        self.isServer = isServer
        self.serverName = serverName
    }

    deinit { SSL_CTX_free(context) }

    /// The coordinator's side: a PEM certificate (chain, leaf first) and its PEM private key.
    /// - Throws: `WireError.tls` naming the file that cannot be used and why.
    public static func server(certificateFile: String, keyFile: String) throws(WireError) -> TLSContext {
        try readable(certificateFile, "--tls-certificate")
        try readable(keyFile, "--tls-key")
        let context = try makeContext(TLS_server_method())
        guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
            SSL_CTX_free(context)
            throw .tls("cannot use \(certificateFile) as the certificate (--tls-certificate, PEM): \(TLSContext.errors())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
            SSL_CTX_free(context)
            let why = TLSContext.errors()
            if why.contains("key values mismatch") {
                throw .tls("the private key \(keyFile) does not belong to the certificate \(certificateFile) (--tls-key, --tls-certificate)")
            }
            throw .tls("cannot use \(keyFile) as the private key (--tls-key, PEM, not encrypted): \(why)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            SSL_CTX_free(context)
            throw .tls("the private key \(keyFile) does not belong to the certificate \(certificateFile): \(TLSContext.errors())")
        }
        return TLSContext(context: context, isServer: true, serverName: nil)
    }

    /// A worker's side: the PEM certificates it trusts (the coordinator's own self-signed
    /// certificate, or the CA that signed it), and optionally the name to expect in it.
    /// - Throws: `WireError.tls` naming the file that cannot be used and why.
    public static func client(trustFile: String, serverName: String? = nil) throws(WireError) -> TLSContext {
        try readable(trustFile, "--tls-ca")
        guard serverName?.isEmpty != true else { throw .tls("the server name to check (--tls-server-name) is empty") }
        let context = try makeContext(TLS_client_method())
        guard SSL_CTX_load_verify_locations(context, trustFile, nil) == 1 else {
            SSL_CTX_free(context)
            throw .tls("cannot read trusted certificates from \(trustFile) (--tls-ca, PEM): \(TLSContext.errors())")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        cssl_ctx_allow_partial_chain(context)
        return TLSContext(context: context, isServer: false, serverName: serverName)
    }

    private static func makeContext(_ method: OpaquePointer?) throws(WireError) -> OpaquePointer {
        LibCryptoRuntime.startWithoutExitHandler()
        ERR_clear_error()
        guard let context = SSL_CTX_new(method) else { throw .tls("cannot create a TLS context: \(errors())") }
        guard cssl_ctx_set_min_tls13(context) == 1 else {
            SSL_CTX_free(context)
            throw .tls("cannot require TLS 1.3: \(errors())")
        }
        cssl_ctx_set_stream_modes(context)
        return context
    }

    private static func readable(_ path: String, _ option: String) throws(WireError) {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .tls("\(path) (\(option)) does not exist or cannot be read")
        }
    }

    /// OpenSSL's queued errors for this thread, oldest first, as one line; clears the queue.
    static func errors() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [UInt8](repeating: 0, count: 256)
            buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
            messages.append(String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self))
        }
        return messages.isEmpty ? "no detail from OpenSSL" : messages.joined(separator: "; ")
    }
}
