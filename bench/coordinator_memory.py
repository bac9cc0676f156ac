"""Peak memory of score-cluster's coordinator as the dataset grows.

The README promises bounded coordinator memory: the partition reader decodes a few blocks ahead
of the writer, reading only the pages that hold them, so the coordinator's peak should not grow
with the number of rows. This script checks that: for each dataset size (--rows) it runs one
`score-cluster run` job and reports

  coordinator peak   VmHWM of the `score-cluster run` process alone (the kernel's high-water
                     mark of its resident set), read from /proc/PID/status every 50 ms while it
                     runs; the last reading before it exits is the peak. Its worker children are
                     not counted.
  tree peak          the largest sum of VmRSS over the process and all its descendants (the
                     workers), sampled at the same times, as bench.py measures it: for context.
  wall s             from starting the process until it exits.

and the ratio of the largest dataset's coordinator peak to the smallest's (close to 1 when
memory is bounded). Datasets and models are bench.py's (made under --work-dir, bench/out by
default, and reused when they exist), with bench.py's functions.

Examples:
    .venv/bin/python bench/coordinator_memory.py                             # 100k and 10M rows, seed model
    .venv/bin/python bench/coordinator_memory.py --rows 100000,1000000 --model linear --json /tmp/mem.json
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (bench/bench.py: datasets, models, process-tree RSS)

POLL_SECONDS = bench.POLL_SECONDS  # 50 ms


def status_kib(pid, field):
    """A `kB` field of /proc/PID/status (VmHWM, VmRSS) in bytes, or None when the process or
    the field is gone (a zombie has no Vm* lines)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def measure(command, log_path):
    """Run `command`; return wall seconds, the coordinator's peak (VmHWM), the largest VmRSS seen
    for it, the largest process-tree VmRSS sum, and the number of samples. Exits if it fails."""
    samples = {"hwm": 0, "rss": 0, "tree": 0, "count": 0}
    finished = threading.Event()
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

        def poll():
            while not finished.is_set():
                hwm = status_kib(process.pid, "VmHWM")
                rss = status_kib(process.pid, "VmRSS")
                tree = bench.process_tree_memory(process.pid)[0]
                if hwm is not None:
                    samples["hwm"] = max(samples["hwm"], hwm)
                    samples["count"] += 1
                if rss is not None:
                    samples["rss"] = max(samples["rss"], rss)
                samples["tree"] = max(samples["tree"], tree)
                finished.wait(POLL_SECONDS)

        poller = threading.Thread(target=poll)
        poller.start()
        status = process.wait()
        elapsed = time.perf_counter() - start
        finished.set()
        poller.join()
    if status != 0:
        tail = "".join(Path(log_path).read_text(errors="replace").splitlines(keepends=True)[-40:])
        sys.exit(f"coordinator_memory: command failed with status {status}: {' '.join(command)}\n"
                 f"--- last lines of {log_path} ---\n{tail}")
    return elapsed, samples


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] + " (see bench/README.md)")
    parser.add_argument("--rows", default="100000,10000000",
                        help="comma-separated dataset sizes (default: 100000,10000000)")
    parser.add_argument("--model", choices=("seed", "linear"), default="seed",
                        help="seed: the seed-format numpy model; linear: LinearRegression saved by mlflow.sklearn "
                             "(default: seed)")
    parser.add_argument("--workers", type=int, default=2, help="score-cluster run --workers (default: 2)")
    parser.add_argument("--files", type=int, default=8, help="part files per dataset (default: 8, as bench.py)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per dataset; the largest peaks and the median wall time are reported (default: 1)")
    parser.add_argument("--exe", default=str(bench.REPO / ".build/release/score-cluster"),
                        help="score-cluster executable (default: .build/release/score-cluster)")
    parser.add_argument("--work-dir", default=str(bench.REPO / "bench/out"),
                        help="where datasets and models are cached, as bench.py (default: bench/out)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--score-cluster-args", default="",
                        help='extra arguments for score-cluster run, given with "=": --score-cluster-args="--block-rows 30000"')
    args = parser.parse_args(argv)
    try:
        args.rows = [int(r.replace("_", "")) for r in args.rows.split(",") if r.strip()]
    except ValueError:
        parser.error(f"--rows must be comma-separated integers, got {args.rows!r}")
    if not args.rows or min(args.rows) < 1 or args.workers < 1 or args.files < 1 or args.repeat < 1:
        parser.error("--rows, --workers, --files and --repeat must be >= 1")
    exe = shutil.which(args.exe)
    if exe is None:
        parser.error(f"no score-cluster executable at {args.exe} (build it with `swift build -c release`, or pass --exe)")
    args.exe = os.path.abspath(exe)
    args.work_dir = Path(args.work_dir).resolve()
    return args


def mb(value):
    return value / 1e6


def ratio(a, b):
    return a / b if b else None


def times(value):
    return "n/a" if value is None else f"{value:.2f}x"


def markdown(results, args):
    lines = [f"Coordinator memory, model `{args.model}`, {args.workers} workers, {args.files} part files "
             f"({bench.FEATURES} float64 features + id), {args.repeat} run(s) per size", "",
             "| rows | coordinator peak RSS MB | tree peak MB | wall s |", "|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['rows']:,} | {mb(r['coordinator_peak_bytes']):,.1f} | {mb(r['tree_peak_bytes']):,.1f} "
                     f"| {r['wall_seconds']:.2f} |")
    if len(results) > 1:
        small = min(results, key=lambda r: r["rows"])
        large = max(results, key=lambda r: r["rows"])
        lines += ["", f"Coordinator peak, {large['rows']:,} rows / {small['rows']:,} rows: "
                      f"{times(ratio(large['coordinator_peak_bytes'], small['coordinator_peak_bytes']))} "
                      f"for {large['rows'] / small['rows']:,.0f}x the rows "
                      f"(tree: {times(ratio(large['tree_peak_bytes'], small['tree_peak_bytes']))})"]
    return "\n".join(lines) + "\n"


def main(argv):
    args = parse_args(argv)
    spec = bench.MODELS[args.model]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    model = bench.prepare_models(args.work_dir, [args.model]) / spec.directory
    runs_dir = args.work_dir / "runs" / "coordinator-memory"
    runs_dir.mkdir(parents=True, exist_ok=True)

    results = []
    for rows in args.rows:
        data = bench.prepare_dataset(args.work_dir, rows, args.files)
        output = runs_dir / "output"
        command = [args.exe, "run", "--model", str(model), "--input", str(data), "--output", str(output),
                   "--workers", str(args.workers), "--columns", ",".join(bench.FEATURE_COLUMNS),
                   # The coordinator's memory bound is the streaming path's (with --workers-read it holds no rows).
                   "--preview", "0", "--overwrite", "--no-workers-read"] + shlex.split(args.score_cluster_args)
        if sys.prefix != sys.base_prefix:
            command += ["--python-env", sys.prefix]
        runs = []
        for index in range(args.repeat):
            shutil.rmtree(output, ignore_errors=True)
            log_path = runs_dir / f"{rows}r-{args.model}-{index}.log"
            seconds, samples = measure(command, log_path)
            print(f"coordinator_memory: {rows:,} rows run {index + 1}: {seconds:.2f} s, coordinator peak "
                  f"{mb(samples['hwm']):,.1f} MB, tree peak {mb(samples['tree']):,.1f} MB "
                  f"({samples['count']} samples)", file=sys.stderr)
            runs.append({"wall_seconds": seconds, "coordinator_peak_bytes": samples["hwm"],
                         "coordinator_max_sampled_rss_bytes": samples["rss"], "tree_peak_bytes": samples["tree"],
                         "samples": samples["count"], "log": str(log_path)})
        shutil.rmtree(output, ignore_errors=True)
        walls = sorted(r["wall_seconds"] for r in runs)
        results.append({"rows": rows, "dataset": str(data), "command": command,
                        "coordinator_peak_bytes": max(r["coordinator_peak_bytes"] for r in runs),
                        "coordinator_max_sampled_rss_bytes": max(r["coordinator_max_sampled_rss_bytes"] for r in runs),
                        "tree_peak_bytes": max(r["tree_peak_bytes"] for r in runs),
                        "wall_seconds": walls[len(walls) // 2], "runs": runs})

    print(markdown(results, args), end="")
    if args.json:
        small = min(results, key=lambda r: r["rows"])
        large = max(results, key=lambda r: r["rows"])
        report = {
            "config": {"rows": args.rows, "model": args.model, "model_dir": str(model), "workers": args.workers,
                       "files": args.files, "features": bench.FEATURES, "repeat": args.repeat, "exe": args.exe,
                       "poll_seconds": POLL_SECONDS},
            "method": {"coordinator_peak": "max VmHWM of the score-cluster run process, /proc/PID/status, polled",
                       "tree_peak": "max over samples of the sum of VmRSS over the process and its descendants",
                       "units": "bytes; the table prints 10^6-byte MB"},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "load_average_end": os.getloadavg()},
            "results": results,
            "ratio_largest_to_smallest": {
                "rows": large["rows"] / small["rows"],
                "coordinator_peak": ratio(large["coordinator_peak_bytes"], small["coordinator_peak_bytes"]),
                "tree_peak": ratio(large["tree_peak_bytes"], small["tree_peak_bytes"])},
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"coordinator_memory: wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
