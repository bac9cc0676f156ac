import Foundation
import MLflowModel
import Testing
@testable import Coordinator

/// `--resume` compares what a registry URI resolved to, not the URI's text.
@Suite struct RegistryFingerprintTests {
    func fingerprint(_ uri: String?, version: String?, sha: String) -> JobFingerprint {
        let model = uri.map { ModelProvenance(uri: $0, trackingServer: "http://127.0.0.1:5000", registeredModel: "fraud", version: version,
                                              runID: "r\(version ?? "")", source: "mlflow-artifacts:/0/models/m-\(version ?? "")/artifacts", sha256: sha) }
        return JobFingerprint(inputFiles: [.init(path: "a.parquet", bytes: 10, rows: 2)], modelSHA256: sha, settings: ["result type": "double"], model: model)
    }

    @Test func aMovedAliasNamesBothVersionsAndTheWayOn() {
        let then = fingerprint("models:/fraud@champion", version: "3", sha: String(repeating: "a", count: 64))
        let now = fingerprint("models:/fraud@champion", version: "4", sha: String(repeating: "b", count: 64))
        let differences = now.differences(from: then)
        #expect(differences == ["models:/fraud@champion now resolves to version 4 of 'fraud', and the job was started with version 3 (from models:/fraud@champion); "
                                + "resume with --model models:/fraud/3 to finish it with version 3, or start over with --overwrite to score with version 4"])
    }

    @Test func theRecordedVersionNamedExplicitlyIsTheSameJob() {
        let sha = String(repeating: "c", count: 64)
        let then = fingerprint("models:/fraud@champion", version: "3", sha: sha)
        #expect(fingerprint("models:/fraud/3", version: "3", sha: sha).differences(from: then).isEmpty)
        // The same files from a local directory are the same model too.
        #expect(fingerprint(nil, version: nil, sha: sha).differences(from: then).isEmpty)
    }

    @Test func aChangedModelWithoutARegistryVersionIsStillRefused() {
        let then = fingerprint(nil, version: nil, sha: String(repeating: "d", count: 64))
        let now = fingerprint(nil, version: nil, sha: String(repeating: "e", count: 64))
        #expect(now.differences(from: then).first?.hasPrefix("the model changed (SHA-256 dddddddddddd… then") == true)
    }

    @Test func manifestsWrittenBeforeRegistryURIsStillDecode() throws {
        let old = #"{"inputFiles":[{"path":"a.parquet","bytes":10,"rows":2}],"modelSHA256":"ab","settings":{}}"#
        let decoded = try JSONDecoder().decode(JobFingerprint.self, from: Data(old.utf8))
        #expect(decoded.model == nil)
        #expect(decoded.modelSHA256 == "ab")
    }
}
