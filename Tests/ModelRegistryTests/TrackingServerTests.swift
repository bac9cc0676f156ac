import Foundation
import HTTP
import Testing
@testable import ModelRegistry

/// The tracking server and credentials are read as MLflow's client reads them, and credentials
/// never reach a message.
@Suite struct TrackingServerTests {
    @Test func urlsAndCredentialsFromTheEnvironment() throws {
        let basic = try TrackingServer(trackingURI: nil, environment: [
            "MLFLOW_TRACKING_URI": "http://mlflow.internal:5000/", "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "s3cret",
        ], for: "models:/m/1")
        #expect(basic.trackingURL == "http://mlflow.internal:5000")
        #expect(basic.registryURL == basic.trackingURL)
        #expect(basic.authorizationHeader.map(\.value) == ["Basic " + Data("alice:s3cret".utf8).base64EncodedString()])
        #expect(!basic.description.contains("s3cret"))

        let token = try TrackingServer(trackingURI: "https://tracking.example", environment: [
            "MLFLOW_TRACKING_URI": "http://ignored:5000", "MLFLOW_REGISTRY_URI": "https://registry.example",
            "MLFLOW_TRACKING_TOKEN": "tok", "MLFLOW_TRACKING_USERNAME": "alice",
            "MLFLOW_TRACKING_SERVER_CERT_PATH": "/etc/ca.pem", "MLFLOW_TRACKING_INSECURE_TLS": "true",
        ], for: "models:/m/1")
        #expect(token.trackingURL == "https://tracking.example")
        #expect(token.registryURL == "https://registry.example")
        #expect(token.authorizationHeader.map(\.value) == ["Bearer tok"])
        #expect(token.tls.caFile == "/etc/ca.pem")
        #expect(token.tls.verifyTLS == false)
        #expect(!token.credentialAdvice.contains("tok") && !basic.credentialAdvice.contains("s3cret"))
    }

    @Test func noServerOrANonHTTPStoreSaysWhatToDo() {
        let unset = #expect(throws: RegistryError.self) { try TrackingServer(trackingURI: nil, environment: [:], for: "models:/m@a") }
        #expect(unset?.description == "models:/m@a: no MLflow tracking server is set: export MLFLOW_TRACKING_URI=http://HOST:5000 (or pass --tracking-uri)")
        let sqlite = #expect(throws: RegistryError.self) {
            try TrackingServer(trackingURI: nil, environment: ["MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"], for: "models:/m@a")
        }
        #expect(sqlite?.message.contains("mlflow server --backend-store-uri sqlite:///mlflow.db --serve-artifacts") == true)
        let inURL = #expect(throws: RegistryError.self) {
            try TrackingServer(trackingURI: "http://bob:hunter2@host:5000", environment: [:], for: "models:/m@a")
        }
        #expect(inURL?.message.contains("MLFLOW_TRACKING_USERNAME") == true)
        #expect(inURL?.description.contains("hunter2") == false)
        // A password that makes the URL unparsable is removed all the same.
        let unparsable = #expect(throws: RegistryError.self) {
            try TrackingServer(trackingURI: "https://bob:pa/ss#w@host:5000", environment: [:], for: "models:/m@a")
        }
        #expect(unparsable?.description.contains("pa/ss") == false, "\(String(describing: unparsable))")
    }

    @Test func backoffGrowsAndStaysBounded() {
        let policy = RetryPolicy(attempts: 6, baseDelay: 0.5, maxDelay: 3)
        for attempt in 1...10 {
            let ceiling = min(3, 0.5 * Double(1 << (attempt - 1)))
            for _ in 0..<50 { #expect((0...ceiling).contains(policy.delay(beforeRetry: attempt))) }
        }
    }
}
