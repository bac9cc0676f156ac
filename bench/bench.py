"""Benchmark score-cluster against a pure-Python pyfunc scoring loop on the same job.

One command prepares the inputs (cached under the work directory), runs every system
as a measured subprocess, checks that all of them wrote the same answer, and reports:

  score-cluster        score-cluster run --model M --input D --output O --workers W
                           --columns f0,...,f15 --overwrite
  python baseline      one process: for each input file, pyarrow read, to_pandas of the
                           features renamed "0".."15", predict in 10,000-row batches with
                           the mlflow pyfunc model (loaded once), pyarrow write (snappy)
                           of all input columns + "prediction"
  python baseline xN   the same with N spawned processes, files split across them
                           (only with --baseline-procs N)

After one warm-up run of each system (skipped with --smoke), the systems run in
alternation --repeat times. Wall time is the median over those runs; peak RSS is the
largest sum of VmRSS over the process and all its descendants, polled from /proc every
50 ms. Outputs are compared (row counts, ids in order, predictions within 1e-9 relative)
before any number is printed; a mismatch exits with status 1.

`bench.py baseline ...` runs the Python baseline alone (the measured child process).

Example:
    .venv/bin/python bench/bench.py --rows 2000000 --files 8 --workers 2 --repeat 3
    .venv/bin/python bench/bench.py --smoke --binary .build/debug/score-cluster
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
FEATURES = 16
FEATURE_COLUMNS = [f"f{k}" for k in range(FEATURES)]
BATCH_ROWS = 10_000
POLL_SECONDS = 0.05
RELATIVE_TOLERANCE = 1e-9
# Lets predictions that are zero up to rounding (|p| ~ 1e-15) compare equal.
ABSOLUTE_TOLERANCE = 1e-12
FULL_DEFAULTS = {"rows": 2_000_000, "files": 8, "repeat": 3}
SMOKE_DEFAULTS = {"rows": 20_000, "files": 2, "repeat": 1}


# --- The Python baseline (runs inside the measured child process) ---------------------

def dataset_files(directory):
    """The data files of a dataset directory, sorted, without hidden or "_" files."""
    names = sorted(n for n in os.listdir(directory) if not n.startswith(("_", ".")))
    return [os.path.join(directory, n) for n in names if os.path.isfile(os.path.join(directory, n))]


def score_files(model_path, files, output, columns, batch_rows):
    """Load the model once, then score each file into `output` under the same name."""
    with contextlib.redirect_stdout(sys.stderr):
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(model_path)
    names = [str(i) for i in range(len(columns))]
    for path in files:
        table = pq.read_table(path)
        features = table.select(columns).rename_columns(names).to_pandas()
        predictions = np.empty(len(features), dtype=np.float64)
        for start in range(0, len(features), batch_rows):
            batch = features.iloc[start:start + batch_rows]
            predictions[start:start + len(batch)] = np.asarray(model.predict(batch), dtype=np.float64).reshape(-1)
        table = table.append_column("prediction", pa.array(predictions, type=pa.float64()))
        pq.write_table(table, os.path.join(output, os.path.basename(path)), compression="snappy")


def run_baseline(argv):
    """`bench.py baseline`: score a dataset with the pure-Python loop in 1 or N processes."""
    parser = argparse.ArgumentParser(prog="bench.py baseline",
                                     description="Score a dataset with the pure-Python pyfunc baseline.")
    parser.add_argument("--model", required=True, help="MLflow pyfunc model directory")
    parser.add_argument("--input", required=True, help="input dataset directory")
    parser.add_argument("--output", required=True, help="output directory (must not exist)")
    parser.add_argument("--columns", required=True, help="comma-separated feature columns, in model order")
    parser.add_argument("--procs", type=int, default=1, help="processes, files split across them (default: 1)")
    parser.add_argument("--batch-size", type=int, default=BATCH_ROWS,
                        help=f"rows per predict call (default: {BATCH_ROWS})")
    args = parser.parse_args(argv)
    if args.procs < 1 or args.batch_size < 1:
        parser.error("--procs and --batch-size must be >= 1")
    columns = args.columns.split(",")
    files = dataset_files(args.input)
    os.makedirs(args.output)
    if args.procs == 1:
        score_files(args.model, files, args.output, columns, args.batch_size)
    else:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=score_files,
                                   args=(args.model, files[i::args.procs], args.output, columns, args.batch_size))
                   for i in range(args.procs) if files[i::args.procs]]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        failed = [w.exitcode for w in workers if w.exitcode != 0]
        if failed:
            sys.exit(f"baseline: {len(failed)} worker process(es) failed, exit codes {failed}")
    Path(args.output, "_SUCCESS").touch()


# --- Preparation -----------------------------------------------------------------------

def cached(directory, command):
    """Run `command` (which writes `--out`) into `directory` unless it already exists."""
    if directory.exists():
        return
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"bench: preparing {directory}", file=sys.stderr)
    subprocess.run(command + ["--out", str(partial)], check=True, stdout=subprocess.DEVNULL)
    partial.rename(directory)


def prepare(work_dir, rows, files):
    """The dataset directory and the LinearRegression model directory, made when missing."""
    data = work_dir / f"data-{rows}r-{files}f-{FEATURES}k"
    models = work_dir / f"models-{FEATURES}k"
    cached(data, [sys.executable, str(SCRIPTS / "make_dataset.py"),
                  "--rows", str(rows), "--files", str(files), "--features", str(FEATURES)])
    cached(models, [sys.executable, str(SCRIPTS / "make_models.py"), "--features", str(FEATURES)])
    return data, models / "sklearn_linear"


# --- Measurement -----------------------------------------------------------------------

def process_tree_rss(root):
    """Sum of VmRSS in bytes over `root` and all its descendants (0 for vanished ones)."""
    children = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def measure(command, log_path):
    """Run `command`; return (wall seconds, peak process-tree RSS bytes). Exits if it fails."""
    peak = 0
    finished = threading.Event()
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

        def poll():
            nonlocal peak
            while not finished.is_set():
                peak = max(peak, process_tree_rss(process.pid))
                finished.wait(POLL_SECONDS)

        poller = threading.Thread(target=poll)
        poller.start()
        status = process.wait()
        elapsed = time.perf_counter() - start
        finished.set()
        poller.join()
    if status != 0:
        tail = "".join(open(log_path, errors="replace").readlines()[-40:])
        sys.exit(f"bench: command failed with status {status}: {shlex.join(command)}\n"
                 f"--- last lines of {log_path} ---\n{tail}")
    return elapsed, peak


# --- Checking --------------------------------------------------------------------------

def read_output(directory):
    """{file name: (schema as [(name, type)], ids, predictions)} of an output directory."""
    if not (directory / "_SUCCESS").exists():
        return None
    result = {}
    for path in dataset_files(directory):
        table = pq.read_table(path)
        schema = [(field.name, str(field.type)) for field in table.schema]
        ids = table["id"].to_numpy() if "id" in table.column_names else None
        predictions = table["prediction"].to_numpy() if "prediction" in table.column_names else None
        result[os.path.basename(path)] = (schema, ids, predictions)
    return result


def compare_outputs(reference_name, reference, name, output):
    """Problems found comparing `output` with `reference`, as messages (empty when equal)."""
    if output is None:
        return [f"{name}: no _SUCCESS in its output"]
    if sorted(output) != sorted(reference):
        return [f"{name}: files {sorted(output)} differ from {reference_name}'s {sorted(reference)}"]
    problems = []
    for file, (schema, ids, predictions) in sorted(output.items()):
        ref_schema, ref_ids, ref_predictions = reference[file]
        where = f"{name}/{file}"
        if schema != ref_schema:
            problems.append(f"{where}: columns {schema} differ from {reference_name}'s {ref_schema}")
            continue
        if len(ids) != len(ref_ids):
            problems.append(f"{where}: {len(ids)} rows, {reference_name} has {len(ref_ids)}")
            continue
        if not np.array_equal(ids, ref_ids):
            first = int(np.argmax(ids != ref_ids))
            problems.append(f"{where}: id at row {first} is {int(ids[first])}, "
                            f"{reference_name} has {int(ref_ids[first])}")
        scale = np.maximum(np.abs(predictions), np.abs(ref_predictions))
        close = np.abs(predictions - ref_predictions) <= RELATIVE_TOLERANCE * scale + ABSOLUTE_TOLERANCE
        close |= np.isnan(predictions) & np.isnan(ref_predictions)
        if not close.all():
            bad = np.flatnonzero(~close)
            problems.append(f"{where}: {len(bad)} predictions differ, first at row {bad[0]}: "
                            f"{float(predictions[bad[0]])!r} vs {reference_name}'s "
                            f"{float(ref_predictions[bad[0]])!r}")
    return problems


# --- The benchmark ---------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Benchmark score-cluster against a pure-Python pyfunc scoring loop "
                    "(see bench/README.md). `bench.py baseline --help` describes the baseline alone.")
    parser.add_argument("--rows", type=int, help="dataset rows (default: 2,000,000; smoke: 20,000)")
    parser.add_argument("--files", type=int, help="dataset part files (default: 8; smoke: 2)")
    parser.add_argument("--workers", type=int, default=2, help="score-cluster --workers (default: 2)")
    parser.add_argument("--repeat", type=int, help="timed runs of each system (default: 3; smoke: 1)")
    parser.add_argument("--binary", default=str(REPO / ".build/release/score-cluster"),
                        help="score-cluster executable (default: .build/release/score-cluster)")
    parser.add_argument("--score-cluster-args", default="",
                        help='extra arguments for score-cluster run, given with "=": '
                             '--score-cluster-args="--batch-size 50000"')
    parser.add_argument("--no-score-cluster", action="store_true",
                        help="run only the Python baselines (to check the harness without the binary)")
    parser.add_argument("--baseline-procs", type=int, default=None,
                        help="also run the Python baseline with N processes")
    parser.add_argument("--work-dir", default=str(REPO / "bench/out"),
                        help="cache of inputs, outputs and logs (default: bench/out)")
    parser.add_argument("--json", default=None,
                        help="results file (default: WORK_DIR/results.json; smoke: WORK_DIR/smoke-results.json)")
    parser.add_argument("--smoke", action="store_true",
                        help="correctness check: 20,000 rows, 2 files, 1 run, no warm-up")
    args = parser.parse_args(argv)
    defaults = SMOKE_DEFAULTS if args.smoke else FULL_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.rows < 1 or args.files < 1 or args.repeat < 1 or args.workers < 1:
        parser.error("--rows, --files, --repeat and --workers must be >= 1")
    if args.baseline_procs is not None and args.baseline_procs < 2:
        parser.error("--baseline-procs must be >= 2 (the 1-process baseline always runs)")
    if args.no_score_cluster and args.baseline_procs is None and not args.smoke:
        parser.error("--no-score-cluster needs --baseline-procs N (or --smoke) to have something to compare")
    args.work_dir = Path(args.work_dir).resolve()
    args.json = Path(args.json or args.work_dir / ("smoke-results.json" if args.smoke else "results.json"))
    return args


def systems_for(args, model, data, runs_dir):
    """[(name, output directory, command)] of the systems to measure, score-cluster first."""
    columns = ",".join(FEATURE_COLUMNS)
    systems = []
    if not args.no_score_cluster:
        output = runs_dir / "score-cluster"
        systems.append(("score-cluster", output,
                        [args.binary, "run", "--model", str(model), "--input", str(data), "--output", str(output),
                         "--workers", str(args.workers), "--columns", columns, "--overwrite"]
                        + shlex.split(args.score_cluster_args)))
    for procs in [1] + ([args.baseline_procs] if args.baseline_procs else []):
        name = "python baseline" if procs == 1 else f"python baseline x{procs}"
        output = runs_dir / name.replace(" ", "-")
        systems.append((name, output,
                        [sys.executable, str(Path(__file__).resolve()), "baseline", "--model", str(model),
                         "--input", str(data), "--output", str(output), "--columns", columns,
                         "--procs", str(procs)]))
    return systems


def markdown_table(results, rows):
    """The results as a Markdown table; the ratio is each median over score-cluster's."""
    reference = next((r["median_s"] for r in results if r["system"] == "score-cluster"), None)
    lines = ["| system | rows | median s | rows/s | peak MB | ratio vs score-cluster |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        ratio = f"{r['median_s'] / reference:.2f}x" if reference else "-"
        lines.append(f"| {r['system']} | {rows:,} | {r['median_s']:.2f} | {r['rows_per_s']:,.0f} "
                     f"| {r['peak_rss_mb']:,.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv):
    args = parse_args(argv)
    if not args.no_score_cluster:
        binary = shutil.which(args.binary)
        if binary is None:
            sys.exit(f"bench: no score-cluster executable at {args.binary}; build it with "
                     "`swift build -c release`, pass --binary, or use --no-score-cluster")
        args.binary = os.path.abspath(binary)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    data, model = prepare(args.work_dir, args.rows, args.files)
    runs_dir = args.work_dir / "runs"
    runs_dir.mkdir(exist_ok=True)
    systems = systems_for(args, model, data, runs_dir)

    def run(name, output, command, label):
        shutil.rmtree(output, ignore_errors=True)
        seconds, peak = measure(command, output.with_name(output.name + ".log"))
        print(f"bench: {label} {name}: {seconds:.2f} s, peak {peak / 1e6:,.0f} MB", file=sys.stderr)
        return seconds, peak

    if not args.smoke:
        for name, output, command in systems:
            run(name, output, command, "warm-up")
    measured = {name: [] for name, _, _ in systems}
    for i in range(args.repeat):
        for name, output, command in systems:
            measured[name].append(run(name, output, command, f"run {i + 1}/{args.repeat}"))

    reference_name, reference_dir, _ = systems[0]
    reference = read_output(reference_dir)
    problems = [] if reference is not None else [f"{reference_name}: no _SUCCESS in its output"]
    if reference is not None:
        for name, output, _ in systems[1:]:
            problems += compare_outputs(reference_name, reference, name, read_output(output))
    if problems:
        print("bench: outputs differ:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)

    results = []
    for name, _, command in systems:
        times = [seconds for seconds, _ in measured[name]]
        peaks = [peak for _, peak in measured[name]]
        median = statistics.median(times)
        results.append({"system": name, "command": shlex.join(command), "times_s": times,
                         "median_s": median, "rows_per_s": args.rows / median,
                         "peak_rss_bytes": peaks, "peak_rss_mb": max(peaks) / 1e6})
    print(markdown_table(results, args.rows))
    report = {
        "config": {"rows": args.rows, "files": args.files, "features": FEATURES, "workers": args.workers,
                   "repeat": args.repeat, "warm_up": not args.smoke, "batch_rows_baseline": BATCH_ROWS,
                   "dataset": str(data), "model": str(model)},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "check": {"reference": reference_name, "compared": [name for name, _, _ in systems[1:]],
                  "relative_tolerance": RELATIVE_TOLERANCE, "absolute_tolerance": ABSOLUTE_TOLERANCE},
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["baseline"]:
        run_baseline(sys.argv[2:])
    else:
        main(sys.argv[1:])
