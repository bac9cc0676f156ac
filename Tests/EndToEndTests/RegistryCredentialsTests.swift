import Foundation
import TestSupport
import Testing

/// A tracking server that requires sign-in (MLflow's basic-auth app), started by this suite.
@Suite("Registry credentials", .serialized)
struct RegistryCredentialsTests {
    @Test("missing or wrong credentials are refused with what to set, and never printed; the right ones resolve and score")
    func basicAuth() throws {
        let server = try MLflowTrackingServer(basicAuth: true)
        defer { server.stop() }
        let admin = ["MLFLOW_TRACKING_USERNAME": MLflowTrackingServer.adminUser, "MLFLOW_TRACKING_PASSWORD": MLflowTrackingServer.adminPassword]
        _ = try server.runFixture("registry_models.py", ["--name", "guarded"], environment: admin)
        let fixture = try EndToEndFixture.shared.get()
        let secret = "wrong-password-5f3a9c"

        func scoreCluster(_ arguments: [String], _ credentials: [String: String]) throws -> TestEnvironment.ProcessResult {
            try TestEnvironment.run(EndToEndFixture.binary, arguments, environment: [
                "VIRTUAL_ENV": EndToEndFixture.venv, "MLFLOW_TRACKING_URI": server.url,
                "XDG_CACHE_HOME": try TestEnvironment.makeTemporaryDirectory("registry-cache").path,
                "MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": "", "MLFLOW_TRACKING_TOKEN": "",
            ].merging(credentials) { $1 })
        }

        let none = try scoreCluster(["model", "inspect", "models:/guarded@champion"], [:])
        #expect(none.status == 1)
        #expect(none.stderr.contains("models:/guarded@champion: the MLflow tracking server at \(server.url) refused the request as unauthenticated (401"), "\(none.stderr)")
        #expect(none.stderr.contains("set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"))

        let output = fixture.outputPath("registry-auth")
        let wrong = try scoreCluster(["run", "--model", "models:/guarded@champion", "--input", fixture.dataset.path, "--output", output,
                                      "--columns", "f1,f2,f3", "--workers", "1", "--log-level", "debug", "--report", output + ".json"],
                                     ["MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": secret])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("refused the request as unauthenticated (401"), "\(wrong.stderr)")
        #expect(wrong.stderr.contains("check MLFLOW_TRACKING_USERNAME (admin) and MLFLOW_TRACKING_PASSWORD"))
        #expect(!FileManager.default.fileExists(atPath: output))
        let token = try scoreCluster(["model", "inspect", "models:/guarded@champion"], ["MLFLOW_TRACKING_TOKEN": secret])
        #expect(token.status == 1 && token.stderr.contains("check MLFLOW_TRACKING_TOKEN"), "\(token.stderr)")
        // Not in any output, not even at debug level, not in the report.
        let report = (try? String(contentsOfFile: output + ".json", encoding: .utf8)) ?? ""
        for text in [wrong.stdout, wrong.stderr, token.stdout, token.stderr, report] {
            #expect(!text.contains(secret))
            #expect(!text.contains(Data("admin:\(secret)".utf8).base64EncodedString()))
        }

        let right = try scoreCluster(["run", "--model", "models:/guarded@champion", "--input", fixture.dataset.path, "--output", output,
                                      "--columns", "f1,f2,f3", "--workers", "1", "--preview", "0", "--log-level", "debug"], admin)
        #expect(right.status == 0, "\(right.stderr)")
        #expect(right.stderr.contains("models:/guarded@champion is version 1 of 'guarded'"))
        #expect(!right.stderr.contains(MLflowTrackingServer.adminPassword))
        let checked = try server.runFixture("check_registry_outputs.py", [fixture.dataset.path, "f1,f2,f3", "models:/guarded@champion=\(output)"],
                                            environment: admin)
        #expect(checked.contains("OK"))
    }
}
