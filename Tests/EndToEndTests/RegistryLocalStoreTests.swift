import Foundation
import TestSupport
import Testing

/// A tracking server over HTTPS without the artifact proxy (`--no-serve-artifacts`): score-cluster
/// trusts the CA named by `MLFLOW_TRACKING_SERVER_CERT_PATH` (or none with
/// `MLFLOW_TRACKING_INSECURE_TLS`), and reads the model from the `file://` store the server names,
/// as MLflow's client does.
@Suite("Registry over TLS with a local artifact store", .serialized)
struct RegistryLocalStoreTests {
    @Test("the server's CA is trusted as MLflow's variables say, and the model is read from the file:// store and scores as MLflow loads it")
    func tlsAndLocalArtifactStore() throws {
        let certificates = try TestCertificates.make()
        let server = try MLflowTrackingServer(proxyArtifacts: false, tls: certificates)
        defer { server.stop() }
        let trustCA = ["MLFLOW_TRACKING_SERVER_CERT_PATH": certificates.caFile]
        _ = try server.runFixture("registry_models.py", ["--name", "stored"], environment: trustCA)
        let fixture = try EndToEndFixture.shared.get()

        func scoreCluster(_ arguments: [String], _ environment: [String: String]) throws -> TestEnvironment.ProcessResult {
            try TestEnvironment.run(EndToEndFixture.binary, arguments, environment: [
                "VIRTUAL_ENV": EndToEndFixture.venv, "MLFLOW_TRACKING_URI": server.url,
                "XDG_CACHE_HOME": try TestEnvironment.makeTemporaryDirectory("registry-cache").path,
                "MLFLOW_TRACKING_SERVER_CERT_PATH": "", "MLFLOW_TRACKING_INSECURE_TLS": "",
            ].merging(environment) { $1 })
        }
        let untrusted = try scoreCluster(["model", "inspect", "models:/stored@champion"], [:])
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.contains("models:/stored@champion: TLS with the MLflow tracking server at \(server.url) failed"), "\(untrusted.stderr)")
        #expect(untrusted.stderr.contains("Set MLFLOW_TRACKING_SERVER_CERT_PATH"))
        let insecure = try scoreCluster(["model", "inspect", "models:/stored@champion"], ["MLFLOW_TRACKING_INSECURE_TLS": "true"])
        #expect(insecure.status == 0, "\(insecure.stderr)")

        let output = fixture.outputPath("registry-local-store")
        let result = try scoreCluster(["run", "--model", "models:/stored@champion", "--input", fixture.dataset.path, "--output", output,
                                       "--columns", "f1,f2,f3", "--workers", "1", "--preview", "0", "--report", output + ".json"], trustCA)
        #expect(result.status == 0, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + ".json"))) as? [String: Any]
        let provenance = (report?["model"] as? [String: Any])?["provenance"] as? [String: Any]
        #expect((provenance?["source"] as? String)?.hasPrefix("file://\(server.directory.path)/artifacts/") == true, "\(String(describing: provenance))")
        #expect(provenance?["version"] as? String == "1")
        let checked = try server.runFixture("check_registry_outputs.py", [fixture.dataset.path, "f1,f2,f3", "models:/stored@champion=\(output)"],
                                            environment: trustCA)
        #expect(checked.contains("OK"))
    }
}
