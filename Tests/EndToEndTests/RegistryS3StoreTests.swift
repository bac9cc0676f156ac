import Foundation
import TestSupport
import Testing

/// A tracking server whose artifacts live in S3 and that does not proxy them: clients get
/// `s3://` locations, which score-cluster downloads with MLflow's own client (boto3, the
/// store's credentials) once, then serves from its cache. The job's environment is the services
/// one (`.venv-services`: mlflow with boto3, the same numpy, pandas and scikit-learn as `.venv`),
/// as a user's would be when their artifacts live in S3.
@Suite("Registry with an S3 artifact store", .serialized)
struct RegistryS3StoreTests {
    @Test("a model in S3 (moto's S3 API) is fetched once by MLflow's client, cached, and scores as MLflow loads it; an unreachable store is a clear error")
    func s3ArtifactStore() throws {
        let s3 = try S3APIServer()
        defer { s3.stop() }
        try s3.createBucket("mlflow-artifacts")
        let server = try MLflowTrackingServer(proxyArtifacts: false, artifactRoot: "s3://mlflow-artifacts/", environment: s3.credentials)
        defer { server.stop() }
        let python = MLflowTrackingServer.servicesPython
        let jobEnvironment = TestEnvironment.repoRoot.appendingPathComponent(".venv-services").path
        _ = try server.runFixture("registry_models.py", ["--name", "in_s3"], environment: s3.credentials, python: python)
        let fixture = try EndToEndFixture.shared.get()
        let cache = try TestEnvironment.makeTemporaryDirectory("registry-cache")

        func run(_ label: String, _ environment: [String: String]) throws -> (output: String, result: TestEnvironment.ProcessResult, fetch: [String: Any]?, source: String?) {
            let output = fixture.outputPath(label)
            let result = try TestEnvironment.run(EndToEndFixture.binary, [
                "run", "--model", "models:/in_s3@champion", "--input", fixture.dataset.path, "--output", output,
                "--columns", "f1,f2,f3", "--workers", "1", "--preview", "0", "--report", output + ".json", "--python-env", jobEnvironment],
                environment: ["MLFLOW_TRACKING_URI": server.url, "XDG_CACHE_HOME": cache.path]
                    .merging(environment) { $1 })
            let report = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + ".json")))) as? [String: Any]
            let model = report?["model"] as? [String: Any]
            return (output, result, model?["fetch"] as? [String: Any], (model?["provenance"] as? [String: Any])?["source"] as? String)
        }

        // The store unreachable: MLflow's client fails, the message says where and what to set, nothing is cached.
        let unreachable = try run("registry-s3-down", s3.credentials.merging(["MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:\(try TestServices.freePort())",
                                                                               "AWS_MAX_ATTEMPTS": "1"]) { $1 })
        #expect(unreachable.result.status == 1)
        #expect(unreachable.result.stderr.contains("models:/in_s3@champion: MLflow's client"), "\(unreachable.result.stderr)")
        #expect(unreachable.result.stderr.contains("could not download s3://mlflow-artifacts/"))
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: cache.path + "/score-cluster/registry")) ?? []
        #expect(entries.allSatisfy { $0.hasSuffix(".lock") }, "\(entries)")

        let cold = try run("registry-s3", s3.credentials)
        #expect(cold.result.status == 0, "\(cold.result.stderr)")
        #expect(cold.source?.hasPrefix("s3://mlflow-artifacts/") == true, "\(String(describing: cold.source))")
        #expect(cold.fetch?["downloaded"] as? Bool == true)
        // Cached: the next job needs neither S3 nor MLflow's client for the files.
        let warm = try run("registry-s3-warm", s3.credentials.merging(["MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:1"]) { $1 })
        #expect(warm.result.status == 0, "\(warm.result.stderr)")
        #expect(warm.fetch?["downloaded"] as? Bool == false)
        let checked = try server.runFixture("check_registry_outputs.py", [fixture.dataset.path, "f1,f2,f3", "models:/in_s3@champion=\(cold.output)",
                                                                          "models:/in_s3/1=\(warm.output)"], environment: s3.credentials, python: python)
        #expect(checked.contains("OK"))
    }
}
