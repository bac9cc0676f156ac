#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Columnar
import Foundation
import Synchronization

/// A framed, blocking TCP connection between a coordinator and a worker.
///
/// Sends may come from several threads (they are serialised); receives from one thread at a
/// time. Batches and results travel as their column buffers, gathered with `writev` rather
/// than copied into one message. With `startTLS` every byte after the TLS handshake is
/// encrypted (see `TLSContext`).
public final class Connection: @unchecked Sendable {
    /// Largest payload accepted from an authenticated peer (1 GiB). Before authentication the
    /// handshake's own, far smaller limit applies (`Handshake.maxFramePayload`, `receiveHandshakeFrame`).
    public static let defaultMaxPayload: UInt64 = 1 << 30

    let fd: Int32
    /// Who is on the other side, e.g. "127.0.0.1:53122", for messages.
    public let peer: String
    public let maxPayload: UInt64
    private let sendLock = Mutex(())
    private let closed = Atomic<Bool>(false)
    /// Set once by `startTLS`, before any frame, by the one thread using the connection then.
    private var tls: TLSSession?
    /// `setReceiveTimeout` in milliseconds (-1: none), for TLS reads, which wait with `poll`.
    private let receiveTimeoutMilliseconds = Atomic<Int32>(-1)

    init(fd: Int32, peer: String, maxPayload: UInt64 = Connection.defaultMaxPayload) {
        self.fd = fd
        self.peer = peer
        self.maxPayload = maxPayload
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close()
        Glibc.close(fd)
    }

    /// Connects to `host:port`, trying each address the name resolves to.
    public static func connect(host: String, port: Int) throws -> Connection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw WireError.io("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    return Connection(fd: fd, peer: "\(host):\(port)")
                }
                lastError = String(cString: strerror(errno))
                Glibc.close(fd)
            }
            cursor = info.pointee.ai_next
        }
        throw WireError.io("cannot connect to \(host):\(port): \(lastError)")
    }

    /// Ends the connection: blocked receives and sends return `.closed`, and so does every later
    /// one. Safe to call more than once, from any thread.
    ///
    /// The descriptor itself is released when the last reference goes (`deinit`): a thread still
    /// sending a heartbeat on this connection must fail, not write into whatever socket gets the
    /// same descriptor number next (over TLS, a record under the old keys would end the new session).
    public func close() {
        if closed.exchange(true, ordering: .acquiringAndReleasing) == false {
            shutdown(fd, Int32(SHUT_RDWR))
        }
    }

    /// In a process forked while this connection was open (`worker --processes`): drops the
    /// child's copy of the descriptor, touching neither the socket (no shutdown, which would end
    /// it for the parent too) nor the TLS session, which stays the parent's. The child never uses
    /// this connection again, and never releases it.
    public func forgetInForkedChild() {
        closed.store(true, ordering: .releasing)
        Glibc.close(fd)
    }

    /// Unblocks a thread waiting in `receive()` without releasing the descriptor yet.
    public func shutdownReceive() { shutdown(fd, Int32(SHUT_RDWR)) }

    // MARK: TLS

    /// Whether frames on this connection are encrypted.
    public var isTLS: Bool { tls != nil }

    /// Runs the TLS handshake as `context`'s side (a worker checks the coordinator's certificate
    /// against `serverName`, by default the host it connected to). Call before any frame.
    /// - Throws: `WireError.tls` saying why (untrusted certificate, wrong name, a peer that does
    ///   not speak TLS, no handshake within `seconds`).
    public func startTLS(_ context: TLSContext, serverName: String? = nil, seconds: Double = 10) throws(WireError) {
        try startTLS(context, serverName: serverName, deadline: HandshakeDeadline(seconds: seconds))
    }

    /// `startTLS` as a part of a handshake that must be over by `deadline`.
    public func startTLS(_ context: TLSContext, serverName: String? = nil, deadline: HandshakeDeadline) throws(WireError) {
        precondition(tls == nil, "TLS already started on this connection")
        let session = try TLSSession(context: context, fd: fd, serverName: serverName ?? context.serverName)
        try session.handshake(deadline: deadline)
        tls = session
    }

    /// Waits up to `milliseconds` for the peer to send something (or hang up); false when it
    /// stays silent. A TLS client speaks first, a worker without TLS waits for the challenge.
    public func waitForPeer(milliseconds: Int32) -> Bool {
        Connection.waitForSocket(fd, readable: true, milliseconds: milliseconds)
    }

    /// Waits until `fd` is readable (or writable); false when `milliseconds` passed first (-1: no
    /// limit). A closed or shut-down socket counts as ready: the next call on it says so.
    static func waitForSocket(_ fd: Int32, readable: Bool, milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(readable ? POLLIN : POLLOUT), revents: 0)
        while true {
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready != 0
        }
    }

    // MARK: Sending

    /// Sends a JSON control message (messages go through `send(_: WorkerMessage)` and `send(_: CoordinatorMessage)`).
    func send<M: Encodable>(_ type: MessageType, _ message: M) throws {
        let data: Data
        do { data = try JSONEncoder().encode(message) } catch { throw WireError.malformed("cannot encode \(M.self): \(error)") }
        let bytes = [UInt8](data)
        try sendFrame(type, head: bytes, segments: [])
    }

    /// Sends a frame with no payload.
    func send(_ type: MessageType) throws {
        try sendFrame(type, head: [], segments: [])
    }

    /// Sends a frame whose payload is `buffer` as it is (a model archive).
    func send(_ type: MessageType, payload buffer: ColumnBuffer) throws {
        try sendFrame(type, head: [], segments: [(buffer, buffer.count)])
    }

    /// Sends a batch or result frame.
    func send(_ type: MessageType, batch: ColumnBatchCodec.Encoded) throws {
        try sendFrame(type, head: batch.head, segments: batch.segments)
    }

    private func sendFrame(_ type: MessageType, head: [UInt8], segments: [(buffer: ColumnBuffer?, count: Int)]) throws {
        guard !closed.load(ordering: .acquiring) else { throw WireError.closed }
        let payloadLength = head.count + segments.reduce(0) { $0 + $1.count }
        let header = FrameHeader(type: type, payloadLength: UInt64(payloadLength)).encoded()
        let zeros = [UInt8](repeating: 0, count: 8)
        // Keep every buffer alive and pinned while its bytes are written.
        try header.withUnsafeBytes { (h) throws in
            try head.withUnsafeBytes { (p) throws in
                try zeros.withUnsafeBytes { (z) throws in
                    var iov: [iovec] = [iovec(iov_base: UnsafeMutableRawPointer(mutating: h.baseAddress), iov_len: h.count)]
                    if p.count > 0 { iov.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: p.baseAddress), iov_len: p.count)) }
                    for segment in segments where segment.count > 0 {
                        let base = segment.buffer?.mutableBase ?? UnsafeMutableRawPointer(mutating: z.baseAddress!)
                        iov.append(iovec(iov_base: base, iov_len: segment.count))
                    }
                    try sendLock.withLock { (_) throws in
                        if let tls { try writeAll(&iov, tls) } else { try writeAll(&iov) }
                    }
                }
            }
            withExtendedLifetime(segments) {}
        }
    }

    private func writeAll(_ iov: inout [iovec]) throws {
        var index = 0
        while index < iov.count {
            let batchCount = min(iov.count - index, 512)
            let written = iov.withUnsafeMutableBufferPointer { buffer in
                writev(fd, buffer.baseAddress! + index, Int32(batchCount))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw errno == EPIPE || errno == ECONNRESET ? WireError.closed : WireError.io("send to \(peer): \(String(cString: strerror(errno)))")
            }
            var remaining = written
            while remaining > 0 && index < iov.count {
                if remaining >= iov[index].iov_len {
                    remaining -= iov[index].iov_len
                    index += 1
                } else {
                    iov[index].iov_base = iov[index].iov_base! + remaining
                    iov[index].iov_len -= remaining
                    remaining = 0
                }
            }
            while index < iov.count && iov[index].iov_len == 0 { index += 1 }
        }
    }

    /// Writes the pieces through TLS; small ones are gathered first, so that a frame's header
    /// does not go out as a TLS record of its own.
    private func writeAll(_ iov: inout [iovec], _ tls: TLSSession) throws {
        let gatherLimit = 16 << 10
        var gathered: [UInt8] = []
        gathered.reserveCapacity(gatherLimit)
        for piece in iov where piece.iov_len > 0 {
            let bytes = UnsafeRawBufferPointer(start: piece.iov_base, count: piece.iov_len)
            if gathered.count + bytes.count <= gatherLimit {
                gathered.append(contentsOf: bytes)
                continue
            }
            if !gathered.isEmpty {
                try gathered.withUnsafeBytes { try tls.write($0.baseAddress!, $0.count) }
                gathered.removeAll(keepingCapacity: true)
            }
            try tls.write(bytes.baseAddress!, bytes.count)
        }
        if !gathered.isEmpty { try gathered.withUnsafeBytes { try tls.write($0.baseAddress!, $0.count) } }
    }

    // MARK: Receiving

    /// A received frame: its header and its payload (64-byte aligned).
    public struct Frame: Sendable {
        public var header: FrameHeader
        public var payload: ColumnBuffer

        /// Decodes a JSON control payload.
        func decode<M: Decodable>(_ type: M.Type) throws(WireError) -> M {
            do {
                return try JSONDecoder().decode(M.self, from: Data(payload.bytes))
            } catch {
                throw WireError.malformed("cannot decode \(M.self) from a \(header.type) frame: \(error)")
            }
        }
    }

    /// Waits for the next frame. Throws `.closed` when the peer hangs up between frames.
    public func receive() throws -> Frame {
        try receive(deadline: nil) { (bytes) throws(WireError) in try FrameHeader.decode(bytes, maxPayload: maxPayload) }
    }

    /// Waits for the next frame, every byte of it by `deadline` when one is given. `decodeHeader`
    /// validates the header, so it decides (before anything is allocated) what may follow.
    func receive(deadline: HandshakeDeadline?, decodeHeader: (UnsafeRawBufferPointer) throws(WireError) -> FrameHeader) throws -> Frame {
        guard !closed.load(ordering: .acquiring) else { throw WireError.closed }
        var headerBytes = [UInt8](repeating: 0, count: FrameHeader.size)
        let got = try headerBytes.withUnsafeMutableBytes { (p) throws in
            try readFully(p.baseAddress!, p.count, allowEOF: true, deadline: deadline)
        }
        guard got else { throw WireError.closed }
        let header = try headerBytes.withUnsafeBytes { (p) throws in try decodeHeader(p) }
        let payload = ColumnBuffer(uninitializedCount: Int(header.payloadLength))
        if header.payloadLength > 0 {
            _ = try readFully(payload.mutableBase, Int(header.payloadLength), allowEOF: false, deadline: deadline)
        }
        return Frame(header: header, payload: payload)
    }

    /// Reads exactly `count` bytes. Returns false on a clean EOF before the first byte when allowed.
    /// With a `deadline`, waits for each read no longer than what is left of it.
    private func readFully(_ base: UnsafeMutableRawPointer, _ count: Int, allowEOF: Bool, deadline: HandshakeDeadline?) throws -> Bool {
        var done = 0
        while done < count {
            let n: Int
            if let tls {
                let wait = deadline?.millisecondsLeft() ?? receiveTimeoutMilliseconds.load(ordering: .relaxed)
                if let deadline, wait == 0 { throw WireError.handshakeTimedOut(peer: peer, allowed: deadline.text) }
                guard let got = try tls.read(base + done, count - done, milliseconds: wait) else {
                    if let deadline { throw WireError.handshakeTimedOut(peer: peer, allowed: deadline.text) }
                    throw WireError.timedOut(peer)
                }
                n = got
            } else {
                if let deadline {
                    let left = deadline.millisecondsLeft()
                    guard left > 0, Connection.waitForSocket(fd, readable: true, milliseconds: left) else {
                        throw WireError.handshakeTimedOut(peer: peer, allowed: deadline.text)
                    }
                }
                n = read(fd, base + done, count - done)
            }
            if n == 0 {
                if done == 0 && allowEOF { return false }
                throw WireError.malformed("connection from \(peer) ended in the middle of a frame")
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET || errno == EBADF || errno == ENOTCONN { throw WireError.closed }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw WireError.timedOut(peer) }
                throw WireError.io("receive from \(peer): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        return true
    }
}

extension Connection {
    /// Bounds how long `receive()` may wait for bytes (0 = forever); a handshake must not hang.
    public func setReceiveTimeout(seconds: Int) {
        receiveTimeoutMilliseconds.store(seconds > 0 ? Int32(min(seconds, Int(Int32.max) / 1000) * 1000) : -1, ordering: .relaxed)
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}
