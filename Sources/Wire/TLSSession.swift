#if canImport(Glibc)
import Glibc
#endif
import CSSL
import Foundation
import Synchronization

/// One connection's TLS state over a non-blocking socket.
///
/// OpenSSL allows one call at a time on a session, and a connection receives on one thread
/// while others send: every OpenSSL call holds `lock`, and waiting for the socket happens
/// outside it, so a thread waiting for the next frame never holds up a heartbeat.
final class TLSSession: @unchecked Sendable {
    private let ssl: OpaquePointer
    private let fd: Int32
    private let lock = Mutex(())

    /// A session on `fd` (made non-blocking). A client checks the server's certificate against
    /// `serverName`, a DNS name or an IP address.
    init(context: TLSContext, fd: Int32, serverName: String?) throws(WireError) {
        guard let ssl = SSL_new(context.context) else { throw .tls("cannot create a TLS session: \(TLSContext.errors())") }
        self.ssl = ssl
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        guard SSL_set_fd(ssl, fd) == 1 else { throw .tls("cannot attach TLS to the socket: \(TLSContext.errors())") }
        if context.isServer {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let name = serverName {
                // An empty name would make OpenSSL skip the name check altogether.
                guard !name.isEmpty else { throw .tls("an empty server name cannot be checked against the certificate") }
                if TLSSession.isIPAddress(name) {
                    guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 else {
                        throw .tls("cannot check the certificate against the address \(name): \(TLSContext.errors())")
                    }
                } else {
                    _ = cssl_set_server_name(ssl, name)
                    guard SSL_set1_host(ssl, name) == 1 else {
                        throw .tls("cannot check the certificate against the name \(name): \(TLSContext.errors())")
                    }
                }
            }
        }
    }

    deinit { SSL_free(ssl) }

    /// What one OpenSSL call came to.
    private enum Step {
        case done(Int32)
        case wantRead
        case wantWrite
        case endOfStream
        /// The connection was reset or shut down (a killed peer, `close()` here).
        case reset
        case failed(String)
    }

    private func attempt(_ call: (OpaquePointer) -> Int32) -> Step {
        lock.withLock { _ in
            ERR_clear_error()
            errno = 0
            let rc = call(ssl)
            if rc > 0 { return .done(rc) }
            switch SSL_get_error(ssl, rc) {
            case SSL_ERROR_WANT_READ: return .wantRead
            case SSL_ERROR_WANT_WRITE: return .wantWrite
            case SSL_ERROR_ZERO_RETURN: return .endOfStream
            case SSL_ERROR_SYSCALL:
                let code = errno
                let detail = TLSContext.errors()
                // The peer went away (killed, closed) or the socket was shut down here.
                if code == 0 { return .endOfStream }
                if code == ECONNRESET || code == EPIPE || code == EBADF || code == ENOTCONN { return .reset }
                return .failed("\(String(cString: strerror(code))) (\(detail))")
            default:
                var why = TLSContext.errors()
                let verify = SSL_get_verify_result(ssl)
                if verify != X509_V_OK {
                    why += " (\(String(cString: X509_verify_cert_error_string(verify))))"
                }
                return .failed(why)
            }
        }
    }

    private func wait(readable: Bool, milliseconds: Int32) -> Bool {
        Connection.waitForSocket(fd, readable: readable, milliseconds: milliseconds)
    }

    /// Runs the handshake (and, for a client, checks the server's certificate).
    /// - Throws: `WireError.tls` saying why, also when it takes longer than `seconds`.
    func handshake(deadline: HandshakeDeadline) throws(WireError) {
        while true {
            let step = attempt { SSL_do_handshake($0) }
            let left = deadline.millisecondsLeft()
            switch step {
            case .done: return
            case .wantRead, .wantWrite:
                let readable: Bool
                if case .wantRead = step { readable = true } else { readable = false }
                guard left > 0, wait(readable: readable, milliseconds: left) else {
                    throw .tls("no TLS handshake within \(deadline.text)")
                }
            case .endOfStream, .reset: throw .tls("the peer closed the connection during the TLS handshake")
            case .failed(let why): throw .tls("handshake failed: \(why)")
            }
        }
    }

    /// Reads up to `count` bytes: how many (0 at the end of the stream), or nil when no whole
    /// record came within `milliseconds` (-1: no limit). The limit is for the whole call, so a
    /// peer trickling a record byte by byte cannot stretch it.
    func read(_ base: UnsafeMutableRawPointer, _ count: Int, milliseconds: Int32) throws(WireError) -> Int? {
        let chunk = Int32(min(count, 1 << 30))
        let end = milliseconds < 0 ? nil : HandshakeDeadline(seconds: Double(milliseconds) / 1000)
        func left() -> Int32 { end.map { $0.millisecondsLeft() } ?? -1 }
        while true {
            switch attempt({ SSL_read($0, base, chunk) }) {
            case .done(let n): return Int(n)
            case .wantRead:
                let wait = left()
                if wait == 0 || !self.wait(readable: true, milliseconds: wait) { return nil }
            case .wantWrite:
                let wait = left()
                if wait == 0 || !self.wait(readable: false, milliseconds: wait) { return nil }
            case .endOfStream: return 0
            case .reset: throw .closed
            case .failed(let why): throw .tls("receive failed: \(why)")
            }
        }
    }

    /// Writes all `count` bytes.
    /// - Throws: `WireError.closed` when the peer is gone.
    func write(_ base: UnsafeRawPointer, _ count: Int) throws(WireError) {
        var done = 0
        while done < count {
            let chunk = Int32(min(count - done, 1 << 30))
            switch attempt({ SSL_write($0, base + done, chunk) }) {
            case .done(let n): done += Int(n)
            case .wantWrite: _ = wait(readable: false, milliseconds: -1)
            case .wantRead:
                // Only a renegotiation makes a write read, and TLS 1.3 has none: waiting for the
                // socket to be readable could spin while the receive thread has not drained it.
                throw .tls("send failed: the peer asked for a renegotiation")
            case .endOfStream, .reset: throw .closed
            case .failed(let why): throw .tls("send failed: \(why)")
            }
        }
    }

    static func isIPAddress(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }
}
