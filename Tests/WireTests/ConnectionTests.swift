import Columnar
import Foundation
import Testing
@testable import Wire

@Suite("Connections over loopback TCP")
struct ConnectionTests {
    @Test("control messages and batches travel intact")
    func exchange() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5000))
        let hello = WorkerHello(pid: 1, host: "h", capacity: 3, pythonVersion: "3.11.2", pythonEnvironment: "/venv")
        try client.send(.hello, hello)
        let frame = try server.receive()
        #expect(frame.header.type == .hello)
        #expect(try frame.decode(WorkerHello.self) == hello)

        // A batch larger than the socket buffers, sent while the peer reads.
        let rows = 300_000
        let column = Column.fixed(.float64, (0..<rows).map(Double.init))
        let sender = Thread { try? server.send(.batch, batch: ColumnBatchCodec.encode(taskID: 9, rowCount: rows, columns: [column, column])) }
        sender.start()
        let received = try client.receive()
        let decoded = try ColumnBatchCodec.decode(received.payload)
        #expect(decoded.taskID == 9)
        #expect(decoded.columns[1].array(of: Double.self) == column.array(of: Double.self))
        client.close()
        #expect(throws: WireError.closed) { try server.receive() }
    }

    @Test("a stranger on the port gets refused, not parsed")
    func stranger() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5000))
        _ = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8CString.withUnsafeBytes { bytes in
            write(client.fd, bytes.baseAddress, bytes.count)
        }
        #expect(throws: WireError.notAScoreClusterPeer) { try server.receive() }
    }

    @Test("a peer that stops mid-frame is an error, not a hang")
    func truncatedFrame() throws {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let client = try Connection.connect(host: "127.0.0.1", port: listener.port)
        let server = try #require(try listener.accept(timeoutMilliseconds: 5000))
        let header = FrameHeader(type: .batch, payloadLength: 1000).encoded()
        _ = header.withUnsafeBytes { write(client.fd, $0.baseAddress, $0.count) }
        client.close()
        #expect(throws: WireError.self) { try server.receive() }
    }
}
