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
    /// `artifactRoot` (with `proxyArtifacts` false) is the store clients are sent to, e.g. `s3://bucket/`.
    public init(basicAuth: Bool = false, proxyArtifacts: Bool = true, artifactRoot: String? = nil, tls: TestCertificates? = nil,
                environment extra: [String: String] = [:]) throws {
        let mlflow = TestEnvironment.repoRoot.appendingPathComponent(".venv-services/bin/mlflow").path
        guard FileManager.default.isExecutableFile(atPath: mlflow) else {
            throw TestFailure("the MLflow tracking server is not installed (\(mlflow) is missing): run scripts/setup.sh (make setup), which builds .venv-services from scripts/requirements-services.txt")
        }
        directory = try TestEnvironment.makeTemporaryDirectory("mlflow-server")
        port = try TestServices.freePort()
        url = "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"
        let artifacts = directory.appendingPathComponent("artifacts").path
        var arguments = ["server", "--backend-store-uri", "sqlite:///\(directory.path)/mlflow.db",
                         "--host", "127.0.0.1", "--port", "\(port)", "--workers", "1"]
        arguments += proxyArtifacts ? ["--artifacts-destination", artifacts, "--serve-artifacts"]
                                    : ["--default-artifact-root", artifactRoot ?? "file://" + artifacts, "--no-serve-artifacts"]
        // No job runner: it starts a dozen huey consumers (2 GB) for features the tests do not use.
        var environment = ["MLFLOW_TRACKING_URI": "", "PYTHONUNBUFFERED": "1", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"]
        environment.merge(extra) { $1 }
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
        TestServices.register(process.pid)
        let healthy = BackgroundProcess.waitFor(seconds: 120) { [port, process] in
            guard process.isRunning else { return true }
            // Over TLS, accepting connections is the sign: uvicorn listens once the app is loaded.
            return tls == nil ? TestServices.answersHealth(port: port) : TestServices.accepts(port: port)
        }
        guard healthy, process.isRunning else {
            let output = process.stdout + process.stderr
            stop()
            throw TestFailure("mlflow server did not start on \(url) within 120 s:\n\(output.suffix(3000))")
        }
    }

    /// Stops the server and the processes it started (uvicorn and its workers).
    public func stop() { TestServices.stopTree(process) }

    /// Runs `Tests/Fixtures/<script>` against this server with the project's Python (mlflow-skinny,
    /// the client), or with `python`.
    public func runFixture(_ script: String, _ arguments: [String] = [], environment: [String: String] = [:],
                           python: String = TestEnvironment.python) throws -> String {
        let path = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/\(script)").path
        let result = try TestEnvironment.run(python, [path] + arguments,
                                             environment: ["MLFLOW_TRACKING_URI": url, "GIT_PYTHON_REFRESH": "quiet"].merging(environment) { $1 })
        guard result.status == 0 else { throw TestFailure("\(script) failed against \(url):\n\(result.stderr.suffix(4000))") }
        return result.stdout
    }
}
