"""How long a model's environment takes to build, `--env-manager virtualenv` (venv + pip) against `--env-manager uv`.

Saves an sklearn model with MLflow (scripts/make_models.py: its requirements.txt pins mlflow and scikit-learn, its
python_env.yaml the build dependencies), then runs `score-cluster run --env-manager M` on a 100-row dataset with a
fresh `--env-cache` and fresh package caches (PIP_CACHE_DIR, UV_CACHE_DIR: cache cold, every wheel downloaded from
PyPI), so the job's time is the environment's build plus one tiny job. The modes alternate; medians.

usage: .venv/bin/python bench/env_build.py --binary .build/release/score-cluster [--repeat 3]
Needs PyPI."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv/bin/python")
p = argparse.ArgumentParser()
p.add_argument("--binary", default=os.path.join(ROOT, ".build/release/score-cluster"))
p.add_argument("--repeat", type=int, default=3)
a = p.parse_args()

work = tempfile.mkdtemp(prefix="env-build-")
data, models = os.path.join(work, "data"), os.path.join(work, "models")
subprocess.run([PY, os.path.join(ROOT, "scripts/make_dataset.py"), "--rows", "100", "--files", "1", "--features", "16", "--out", data],
               check=True, stdout=subprocess.DEVNULL)
subprocess.run([PY, os.path.join(ROOT, "scripts/make_models.py"), "--features", "16", "--out", models, "--only", "sklearn_linear",
                "--no-infer-requirements"], check=True, stdout=subprocess.DEVNULL)
model = os.path.join(models, "sklearn_linear")
with open(os.path.join(model, "requirements.txt")) as f:
    requirements = " ".join(f.read().split())
columns = ",".join(f"f{i}" for i in range(16))


def build(manager, n):
    run = os.path.join(work, f"{manager}-{n}")
    os.makedirs(run)
    env = dict(os.environ, VIRTUAL_ENV=os.path.join(ROOT, ".venv"), PIP_CACHE_DIR=os.path.join(run, "pip-cache"),
               UV_CACHE_DIR=os.path.join(run, "uv-cache"))
    started = time.monotonic()
    done = subprocess.run([a.binary, "run", "--model", model, "--input", data, "--output", os.path.join(run, "out"), "--columns", columns,
                           "--workers", "1", "--env-manager", manager, "--env-cache", os.path.join(run, "envs"), "--quiet", "--preview", "0"],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{manager} failed:\n{done.stderr[-3000:]}")
    shutil.rmtree(run, ignore_errors=True)
    return seconds


times = {"virtualenv": [], "uv": []}
for n in range(a.repeat):
    for manager in times:
        times[manager].append(build(manager, n))
shutil.rmtree(work, ignore_errors=True)
print(f"model environment of an sklearn model saved by MLflow ({requirements}), caches cold, medians of {a.repeat}\n")
print("| --env-manager | build + 100-row job, s | runs |")
print("|---|---:|---|")
for manager, measured in times.items():
    print(f"| {manager} | {statistics.median(measured):.1f} | {', '.join(f'{x:.1f}' for x in measured)} |")
print(f"\nuv / virtualenv: {statistics.median(times['uv']) / statistics.median(times['virtualenv']):.2f}")
