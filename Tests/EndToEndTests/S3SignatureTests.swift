import Foundation
import Testing
import TestSupport

/// Every request score-cluster makes to a store, checked the way AWS checks it: a moto server
/// of its own with authentication on (IAM keys, Signature V4 verified on each request), a job
/// reading and writing through it (listing, ranged reads, multipart uploads, completion), and a
/// wrong secret refused with an error that says to check the credentials.
@Suite(.serialized) struct S3SignatureTests {
    @Test func aStoreThatChecksSignaturesAcceptsEveryRequest() throws {
        let fixture = try EndToEndFixture.shared.get()
        let s3 = try S3APIServer()
        defer { s3.stop() }
        let local = try TestEnvironment.makeTemporaryDirectory("s3-auth").appendingPathComponent("copy")
        let made = try TestEnvironment.run(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/make_s3_dataset.py").path, s3.endpoint, "signed", "events",
            local.path, "--rows", "30000", "--files", "2", "--row-group", "10000",
        ], environment: s3.credentials)
        #expect(made.status == 0, "\(made.stderr)")
        let enforce = try TestEnvironment.run(MLflowTrackingServer.servicesPython, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/s3_enforce_auth.py").path, s3.endpoint,
        ], environment: s3.credentials)
        #expect(enforce.status == 0, "\(enforce.stderr)")
        let keys = try JSONSerialization.jsonObject(with: Data(enforce.stdout.utf8)) as? [String: String] ?? [:]
        let key = try #require(keys["key"]), secret = try #require(keys["secret"])
        let arguments = ["run", "--model", fixture.seedModel.path, "--columns", "f1,f2,f3,f4", "--workers", "2", "--quiet",
                         "--partition-rows", "10000", "--input", "s3://signed/events", "--output", "s3://signed/scores"]

        let wrong = try S3InputTests.run(s3, arguments, environment: ["AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret + "x"])
        #expect(wrong.status == 1)
        // The first request is a HEAD, whose refusal has no body to name SignatureDoesNotMatch.
        #expect(wrong.stderr.contains("answered 403") && wrong.stderr.contains("check the credentials"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains(secret))

        let signed = try S3InputTests.run(s3, arguments, environment: ["AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret])
        #expect(signed.status == 0, "\(signed.stderr)")
        var keyed = s3.credentials
        keyed["AWS_ACCESS_KEY_ID"] = key
        keyed["AWS_SECRET_ACCESS_KEY"] = secret
        let state = try TestEnvironment.run(MLflowTrackingServer.servicesPython, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/s3_state.py").path, "signed", "scores"], environment: keyed)
        #expect(state.status == 0, "\(state.stderr)")
        #expect(state.stdout.contains("\"part-00002.parquet\"") && state.stdout.contains("\"_SUCCESS\"") && state.stdout.contains("\"uploads\": []"),
                "\(state.stdout)")
    }
}
