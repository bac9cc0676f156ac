import Foundation

/// A real S3-API server on loopback for the tests: moto's standalone server (`moto[server]` from
/// the services environment, `.venv-services`), on a free port, in memory; stopped by `stop()` or
/// when the test process exits. Any access key is accepted; `credentials` are what the tests use.
public final class S3APIServer: @unchecked Sendable {
    public let endpoint: String
    public let port: Int
    private let process: BackgroundProcess

    /// The variables a client of this server needs (boto3, MLflow, score-cluster).
    public var credentials: [String: String] {
        ["AWS_ACCESS_KEY_ID": "score-cluster-tests", "AWS_SECRET_ACCESS_KEY": "score-cluster-tests-secret",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
         "MLFLOW_S3_ENDPOINT_URL": endpoint]
    }

    /// The server the tests of one process share, started by the first that asks.
    public static let shared: Result<S3APIServer, any Error> = Result { try S3APIServer() }

    public init() throws {
        let moto = TestEnvironment.repoRoot.appendingPathComponent(".venv-services/bin/moto_server").path
        guard FileManager.default.isExecutableFile(atPath: moto) else {
            throw TestFailure("the S3-API server is not installed (\(moto) is missing): run scripts/setup.sh (make setup), which builds .venv-services from scripts/requirements-services.txt")
        }
        port = try TestServices.freePort()
        endpoint = "http://127.0.0.1:\(port)"
        process = try BackgroundProcess(moto, ["-H", "127.0.0.1", "-p", "\(port)"])
        TestServices.register(process.pid)
        let ready = BackgroundProcess.waitFor(seconds: 60) { [process, port] in !process.isRunning || TestServices.accepts(port: port) }
        guard ready, process.isRunning else {
            let output = process.stdout + process.stderr
            stop()
            throw TestFailure("moto_server did not start on \(endpoint) within 60 s:\n\(output.suffix(3000))")
        }
    }

    /// Creates `bucket` with boto3 (from the services environment).
    public func createBucket(_ bucket: String) throws {
        let result = try TestEnvironment.run(MLflowTrackingServer.servicesPython, ["-c", "import boto3, sys; boto3.client('s3').create_bucket(Bucket=sys.argv[1])", bucket],
                                             environment: credentials)
        guard result.status == 0 else { throw TestFailure("cannot create bucket \(bucket) on \(endpoint):\n\(result.stderr.suffix(2000))") }
    }

    public func stop() { TestServices.stopTree(process) }
}
