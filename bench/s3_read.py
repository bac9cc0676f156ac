"""Reading a dataset from an S3-API server against reading it from local files, and against pyarrow's S3FileSystem.

Starts moto's standalone S3 server (from .venv-services, a free loopback port), writes a dataset of 16 float64
columns plus an id (ROWS rows in 4 files, row groups of 256k rows) into it with pyarrow's S3FileSystem, downloads the
same objects into a local directory, and then, in alternation, times:
  - score-cluster, s3:// input:  a seed-format linear model on 4 of the 16 columns (f1..f4), --keep-columns none,
                                 2 workers, local output; the report gives bytes fetched and the coordinator's read time
  - score-cluster, local input:  the same job on the downloaded files
  - pyarrow S3FileSystem:        pq.read_table of the same 4 columns from the bucket (no scoring)
  - pyarrow local:               the same from the local files
The score-cluster rows also include the workers' start-up and the model; compare them with each other, and the
pyarrow rows with each other.

usage: .venv/bin/python bench/s3_read.py --binary .build/release/score-cluster [--rows 2000000] [--repeat 3]
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
import time
import urllib.request

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser()
parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/score-cluster"))
parser.add_argument("--rows", type=int, default=2_000_000)
parser.add_argument("--repeat", type=int, default=3)
parser.add_argument("--workers", type=int, default=2)
a = parser.parse_args()

work = tempfile.mkdtemp(prefix="s3-bench-")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
endpoint = f"http://127.0.0.1:{port}"
keys = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint}
server = subprocess.Popen([os.path.join(ROOT, ".venv-services/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
try:
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except Exception:
            time.sleep(0.2)
    else:
        sys.exit("moto_server did not start")
    s3 = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           access_key=keys["AWS_ACCESS_KEY_ID"], secret_key=keys["AWS_SECRET_ACCESS_KEY"],
                           allow_bucket_creation=True)
    s3.create_dir("bench")
    local = os.path.join(work, "local")
    os.makedirs(local)
    rng = np.random.default_rng(1)
    files = 4
    per = a.rows // files
    for i in range(files):
        cols = {"id": np.arange(i * per, (i + 1) * per, dtype=np.int64)}
        for c in range(16):
            cols[f"f{c}"] = rng.normal(size=per)
        table = pa.table(cols)
        pq.write_table(table, f"bench/events/part-{i:05d}.parquet", filesystem=s3, row_group_size=262_144)
        with s3.open_input_stream(f"bench/events/part-{i:05d}.parquet") as src, \
                open(os.path.join(local, f"part-{i:05d}.parquet"), "wb") as dst:
            dst.write(src.read())
    total_bytes = sum(os.path.getsize(os.path.join(local, n)) for n in os.listdir(local))
    subprocess.run([os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "scripts/make_models.py"),
                    "--out", os.path.join(work, "models"), "--features", "4"], check=True, stdout=subprocess.DEVNULL)
    model = os.path.join(work, "models/seed_linear")
    env = dict(os.environ, VIRTUAL_ENV=os.path.join(ROOT, ".venv"), **keys)

    def score(source):
        out = os.path.join(work, "out")
        shutil.rmtree(out, ignore_errors=True)
        report = os.path.join(work, "report.json")
        start = time.perf_counter()
        subprocess.run([a.binary, "run", "--model", model, "--input", source, "--output", out, "--columns", "f1,f2,f3,f4",
                        "--keep-columns", "none", "--workers", str(a.workers), "--quiet", "--report", report],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        with open(report) as f:
            r = json.load(f)
        return seconds, r

    def read_pyarrow(source, filesystem):
        start = time.perf_counter()
        t = pq.read_table(source, filesystem=filesystem, columns=["f1", "f2", "f3", "f4"])
        assert t.num_rows == per * files
        return time.perf_counter() - start

    results = {k: [] for k in ["sc-s3", "sc-local", "pa-s3", "pa-local"]}
    reads = {"sc-s3": [], "sc-local": []}
    fetched = []
    score("s3://bench/events")  # warm-up: page cache, the model's imports
    for _ in range(a.repeat):
        seconds, r = score("s3://bench/events")
        results["sc-s3"].append(seconds)
        reads["sc-s3"].append(r["readSeconds"])
        fetched.append(r["input"]["bytesFetched"])
        seconds, r = score(local)
        results["sc-local"].append(seconds)
        reads["sc-local"].append(r["readSeconds"])
        results["pa-s3"].append(read_pyarrow("bench/events", s3))
        results["pa-local"].append(read_pyarrow(local, None))
    med = {k: statistics.median(v) for k, v in results.items()}
    rows = per * files
    print(f"{rows:,} rows, 4 of 16 float64 columns read; objects {total_bytes:,} bytes; medians of {a.repeat}\n")
    print(f"score-cluster fetched {statistics.median(fetched):,.0f} bytes of {total_bytes:,} "
          f"({statistics.median(fetched) / total_bytes:.1%}; the 4 columns are {4 / 17:.1%} of the columns)\n")
    print("| reader | wall time | rows/s | vs local | coordinator read time |")
    print("|---|---:|---:|---:|---:|")
    print(f"| score-cluster, s3:// | {med['sc-s3']:.2f} s | {rows / med['sc-s3']:,.0f} | {med['sc-s3'] / med['sc-local']:.2f}x | {statistics.median(reads['sc-s3']):.2f} s |")
    print(f"| score-cluster, local files | {med['sc-local']:.2f} s | {rows / med['sc-local']:,.0f} | 1.00x | {statistics.median(reads['sc-local']):.2f} s |")
    print(f"| pyarrow S3FileSystem, read_table | {med['pa-s3']:.2f} s | {rows / med['pa-s3']:,.0f} | {med['pa-s3'] / med['pa-local']:.2f}x | |")
    print(f"| pyarrow, local files | {med['pa-local']:.2f} s | {rows / med['pa-local']:,.0f} | 1.00x | |")
finally:
    os.killpg(server.pid, 9)
    shutil.rmtree(work, ignore_errors=True)
