import Foundation
import TestSupport
import Testing

/// `score-cluster coordinator` with workers started by hand, as on other machines: they prove the
/// shared token, receive the model by content hash, and a worker with the wrong token is refused.
@Suite("Coordinator with connecting workers", .serialized)
struct RemoteWorkersTests {
    @Test("two workers with the token score the job with a model they received; a wrong token is refused")
    func coordinatorAndWorkers() throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("remote")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "a-shared-secret-of-some-length-1234")
        let wrong = try EndToEndFixture.makeTokenFile(in: dir, "another-secret-of-some-length-5678", name: "wrong")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("remote")
        let venv = EndToEndFixture.venv

        nonisolated(unsafe) var coordinator: TestEnvironment.ProcessResult?
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            coordinator = try? TestEnvironment.run(EndToEndFixture.binary, [
                "coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "2", "--token-file", token,
                "--wait-for-workers", "120", "--model", fixture.seedModel.path, "--input", fixture.dataset.path,
                "--output", output, "--columns", "f0,f1,f2,f3", "--preview", "0"])
            done.signal()
        }
        // Workers retry until the coordinator listens.
        @Sendable func worker(_ tokenFile: String, cache: String) -> TestEnvironment.ProcessResult? {
            for _ in 0..<50 {
                let result = try? TestEnvironment.run(EndToEndFixture.binary,
                    ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", tokenFile, "--model-cache", cache],
                    environment: ["VIRTUAL_ENV": venv])
                if let result, result.stderr.contains("Connection refused") { usleep(200_000); continue }
                return result
            }
            return nil
        }
        let refused = worker(wrong, cache: dir.appendingPathComponent("cache-x").path)
        nonisolated(unsafe) var workers: [TestEnvironment.ProcessResult?] = [nil, nil]
        let group = DispatchGroup()
        for i in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                workers[i] = worker(token, cache: dir.appendingPathComponent("cache-\(i)").path)
                group.leave()
            }
        }
        group.wait()
        done.wait()
        let result = try #require(coordinator)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("with 2 worker(s)"))
        #expect(result.stderr.contains("wrong token"))
        #expect(refused?.status != 0 && refused?.stderr.contains("wrong token") == true)
        for (i, w) in workers.enumerated() {
            #expect(w?.status == 0, "\(w?.stderr ?? "")")
            #expect(w?.stderr.contains("received the model") == true)
            let cached = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("cache-\(i)").path)
            #expect(cached.contains { $0.count == 64 })
        }
        let checker = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_e2e_output.py").path
        let check = try TestEnvironment.run(TestEnvironment.python, [checker, fixture.dataset.path, output,
                                                                     fixture.seedModel.path, "seed", "f0,f1,f2,f3"])
        #expect(check.status == 0 && check.stdout.contains("OK"), "\(check.stderr)")
    }
}

@Suite("Workers kept alive between jobs", .serialized)
struct KeepAliveTests {
    @Test("a --keep-alive worker serves two coordinators in turn, loads the model once and exits after --idle-timeout")
    func twoJobs() throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("keep-alive")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "keep-alive-secret-0123456789")
        // Loading takes 2 s, so that a second load would show in the report.
        let model = try fixture.makeSeedModel("""
            import time
            class M:
                def predict(self, df):
                    return df['0'] * 2
            def load_pyfunc(path):
                time.sleep(2)
                return M()
            """)
        let port = EndToEndFixture.randomPort()
        let venv = EndToEndFixture.venv
        let worker = try BackgroundProcess(EndToEndFixture.binary,
            ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token, "--keep-alive", "--idle-timeout", "4",
             "--model-cache", dir.appendingPathComponent("cache").path, "--python-env", venv])
        defer { worker.signal(SIGKILL); worker.wait(seconds: 5) }
        var loads: [Double] = []
        for job in 0..<2 {
            let output = fixture.outputPath("keep-alive-\(job)")
            let run = try EndToEndFixture.scoreCluster([
                "coordinator", "--listen", "127.0.0.1:\(port)", "--token-file", token, "--wait-for-workers", "60",
                "--model", model.path, "--input", fixture.dataset.path, "--output", output, "--columns", "f1",
                "--preview", "0", "--report", output + "-report.json"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(FileManager.default.fileExists(atPath: output + "/_SUCCESS"))
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "-report.json"))) as? [String: Any]
            let workers = report?["workers"] as? [[String: Any]] ?? []
            #expect(workers.count == 1 && workers[0]["rows"] as? Int == 7301)
            loads.append(workers.first?["loadSeconds"] as? Double ?? -1)
        }
        #expect(loads[0] >= 2 && loads[1] == 0, "load times \(loads)")
        #expect(worker.stderr.contains("reusing the loaded model"))
        // No job comes: the worker goes away by itself, and reconnecting while each
        // coordinator wound down was not logged as a failed job.
        let ended = worker.wait(seconds: 30)
        #expect(ended.status == 0, "\(ended.stderr)")
        #expect(ended.stderr.contains("no job for 4 s; exiting (--idle-timeout)"), "\(ended.stderr)")
        #expect(!ended.stderr.contains("failed") && !ended.stderr.contains("error"), "\(ended.stderr)")
    }
}

@Suite("Strangers on the coordinator's port", .serialized)
struct StrangerTests {
    @Test("random bytes, an oversized frame, another protocol version and a silent peer are refused and logged; the job is unaffected")
    func strangers() throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("strangers")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "stranger-test-secret-0123456789")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("strangers")
        let venv = EndToEndFixture.venv
        let coordinator = try BackgroundProcess(EndToEndFixture.binary,
            ["coordinator", "--listen", "127.0.0.1:\(port)", "--token-file", token, "--wait-for-workers", "120",
             "--model", fixture.seedModel.path, "--input", fixture.dataset.path, "--output", output,
             "--columns", "f0,f1,f2,f3", "--preview", "0", "--report", output + "-report.json"],
            environment: ["VIRTUAL_ENV": venv])
        #expect(BackgroundProcess.waitFor(seconds: 30) { coordinator.stderr.contains("listening for workers") }, "\(coordinator.stderr)")
        // Each stranger reads the coordinator's challenge, then misbehaves.
        let sent = try TestEnvironment.runPython("""
            import os, socket, struct, sys, time
            port = int(sys.argv[1])
            def header(version, kind, length):
                return b"SCF1" + struct.pack("<BBHQ", version, kind, 0, length)
            attempts = {
                "random": os.urandom(256),
                "oversized": header(2, 9, 1 << 40),  # this protocol version (FrameHeader.currentVersion), too large
                "version": header(99, 9, 2) + b"{}",
                "silent": b"",
            }
            for name, payload in attempts.items():
                s = socket.create_connection(("127.0.0.1", port))
                s.settimeout(5)
                s.recv(4096)
                if payload:
                    s.sendall(payload)
                    try:
                        s.recv(4096)
                    except OSError:
                        pass
                s.close()
            print("sent", len(attempts))
            """, [String(port)])
        #expect(sent.contains("sent 4"))
        let worker = try BackgroundProcess(EndToEndFixture.binary,
            ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token,
             "--model-cache", dir.appendingPathComponent("cache").path, "--python-env", venv])
        let result = coordinator.wait(seconds: 180)
        worker.wait(seconds: 30)
        #expect(result.status == 0, "\(result.stderr)")
        let refusals = result.stderr.split(separator: "\n").filter { $0.contains("refused") }
        #expect(refusals.count >= 3, "\(result.stderr)")
        #expect(result.stderr.contains("version") && result.stderr.contains("exceeds the limit"), "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "-report.json"))) as? [String: Any]
        #expect(report?["rows"] as? Int == 7301)
        #expect((report?["workers"] as? [Any])?.count == 1)
        #expect(report?["workersLost"] as? Int == 0)
    }
}

@Suite("A coordinator that goes silent", .serialized)
struct SilentCoordinatorTests {
    @Test("a worker whose coordinator stops (SIGSTOP: the connection stays open) leaves after --coordinator-timeout")
    func silentCoordinator() throws {
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("silent")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "silent-coordinator-secret-0123")
        let model = try fixture.makeSeedModel("""
            import time
            class M:
                def predict(self, df):
                    time.sleep(0.5)
                    return df['0']
            def load_pyfunc(path):
                return M()
            """)
        let port = EndToEndFixture.randomPort()
        let venv = EndToEndFixture.venv
        let output = fixture.outputPath("silent")
        let coordinator = try BackgroundProcess(EndToEndFixture.binary,
            ["coordinator", "--listen", "127.0.0.1:\(port)", "--token-file", token, "--model", model.path,
             "--input", fixture.dataset.path, "--output", output, "--columns", "f1", "--batch-size", "500", "--preview", "0",
             "--log-level", "debug"],
            environment: ["VIRTUAL_ENV": venv])
        defer {
            coordinator.signal(SIGKILL)
            coordinator.signal(SIGCONT)
            coordinator.wait(seconds: 10)
        }
        let worker = try BackgroundProcess(EndToEndFixture.binary,
            ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token, "--coordinator-timeout", "4",
             "--model-cache", dir.appendingPathComponent("cache").path, "--python-env", venv])
        #expect(BackgroundProcess.waitFor(seconds: 60) { coordinator.stderr.contains("ready (model loaded") }, "\(coordinator.stderr)")
        coordinator.signal(SIGSTOP)
        let stopped = Date()
        let result = worker.wait(seconds: 30)
        let waited = Date().timeIntervalSince(stopped)
        #expect(result.status == 1)
        #expect(result.stderr.contains("sent nothing for 4 s (no heartbeat)"), "\(result.stderr)")
        #expect(waited >= 3 && waited < 20, "the worker left after \(waited) s")
    }
}

@Suite("Workers over TLS", .serialized)
struct TLSWorkersTests {
    @Test("a coordinator with a certificate scores with a worker that trusts its CA; a worker without TLS is told what to pass")
    func tlsJob() throws {
        let fixture = try EndToEndFixture.shared.get()
        let certificates = try TestCertificates.make()
        let dir = try TestEnvironment.makeTemporaryDirectory("tls-job")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "tls-job-secret-0123456789abcdef")
        let port = EndToEndFixture.randomPort()
        let output = fixture.outputPath("tls")
        let venv = EndToEndFixture.venv
        let coordinator = try BackgroundProcess(EndToEndFixture.binary,
            ["coordinator", "--listen", "127.0.0.1:\(port)", "--token-file", token, "--wait-for-workers", "120",
             "--tls-certificate", certificates.certificateFile, "--tls-key", certificates.keyFile,
             "--model", fixture.seedModel.path, "--input", fixture.dataset.path, "--output", output,
             "--columns", "f0,f1,f2,f3", "--preview", "0"])
        defer { coordinator.signal(SIGKILL); coordinator.wait(seconds: 5) }
        #expect(BackgroundProcess.waitFor(seconds: 30) { coordinator.stderr.contains("listening for workers") }, "\(coordinator.stderr)")
        #expect(coordinator.stderr.contains("(TLS)") && coordinator.stderr.contains("--tls-ca FILE"), "\(coordinator.stderr)")

        let worker = ["worker", "--connect", "127.0.0.1:\(port)", "--token-file", token, "--python-env", venv,
                      "--model-cache", dir.appendingPathComponent("cache").path]
        let plain = try TestEnvironment.run(EndToEndFixture.binary, worker)
        #expect(plain.status != 0)
        #expect(plain.stderr.contains("this coordinator requires TLS: start the worker with --tls-ca"), "\(plain.stderr)")
        let stranger = try TestEnvironment.run(EndToEndFixture.binary, worker + ["--tls-ca", certificates.strangerFile])
        #expect(stranger.status != 0)
        #expect(stranger.stderr.contains("certificate verify failed"), "\(stranger.stderr)")

        let trusted = try TestEnvironment.run(EndToEndFixture.binary, worker + ["--tls-ca", certificates.caFile])
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect(trusted.stderr.contains("received the model"), "\(trusted.stderr)")
        let ended = coordinator.wait(seconds: 120)
        #expect(ended.status == 0, "\(ended.stderr)")
        #expect(ended.stderr.contains("did not start TLS") && ended.stderr.contains("unknown ca"), "\(ended.stderr)")
        let checker = TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_e2e_output.py").path
        let check = try TestEnvironment.run(TestEnvironment.python, [checker, fixture.dataset.path, output,
                                                                     fixture.seedModel.path, "seed", "f0,f1,f2,f3"])
        #expect(check.status == 0 && check.stdout.contains("OK"), "\(check.stderr)")
    }
}
