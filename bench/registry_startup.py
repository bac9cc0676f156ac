"""Cold start-up of a job whose model comes from an MLflow registry, against the same model from a local directory.

Starts a real `mlflow server` (from .venv-services: SQLite store, --serve-artifacts, a free loopback port), logs and
registers a LinearRegression on 16 features with mlflow.sklearn.log_model (MLflow's defaults, skops), downloads the
same model into a local directory, writes a small dataset (start-up dominates), then times, in alternation,
`score-cluster run` with:
  - local:      --model DIR
  - registry cold: --model models:/bench_linear@champion with an empty model cache (download included)
  - registry warm: the same URI with the cache the cold run filled (resolve + list + digest check, no download)
and, for the choice of client, MLflow's own Python client resolving and downloading the same URI in a fresh
process (`mlflow.artifacts.download_artifacts`, what a Python-client subprocess would cost).

usage: .venv/bin/python bench/registry_startup.py --binary .build/release/score-cluster [--rows 100000] [--repeat 3]
Prints a Markdown table of medians; the fetch column is the report's model.fetch.seconds."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/score-cluster"))
parser.add_argument("--rows", type=int, default=100_000)
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--workers", type=int, default=2)
a = parser.parse_args()

work = tempfile.mkdtemp(prefix="registry-bench-")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
url = f"http://127.0.0.1:{port}"
env = dict(os.environ, MLFLOW_TRACKING_URI=url, VIRTUAL_ENV=os.path.join(ROOT, ".venv"), GIT_PYTHON_REFRESH="quiet")
server = subprocess.Popen(
    [os.path.join(ROOT, ".venv-services/bin/mlflow"), "server", "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
     "--artifacts-destination", f"{work}/artifacts", "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
     "--workers", "1"],
    env=dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    start_new_session=True)
try:
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            break
        except Exception:
            time.sleep(0.2)
    else:
        sys.exit("mlflow server did not start")

    setup = f"""
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq, mlflow, mlflow.sklearn
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LinearRegression
rng = np.random.default_rng(3)
X = pd.DataFrame(rng.normal(size=({a.rows}, 16)), columns=[f"f{{i}}" for i in range(16)])
model = LinearRegression().fit(X, X.to_numpy() @ rng.normal(size=16))
mlflow.sklearn.log_model(model, name="model", registered_model_name="bench_linear", signature=infer_signature(X, model.predict(X)),
                         pip_requirements=["scikit-learn"])
MlflowClient().set_registered_model_alias("bench_linear", "champion", "1")
mlflow.artifacts.download_artifacts("models:/bench_linear@champion", dst_path="{work}/local_model")
import os; os.makedirs("{work}/input")
pq.write_table(pa.Table.from_pandas(X, preserve_index=False), "{work}/input/part-0.parquet")
"""
    subprocess.run([os.path.join(ROOT, ".venv/bin/python"), "-c", setup], env=env, check=True, capture_output=True)
    columns = ",".join(f"f{i}" for i in range(16))

    def run(model, cache):
        out = f"{work}/out"
        report = f"{work}/report.json"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run([a.binary, "run", "--model", model, "--input", f"{work}/input", "--output", out, "--columns", columns,
                        "--workers", str(a.workers), "--preview", "0", "--quiet", "--report", report],
                       env=dict(env, XDG_CACHE_HOME=cache), check=True, capture_output=True)
        seconds = time.perf_counter() - started
        fetch = json.load(open(report)).get("model", {}).get("fetch", {})
        return seconds, fetch.get("seconds", 0.0), fetch.get("downloaded")

    def python_client():
        dst = tempfile.mkdtemp(dir=work)
        started = time.perf_counter()
        subprocess.run([os.path.join(ROOT, ".venv/bin/python"), "-c",
                        f"import mlflow; mlflow.artifacts.download_artifacts('models:/bench_linear@champion', dst_path='{dst}')"],
                       env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    results = {"local": [], "registry, cache cold": [], "registry, cache warm": [], "python client": []}
    run(f"{work}/local_model", f"{work}/warmup-cache")  # warm-up: page cache, Python's bytecode
    for i in range(a.repeat):
        results["local"].append(run(f"{work}/local_model", f"{work}/unused-cache"))
        cache = f"{work}/cache-{i}"
        cold = run("models:/bench_linear@champion", cache)
        assert cold[2] is True, cold
        results["registry, cache cold"].append(cold)
        warm = run("models:/bench_linear@champion", cache)
        assert warm[2] is False, warm
        results["registry, cache warm"].append(warm)
        results["python client"].append((python_client(), None, None))

    local = statistics.median(r[0] for r in results["local"])
    print(f"{a.rows:,} rows, {a.workers} workers, medians of {a.repeat} (runs in alternation after a warm-up)\n")
    print("| model source | job wall time | vs local path | model resolve + fetch |")
    print("|---|---:|---:|---:|")
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        if name == "python client":
            print(f"| MLflow's Python client, download_artifacts only (fresh process) | {wall:.2f} s | | {wall:.2f} s |")
        else:
            fetch = statistics.median(r[1] for r in rows)
            print(f"| {name} | {wall:.2f} s | {wall / local:.2f}x | {fetch * 1000:.0f} ms |")
finally:
    os.killpg(server.pid, 15)
    server.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)
