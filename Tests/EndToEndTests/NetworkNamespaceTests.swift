#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// Two network namespaces joined to this one by veth pairs: as far as the network goes, each
/// is another machine. Creating them needs root (CI runs as root).
enum NetworkNamespaces {
    /// Whether namespaces can be made here; probed once.
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip") else { return false }
        let name = "sc-probe-\(getpid())"
        defer { _ = try? ip(["netns", "del", name]) }
        return (try? ip(["netns", "add", name])) != nil
    }()

    static var ipPath: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip" }

    @discardableResult
    static func ip(_ arguments: [String]) throws -> String {
        let result = try TestEnvironment.run(ipPath, arguments)
        guard result.status == 0 else { throw TestFailure("ip \(arguments.joined(separator: " ")): \(result.stderr)") }
        return result.stdout
    }

    /// Creates namespace `name` reachable as `peer` from here, where this side is `host` (/24).
    static func create(_ name: String, link: String, host: String, peer: String) throws {
        try ip(["netns", "add", name])
        try ip(["link", "add", link, "type", "veth", "peer", "name", link + "p"])
        try ip(["link", "set", link + "p", "netns", name])
        try ip(["addr", "add", host + "/24", "dev", link])
        try ip(["link", "set", link, "up"])
        try ip(["netns", "exec", name, "ip", "addr", "add", peer + "/24", "dev", link + "p"])
        try ip(["netns", "exec", name, "ip", "link", "set", link + "p", "up"])
        try ip(["netns", "exec", name, "ip", "link", "set", "lo", "up"])
    }

    /// Removes the namespace (its end of the veth pair goes with it, and so does ours).
    static func remove(_ name: String, link: String) {
        _ = try? ip(["netns", "del", name])
        _ = try? ip(["link", "del", link])
    }
}

@Suite("Workers in other network namespaces", .serialized,
       .enabled(if: NetworkNamespaces.available, "needs root and `ip netns` (CI runs as root); skipped here"))
struct NetworkNamespaceTests {
    @Test("coordinator + 2 workers in separate namespaces, model shipped, plain TCP and TLS: output equals the one-machine run",
          arguments: [false, true])
    func acrossNamespaces(tls: Bool) throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("netns")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "netns-secret-\(UUID().uuidString)")
        let tag = String(getpid() % 10_000)
        let spaces = [("sc\(tag)a", "vsc\(tag)a", "10.231.1.1", "10.231.1.2"), ("sc\(tag)b", "vsc\(tag)b", "10.231.2.1", "10.231.2.2")]
        defer { for (name, link, _, _) in spaces { NetworkNamespaces.remove(name, link: link) } }
        for (name, link, host, peer) in spaces { try NetworkNamespaces.create(name, link: link, host: host, peer: peer) }

        // The model is given only to the coordinator; the workers get it over the veth links.
        let model = fixture.seedModel.path
        let job = ["--model", model, "--input", fixture.dataset.path, "--columns", "f0,f1,f2,f3", "--preview", "0",
                   "--partition-rows", "1000", "--batch-size", "400"]
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath(tls ? "netns-tls" : "netns")
        let venv = EndToEndFixture.venv
        // With TLS the workers check the coordinator's certificate by the name it carries
        // (--tls-server-name), not by the namespace address they connect to.
        let certificates = tls ? try TestCertificates.make() : nil
        let coordinatorTLS = certificates.map { ["--tls-certificate", $0.certificateFile, "--tls-key", $0.keyFile] } ?? []
        let workerTLS = certificates.map { ["--tls-ca", $0.caFile, "--tls-server-name", "coordinator.test"] } ?? []
        let coordinator = try BackgroundProcess(EndToEndFixture.binary,
            ["coordinator", "--listen", "0.0.0.0:\(port)", "--min-workers", "2", "--token-file", token,
             "--wait-for-workers", "120", "--output", output, "--report", output + "-report.json"] + coordinatorTLS + job,
            environment: ["VIRTUAL_ENV": venv])
        #expect(BackgroundProcess.waitFor(seconds: 30) { coordinator.stderr.contains("listening for workers") }, "\(coordinator.stderr)")
        #expect(coordinator.stderr.contains("links to workers are not encrypted") == !tls, "\(coordinator.stderr)")
        var workers: [BackgroundProcess] = []
        for (name, _, host, _) in spaces {
            workers.append(try BackgroundProcess(NetworkNamespaces.ipPath,
                ["netns", "exec", name, EndToEndFixture.binary, "worker", "--connect", "\(host):\(port)", "--token-file", token,
                 "--model-cache", dir.appendingPathComponent("cache-\(name)").path, "--python-env", venv] + workerTLS))
        }
        let result = coordinator.wait(seconds: 300)
        #expect(result.status == 0, "\(result.stderr)")
        for worker in workers {
            let w = worker.wait(seconds: 30)
            #expect(w.status == 0 && w.stderr.contains("received the model"), "\(w.stderr)")
        }
        // Both workers scored, from their namespaces' addresses.
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "-report.json"))) as? [String: Any]
        let peers = (report?["workers"] as? [[String: Any]] ?? []).compactMap { $0["peer"] as? String }
        #expect(peers.contains { $0.hasPrefix("10.231.1.2:") } && peers.contains { $0.hasPrefix("10.231.2.2:") }, "\(peers)")

        let local = fixture.outputPath(tls ? "netns-tls-local" : "netns-local")
        let run = try EndToEndFixture.scoreCluster(["run", "--output", local, "--workers", "2"] + job)
        #expect(run.status == 0, "\(run.stderr)")
        let verdict = try TestEnvironment.runPython("""
            import os, sys, pyarrow as pa, pyarrow.parquet as pq
            def read(d):
                return pa.concat_tables([pq.read_table(os.path.join(d, f)) for f in sorted(os.listdir(d)) if f.endswith(".parquet")])
            a, b = read(sys.argv[1]), read(sys.argv[2])
            assert a.equals(b), "the outputs differ"
            print("same", a.num_rows)
            """, [output, local])
        #expect(verdict.hasPrefix("same 7301"))
    }
}
