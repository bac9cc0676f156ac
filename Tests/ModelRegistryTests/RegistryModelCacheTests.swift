import Foundation
import MLflowModel
import TestSupport
import Testing
@testable import ModelRegistry

/// The registry cache keeps whole entries only and trusts a copy only while its files hash as recorded.
@Suite struct RegistryModelCacheTests {
    func entry(sha: String, files: [ArtifactStore.RemoteFile]) -> RegistryModelCache.Entry {
        .init(provenance: ModelProvenance(uri: "models:/fraud@champion", trackingServer: "http://h:5000", registeredModel: "fraud", version: "3",
                                          source: "mlflow-artifacts:/x", sha256: sha), files: files)
    }

    @Test func installedEntriesAreFoundUntilTheirFilesChange() throws {
        let root = try TestEnvironment.makeTemporaryDirectory("registry-cache")
        let cache = RegistryModelCache(directory: root.path + "/registry")
        let key = RegistryModelCache.key(server: "http://h:5000", identity: "models:/fraud/3")
        #expect(key.hasPrefix("fraud-3-"))
        #expect(key != RegistryModelCache.key(server: "http://other:5000", identity: "models:/fraud/3"))
        let lock = try cache.lock(key, uri: "models:/fraud@champion")
        defer { lock.unlock() }
        let files = [ArtifactStore.RemoteFile(path: "MLmodel", size: 5)]
        let incoming = try cache.incoming(key, uri: "models:/fraud@champion")
        try FileManager.default.createDirectory(atPath: incoming + "/model", withIntermediateDirectories: true)
        try "hello".write(toFile: incoming + "/model/MLmodel", atomically: true, encoding: .utf8)
        let sha = try ModelDigest.sha256(ofDirectory: incoming + "/model")
        let directory = try cache.install(incoming, as: key, entry: entry(sha: sha, files: files), uri: "models:/fraud@champion")

        #expect(cache.valid(key, files: files)?.modelDirectory == directory)
        // Another listing on the server (a file added or resized) is not this entry.
        #expect(cache.valid(key, files: files + [.init(path: "model.pkl", size: 9)]) == nil)
        try "HELLO".write(toFile: directory + "/MLmodel", atomically: true, encoding: .utf8)
        #expect(cache.valid(key, files: files) == nil)
    }

    @Test func abandonedDownloadsAreRemovedByTheNextFetch() throws {
        let root = try TestEnvironment.makeTemporaryDirectory("registry-cache")
        let cache = RegistryModelCache(directory: root.path)
        let key = RegistryModelCache.key(server: "http://h:5000", identity: "runs:/abc/model")
        try FileManager.default.createDirectory(atPath: root.path + "/.\(key).incoming-dead01/model", withIntermediateDirectories: true)
        let lock = try cache.lock(key, uri: "runs:/abc/model")
        lock.unlock()
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == [".\(key).lock"])
    }
}
