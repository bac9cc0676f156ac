#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A listening TCP socket that accepts `Connection`s.
public final class Listener: @unchecked Sendable {
    private let fd: Int32
    /// The port actually bound (useful when asked for port 0).
    public let port: Int
    public let host: String

    /// Binds `host:port` (port 0 picks a free port) and listens.
    public init(host: String, port: Int) throws(WireError) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else { throw .io("cannot resolve \(host): \(String(cString: gai_strerror(rc)))") }
        defer { freeaddrinfo(info) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw .io("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw .io("cannot listen on \(host):\(port): \(why)")
        }
        guard listen(fd, 128) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw .io("listen on \(host):\(port): \(why)")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let family = Int32(storage.ss_family)
        let boundPort: UInt16 = withUnsafePointer(to: &storage) {
            if family == AF_INET6 {
                return $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        self.fd = fd
        self.port = Int(boundPort)
        self.host = host
    }

    deinit { Glibc.close(fd) }

    /// What one wait for a peer came to.
    public enum Accepted: Sendable {
        /// A peer connected.
        case connection(Connection)
        /// No peer within the time given (or a signal interrupted the wait).
        case idle
        /// `poll` or `accept` failed with `errno` `code`; `message` says how, for the log.
        case failed(code: Int32, message: String)
    }

    /// Waits up to `timeoutMilliseconds` for a peer; nil when none came.
    /// - Throws: `WireError.io` when `poll` or `accept` fails (too many open files, ...).
    public func accept(timeoutMilliseconds: Int32) throws(WireError) -> Connection? {
        switch acceptOnce(timeoutMilliseconds: timeoutMilliseconds) {
        case .connection(let connection): return connection
        case .idle: return nil
        case .failed(let code, let message):
            if code == EINTR || code == EAGAIN || code == ECONNABORTED { return nil }
            throw .io(message)
        }
    }

    /// Waits up to `timeoutMilliseconds` for a peer and accepts it; failures are returned with
    /// their `errno`, so that the caller can tell running out of descriptors (back off, go on)
    /// from an aborted connection (just go on).
    public func acceptOnce(timeoutMilliseconds: Int32) -> Accepted {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, timeoutMilliseconds)
        if ready == 0 || (ready < 0 && errno == EINTR) { return .idle }
        guard ready > 0 else { return .failed(code: errno, message: "poll: \(String(cString: strerror(errno)))") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let client = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &length) }
        }
        guard client >= 0 else {
            let code = errno
            return .failed(code: code, message: "accept: \(String(cString: strerror(code)))")
        }
        return .connection(Connection(fd: client, peer: Listener.describe(storage)))
    }

    private static func describe(_ storage: sockaddr_storage) -> String {
        var storage = storage
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, socklen_t(MemoryLayout<sockaddr_storage>.size), &host, socklen_t(host.count),
                            &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return "unknown peer" }
        return "\(text(host)):\(text(service))"
    }

    /// A NUL-terminated C string held in an array.
    private static func text(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
