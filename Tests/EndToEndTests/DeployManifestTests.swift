import Foundation
import Testing
import TestSupport

/// `deploy/kubernetes` checked against Kubernetes' own OpenAPI schemas (kubernetes-validate, from
/// the services environment, strict: unknown fields are errors), with no cluster.
@Suite struct DeployManifestTests {
    static var validator: String { TestEnvironment.repoRoot.appendingPathComponent(".venv-services/bin/kubernetes-validate").path }

    func validate(_ files: [String]) throws -> TestEnvironment.ProcessResult {
        guard FileManager.default.isExecutableFile(atPath: Self.validator) else {
            throw TestFailure("kubernetes-validate is missing (\(Self.validator)): run scripts/setup.sh, which builds .venv-services")
        }
        return try TestEnvironment.run(Self.validator, ["--strict", "-k", "1.30.0"] + files)
    }

    @Test func everyManifestIsValidStrictly() throws {
        let dir = TestEnvironment.repoRoot.appendingPathComponent("deploy/kubernetes")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" }
        #expect(files.count >= 6)
        let result = try validate(files.map { dir.appendingPathComponent($0).path })
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for file in files { #expect(result.stdout.contains("\(file) passed") || result.stderr.contains("\(file) passed"), "\(file): \(result.stdout)\(result.stderr)") }
    }

    @Test func theValidatorCatchesAMisspelledField() throws {
        // The check above could pass by checking nothing: a typo in a copy must fail it.
        let original = try String(contentsOf: TestEnvironment.repoRoot.appendingPathComponent("deploy/kubernetes/workers-job.yaml"), encoding: .utf8)
        #expect(original.contains("restartPolicy:"))
        let broken = try TestEnvironment.makeTemporaryDirectory("manifests").appendingPathComponent("workers-job.yaml")
        try original.replacingOccurrences(of: "restartPolicy:", with: "restartPolicyy:").write(to: broken, atomically: true, encoding: .utf8)
        let result = try validate([broken.path])
        #expect(result.status != 0)
        #expect((result.stdout + result.stderr).contains("restartPolicyy"), "\(result.stdout)\(result.stderr)")
    }
}
