import Columnar
import Foundation
import TestSupport
import Testing
@testable import Wire

/// TLS over real loopback sockets with certificates made by `openssl`: frames travel intact in
/// both directions while other threads send, and every way of getting the certificates wrong
/// ends in an error that says which.
@Suite("TLS connections", .serialized)
struct TLSConnectionTests {
    static let certificates = Result { try TestCertificates.make() }

    /// A connected pair after both sides' handshakes: the server's outcome and the client's.
    struct Handshaken {
        var server: Result<Connection, WireError>
        var client: Result<Connection, WireError>
    }

    static func connect(server context: TLSContext?, client clientContext: TLSContext?, serverName: String? = nil) throws -> Handshaken {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5000))
        nonisolated(unsafe) var serverOutcome: Result<Connection, WireError> = .success(server)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            if let context {
                do throws(WireError) { try server.startTLS(context, seconds: 5) } catch { serverOutcome = .failure(error) }
            }
            done.signal()
        }
        var clientOutcome: Result<Connection, WireError> = .success(client)
        if let clientContext {
            do throws(WireError) { try client.startTLS(clientContext, serverName: serverName, seconds: 5) } catch {
                clientOutcome = .failure(error)
                client.close()
            }
        }
        done.wait()
        return Handshaken(server: serverOutcome, client: clientOutcome)
    }

    static func contexts(trust: String? = nil) throws -> (server: TLSContext, client: TLSContext) {
        let certificates = try certificates.get()
        return (try TLSContext.server(certificateFile: certificates.certificateFile, keyFile: certificates.keyFile),
                try TLSContext.client(trustFile: trust ?? certificates.caFile))
    }

    @Test("batches larger than a TLS record travel intact both ways while another thread sends heartbeats")
    func exchange() throws {
        let (serverContext, clientContext) = try Self.contexts()
        let pair = try Self.connect(server: serverContext, client: clientContext, serverName: "coordinator.test")
        let server = try pair.server.get(), client = try pair.client.get()
        #expect(server.isTLS && client.isTLS)

        let rows = 300_000
        let column = Column.fixed(.float64, (0..<rows).map { Double($0) * 0.5 })
        let ids = Column.fixed(.int64, (0..<rows).map(Int64.init))
        // The server sends a batch and heartbeats from two threads at once, as the coordinator does.
        let senders = DispatchGroup()
        for kind in 0..<2 {
            senders.enter()
            Thread.detachNewThread {
                defer { senders.leave() }
                if kind == 0 {
                    try? server.send(CoordinatorMessage.batch(ColumnBatch(taskID: 7, rowCount: rows, columns: [ids, column])))
                } else {
                    for _ in 0..<50 { try? server.send(CoordinatorMessage.heartbeat) }
                }
            }
        }
        var heartbeats = 0
        var batch: ColumnBatch?
        while batch == nil || heartbeats < 50 {
            switch try client.receiveFromCoordinator() {
            case .heartbeat: heartbeats += 1
            case .batch(let received): batch = received
            case let other: Issue.record("unexpected \(other.type)")
            }
        }
        senders.wait()
        #expect(batch?.taskID == 7)
        #expect(batch?.columns[0].array(of: Int64.self) == ids.array(of: Int64.self))
        #expect(batch?.columns[1].array(of: Double.self) == column.array(of: Double.self))

        // And back, while the server is blocked receiving.
        let hello = WorkerHello(pid: 3, host: "w", capacity: 2, pythonVersion: "3.11.2", pythonEnvironment: "/venv")
        try client.send(.hello, hello)
        try client.send(.result, batch: ColumnBatchCodec.encode(taskID: 8, rowCount: rows, columns: [column]))
        #expect(try server.receive().decode(WorkerHello.self) == hello)
        let result = try ColumnBatchCodec.decode(server.receive().payload)
        #expect(result.taskID == 8 && result.columns[0].array(of: Double.self) == column.array(of: Double.self))

        // A receive timeout still applies, and a peer that goes away reads as closed.
        client.setReceiveTimeout(seconds: 1)
        #expect { try client.receive() } throws: { ($0 as? WireError)?.isTimeout == true }
        client.close()
        #expect(throws: WireError.closed) { try server.receive() }
    }

    @Test("a certificate the worker does not trust is refused on both sides, saying why")
    func untrusted() throws {
        let certificates = try Self.certificates.get()
        let (serverContext, clientContext) = try Self.contexts(trust: certificates.strangerFile)
        let pair = try Self.connect(server: serverContext, client: clientContext, serverName: "coordinator.test")
        guard case .failure(.tls(let why)) = pair.client else { Issue.record("client: \(pair.client)"); return }
        #expect(why.contains("certificate verify failed"), "\(why)")
        guard case .failure(.tls(let serverWhy)) = pair.server else { Issue.record("server: \(pair.server)"); return }
        #expect(serverWhy.contains("unknown ca"), "\(serverWhy)")
    }

    @Test("the coordinator's certificate must carry the name (or address) the worker connects to")
    func names() throws {
        let (serverContext, clientContext) = try Self.contexts()
        let wrong = try Self.connect(server: serverContext, client: clientContext, serverName: "elsewhere.test")
        guard case .failure(.tls(let why)) = wrong.client else { Issue.record("client: \(wrong.client)"); return }
        #expect(why.contains("hostname mismatch"), "\(why)")
        // An IP address is checked against the certificate's IP entries.
        let byAddress = try Self.connect(server: serverContext, client: clientContext, serverName: "127.0.0.1")
        #expect(throws: Never.self) { try byAddress.client.get() }
        let otherAddress = try Self.connect(server: serverContext, client: clientContext, serverName: "10.1.2.3")
        guard case .failure(.tls(let addressWhy)) = otherAddress.client else { Issue.record("client: \(otherAddress.client)"); return }
        #expect(addressWhy.contains("certificate verify failed"), "\(addressWhy)")
        // An empty name would switch OpenSSL's name check off: refused.
        #expect { try TLSContext.client(trustFile: try Self.certificates.get().caFile, serverName: "") } throws: {
            "\($0)".contains("empty")
        }
    }

    @Test("trusting the coordinator's own CA-signed certificate, without the CA, is enough (an intermediate works the same way)")
    func partialChain() throws {
        let certificates = try Self.certificates.get()
        let (serverContext, clientContext) = try Self.contexts(trust: certificates.certificateFile)
        let pair = try Self.connect(server: serverContext, client: clientContext, serverName: "coordinator.test")
        #expect(throws: Never.self) { try pair.client.get() }
        #expect(throws: Never.self) { try pair.server.get() }
    }

    @Test("after close() a connection refuses to send or receive, and its descriptor is not reused meanwhile")
    func closedConnection() throws {
        let (serverContext, clientContext) = try Self.contexts()
        let pair = try Self.connect(server: serverContext, client: clientContext, serverName: "localhost")
        let client = try pair.client.get(), server = try pair.server.get()
        client.close()
        #expect(throws: WireError.closed) { try client.send(WorkerMessage.heartbeat) }
        #expect(throws: WireError.closed) { try client.receive() }
        #expect(throws: WireError.closed) { try server.receive() }
        // The descriptor stays allocated while the object lives: a new socket gets another number.
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let next = try Connection.connect(host: "127.0.0.1", port: listener.port)
        #expect(next.fd != client.fd)
    }

    @Test("a TLS worker meeting a coordinator without TLS fails fast instead of hanging")
    func plainServer() throws {
        let (_, clientContext) = try Self.contexts()
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5000))
        // A plain coordinator speaks first: its challenge frame.
        try server.send(.challenge, Challenge(nonce: String(repeating: "ab", count: 32), requiresToken: true))
        let started = Date()
        #expect { try client.startTLS(clientContext, serverName: "localhost", seconds: 10) } throws: { error in
            guard case .tls = error as? WireError else { return false }
            return true
        }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("unusable certificate, key or trust files are named in the error")
    func badFiles() throws {
        let certificates = try Self.certificates.get()
        let missing = certificates.directory.appendingPathComponent("missing.pem").path
        #expect { try TLSContext.server(certificateFile: missing, keyFile: certificates.keyFile) } throws: {
            "\($0)".contains(missing) && "\($0)".contains("--tls-certificate")
        }
        #expect { try TLSContext.server(certificateFile: certificates.certificateFile, keyFile: certificates.strangerKeyFile) } throws: {
            "\($0)".contains("does not belong to the certificate")
        }
        #expect { try TLSContext.server(certificateFile: certificates.keyFile, keyFile: certificates.keyFile) } throws: {
            "\($0)".contains("cannot use \(certificates.keyFile) as the certificate")
        }
        #expect { try TLSContext.server(certificateFile: certificates.certificateFile, keyFile: certificates.encryptedKeyFile) } throws: {
            "\($0)".contains("cannot use \(certificates.encryptedKeyFile) as the private key")
        }
        #expect { try TLSContext.client(trustFile: missing) } throws: { "\($0)".contains("--tls-ca") }
        let notPEM = certificates.directory.appendingPathComponent("not.pem").path
        try "hello".write(toFile: notPEM, atomically: true, encoding: .utf8)
        #expect { try TLSContext.client(trustFile: notPEM) } throws: { "\($0)".contains("cannot read trusted certificates from \(notPEM)") }
    }
}
