"""Benchmark score-cluster against what people run today, side by side in one invocation.

One command prepares the inputs (cached under the work directory), then for each dataset
(--rows) and model (--models) runs every system as a measured subprocess, in alternation,
after one warm-up run of each; checks that all of them wrote the same answer; and reports
a Markdown table (stdout), the full results (JSON) and a plot (PNG, when matplotlib is
installed). The systems:

  score-cluster       score-cluster run --model M --input D --output O --workers N
                          --columns f0,...,f15 --overwrite (one worker process loads the model
                          and forks the others)
  score-cluster, spawned workers
                      the same with --no-fork-workers: N workers spawned, each loading the
                          model (only with --spawned-workers)
  score-cluster, no head start
                      the same with --no-head-start: the workers copy every kept chunk
                          themselves (only with --without-head-start)
  score-cluster xM    the same with --workers M, for each M of --also-workers
  python x1           one process: for each input file, pyarrow read, to_pandas of the
                          features renamed "0".."15", predict in 10,000-row batches with the
                          model loaded once, pyarrow write (snappy) of all input columns +
                          "prediction"; library threads as the environment sets them
  python xN           the same loop in N spawned processes, files split across them, one
                          BLAS/OpenMP thread each (as score-cluster's workers)
  spark_udf           bench/spark_job.py: pyspark local[N], mlflow.pyfunc.spark_udf(spark, M,
                          result_type='double', env_manager='local'), read.parquet ->
                          withColumn -> write.parquet; whole process and job only
                          (only with --with-spark, when pyspark and Java 17+ are available)
  predict only        the limit: model.predict alone over in-memory pandas batches, one
                          process, one thread (reading is not timed)

Wall time is the median over --repeat runs; peak memory is the largest sum of VmRSS, and
separately of PSS (/proc/PID/smaps_rollup: a page shared by N processes counted 1/N in each),
over the process and all its descendants (workers, Spark's JVM and Python workers), polled
from /proc every 50 ms. RSS counts every shared page once per process; PSS is what sharing saves. Outputs are compared (files, columns and types, every input
column exactly, ids, predictions within 1e-9 relative; Spark's part files by id after
sorting) before any number is printed; a mismatch exits with status 1.

`bench.py baseline ...` runs the Python baseline alone (the measured child process).

Examples:
    .venv/bin/python bench/bench.py --with-spark                       # 100k, 2M, 10M rows; 4 models
    .venv/bin/python bench/bench.py --rows 2000000 --models linear,hgb
    .venv/bin/python bench/bench.py --smoke --binary .build/debug/score-cluster
"""

import argparse
import contextlib
import importlib
import importlib.util
import json
import multiprocessing
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
SCRIPTS = REPO / "scripts"
FEATURES = 16
FEATURE_COLUMNS = [f"f{k}" for k in range(FEATURES)]
BATCH_ROWS = 10_000
POLL_SECONDS = 0.05
RELATIVE_TOLERANCE = 1e-9
# Lets predictions that are zero up to rounding (|p| ~ 1e-15) compare equal.
ABSOLUTE_TOLERANCE = 1e-12
FULL_DEFAULTS = {"rows": "100000,2000000,10000000", "files": 8, "repeat": 3, "models": "linear,hgb,frame,seed"}
SMOKE_DEFAULTS = {"rows": "20000", "files": 2, "repeat": 1, "models": "linear,frame,seed"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SPARK_JOB_LINE = re.compile(r"^bench-spark-job-seconds (\S+)$", re.MULTILINE)
PREDICT_LINE = re.compile(r"^bench-predict-seconds (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class ModelSpec:
    key: str
    directory: str  # under the models directory
    loader: str  # "mlflow": mlflow.pyfunc.load_model; "seed": the seed format's load_pyfunc
    description: str
    spark_skip: str = ""  # why spark_udf cannot run it, when it cannot


MODELS = {
    "linear": ModelSpec("linear", "sklearn_linear", "mlflow", "LinearRegression (mlflow.sklearn), engine-bound"),
    "hgb": ModelSpec("hgb", "sklearn_hgb", "mlflow",
                     "HistGradientBoostingRegressor(max_iter=100) (mlflow.sklearn), model-bound"),
    "frame": ModelSpec("frame", "pyfunc_frame", "mlflow",
                       "PythonModel returning a DataFrame with one float64 column `score`"),
    "seed": ModelSpec("seed", "seed_linear", "seed", "seed-format numpy model (`load_pyfunc`, loads without MLflow)",
                      spark_skip="mlflow.pyfunc (hence spark_udf) cannot load the seed format: "
                                 "it calls the loader module's _load_pyfunc, the seed format has load_pyfunc"),
    "big": ModelSpec("big", "pyfunc_big", "mlflow",
                     "PythonModel holding 1 GiB of numpy weights (an embedding table looked up per row)",
                     spark_skip="left out to keep the run short: spark_udf loads the model in every Python "
                                "worker, as python xN does (N GiB)"),
}
# Made by bench/make_big_model.py rather than scripts/make_models.py.
OWN_MAKERS = {"frame": "make_frame_model.py", "big": "make_big_model.py"}


# --- The Python baseline (runs inside the measured child process) ---------------------

def dataset_files(directory):
    """The data files of a dataset directory, sorted, without hidden or "_" files."""
    names = sorted(n for n in os.listdir(directory) if not n.startswith(("_", ".")))
    return [os.path.join(directory, n) for n in names if os.path.isfile(os.path.join(directory, n))]


def load_model(model_path, loader):
    """The model as its users load it: mlflow.pyfunc.load_model, or the seed format's own loader."""
    if loader == "mlflow":
        with contextlib.redirect_stdout(sys.stderr):
            import mlflow.pyfunc

            return mlflow.pyfunc.load_model(model_path)
    import yaml

    with open(os.path.join(model_path, "MLmodel")) as f:
        flavor = yaml.safe_load(f)["flavors"]["python_function"]
    if flavor.get("code"):
        sys.path.insert(0, os.path.join(model_path, flavor["code"]))
    module = importlib.import_module(flavor["loader_module"])
    return module.load_pyfunc(os.path.join(model_path, flavor["data"]) if flavor.get("data") else model_path)


def prediction_values(result):
    """float64 predictions from a predict result, with spark_udf's rule for result_type='double':
    a DataFrame gives its leftmost numeric column, a 2-D array its first column."""
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        numeric = result.select_dtypes(include=[np.number])
        if numeric.shape[1] == 0:
            raise ValueError(f"the model's DataFrame has no numeric column: {list(result.columns)}")
        return numeric.iloc[:, 0].to_numpy(dtype=np.float64)
    values = np.asarray(result, dtype=np.float64)
    return values[:, 0] if values.ndim == 2 else values.reshape(-1)


def score_files(model_path, loader, files, output, columns, batch_rows, predict_only=False):
    """Load the model once, then score each file into `output` under the same name.

    With `predict_only`, nothing is written and only the predict calls are timed; returns
    the seconds spent in them."""
    model = load_model(model_path, loader)
    names = [str(i) for i in range(len(columns))]
    predict_seconds = 0.0
    for path in files:
        table = pq.read_table(path)
        features = table.select(columns).rename_columns(names).to_pandas()
        predictions = np.empty(len(features), dtype=np.float64)
        start_time = time.perf_counter()
        for start in range(0, len(features), batch_rows):
            batch = features.iloc[start:start + batch_rows]
            predictions[start:start + len(batch)] = prediction_values(model.predict(batch))
        predict_seconds += time.perf_counter() - start_time
        if not predict_only:
            table = table.append_column("prediction", pa.array(predictions, type=pa.float64()))
            pq.write_table(table, os.path.join(output, os.path.basename(path)), compression="snappy")
    return predict_seconds


def run_baseline(argv):
    """`bench.py baseline`: score a dataset with the pure-Python loop in 1 or N processes."""
    parser = argparse.ArgumentParser(prog="bench.py baseline",
                                     description="Score a dataset with the pure-Python pyfunc baseline.")
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--loader", choices=["mlflow", "seed"], default="mlflow",
                        help="mlflow.pyfunc.load_model, or the seed format's load_pyfunc (default: mlflow)")
    parser.add_argument("--input", required=True, help="input dataset directory")
    parser.add_argument("--output", help="output directory (must not exist)")
    parser.add_argument("--columns", required=True, help="comma-separated feature columns, in model order")
    parser.add_argument("--procs", type=int, default=1, help="processes, files split across them (default: 1)")
    parser.add_argument("--batch-size", type=int, default=BATCH_ROWS,
                        help=f"rows per predict call (default: {BATCH_ROWS})")
    parser.add_argument("--predict-only", action="store_true",
                        help="write nothing; print the seconds spent in predict (bench-predict-seconds S)")
    args = parser.parse_args(argv)
    if args.procs < 1 or args.batch_size < 1:
        parser.error("--procs and --batch-size must be >= 1")
    if args.predict_only == (args.output is not None):
        parser.error("give exactly one of --output and --predict-only")
    columns = args.columns.split(",")
    files = dataset_files(args.input)
    if args.predict_only:
        if args.procs == 1:
            seconds = score_files(args.model, args.loader, files, None, columns, args.batch_size, predict_only=True)
        else:
            # N processes predicting their share of the files at the same time: what N workers can reach on
            # this machine, sharing its caches, memory bandwidth and (on a VM) host. The slowest one counts.
            shares = [(args.model, args.loader, files[i::args.procs], None, columns, args.batch_size, True)
                      for i in range(args.procs) if files[i::args.procs]]
            with multiprocessing.get_context("spawn").Pool(len(shares)) as pool:
                seconds = max(pool.starmap(score_files, shares))
        print(f"bench-predict-seconds {seconds:.6f}", flush=True)
        return
    os.makedirs(args.output)
    if args.procs == 1:
        score_files(args.model, args.loader, files, args.output, columns, args.batch_size)
    else:
        context = multiprocessing.get_context("spawn")
        workers = [context.Process(target=score_files,
                                   args=(args.model, args.loader, files[i::args.procs], args.output, columns,
                                         args.batch_size))
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
    result = subprocess.run(command + ["--out", str(partial)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    if result.returncode != 0:
        sys.exit(f"bench: preparing {directory} failed: {shlex.join(command)}\n{result.stderr}")
    partial.rename(directory)


def prepare_models(work_dir, keys):
    """The models directory, with the models of `keys` made when missing: scripts/make_models.py
    for the sklearn and seed models, bench/make_frame_model.py for the DataFrame model."""
    models = work_dir / f"models-{FEATURES}k"
    models.mkdir(parents=True, exist_ok=True)
    missing = [MODELS[k].directory for k in keys
               if k not in OWN_MAKERS and not (models / MODELS[k].directory).exists()]
    if missing:
        partial = models / ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        cached(partial / "made", [sys.executable, str(SCRIPTS / "make_models.py"), "--features", str(FEATURES),
                                  "--only", ",".join(missing), "--no-infer-requirements"])
        for name in missing:
            (partial / "made" / name).rename(models / name)
        shutil.rmtree(partial)
    for key in (k for k in keys if k in OWN_MAKERS):
        cached(models / MODELS[key].directory,
               [sys.executable, str(BENCH / OWN_MAKERS[key]), "--features", str(FEATURES)])
    return models


def prepare_dataset(work_dir, rows, files):
    """The dataset directory of `rows` rows in `files` part files, made when missing."""
    data = work_dir / f"data-{rows}r-{files}f-{FEATURES}k"
    cached(data, [sys.executable, str(SCRIPTS / "make_dataset.py"),
                  "--rows", str(rows), "--files", str(files), "--features", str(FEATURES)])
    return data


def java_major_version(java):
    """The major version of `java` (8 for 1.8), or None when it does not run."""
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def spark_unavailable():
    """Why spark_udf cannot run here, or "" when pyspark and Java 17+ are available."""
    if importlib.util.find_spec("pyspark") is None:
        return f"pyspark is not installed in {sys.prefix} (pip install -r scripts/requirements-bench.txt)"
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java:
        return "no java on PATH (apt-get install openjdk-17-jre-headless)"
    major = java_major_version(java)
    if major is None or major < 17:
        return f"{java} is Java {major or 'of unknown version'}; pyspark 4 needs 17 or later"
    return ""


# --- Measurement -----------------------------------------------------------------------

def process_tree_memory(*roots):
    """Sums of VmRSS and of PSS in bytes over the `roots` and all their descendants, each process
    once (0 for vanished ones). RSS counts a page shared by N processes N times; PSS (from
    /proc/PID/smaps_rollup) charges each 1/N of it, so its sum is what the tree really holds."""
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
    total, pss, pending, seen = 0, 0, list(roots), set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        pending.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total, pss


class RunFailed(Exception):
    """A measured command exited with an error."""


def kept_worker_pids(cache_dir):
    """The process ids of the workers `score-cluster run --keep-workers` keeps under `cache_dir`
    (its XDG_CACHE_HOME): they are not the run's descendants once an earlier run started them."""
    pids = []
    for state in Path(cache_dir, "score-cluster", "workers").glob("pool-*.json"):
        try:
            pids += json.loads(state.read_text())["pids"]
        except (OSError, ValueError, KeyError):
            pass
    return pids


def measure(command, log_path, env, extra_pids=None):
    """Run `command`; return (wall seconds, peak process-tree RSS bytes, its log, peak PSS bytes). Raises
    RunFailed if it fails. `extra_pids()` names processes that are not the command's descendants
    but work for it (kept workers): their trees count too."""
    peak, peak_pss = 0, 0
    finished = threading.Event()
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

        def poll():
            nonlocal peak, peak_pss
            while not finished.is_set():
                rss, pss = process_tree_memory(process.pid, *(extra_pids() if extra_pids else []))
                peak, peak_pss = max(peak, rss), max(peak_pss, pss)
                finished.wait(POLL_SECONDS)

        poller = threading.Thread(target=poll)
        poller.start()
        status = process.wait()
        elapsed = time.perf_counter() - start
        finished.set()
        poller.join()
    text = Path(log_path).read_text(errors="replace")
    if status != 0:
        tail = "".join(text.splitlines(keepends=True)[-40:])
        raise RunFailed(f"command failed with status {status}: {shlex.join(command)}\n"
                        f"--- last lines of {log_path} ---\n{tail}")
    return elapsed, peak, text, peak_pss


# --- Checking --------------------------------------------------------------------------

def schema_of(path):
    return [(f.name, str(f.type)) for f in pq.read_schema(path)]


def column_values(table, name):
    """A column as a numpy array; nulls of a float column become NaN."""
    return table[name].to_numpy(zero_copy_only=False)


def compare_columns(where, name, values, reference, reference_name):
    """Problems comparing one column: predictions within the tolerance (NaN equals NaN or null),
    every other column exactly."""
    if name != "prediction":
        if np.array_equal(values, reference, equal_nan=values.dtype.kind == "f"):
            return []
        first = int(np.argmax(values != reference))
        return [f"{where}: column {name} differs from {reference_name}'s, first at row {first}: "
                f"{values[first].item()!r} vs {reference[first].item()!r}"]
    scale = np.maximum(np.abs(values), np.abs(reference))
    close = np.abs(values - reference) <= RELATIVE_TOLERANCE * scale + ABSOLUTE_TOLERANCE
    close |= np.isnan(values) & np.isnan(reference)
    if close.all():
        return []
    bad = np.flatnonzero(~close)
    return [f"{where}: {len(bad)} predictions differ from {reference_name}'s, first at row {bad[0]}: "
            f"{float(values[bad[0]])!r} vs {float(reference[bad[0]])!r}"]


def compare_same_files(reference_name, reference_dir, name, directory):
    """Problems comparing an output laid out as the input (one file per input file, rows in
    input order) with the reference's."""
    if not (directory / "_SUCCESS").exists():
        return [f"{name}: no _SUCCESS in {directory}"]
    files = [os.path.basename(p) for p in dataset_files(directory)]
    reference_files = [os.path.basename(p) for p in dataset_files(reference_dir)]
    if files != reference_files:
        return [f"{name}: files {files} differ from {reference_name}'s {reference_files}"]
    problems = []
    for file in files:
        where = f"{name}/{file}"
        reference = pq.read_table(reference_dir / file)
        table = pq.read_table(directory / file)
        schema = [(f.name, str(f.type)) for f in table.schema]
        reference_schema = [(f.name, str(f.type)) for f in reference.schema]
        if schema != reference_schema:
            problems.append(f"{where}: columns {schema} differ from {reference_name}'s {reference_schema}")
            continue
        if table.num_rows != reference.num_rows:
            problems.append(f"{where}: {table.num_rows} rows, {reference_name} has {reference.num_rows}")
            continue
        for column in table.column_names:
            problems += compare_columns(where, column, column_values(table, column),
                                        column_values(reference, column), reference_name)
    return problems


def read_column(paths, column):
    """One column of part files, concatenated in the order given."""
    return np.concatenate([column_values(pq.read_table(p, columns=[column]), column) for p in paths])


def part_files(reference_name, reference_dir, name, directory):
    """Both outputs' part files and the reference's schema, or the problems that stop a
    comparison: no _SUCCESS, no part files, a file whose columns differ."""
    if not (directory / "_SUCCESS").exists():
        return [], [], [], [f"{name}: no _SUCCESS in {directory}"]
    files = [Path(p) for p in dataset_files(directory)]
    reference_files = [Path(p) for p in dataset_files(reference_dir)]
    if not files:
        return [], [], [], [f"{name}: no part files in {directory}"]
    reference_schema = schema_of(reference_files[0])
    for path in files:
        if schema_of(path) != reference_schema:
            return [], [], [], [f"{name}/{path.name}: columns {schema_of(path)} differ from {reference_name}'s {reference_schema}"]
    return files, reference_files, reference_schema, []


def compare_in_order(reference_name, reference_dir, name, directory):
    """Problems comparing an output in its own file layout but in input order (score-cluster's
    part-NNNNN files, one per partition, read in name order) with the reference's, row by row."""
    files, reference_files, reference_schema, problems = part_files(reference_name, reference_dir, name, directory)
    if problems:
        return problems
    for column, _ in reference_schema:
        values, reference = read_column(files, column), read_column(reference_files, column)
        if len(values) != len(reference):
            return [f"{name}: {len(values)} rows, {reference_name} has {len(reference)}"]
        problems += compare_columns(f"{name} (in order)", column, values, reference, reference_name)
    return problems


def compare_by_id(reference_name, reference_dir, name, directory):
    """Problems comparing an output in another layout (Spark's part files, in its own order)
    with the reference's: the same columns and types, and, rows matched by `id` after
    sorting, the same values."""
    files, reference_files, reference_schema, problems = part_files(reference_name, reference_dir, name, directory)
    if problems:
        return problems

    ids, reference_ids = read_column(files, "id"), read_column(reference_files, "id")
    if len(ids) != len(reference_ids):
        return [f"{name}: {len(ids)} rows, {reference_name} has {len(reference_ids)}"]
    order, reference_order = np.argsort(ids, kind="stable"), np.argsort(reference_ids, kind="stable")
    problems = compare_columns(f"{name} (sorted by id)", "id", ids[order], reference_ids[reference_order],
                               reference_name)
    if problems:
        return problems
    for column, _ in reference_schema:
        if column != "id":
            problems += compare_columns(f"{name} (sorted by id)", column, read_column(files, column)[order],
                                        read_column(reference_files, column)[reference_order], reference_name)
    return problems


# --- Systems ---------------------------------------------------------------------------

@dataclass
class System:
    name: str
    kind: str  # score-cluster | score-cluster-kept | baseline | spark | predict-only
    command: list
    env: dict
    output: Path = None  # None: writes nothing (predict only)
    layout: str = "same-files"  # or "by-id" (Spark)
    runs: list = field(default_factory=list)  # [(wall s, peak bytes, inner s or None)]
    failures: list = field(default_factory=list)  # why runs of a baseline failed (they were run again)
    extra_pids: object = None  # () -> pids outside the command's tree that work for it (kept workers)


def systems_for(args, model_spec, model, data, runs_dir):
    """The systems to measure on one dataset and model, in the order they take turns and are
    reported: score-cluster, the baselines (the 1-process one is the reference of the output
    check), spark_udf, predict only."""
    columns = ",".join(FEATURE_COLUMNS)
    base_env = dict(os.environ)
    one_thread = {**base_env, **ONE_THREAD}
    # --smoke keeps the N-process baseline and predict-only to the models that need no MLflow
    # import (the import dominates a 20,000-row run); the other runs cover every model.
    extras = not args.smoke or model_spec.loader == "seed"
    systems = []
    if not args.no_score_cluster:
        output = runs_dir / "score-cluster"
        command = [args.binary, "run", "--model", str(model), "--input", str(data), "--output", str(output),
                   "--workers", str(args.workers), "--columns", columns, "--overwrite"]
        if sys.prefix != sys.base_prefix:
            command += ["--python-env", sys.prefix]
        systems.append(System("score-cluster", "score-cluster", command + shlex.split(args.score_cluster_args),
                              base_env, output, layout="in-order"))
        if args.spawned_workers and args.workers > 1:
            # What forking saves: the same job with every worker spawned and loading the model.
            output = runs_dir / "score-cluster-spawned"
            spawned = [c if c != str(runs_dir / "score-cluster") else str(output) for c in command]
            systems.append(System("score-cluster, spawned workers", "score-cluster-spawned",
                                  spawned + ["--no-fork-workers"] + shlex.split(args.score_cluster_args),
                                  base_env, output, layout="in-order"))
        if args.without_head_start:
            # What the coordinator's I/O during the workers' start-up saves.
            output = runs_dir / "score-cluster-no-head-start"
            late = [c if c != str(runs_dir / "score-cluster") else str(output) for c in command]
            systems.append(System("score-cluster, no head start", "score-cluster-no-head-start",
                                  late + ["--no-head-start"] + shlex.split(args.score_cluster_args),
                                  base_env, output, layout="in-order"))
        for count in args.also_workers:
            # Start-up against the worker count: the same job with another --workers.
            output = runs_dir / f"score-cluster-x{count}"
            other = [c if c != str(runs_dir / "score-cluster") else str(output) for c in command]
            other[other.index("--workers") + 1] = str(count)
            systems.append(System(f"score-cluster x{count}", "score-cluster-xN", other + shlex.split(args.score_cluster_args),
                                  base_env, output, layout="in-order"))
        if args.kept_workers:
            # Repeated jobs on one machine: the workers an earlier run kept (--keep-workers), model
            # loaded; the warm-up run (always made for this system) starts them. Their memory counts.
            cache = args.work_dir / "kept-workers-cache"
            output = runs_dir / "score-cluster-kept"
            command = [c if c != str(runs_dir / "score-cluster") else str(output) for c in command]
            systems.append(System("score-cluster, kept workers", "score-cluster-kept",
                                  command + ["--keep-workers", "600"] + shlex.split(args.score_cluster_args),
                                  {**base_env, "XDG_CACHE_HOME": str(cache)}, output, layout="in-order",
                                  extra_pids=lambda: kept_worker_pids(cache)))
    baseline = [sys.executable, str(Path(__file__).resolve()), "baseline", "--model", str(model),
                "--loader", model_spec.loader, "--input", str(data), "--columns", columns]
    systems.append(System("python x1", "baseline", baseline + ["--output", str(runs_dir / "python-x1")], base_env,
                          runs_dir / "python-x1"))
    if args.baseline_procs > 1 and extras:
        name = f"python x{args.baseline_procs}"
        output = runs_dir / name.replace(" ", "-")
        systems.append(System(name, "baseline",
                              baseline + ["--output", str(output), "--procs", str(args.baseline_procs)],
                              one_thread, output))
    if args.spark and not model_spec.spark_skip:
        output = runs_dir / "spark-udf"
        command = [sys.executable, str(BENCH / "spark_job.py"), "--model", str(model), "--input", str(data),
                   "--output", str(output), "--columns", columns, "--workers", str(args.workers)]
        for setting in args.spark_conf:
            command += ["--conf", setting]
        env = {**base_env, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        systems.append(System(f"spark_udf local[{args.workers}]", "spark", command, env, output, layout="by-id"))
    if not args.no_predict_only and extras:
        systems.append(System("predict only", "predict-only", baseline + ["--predict-only"], one_thread))
        if args.workers > 1 and args.concurrent_predict_only:
            systems.append(System(f"predict only x{args.workers}", "predict-only-concurrent",
                                  baseline + ["--predict-only", "--procs", str(args.workers)], one_thread))
    return systems


def check_outputs(systems):
    """Problems found comparing every system's output with the 1-process baseline's."""
    reference = next(s for s in systems if s.name == "python x1")
    if not (reference.output / "_SUCCESS").exists():
        return [f"{reference.name}: no _SUCCESS in {reference.output}"]
    problems = []
    for system in systems:
        if system.output is None or system is reference:
            continue
        compare = {"by-id": compare_by_id, "in-order": compare_in_order}.get(system.layout, compare_same_files)
        problems += compare(reference.name, reference.output, system.name, system.output)
    return problems


# A baseline run that fails (Spark's driver running out of heap now and then) is run again, up
# to this many times, and the failure reported; a failing score-cluster run stops the bench.
BASELINE_ATTEMPTS = 3


def run_once(system, log_path, label, show_time):
    """One measured run of `system` (its previous output removed first, and every file written
    before flushed, so that no run pays for the previous one's writeback)."""
    for attempt in range(1, BASELINE_ATTEMPTS + 1):
        if system.output is not None:
            shutil.rmtree(system.output, ignore_errors=True)
        os.sync()
        try:
            seconds, peak, log, pss = measure(system.command, log_path, system.env, system.extra_pids)
            break
        except RunFailed as failure:
            reason = next((line.strip() for line in str(failure).splitlines() if "Error" in line or "error" in line),
                          "see " + str(log_path))
            if system.kind.startswith("score-cluster") or attempt == BASELINE_ATTEMPTS:
                sys.exit(f"bench: {label} {system.name}: {failure}")
            system.failures.append(f"{label} {reason[:200]}")
            print(f"bench: {label} {system.name} failed ({reason[:200]}); running it again", file=sys.stderr)
    inner = None
    pattern = {"spark": SPARK_JOB_LINE, "predict-only": PREDICT_LINE,
               "predict-only-concurrent": PREDICT_LINE}.get(system.kind)
    if pattern is not None:
        match = pattern.search(log)
        if match is None:
            sys.exit(f"bench: {system.name} printed no timing line ({pattern.pattern}); see {log_path}")
        inner = float(match.group(1))
    timing = f": {seconds:.2f} s, peak {peak / 1e6:,.0f} MB RSS, {pss / 1e6:,.0f} MB PSS" + (f", inner {inner:.2f} s" if inner else "")
    print(f"bench: {label} {system.name}{timing if show_time else ''}", file=sys.stderr)
    return seconds, peak, inner, pss


def bench_one(args, rows, model_spec, model, data):
    """Warm-up, check, alternating timed runs, check again; the results of one dataset and model."""
    runs_dir = args.work_dir / "runs"
    logs_dir = runs_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    systems = systems_for(args, model_spec, model, data, runs_dir)
    label = f"{rows:,} rows, {model_spec.key}:"

    def log_path(system, tag):
        return logs_dir / f"{rows}r-{model_spec.key}-{system.name.replace(' ', '-')}-{tag}.log"

    def check(when):
        problems = check_outputs(systems)
        if problems:
            print(f"bench: outputs differ ({label} {when}):\n  " + "\n  ".join(problems), file=sys.stderr)
            sys.exit(1)

    try:
        for system in systems:
            # Kept workers are started by a first run, whatever --no-warm-up says.
            if args.warm_up or system.kind == "score-cluster-kept":
                run_once(system, log_path(system, "warm-up"), f"{label} warm-up", show_time=False)
        if args.warm_up:
            check("after the warm-up")
        for i in range(args.repeat):
            for system in systems:
                system.runs.append(run_once(system, log_path(system, f"run{i + 1}"),
                                            f"{label} run {i + 1}/{args.repeat}", show_time=True))
    finally:
        # Kept workers would otherwise idle for 600 s, also when the bench stops on an error.
        for system in systems:
            if system.kind == "score-cluster-kept":
                subprocess.run([args.binary, "stop-workers"], env=system.env, stdout=subprocess.DEVNULL, check=False)
    check("after the last run")
    compared = [s.name for s in systems if s.output is not None and s.name != "python x1"]
    print(f"bench: {label} outputs of {', '.join(compared) or 'no other system'} equal python x1's",
          file=sys.stderr)

    results = []
    for system in systems:
        times = [run[0] for run in system.runs]
        peaks = [run[1] for run in system.runs]
        pss = [run[3] for run in system.runs]
        entry = {"rows": rows, "model": model_spec.key, "system": system.name, "kind": system.kind,
                 "command": shlex.join(system.command),
                 "env": {k: system.env[k] for k in sorted(ONE_THREAD) if k in system.env},
                 "times_s": times, "median_s": statistics.median(times),
                 "rows_per_s": rows / statistics.median(times),
                 "peak_rss_bytes": peaks, "peak_rss_mb": max(peaks) / 1e6,
                 "peak_pss_bytes": pss, "peak_pss_mb": max(pss) / 1e6, "failed_runs": system.failures}
        if system.kind == "spark":
            jobs = [run[2] for run in system.runs]
            entry.update({"job_times_s": jobs, "job_median_s": statistics.median(jobs),
                          "job_rows_per_s": rows / statistics.median(jobs)})
        if system.kind.startswith("predict-only"):
            predicts = [run[2] for run in system.runs]
            entry.update({"predict_times_s": predicts, "predict_median_s": statistics.median(predicts),
                          "predict_rows_per_s": rows / statistics.median(predicts)})
        results.append(entry)
    add_ratios(results, args.workers)
    return results


def add_ratios(results, workers):
    """score-cluster against each system: speed-up (the system's median time over score-cluster's,
    > 1: score-cluster is faster) and memory share (score-cluster's peak over the system's)."""
    ours = next((r for r in results if r["kind"] == "score-cluster"), None)
    kept = next((r for r in results if r["kind"] == "score-cluster-kept"), None)
    if ours is None:
        return
    for r in results:
        if r["kind"] == "predict-only":
            limit = workers * r["predict_rows_per_s"]
            r["limit_rows_per_s"] = limit
            r["score_cluster_share_of_limit"] = ours["rows_per_s"] / limit
            continue
        if r["kind"] == "predict-only-concurrent":
            r["score_cluster_share_of_concurrent"] = ours["rows_per_s"] / r["predict_rows_per_s"]
            continue
        if r["kind"] == "score-cluster-kept":
            continue
        r["score_cluster_speedup"] = r["median_s"] / ours["median_s"]
        r["score_cluster_memory_share"] = ours["peak_rss_mb"] / r["peak_rss_mb"]
        r["score_cluster_pss_share"] = ours["peak_pss_mb"] / r["peak_pss_mb"] if r["peak_pss_mb"] else None
        if kept is not None and r["kind"] != "score-cluster":
            r["kept_workers_speedup"] = r["median_s"] / kept["median_s"]
        if r["kind"] == "spark":
            r["score_cluster_speedup_vs_job"] = r["job_median_s"] / ours["median_s"]
            if kept is not None:
                r["kept_workers_speedup_vs_job"] = r["job_median_s"] / kept["median_s"]


# --- Reporting -------------------------------------------------------------------------

def result_of(results, like, kind):
    """The result of system kind `kind` on the same dataset and model as `like`, or None."""
    return next((r for r in results if r["rows"] == like["rows"] and r["model"] == like["model"]
                 and r["kind"] == kind), None)


def markdown(results, args, skipped):
    """The results as Markdown: one table per dataset, then score-cluster against the limit."""
    lines = []
    for rows in args.rows:
        lines += [f"### {rows:,} rows ({args.files} files), {args.workers} workers", "",
                  "| model | system | median s | rows/s | peak MB (RSS) | peak MB (PSS) | score-cluster speed-up | "
                  "score-cluster memory share (RSS) | (PSS) |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in (r for r in results if r["rows"] == rows and not r["kind"].startswith("predict-only")):
            speedup = f"{r['score_cluster_speedup']:.2f}x" if "score_cluster_speedup" in r else "-"
            share = f"{100 * r['score_cluster_memory_share']:.0f}%" if "score_cluster_memory_share" in r else "-"
            pss_share = f"{100 * r['score_cluster_pss_share']:.0f}%" if r.get("score_cluster_pss_share") else "-"
            name = r["system"] + (", whole process" if r["kind"] == "spark" else "")
            lines.append(f"| {r['model']} | {name} | {r['median_s']:.2f} | {r['rows_per_s']:,.0f} "
                         f"| {r['peak_rss_mb']:,.0f} | {r['peak_pss_mb']:,.0f} | {speedup} | {share} | {pss_share} |")
            if r["kind"] == "spark":
                speedup = f"{r['score_cluster_speedup_vs_job']:.2f}x" if "score_cluster_speedup_vs_job" in r else "-"
                lines.append(f"| {r['model']} | {r['system']}, job only | {r['job_median_s']:.2f} "
                             f"| {r['job_rows_per_s']:,.0f} | | | {speedup} | | |")
        lines.append("")
    limits = [r for r in results if r["kind"] == "predict-only"]
    if limits:
        lines += [f"### score-cluster against the limit: {args.workers} x predict-only rows/s "
                  "(1 process, 1 thread, model time only)", "",
                  "| rows | model | predict-only rows/s | limit rows/s | score-cluster rows/s | share of limit "
                  "| kept workers rows/s | share of limit |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in limits:
            ours = result_of(results, r, "score-cluster")
            workers_limit = args.workers * r["predict_rows_per_s"]
            ours_rate = f"{ours['rows_per_s']:,.0f}" if ours else "-"
            share = f"{100 * r['score_cluster_share_of_limit']:.0f}%" if ours else "-"
            kept = result_of(results, r, "score-cluster-kept")
            kept_rate = f"{kept['rows_per_s']:,.0f}" if kept else "-"
            kept_share = f"{100 * kept['rows_per_s'] / workers_limit:.0f}%" if kept else "-"
            lines.append(f"| {r['rows']:,} | {r['model']} | {r['predict_rows_per_s']:,.0f} | {workers_limit:,.0f} "
                         f"| {ours_rate} | {share} | {kept_rate} | {kept_share} |")
        lines.append("")
        concurrent = [r for r in results if r["kind"] == "predict-only-concurrent"]
        if concurrent:
            lines += [f"{args.workers} predict-only processes at once (each 1 thread, its share of the files; the "
                      "slowest one's model time): what this machine delivers to that many workers", "",
                      f"| rows | model | {args.workers} at once rows/s | share of the limit above "
                      "| score-cluster share | kept workers share |", "|---:|---|---:|---:|---:|---:|"]
            for r in concurrent:
                single = result_of(results, r, "predict-only")

                def of(kind):
                    o = result_of(results, r, kind)
                    return f"{100 * o['rows_per_s'] / r['predict_rows_per_s']:.0f}%" if o else "-"
                scaling = f"{100 * r['predict_rows_per_s'] / single['limit_rows_per_s']:.0f}%" if single else "-"
                lines.append(f"| {r['rows']:,} | {r['model']} | {r['predict_rows_per_s']:,.0f} | {scaling} "
                             f"| {of('score-cluster')} | {of('score-cluster-kept')} |")
            lines.append("")
    kept = [r for r in results if r["kind"] == "score-cluster-kept"]
    if kept:
        lines += ["### Repeated jobs: score-cluster with kept workers (`run --keep-workers`: workers started and "
                  "model loaded by an earlier run) against each system's whole run", "",
                  "| rows | model | kept workers s | python x1 | python xN | spark_udf whole | spark_udf job only |",
                  "|---:|---|---:|---:|---:|---:|---:|"]
        for k in kept:
            others = [r for r in results if r["rows"] == k["rows"] and r["model"] == k["model"]]

            def speedup(kind, name_prefix, key="kept_workers_speedup"):
                r = next((r for r in others if r["kind"] == kind and r["system"].startswith(name_prefix) and key in r), None)
                return f"{r[key]:.2f}x" if r else "-"
            lines.append(f"| {k['rows']:,} | {k['model']} | {k['median_s']:.2f} | {speedup('baseline', 'python x1')} "
                         f"| {speedup('baseline', f'python x{args.baseline_procs}') if args.baseline_procs > 1 else '-'} "
                         f"| {speedup('spark', 'spark')} | {speedup('spark', 'spark', 'kept_workers_speedup_vs_job')} |")
        lines.append("")
    for note in skipped:
        lines.append(f"- not run: {note}")
    for r in results:
        for failure in r.get("failed_runs", []):
            lines.append(f"- {r['system']} failed once and was run again: {failure}")
    return "\n".join(lines).rstrip() + "\n"


def plot(results, args, path):
    """A PNG of rows/s per system per model, one panel per dataset; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    series = []  # (label, kind, key)
    for r in results:
        label = r["system"] + (" (whole process)" if r["kind"] == "spark" else "")
        if not r["kind"].startswith("predict-only") and (label, "rows_per_s") not in [(s[0], s[2]) for s in series]:
            series.append((label, r["system"], "rows_per_s"))
        if r["kind"] == "spark" and (r["system"] + " (job only)", "job_rows_per_s") not in [(s[0], s[2]) for s in series]:
            series.append((r["system"] + " (job only)", r["system"], "job_rows_per_s"))
    models = [m for m in args.models if any(r["model"] == m for r in results)]
    figure, axes = plt.subplots(1, len(args.rows), figsize=(4.2 * len(args.rows) + 1.8, 3.4), squeeze=False,
                                sharey=True)
    width = 0.8 / max(1, len(series))
    for axis, rows in zip(axes[0], args.rows):
        for i, (label, system, key) in enumerate(series):
            values = []
            for model in models:
                match = [r for r in results if r["rows"] == rows and r["model"] == model and r["system"] == system]
                values.append(match[0][key] if match and key in match[0] else 0)
            axis.bar([m + (i - (len(series) - 1) / 2) * width for m in range(len(models))], values, width,
                     label=label)
        limits = [next((r["limit_rows_per_s"] for r in results if r["rows"] == rows and r["model"] == model
                        and "limit_rows_per_s" in r), None) for model in models]
        labelled = axis is not axes[0][-1]
        for m, limit in enumerate(limits):
            if limit:
                axis.hlines(limit, m - 0.45, m + 0.45, colors="black", linestyles="dashed", linewidth=1,
                            label=None if labelled else f"limit: {args.workers} x predict only")
                labelled = True
        axis.set_title(f"{rows:,} rows")
        axis.set_xticks(range(len(models)))
        axis.set_xticklabels(models)
        axis.set_yscale("log")
        axis.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("rows/s (log scale)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle(f"score-cluster benchmark, {args.workers} workers, {os.cpu_count()} CPUs", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


# --- The benchmark ---------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Benchmark score-cluster against a pure-Python pyfunc scoring loop and spark_udf "
                    "(see bench/README.md). `bench.py baseline --help` describes the baseline alone.")
    parser.add_argument("--rows", help="comma-separated dataset sizes (default: 100000,2000000,10000000; "
                                       "smoke: 20000)")
    parser.add_argument("--files", type=int, help="dataset part files (default: 8; smoke: 2)")
    parser.add_argument("--models", help=f"comma-separated models among {', '.join(MODELS)} "
                                         "(default: all; smoke: linear,frame,seed)")
    parser.add_argument("--workers", type=int, default=2,
                        help="score-cluster --workers, Spark local[N], baseline processes (default: 2)")
    parser.add_argument("--baseline-procs", type=int, default=None,
                        help="processes of the multi-process baseline (default: --workers; 1: no such run)")
    parser.add_argument("--repeat", type=int, help="timed runs of each system (default: 3; smoke: 1)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", default=None,
                        help="skip the warm-up run (default: warm up, except with --smoke)")
    parser.add_argument("--with-spark", dest="spark", action="store_true",
                        help="also run spark_udf (needs pyspark and Java 17+; skipped with a note otherwise)")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark configuration for the spark_udf runs, repeatable")
    parser.add_argument("--no-predict-only", action="store_true", help="skip the predict-only (limit) runs")
    parser.add_argument("--spawned-workers", action="store_true",
                        help="also run score-cluster with --no-fork-workers (every worker spawned, loading the model)")
    parser.add_argument("--without-head-start", action="store_true",
                        help="also run score-cluster with --no-head-start (the workers copy every kept chunk themselves)")
    parser.add_argument("--also-workers", default="",
                        help="comma-separated worker counts to run score-cluster with besides --workers (e.g. 1)")
    parser.add_argument("--concurrent-predict-only", action="store_true",
                        help="also run N predict-only processes at once (N = --workers): the ceiling N workers reach "
                             "on this machine, next to N x the 1-process limit")
    parser.add_argument("--no-kept-workers", dest="kept_workers", action="store_false",
                        help="skip `score-cluster run --keep-workers` (workers kept by an earlier run, model loaded)")
    parser.add_argument("--binary", default=str(REPO / ".build/release/score-cluster"),
                        help="score-cluster executable (default: .build/release/score-cluster)")
    parser.add_argument("--score-cluster-args", default="",
                        help='extra arguments for score-cluster run, given with "=": '
                             '--score-cluster-args="--batch-size 50000"')
    parser.add_argument("--no-score-cluster", action="store_true",
                        help="run only the other systems (to check the harness without the binary)")
    parser.add_argument("--work-dir", default=str(REPO / "bench/out"),
                        help="cache of inputs, outputs and logs (default: bench/out)")
    parser.add_argument("--json", default=None,
                        help="results file (default: WORK_DIR/results.json; smoke: WORK_DIR/smoke-results.json)")
    parser.add_argument("--plot", default=None,
                        help="plot file (default: next to the JSON, .png); needs matplotlib, skipped without")
    parser.add_argument("--smoke", action="store_true",
                        help="correctness check: 20,000 rows, 2 files, models linear,frame,seed, 1 run, "
                             "no warm-up, no spark; the N-process baseline and predict-only on the seed model only")
    args = parser.parse_args(argv)
    defaults = SMOKE_DEFAULTS if args.smoke else FULL_DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.warm_up is None:
        args.warm_up = not args.smoke
    try:
        args.rows = [int(r.replace("_", "")) for r in str(args.rows).split(",") if r.strip()]
    except ValueError:
        parser.error(f"--rows must be comma-separated integers, got {args.rows!r}")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose among {', '.join(MODELS)}")
    if args.baseline_procs is None:
        args.baseline_procs = args.workers
    if not args.rows or min(args.rows) < 1 or args.files < 1 or args.repeat < 1 or args.workers < 1:
        parser.error("--rows, --files, --repeat and --workers must be >= 1")
    if args.baseline_procs < 1:
        parser.error("--baseline-procs must be >= 1")
    try:
        args.also_workers = [int(n) for n in args.also_workers.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--also-workers must be comma-separated integers, got {args.also_workers!r}")
    if any(n < 1 or n == args.workers for n in args.also_workers):
        parser.error("--also-workers counts must be >= 1 and differ from --workers")
    if args.smoke and args.spark:
        parser.error("--smoke runs without spark")
    args.work_dir = Path(args.work_dir).resolve()
    args.json = Path(args.json or args.work_dir / ("smoke-results.json" if args.smoke else "results.json"))
    args.plot = Path(args.plot) if args.plot else args.json.with_suffix(".png")
    return args


def versions(args):
    """What was measured: score-cluster's --version, the git commit (and whether the tree had changes)."""
    def output(command):
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    found = {"git_commit": output(["git", "rev-parse", "HEAD"]),
             "git_dirty": bool(output(["git", "status", "--porcelain", "--untracked-files=no"]))}
    if not args.no_score_cluster:
        found["score_cluster"] = output([args.binary, "--version"])
    if args.spark:
        found["pyspark"] = output([sys.executable, "-c", "import pyspark; print(pyspark.__version__)"])
    return found


def main(argv):
    args = parse_args(argv)
    if not args.no_score_cluster:
        binary = shutil.which(args.binary)
        if binary is None:
            sys.exit(f"bench: no score-cluster executable at {args.binary}; build it with "
                     "`swift build -c release`, pass --binary, or use --no-score-cluster")
        args.binary = os.path.abspath(binary)
    skipped = []
    if args.spark:
        reason = spark_unavailable()
        if reason:
            print(f"bench: spark_udf skipped: {reason}", file=sys.stderr)
            skipped.append(f"spark_udf: {reason}")
            args.spark = False
        else:
            skipped += [f"spark_udf on {MODELS[m].key}: {MODELS[m].spark_skip}"
                        for m in args.models if MODELS[m].spark_skip]
    load_at_start = os.getloadavg()
    if load_at_start[0] > (os.cpu_count() or 1) * 0.5:
        print(f"bench: note: the 1-minute load average is {load_at_start[0]:.2f} on {os.cpu_count()} CPUs; "
              "other work on the machine slows every system and adds noise", file=sys.stderr)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    models_dir = prepare_models(args.work_dir, args.models)
    datasets = {rows: prepare_dataset(args.work_dir, rows, args.files) for rows in args.rows}

    results = []
    for rows in args.rows:
        for key in args.models:
            spec = MODELS[key]
            results += bench_one(args, rows, spec, models_dir / spec.directory, datasets[rows])

    print(markdown(results, args, skipped), end="")
    report = {
        "config": {"rows": args.rows, "files": args.files, "features": FEATURES, "models": args.models,
                   "workers": args.workers, "baseline_procs": args.baseline_procs, "repeat": args.repeat,
                   "warm_up": args.warm_up, "spark": args.spark, "spark_conf": args.spark_conf,
                   "batch_rows_baseline": BATCH_ROWS, "binary": None if args.no_score_cluster else args.binary,
                   "score_cluster_args": args.score_cluster_args,
                   "datasets": {str(k): str(v) for k, v in datasets.items()},
                   "model_dirs": {k: str(models_dir / MODELS[k].directory) for k in args.models},
                   "model_descriptions": {k: MODELS[k].description for k in args.models}},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_start": load_at_start, "load_average_end": os.getloadavg()},
        "versions": versions(args),
        "check": {"reference": "python x1", "relative_tolerance": RELATIVE_TOLERANCE,
                  "absolute_tolerance": ABSOLUTE_TOLERANCE,
                  "rule": "same files, columns and types; input columns exact; predictions within tolerance; "
                          "spark_udf's part files compared by id after sorting"},
        "skipped": skipped,
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {args.json}", file=sys.stderr)
    if plot(results, args, args.plot):
        print(f"bench: wrote {args.plot}", file=sys.stderr)
    else:
        print("bench: no plot (matplotlib is not installed: pip install -r scripts/requirements-bench.txt)",
              file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["baseline"]:
        run_baseline(sys.argv[2:])
    else:
        main(sys.argv[1:])
