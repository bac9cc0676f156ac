#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What the services the tests start share: a free loopback port, readiness checks, and the
/// processes still running when the test process exits, which are then killed with everything
/// they started.
public enum TestServices {
    nonisolated(unsafe) private static var running: Set<Int32> = []
    private static let lock = NSLock()
    private static let exitHook: Void = { atexit { TestServices.stopAllAtExit() } }()

    static func register(_ pid: Int32) {
        _ = exitHook
        lock.withLock { _ = running.insert(pid) }
    }

    static func unregister(_ pid: Int32) { lock.withLock { _ = running.remove(pid) } }

    private static func stopAllAtExit() {
        for pid in lock.withLock({ running }) {
            for child in BackgroundProcess.descendants(of: pid) { kill(child, SIGKILL) }
            kill(pid, SIGKILL)
        }
    }

    /// A socket connected to the loopback port, or nil.
    static func connected(port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else {
            close(fd)
            return nil
        }
        return fd
    }

    static func accepts(port: Int) -> Bool {
        guard let fd = connected(port: port) else { return false }
        close(fd)
        return true
    }

    /// Whether `GET /health` on the port answers 200.
    static func answersHealth(port: Int) -> Bool {
        guard let fd = connected(port: port) else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, buffer.count)
        return n > 12 && String(decoding: buffer[9..<12], as: UTF8.self) == "200"
    }

    /// A port nothing listens on now, below the kernel's range of ephemeral ports: a port the
    /// kernel handed out (port 0) could be given again to any outgoing connection before the
    /// service binds it, and the S3 and registry tests open thousands of those.
    public static func freePort() throws -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) } ?? []
        let ceiling = max(12_000, (range.first ?? 32_768) - 1)
        for _ in 0..<200 {
            let port = Int.random(in: 10_000...ceiling)
            if canBind(port) { return port }
        }
        throw TestFailure("no free loopback port found between 10000 and \(ceiling)")
    }

    /// Whether a listening socket can be bound to loopback `port` now.
    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

extension TestServices {
    /// Whether `pid` is gone or a zombie.
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// Stops `process` and every process below it: SIGTERM, then SIGKILL after 10 s.
    static func stopTree(_ process: BackgroundProcess) {
        let tree = BackgroundProcess.descendants(of: process.pid) + [process.pid]
        for pid in tree { kill(pid, SIGTERM) }
        if !BackgroundProcess.waitFor(seconds: 10, { tree.allSatisfy { kill($0, 0) != 0 || isZombie($0) } }) {
            for pid in tree { kill(pid, SIGKILL) }
        }
        process.wait(seconds: 5)
        unregister(process.pid)
    }
}
