"""How many workers one coordinator can feed in streaming mode (every row through the coordinator).

Makes the benchmark's data (an `id` and 16 float64 features, pyarrow's defaults, 8 files) and models
(LinearRegression and HistGradientBoosting saved by MLflow), then for each model runs `score-cluster coordinator`
with 2 `score-cluster worker --connect` processes on this machine (`--keep-columns none`, so the coordinator's
output work is the prediction column alone) and measures:
  - the coordinator's CPU seconds (user + system, from wait4's rusage) per million rows;
  - the bytes it wrote to the workers' sockets per million rows: /proc/PID/io's wchar, sampled every 50 ms
    until it exits, less the bytes of the output files it wrote;
  - the workers' busy seconds per million rows (decode + predict + encode from the report), i.e. what one worker
    core can score.
From those: the workers one coordinator core keeps busy (worker seconds per row / coordinator seconds per row) and
the workers one 10 Gb/s link feeds (1.25 GB/s / (bytes per row x rows per second of one worker)), also for a model
10 times as costly as HistGradientBoosting (computed, not run).

usage: .venv/bin/python bench/coordinator_funnel.py --binary .build/release/score-cluster [--rows 2000000] [--repeat 3]
Prints a Markdown table of medians."""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv/bin/python")
p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(ROOT, ".build/release/score-cluster"))
p.add_argument("--rows", type=int, default=2_000_000)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--work", default=None, help="where data and models are kept between runs (default: a temporary directory)")
a = p.parse_args()

work = a.work or tempfile.mkdtemp(prefix="funnel-")
os.makedirs(work, exist_ok=True)
data = os.path.join(work, f"data-{a.rows}")
models = os.path.join(work, "models")
if not os.path.exists(data):
    subprocess.run([PY, os.path.join(ROOT, "scripts/make_dataset.py"), "--rows", str(a.rows), "--files", "8", "--features", "16",
                    "--out", data], check=True, stdout=subprocess.DEVNULL)
if not os.path.exists(models):
    subprocess.run([PY, os.path.join(ROOT, "scripts/make_models.py"), "--features", "16", "--out", models,
                    "--only", "sklearn_linear,sklearn_hgb", "--no-infer-requirements"], check=True, stdout=subprocess.DEVNULL)
token = os.path.join(work, "token")
with open(token, "w") as f:
    f.write("funnel-bench-token-0123456789abcdef")
os.chmod(token, 0o600)
columns = ",".join(f"f{i}" for i in range(16))
env = dict(os.environ, VIRTUAL_ENV=os.path.join(ROOT, ".venv"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(model):
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    report = os.path.join(work, "report.json")
    port = free_port()
    coordinator = subprocess.Popen([a.binary, "coordinator", "--listen", f"127.0.0.1:{port}", "--min-workers", "2",
                                    "--token-file", token, "--model", os.path.join(models, model), "--input", data,
                                    "--output", out, "--columns", columns, "--keep-columns", "none", "--quiet",
                                    "--preview", "0", "--report", report], env=env, stdout=subprocess.DEVNULL)
    written = [0]

    def sample():
        while coordinator.poll() is None:
            try:
                with open(f"/proc/{coordinator.pid}/io") as f:
                    for line in f:
                        if line.startswith("wchar:"):
                            written[0] = int(line.split()[1])
            except OSError:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    workers = [subprocess.Popen([a.binary, "worker", "--connect", f"127.0.0.1:{port}", "--token-file", token,
                                 "--python-env", os.path.join(ROOT, ".venv"), "--connect-timeout", "60",
                                 "--model-cache", os.path.join(work, f"cache-{i}")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
    _, status, usage = os.wait4(coordinator.pid, 0)
    coordinator.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    for w in workers:
        w.wait(timeout=60)
    if coordinator.returncode != 0:
        sys.exit(f"coordinator failed ({coordinator.returncode})")
    output_bytes = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    with open(report) as f:
        r = json.load(f)
    busy = sum(w["decodeSeconds"] + w["predictSeconds"] + w["encodeSeconds"] for w in r["workers"])
    return {"cpu": usage.ru_utime + usage.ru_stime, "sent": written[0] - output_bytes, "busy": busy, "rows": r["rows"]}


results = {}
for model in ["sklearn_linear", "sklearn_hgb"]:
    runs = [run(model) for _ in range(a.repeat)]
    per_million = lambda key: statistics.median(x[key] / x["rows"] * 1e6 for x in runs)
    results[model] = {"cpu": per_million("cpu"), "sent": per_million("sent"), "busy": per_million("busy")}
results["10x HistGradientBoosting (computed)"] = dict(results["sklearn_hgb"], busy=results["sklearn_hgb"]["busy"] * 10)

link = 10e9 / 8
print(f"{a.rows:,} rows of 16 float64 features, streaming mode, 2 workers on this machine, medians of {a.repeat}\n")
print("| model | coordinator CPU s / 1M rows | bytes sent / 1M rows | worker busy s / 1M rows | workers per coordinator core | workers per 10 Gb/s link |")
print("|---|---:|---:|---:|---:|---:|")
names = {"sklearn_linear": "LinearRegression", "sklearn_hgb": "HistGradientBoosting"}
for model, r in results.items():
    per_core = r["busy"] / r["cpu"]
    per_link = link / (r["sent"] / 1e6 * (1e6 / r["busy"]))
    print(f"| {names.get(model, model)} | {r['cpu']:.2f} | {r['sent'] / 1e6:,.0f} MB | {r['busy']:.2f} | {per_core:.1f} | {per_link:.1f} |")
if not a.work:
    shutil.rmtree(work, ignore_errors=True)
