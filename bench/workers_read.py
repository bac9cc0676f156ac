"""Streaming against --workers-read: what the coordinator pays and what the job gets, in one invocation.

Makes the benchmark's data (an `id` and 16 float64 features, pyarrow's defaults, 8 files; 10M rows by default)
and models (LinearRegression and HistGradientBoosting saved by MLflow), then for each model and each mode:

  - two machines' worth of workers: two network namespaces, each joined to this one by a veth pair, one
    `score-cluster worker --connect` in each; both see the data and the output through the same directory
    (what a shared file system gives). The coordinator runs here and listens on the veth addresses.
    Measured: wall time (rows per second), the coordinator's CPU seconds (user + system, wait4's rusage),
    the bytes it sent over the two links (the host side's tx_bytes: frames, TCP and all), and the workers'
    busy seconds from the report (streaming: decode + predict + encode; workers-read: read + predict + write);
  - one machine: `score-cluster run --workers 2`, both modes (which one `run` should use by default).

From those, per mode: the workers one coordinator core keeps busy (worker busy s / coordinator CPU s) and the
workers one 10 Gb/s link feeds (1.25 GB/s / (bytes sent per row x rows per second of one worker)).
`--keep-columns none` as in bench/coordinator_funnel.py, so the output is the prediction column.

usage: .venv/bin/python bench/workers_read.py --binary .build/release/score-cluster [--rows 10000000] [--repeat 3]
Needs root (ip netns). Prints Markdown tables of medians."""
import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv/bin/python")
p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(ROOT, ".build/release/score-cluster"))
p.add_argument("--rows", type=int, default=10_000_000)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--models", default="sklearn_linear,sklearn_hgb")
p.add_argument("--one-machine-only", action="store_true", help="only the `run` comparison (no namespaces, no root needed)")
p.add_argument("--work", default=None, help="where data and models are kept between runs (default: a temporary directory)")
a = p.parse_args()

work = a.work or tempfile.mkdtemp(prefix="workers-read-")
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
    f.write("workers-read-bench-token-0123456789")
os.chmod(token, 0o600)
columns = ",".join(f"f{i}" for i in range(16))
env = dict(os.environ, VIRTUAL_ENV=os.path.join(ROOT, ".venv"))
SPACES = [("scwr0", "scwrv0", "10.231.0"), ("scwr1", "scwrv1", "10.231.1")]


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def make_namespaces():
    for name, link, net in SPACES:
        subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
        ip("netns", "add", name)
        ip("link", "add", link, "type", "veth", "peer", "name", link + "p")
        ip("link", "set", link + "p", "netns", name)
        ip("addr", "add", net + ".1/24", "dev", link)
        ip("link", "set", link, "up")
        ip("netns", "exec", name, "ip", "addr", "add", net + ".2/24", "dev", link + "p")
        ip("netns", "exec", name, "ip", "link", "set", link + "p", "up")
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")


def remove_namespaces():
    for name, link, _ in SPACES:
        subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "del", link], stderr=subprocess.DEVNULL)


def tx_bytes():
    total = 0
    for _, link, _ in SPACES:
        with open(f"/sys/class/net/{link}/statistics/tx_bytes") as f:
            total += int(f.read())
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def report_of(path):
    with open(path) as f:
        r = json.load(f)
    busy = sum(w["decodeSeconds"] + w["predictSeconds"] + w["encodeSeconds"] for w in r["workers"])
    return r, busy


def across_namespaces(model, workers_read):
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    report = os.path.join(work, "report.json")
    port = free_port()
    mode = ["--workers-read"] if workers_read else ["--no-workers-read"]
    sent_before = tx_bytes()
    started = time.monotonic()
    coordinator = subprocess.Popen([a.binary, "coordinator", "--listen", f"0.0.0.0:{port}", "--min-workers", "2",
                                    "--token-file", token, "--model", os.path.join(models, model), "--input", data,
                                    "--output", out, "--columns", columns, "--keep-columns", "none", "--quiet",
                                    "--preview", "0", "--report", report] + mode, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers = [subprocess.Popen(["ip", "netns", "exec", name, a.binary, "worker", "--connect", f"{net}.1:{port}",
                                 "--token-file", token, "--python-env", os.path.join(ROOT, ".venv"), "--connect-timeout", "60",
                                 "--model-cache", os.path.join(work, f"cache-{i}")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for i, (name, _, net) in enumerate(SPACES)]
    _, status, usage = os.wait4(coordinator.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"coordinator failed: {coordinator.stderr.read()[-3000:]}")
    for w in workers:
        w.wait(timeout=60)
    sent = tx_bytes() - sent_before
    r, busy = report_of(report)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "sent": sent, "busy": busy, "rows": r["rows"]}


def one_machine(model, workers_read):
    """Wall seconds and the CPU seconds of the whole process tree (coordinator and workers)."""
    out = os.path.join(work, "out-run")
    shutil.rmtree(out, ignore_errors=True)
    mode = ["--workers-read"] if workers_read else ["--no-workers-read"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run([a.binary, "run", "--workers", "2", "--model", os.path.join(models, model), "--input", data, "--output", out,
                    "--columns", columns, "--keep-columns", "none", "--quiet", "--preview", "0"] + mode, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def megabytes(n):
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} KB"


names = {"sklearn_linear": "LinearRegression", "sklearn_hgb": "HistGradientBoosting"}
link = 10e9 / 8
results = {}
local = {}
if not a.one_machine_only:
    make_namespaces()
    try:
        for model in a.models.split(","):
            for workers_read in (False, True):
                runs = [across_namespaces(model, workers_read) for _ in range(a.repeat)]
                results[(model, workers_read)] = {key: statistics.median(x[key] for x in runs) for key in runs[0]}
    finally:
        remove_namespaces()
for model in a.models.split(","):
    # The two modes alternate, so that a slow spell of the machine falls on both.
    runs = {False: [], True: []}
    for _ in range(a.repeat):
        for workers_read in (False, True):
            runs[workers_read].append(one_machine(model, workers_read))
    for workers_read, measured in runs.items():
        local[(model, workers_read)] = (statistics.median(x[0] for x in measured), statistics.median(x[1] for x in measured))

print(f"{a.rows:,} rows of 16 float64 features (8 files), --keep-columns none, medians of {a.repeat}\n")
if results:
    print("Two workers in network namespaces (veth links), coordinator here, data and output in one shared directory:\n")
    print("| model | mode | wall s | rows/s | coordinator CPU s / 10M rows | bytes sent / 10M rows | worker busy s / 1M rows | workers per coordinator core | workers per 10 Gb/s link |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for (model, workers_read), r in results.items():
    per_10m = 1e7 / r["rows"]
    busy = r["busy"] / r["rows"] * 1e6
    per_core = r["busy"] / r["cpu"]
    per_link = link / (r["sent"] / r["rows"] * (1e6 / busy))
    print(f"| {names.get(model, model)} | {'workers-read' if workers_read else 'streaming'} | {r['wall']:.1f} | {r['rows'] / r['wall']:,.0f} | "
          f"{r['cpu'] * per_10m:.2f} | {megabytes(r['sent'] * per_10m)} | {busy:.2f} | {per_core:,.0f} | {per_link:,.0f} |")
print("\nOne machine, `run --workers 2`, the modes alternating (start-up included; CPU s of the whole process tree):\n")
print("| model | streaming wall s | workers-read wall s | ratio | streaming CPU s | workers-read CPU s |")
print("|---|---:|---:|---:|---:|---:|")
for model in a.models.split(","):
    (sw, sc), (ww, wc) = local[(model, False)], local[(model, True)]
    print(f"| {names.get(model, model)} | {sw:.1f} | {ww:.1f} | {ww / sw:.2f} | {sc:.1f} | {wc:.1f} |")
if not a.work:
    shutil.rmtree(work, ignore_errors=True)
