#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real `mlflow server` on loopback for the tests: the full mlflow package from the services
/// environment (`.venv-services`, made by `scripts/setup.sh`), a SQLite backend store and a local
/// artifact store in a temporary directory, artifacts served through the server's proxy
/// (`--serve-artifacts`), a free port. Started once per test process (`shared`), or on its own
/// for a test that needs another configuration (basic auth); stopped, with the processes it
/// started, by `stop()` or when the test process exits.
///
/// A missing services environment or a server that does not come up is a test failure that
/// says what to run, never a skip.
public final class MLflowTrackingServer: @unchecked Sendable {
    /// The server's base URL, e.g. `http://127.0.0.1:41234`.
    public let url: String
    /// The temporary directory holding the SQLite file and the artifacts.
    public let directory: URL
    public let port: Int
    private let process: BackgroundProcess

    /// The one plain server of this test process, started on first use.
    public static let shared: Result<MLflowTrackingServer, Error> = Result { try MLflowTrackingServer() }

    /// The interpreter of the services environment.
    public static var servicesPython: String { TestEnvironment.repoRoot.appendingPathComponent(".venv-services/bin/python").path }

    /// Administrator of a basic-auth server (MLflow's default, `basic_auth.ini`).
    public static let adminUser = "admin"
    public static let adminPassword = "score-cluster-admin-7e21"

    /// Starts a server; with `basicAuth`, MLflow's basic-auth app (`--app-name basic-auth`), whose
    /// administrator is `adminUser`/`adminPassword`; with `proxyArtifacts` false, no artifact proxy
    /// (`--no-serve-artifacts`): clients get `file://` locations in a directory they read themselves;
    /// with `tls`, HTTPS with that certificate (uvicorn's), at `https://127.0.0.1:PORT`.
    public init(basicAuth: Bool = false, proxyArtifacts: Bool = true, tls: TestCertificates? = nil) throws {
        let mlflow = TestEnvironment.repoRoot.appendingPathComponent(".venv-services/bin/mlflow").path
        guard FileManager.default.isExecutableFile(atPath: mlflow) else {
            throw TestFailure("the MLflow tracking server is not installed (\(mlflow) is missing): run scripts/setup.sh (make setup), which builds .venv-services from scripts/requirements-services.txt")
        }
        directory = try TestEnvironment.makeTemporaryDirectory("mlflow-server")
        port = try Self.freePort()
        url = "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"
        let artifacts = directory.appendingPathComponent("artifacts").path
        var arguments = ["server", "--backend-store-uri", "sqlite:///\(directory.path)/mlflow.db",
                         "--host", "127.0.0.1", "--port", "\(port)", "--workers", "1"]
        arguments += proxyArtifacts ? ["--artifacts-destination", artifacts, "--serve-artifacts"]
                                    : ["--default-artifact-root", "file://" + artifacts, "--no-serve-artifacts"]
        // No job runner: it starts a dozen huey consumers (2 GB) for features the tests do not use.
        var environment = ["MLFLOW_TRACKING_URI": "", "PYTHONUNBUFFERED": "1", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"]
        if let tls {
            arguments += ["--uvicorn-opts", "--ssl-keyfile \(tls.keyFile) --ssl-certfile \(tls.certificateFile)"]
        }
        if basicAuth {
            arguments += ["--app-name", "basic-auth"]
            let config = directory.appendingPathComponent("basic_auth.ini")
            try """
                [mlflow]
                default_permission = READ
                database_uri = sqlite:///\(directory.path)/auth.db
                admin_username = \(Self.adminUser)
                admin_password = \(Self.adminPassword)
                authorization_function = mlflow.server.auth:authenticate_request_basic_auth
                """.write(to: config, atomically: true, encoding: .utf8)
            environment["MLFLOW_AUTH_CONFIG_PATH"] = config.path
            environment["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "score-cluster-tests"
        }
        process = try BackgroundProcess(mlflow, arguments, environment: environment)
        Self.register(process.pid)
        let healthy = BackgroundProcess.waitFor(seconds: 120) { [port, process] in
            guard process.isRunning else { return true }
            // Over TLS, accepting connections is the sign: uvicorn listens once the app is loaded.
            return tls == nil ? Self.answersHealth(port: port) : Self.accepts(port: port)
        }
        guard healthy, process.isRunning else {
            let output = process.stdout + process.stderr
            stop()
            throw TestFailure("mlflow server did not start on \(url) within 120 s:\n\(output.suffix(3000))")
        }
    }

    /// Stops the server and the processes it started (uvicorn and its workers).
    public func stop() {
        let tree = BackgroundProcess.descendants(of: process.pid) + [process.pid]
        for pid in tree { kill(pid, SIGTERM) }
        if !BackgroundProcess.waitFor(seconds: 10, { tree.allSatisfy { kill($0, 0) != 0 || Self.isZombie($0) } }) {
            for pid in tree { kill(pid, SIGKILL) }
        }
        process.wait(seconds: 5)
        Self.unregister(process.pid)
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// Runs `Tests/Fixtures/<script>` with the project's Python (mlflow-skinny, the client) against this server.
    public func runFixture(_ script: String, _ arguments: [String] = [], environment: [String: String] = [:]) throws -> String {
        let path = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/\(script)").path
        let result = try TestEnvironment.run(TestEnvironment.python, [path] + arguments,
                                             environment: ["MLFLOW_TRACKING_URI": url, "GIT_PYTHON_REFRESH": "quiet"].merging(environment) { $1 })
        guard result.status == 0 else { throw TestFailure("\(script) failed against \(url):\n\(result.stderr.suffix(4000))") }
        return result.stdout
    }

    // MARK: - Stopped at exit

    nonisolated(unsafe) private static var running: Set<Int32> = []
    private static let lock = NSLock()
    private static let exitHook: Void = { atexit { MLflowTrackingServer.stopAllAtExit() } }()

    private static func register(_ pid: Int32) {
        _ = exitHook
        lock.withLock { _ = running.insert(pid) }
    }

    private static func unregister(_ pid: Int32) { lock.withLock { _ = running.remove(pid) } }

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

    /// A port nothing listens on now: bound to port 0, read, closed.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("cannot bind a loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
