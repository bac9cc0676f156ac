import Foundation
import Testing
import TestSupport

/// `deploy/slurm/score.sbatch` run by a real Slurm cluster (one machine: munged, slurmctld and
/// slurmd from Debian's packages, started by the test set-up): `sbatch --wait` of a 2-task job
/// whose coordinator and workers are Slurm job steps, checked against MLflow's own predictions:
/// two tasks of one worker each, or one task of two workers forked from one load (`PROCESSES_PER_TASK`).
@Suite(.serialized) struct SlurmTests {
    @Test("deploy/slurm/score.sbatch scores a job of 2 workers, rows streamed through the coordinator (2 tasks) and read by the workers themselves (1 task forking its second worker)",
          arguments: zip(["--columns f1,f2,f3", "--columns f1,f2,f3 --workers-read --partition-rows 1000"], [1, 2]))
    func theSbatchScriptScoresATwoWorkerJob(_ jobArguments: String, processesPerTask: Int) throws {
        let cluster = try SlurmCluster.shared.get()
        let fixture = try EndToEndFixture.shared.get()
        let dir = try TestEnvironment.makeTemporaryDirectory("slurm-job")
        let output = dir.appendingPathComponent("scores")
        let (result, log) = try cluster.submitAndWait(
            TestEnvironment.repoRoot.appendingPathComponent("deploy/slurm/score.sbatch").path,
            arguments: ["--nodes=1", "--ntasks-per-node=\(2 / processesPerTask)", "--cpus-per-task=\(processesPerTask)", "--time=10"],
            environment: [
                "MODEL": fixture.linearModel.path, "INPUT": fixture.dataset.path, "OUTPUT": output.path,
                "SCORE_CLUSTER": EndToEndFixture.binary, "PYTHON_ENV": TestEnvironment.repoRoot.appendingPathComponent(".venv").path,
                "SHARED_DIR": dir.path, "MODEL_CACHE": dir.appendingPathComponent("model-cache").path,
                "PORT": "\(try TestServices.freePort())", "WAIT_SECONDS": "120",
                // Passed in the environment: sbatch's --export list would split it at the commas.
                "JOB_ARGS": jobArguments,
                "PROCESSES_PER_TASK": "\(processesPerTask)",
            ],
            output: dir.appendingPathComponent("slurm.out"))
        #expect(result.status == 0, "sbatch: \(result.stderr)\njob output:\n\(log)")
        #expect(log.contains("2 worker(s) in \(2 / processesPerTask) task(s) on 1 node(s)"), "\(log)")
        #expect(log.contains("coordinator exited with status 0"), "\(log)")
        #expect(log.contains("with 2 worker(s)"), "\(log)")
        // The job's token directory is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix(".score-cluster-") })
        let check = try TestEnvironment.run(TestEnvironment.python, [
            TestEnvironment.repoRoot.appendingPathComponent("Tests/Fixtures/check_e2e_output.py").path, fixture.dataset.path, output.path,
            fixture.linearModel.path, "mlflow", "f1,f2,f3"])
        #expect(check.status == 0 && check.stdout.contains("OK"), "\(check.stdout)\(check.stderr)")
    }
}
