"""The head start measured: `score-cluster run` with and without `--no-head-start`, in one invocation.

With `--workers-read` (run's default) and an output directory, the coordinator writes each partition's kept chunks of
its first row group while the workers start (the head start). What that saves depends on what the disk is doing, so
each mode runs in two conditions, the modes alternating:

  - idle disk: `sync` and a pause before every run, so that no earlier output is still being written back;
  - back to back: each run starts as the last one ends (the previous job's output still being written back), as jobs
    that follow one another do.

Reported per mode and condition: the median wall time, the median of the workers' write seconds (`--report`: copying
kept chunks, encoding the predictions, fsync) summed over the workers, and what the head start did (heads, bytes, its
seconds). The data and the model are the benchmark's (bench/bench.py prepares them under bench/out/).

usage: .venv/bin/python bench/head_start.py [--rows 10000000] [--model sklearn_linear] [--workers 2] [--repeat 3]
Prints a Markdown table."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench  # noqa: E402  (prepares the benchmark's data and models)

p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(ROOT, ".build/release/score-cluster"))
p.add_argument("--rows", type=int, default=10_000_000)
p.add_argument("--model", default="linear", choices=sorted(bench.MODELS))
p.add_argument("--workers", type=int, default=2)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--pause", type=float, default=10, help="seconds after sync before an idle-disk run (default: 10)")
p.add_argument("--work-dir", default=os.path.join(ROOT, "bench/out"))
a = p.parse_args()

from pathlib import Path  # noqa: E402

work = Path(a.work_dir)
models = bench.prepare_models(work, [a.model])
model = models / bench.MODELS[a.model].directory
data = bench.prepare_dataset(work, a.rows, 8)
out = Path(tempfile.mkdtemp(prefix="head-start-", dir=work))
columns = ",".join(bench.FEATURE_COLUMNS)


def run(head_start):
    """One job; returns (wall seconds, the workers' write seconds summed, the report's headStart or None)."""
    report = out / "report.json"
    command = [a.binary, "run", "--model", str(model), "--input", str(data), "--output", str(out / "output"),
               "--workers", str(a.workers), "--columns", columns, "--overwrite", "--quiet", "--report", str(report),
               "--python-env", sys.prefix] + ([] if head_start else ["--no-head-start"])
    started = time.monotonic()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"head_start.py: score-cluster failed:\n{result.stderr}")
    parsed = json.loads(report.read_text())
    return seconds, sum(w["encodeSeconds"] for w in parsed["workers"]), parsed.get("headStart")


results = {}
for condition in ("idle disk", "back to back"):
    for mode in (True, False):
        run(mode)  # warm-up: page cache, bytecode caches
    for i in range(a.repeat):
        for mode in (True, False):
            if condition == "idle disk":
                subprocess.run(["sync"])
                time.sleep(a.pause)
            results.setdefault((condition, mode), []).append(run(mode))
            print(f"head_start.py: {condition}, {'head start' if mode else 'no head start'}: "
                  f"{results[(condition, mode)][-1][0]:.2f} s", file=sys.stderr)

print(f"### {a.rows:,} rows, {a.model}, {a.workers} workers, medians of {a.repeat}\n")
print("| disk | mode | wall s | workers' write s (summed) | heads | head bytes MB | head start s | speed-up |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for condition in ("idle disk", "back to back"):
    late = statistics.median(r[0] for r in results[(condition, False)])
    for mode in (True, False):
        runs = results[(condition, mode)]
        wall = statistics.median(r[0] for r in runs)
        write = statistics.median(r[1] for r in runs)
        work_done = runs[-1][2] or {}
        heads = work_done.get("heads", "")
        size = f"{work_done['bytes'] / 1e6:,.0f}" if work_done else ""
        busy = f"{statistics.median((r[2] or {}).get('seconds', 0) for r in runs):.2f}" if work_done else ""
        speedup = f"{late / wall:.2f}x" if mode else ""
        print(f"| {condition} | {'head start' if mode else 'no head start'} | {wall:.2f} | {write:.2f} | {heads} "
              f"| {size} | {busy} | {speedup} |")
subprocess.run(["rm", "-rf", str(out)])
