import Foundation
import TestSupport
import Testing

/// The models the registry tests score, logged and registered once on the shared tracking server.
struct RegistryFixture: Sendable {
    let server: MLflowTrackingServer
    /// `registry_models.py`'s answer: version → run id, logged model id, artifact location.
    let versions: [String: [String: String]]
    /// The run holding the `classic`, `notes` and `raw` artifacts.
    let artifactsRun: String

    static let shared: Result<RegistryFixture, Error> = Result {
        let server = try MLflowTrackingServer.shared.get()
        // MLflow prints links to the runs first: the JSON is the last line.
        let made = try server.runFixture("registry_models.py").split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(made.utf8)) as? [String: Any],
              let versions = object["versions"] as? [String: [String: String]], let run = object["artifacts_run"] as? String else {
            throw TestFailure("registry_models.py printed \(made)")
        }
        return RegistryFixture(server: server, versions: versions, artifactsRun: run)
    }

    /// Runs `score-cluster` against the server, with its own model cache unless `cache` is given.
    func scoreCluster(_ arguments: [String], cache: URL? = nil, environment: [String: String] = [:]) throws -> TestEnvironment.ProcessResult {
        let cacheHome = try cache ?? TestEnvironment.makeTemporaryDirectory("registry-cache")
        return try TestEnvironment.run(EndToEndFixture.binary, arguments, environment: [
            "VIRTUAL_ENV": EndToEndFixture.venv, "MLFLOW_TRACKING_URI": server.url, "XDG_CACHE_HOME": cacheHome.path,
            "MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": "", "MLFLOW_TRACKING_TOKEN": "",
        ].merging(environment) { $1 })
    }

    /// Scores the end-to-end dataset's f1, f2, f3 with `model`; returns the output and the report.
    func score(_ model: String, cache: URL? = nil, _ extra: [String] = []) throws -> (output: String, result: TestEnvironment.ProcessResult, report: [String: Any]) {
        let fixture = try EndToEndFixture.shared.get()
        let output = fixture.outputPath("registry")
        let report = output + ".report.json"
        let result = try scoreCluster(["run", "--model", model, "--input", fixture.dataset.path, "--output", output,
                                       "--columns", "f1,f2,f3", "--workers", "1", "--preview", "0", "--report", report] + extra, cache: cache)
        let object = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report)))) as? [String: Any] ?? [:]
        return (output, result, object)
    }

    /// Checks each output against `mlflow.pyfunc.load_model(uri).predict` (MLflow's own client).
    func expectPredictionsMatchMLflow(_ outputs: [(uri: String, output: String)]) throws {
        let fixture = try EndToEndFixture.shared.get()
        let checked = try server.runFixture("check_registry_outputs.py", [fixture.dataset.path, "f1,f2,f3"] + outputs.map { "\($0.uri)=\($0.output)" })
        #expect(checked.contains("OK"))
    }

    /// Points `alias` of 'fraud' at `version`.
    func setAlias(_ alias: String, _ version: String) throws {
        _ = try TestEnvironment.run(TestEnvironment.python, ["-c", "from mlflow.tracking import MlflowClient; MlflowClient().set_registered_model_alias('fraud', '\(alias)', '\(version)')"],
                                    environment: ["MLFLOW_TRACKING_URI": server.url])
    }
}

/// Models named by MLflow URIs, resolved against a real `mlflow server` (SQLite store, artifacts
/// served by its proxy) started by the tests, and scored as MLflow itself loads them.
@Suite("Models from an MLflow tracking server and registry", .serialized)
struct RegistryTests {
    @Test("every URI form resolves to the model MLflow loads for it and scores exactly as mlflow.pyfunc.load_model(uri).predict; the report and the log name what it resolved to")
    func everyURIForm() throws {
        let registry = try RegistryFixture.shared.get()
        let v1 = try #require(registry.versions["1"]), v2 = try #require(registry.versions["2"])
        // One job per distinct model (a worker's start costs seconds); every other form must
        // resolve to one of them by content digest, and MLflow's predictions for each form must
        // equal that job's output.
        let scored = ["models:/fraud@champion", "runs:/\(v2["run_id"]!)/model", "runs:/\(registry.artifactsRun)/classic"]
        var outputBySHA: [String: String] = [:]
        var reports: [String: [String: Any]] = [:]
        for uri in scored {
            let (output, result, report) = try registry.score(uri)
            #expect(result.status == 0, "\(uri): \(result.stderr)")
            let model = report["model"] as? [String: Any]
            let provenance = try #require(model?["provenance"] as? [String: Any], "\(uri): \(report)")
            #expect(provenance["uri"] as? String == uri)
            #expect((model?["fetch"] as? [String: Any])?["downloaded"] as? Bool == true)
            let sha = try #require(provenance["sha256"] as? String)
            #expect(sha.count == 64)
            outputBySHA[sha] = output
            reports[uri] = provenance
            if uri == "models:/fraud@champion" {
                #expect(result.stderr.contains("models:/fraud@champion is version 1 of 'fraud', run \(v1["run_id"]!)"), "\(result.stderr)")
            }
        }
        #expect(outputBySHA.count == 3)
        // The alias resolved to version 1, its run, logged model and artifact location.
        let champion = try #require(reports["models:/fraud@champion"])
        #expect(champion["registeredModel"] as? String == "fraud")
        #expect(champion["version"] as? String == "1")
        #expect(champion["runID"] as? String == v1["run_id"])
        #expect(champion["loggedModelID"] as? String == v1["model_id"])
        #expect(champion["source"] as? String == v1["artifact_uri"])

        let inspected: [(uri: String, resolved: String)] = [
            ("models:/fraud/1", "version 1 of 'fraud'"), ("models:/fraud/latest", "version 2 of 'fraud'"),
            ("models:/fraud/Production", "version 2 of 'fraud'"), ("models:/\(v1["model_id"]!)", "logged model \(v1["model_id"]!)"),
            (v2["artifact_uri"]!, v2["artifact_uri"]!),
            // Escaped in every URL (a space, '+' and 'é' in the name).
            ("models:/fraud team+1 é@champion", "version 1 of 'fraud team+1 é'"),
        ]
        var outputs = scored.map { uri in (uri: uri, output: outputBySHA[reports[uri]!["sha256"] as! String]!) }
        for (uri, resolved) in inspected {
            let result = try registry.scoreCluster(["model", "inspect", uri])
            #expect(result.status == 0, "\(uri): \(result.stderr)")
            #expect(result.stdout.contains("resolved      \(resolved) on \(registry.server.url)"), "\(uri): \(result.stdout)")
            let sha = result.stdout.split(separator: "\n").first { $0.hasPrefix("sha256 ") }.map { String($0.split(separator: " ").last!) } ?? ""
            let output = try #require(outputBySHA[sha], "\(uri) resolved to files no scored URI had (\(sha))")
            outputs.append((uri, output))
            if uri == "models:/fraud/Production" { #expect(result.stderr.contains("stages are deprecated")) }
        }
        try registry.expectPredictionsMatchMLflow(outputs)
    }

    @Test("a second job with the same version downloads nothing; a changed cached copy is fetched again")
    func cacheByIdentity() throws {
        let registry = try RegistryFixture.shared.get()
        let cache = try TestEnvironment.makeTemporaryDirectory("registry-cache")
        func fetch(_ report: [String: Any]) -> [String: Any]? { (report["model"] as? [String: Any])?["fetch"] as? [String: Any] }
        func sha(_ report: [String: Any]) -> String? { ((report["model"] as? [String: Any])?["provenance"] as? [String: Any])?["sha256"] as? String }

        let first = try registry.score("models:/fraud@champion", cache: cache)
        #expect(first.result.status == 0, "\(first.result.stderr)")
        #expect(fetch(first.report)?["downloaded"] as? Bool == true)
        #expect((fetch(first.report)?["bytes"] as? Int ?? 0) > 1000)
        // The same version by another URI: the cache is by what the URI resolved to.
        let second = try registry.score("models:/fraud/1", cache: cache)
        #expect(second.result.status == 0, "\(second.result.stderr)")
        #expect(fetch(second.report)?["downloaded"] as? Bool == false)
        #expect(fetch(second.report)?["bytes"] as? Int == 0)
        #expect(sha(second.report) == sha(first.report))
        #expect(second.result.stderr.contains("from the cache"))
        let directory = try #require(fetch(second.report)?["directory"] as? String)
        #expect(directory.hasPrefix(cache.path))

        // A cached file changed on disk is not trusted: the model is downloaded again.
        try "tampered".write(toFile: directory + "/requirements.txt", atomically: true, encoding: .utf8)
        let third = try registry.score("models:/fraud/1", cache: cache)
        #expect(third.result.status == 0, "\(third.result.stderr)")
        #expect(fetch(third.report)?["downloaded"] as? Bool == true)
        #expect(sha(third.report) == sha(first.report))
        try registry.expectPredictionsMatchMLflow([("models:/fraud/1", third.output)])
        // No download left behind.
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.path + "/score-cluster/registry")
        #expect(!entries.contains { $0.contains(".incoming-") }, "\(entries)")
    }

    @Test("a run's artifacts overwritten at the same path are fetched again, not served stale from the cache")
    func overwrittenRunArtifacts() throws {
        let registry = try RegistryFixture.shared.get()
        let cache = try TestEnvironment.makeTemporaryDirectory("registry-cache")
        let uri = "runs:/\(registry.artifactsRun)/classic"
        func inspect() throws -> (result: TestEnvironment.ProcessResult, sha: String) {
            let result = try registry.scoreCluster(["model", "inspect", uri], cache: cache)
            let sha = result.stdout.split(separator: "\n").first { $0.hasPrefix("sha256 ") }.map { String($0.split(separator: " ").last!) } ?? ""
            return (result, sha)
        }
        let first = try inspect()
        #expect(first.result.status == 0, "\(first.result.stderr)")
        let again = try inspect()
        #expect(again.result.stdout.contains("from this machine's cache"), "\(again.result.stdout)")
        // The same kind of model saved again (same file names; a new MLmodel) over the run's artifacts.
        _ = try registry.server.runFixture("relog_classic.py", [registry.artifactsRun])
        let relogged = try inspect()
        #expect(relogged.result.status == 0, "\(relogged.result.stderr)")
        #expect(relogged.result.stdout.contains("fetched       downloaded"), "\(relogged.result.stdout)")
        #expect(relogged.sha != first.sha && relogged.sha.count == 64)
    }

    @Test("--resume of a job whose alias moved is refused naming both versions, and continues with the recorded version when it is named")
    func resumeAfterTheAliasMoved() throws {
        let registry = try RegistryFixture.shared.get()
        let fixture = try EndToEndFixture.shared.get()
        let output = fixture.outputPath("registry-resume")
        let arguments = ["run", "--input", fixture.dataset.path, "--output", output, "--columns", "f1,f2,f3", "--workers", "1", "--preview", "0"]
        let started = try registry.scoreCluster(arguments + ["--model", "models:/fraud@champion"])
        #expect(started.status == 0, "\(started.stderr)")

        try registry.setAlias("champion", "2")
        defer { try? registry.setAlias("champion", "1") }
        let moved = try registry.scoreCluster(arguments + ["--model", "models:/fraud@champion", "--resume"])
        #expect(moved.status == 1)
        #expect(moved.stderr.contains("models:/fraud@champion now resolves to version 2 of 'fraud', and the job was started with version 1"), "\(moved.stderr)")
        #expect(moved.stderr.contains("resume with --model models:/fraud/1"))

        let pinned = try registry.scoreCluster(arguments + ["--model", "models:/fraud/1", "--resume"])
        #expect(pinned.status == 0, "\(pinned.stderr)")
        #expect(pinned.stdout.contains("resumed: "), "\(pinned.stdout)")
        try registry.expectPredictionsMatchMLflow([("models:/fraud/1", output)])
    }

    @Test("unknown models, versions, aliases, runs and artifacts, non-pyfunc artifacts and an unreachable server are clear errors naming the URI")
    func clearErrors() throws {
        let registry = try RegistryFixture.shared.get()
        func inspect(_ uri: String, _ environment: [String: String] = [:]) throws -> TestEnvironment.ProcessResult {
            try registry.scoreCluster(["model", "inspect", uri], environment: environment)
        }
        let cases: [(uri: String, says: String)] = [
            ("models:/nosuch@champion", "models:/nosuch@champion: the registry at \(registry.server.url) has no model named 'nosuch'"),
            ("models:/fraud/9", "models:/fraud/9: model 'fraud' has no version 9; its latest version is 2"),
            ("models:/fraud@nope", "models:/fraud@nope: model 'fraud' has no alias 'nope'; its aliases: @challenger (version 2), @champion (version 1)"),
            ("models:/fraud/Staging", "model 'fraud' has no version in stage 'Staging'"),
            ("models:/m-00000000000000000000000000000000", "has no logged model 'm-00000000000000000000000000000000'"),
            ("runs:/0123456789abcdef0123456789abcdef/model", "has no run '0123456789abcdef0123456789abcdef'"),
            ("runs:/\(registry.artifactsRun)/nothing", "run '\(registry.artifactsRun)' has no artifact 'nothing' and logged no model named 'nothing'"),
            ("runs:/\(registry.artifactsRun)/notes", "is not an MLflow model: it has no MLmodel file (it holds readme.txt)"),
            ("runs:/\(registry.artifactsRun)/raw", "is not a pyfunc model score-cluster can score: Model does not have the \"python_function\" flavor"),
        ]
        for (uri, says) in cases {
            let result = try inspect(uri)
            #expect(result.status == 1, "\(uri)")
            #expect(result.stderr.contains(says), "\(uri): \(result.stderr)")
            #expect(!result.stderr.contains(".incoming-"), "\(uri): \(result.stderr)")
        }
        let port = try TestServices.freePort()
        let unreachable = try inspect("models:/fraud/1", ["MLFLOW_TRACKING_URI": "http://127.0.0.1:\(port)"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach the MLflow tracking server at http://127.0.0.1:\(port)"), "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("tried GET http://127.0.0.1:\(port)/api/2.0/mlflow/model-versions/get"))
        let unset = try inspect("models:/fraud/1", ["MLFLOW_TRACKING_URI": ""])
        #expect(unset.stderr.contains("no MLflow tracking server is set: export MLFLOW_TRACKING_URI"), "\(unset.stderr)")

        // A run fails the same way before any worker starts, and its report says why.
        let fixture = try EndToEndFixture.shared.get()
        let output = fixture.outputPath("registry-missing")
        let run = try registry.scoreCluster(["run", "--model", "models:/fraud@nope", "--input", fixture.dataset.path, "--output", output,
                                             "--report", output + ".json"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("has no alias 'nope'"))
        #expect(!FileManager.default.fileExists(atPath: output))
        let report = try String(contentsOfFile: output + ".json", encoding: .utf8)
        #expect(report.contains("\"status\" : \"failed\"") && report.contains("has no alias 'nope'"), "\(report)")
    }

    @Test("a download cut off midway is retried; cut off every time it fails naming the file, with nothing cached")
    func cutDownloads() throws {
        let registry = try RegistryFixture.shared.get()
        for cuts in [1, -1] {
            let proxy = try BackgroundProcess(TestEnvironment.python, [
                TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/cutting_proxy.py").path, "\(registry.server.port)",
                "--cuts", "\(cuts)", "--bytes", "600"])
            defer { proxy.signal(SIGKILL); proxy.wait(seconds: 5) }
            #expect(BackgroundProcess.waitFor(seconds: 20) { proxy.stdout.contains("listening") })
            let port = try #require(proxy.stdout.split(separator: "\n").first.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) })
            let cache = try TestEnvironment.makeTemporaryDirectory("registry-cache")
            let result = try registry.scoreCluster(["model", "inspect", "models:/fraud/2"], cache: cache,
                                                   environment: ["MLFLOW_TRACKING_URI": "http://127.0.0.1:\(port)"])
            let registryCache = cache.path + "/score-cluster/registry"
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: registryCache)) ?? []
            if cuts == 1 {
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.contains("resolved      version 2 of 'fraud'"))
                #expect(proxy.stdout.components(separatedBy: "cut ").count == 2, "\(proxy.stdout)")
                #expect(entries.contains { $0.hasPrefix("fraud-2-") })
            } else {
                #expect(result.status == 1)
                #expect(result.stderr.contains("models:/fraud/2: downloading MLmodel from \(registry.versions["2"]!["artifact_uri"]!) failed 4 times"), "\(result.stderr)")
                #expect(result.stderr.contains("nothing was kept"))
                // Only the lock file: no model, no partial download.
                #expect(entries.allSatisfy { $0.hasSuffix(".lock") }, "\(entries)")
            }
        }
    }

    @Test("model predict takes a URI, and a coordinator sends a registry model to a connecting worker by hash")
    func predictAndCoordinator() throws {
        let registry = try RegistryFixture.shared.get()
        let fixture = try EndToEndFixture.shared.get()
        let predicted = try registry.scoreCluster(["model", "predict", "models:/fraud@challenger", "--input", fixture.dataset.path + "/part-00002.parquet",
                                                   "--columns", "f1,f2,f3"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        #expect(predicted.stderr.contains("scored 1 rows"))

        let dir = try TestEnvironment.makeTemporaryDirectory("registry-remote")
        let token = try EndToEndFixture.makeTokenFile(in: dir, "a-shared-secret-of-some-length-1234")
        let port = try TestServices.freePort()
        let output = fixture.outputPath("registry-remote")
        let coordinator = try BackgroundProcess(EndToEndFixture.binary, [
            "coordinator", "--listen", "127.0.0.1:\(port)", "--min-workers", "1", "--token-file", token, "--wait-for-workers", "120",
            "--model", "models:/fraud@challenger", "--input", fixture.dataset.path, "--output", output, "--columns", "f1,f2,f3", "--preview", "0"],
            environment: ["MLFLOW_TRACKING_URI": registry.server.url, "XDG_CACHE_HOME": dir.appendingPathComponent("coordinator-cache").path])
        var worker: TestEnvironment.ProcessResult?
        for _ in 0..<100 {
            // The worker knows no tracking server: it gets the model from the coordinator.
            let result = try TestEnvironment.run(EndToEndFixture.binary, [
                "worker", "--connect", "127.0.0.1:\(port)", "--token-file", token, "--model-cache", dir.appendingPathComponent("worker-cache").path],
                environment: ["VIRTUAL_ENV": EndToEndFixture.venv, "MLFLOW_TRACKING_URI": ""])
            if result.stderr.contains("Connection refused") { usleep(200_000); continue }
            worker = result
            break
        }
        let done = coordinator.wait(seconds: 120)
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stderr.contains("models:/fraud@challenger is version 2 of 'fraud'"))
        #expect(worker?.stderr.contains("received the model") == true, "\(worker?.stderr ?? "")")
        try registry.expectPredictionsMatchMLflow([("models:/fraud/2", output)])
    }
}
