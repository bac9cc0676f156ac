"""Parquet decode throughput: score-cluster's reader against pyarrow's, one thread each.

Writes three files under --work-dir (reused when present) and reads each with
``pq.read_table(path, use_threads=False)`` and with score-cluster's decoder (the small
``bench`` executable that reads every row group of every column with ParquetFileReader),
best of --repeat rounds (each: a warm-up and 3 timed reads by each reader, alternating), the
page cache warm:

  doubles-snappy   id + 16 float64 columns (standard normal), pyarrow defaults: snappy, dictionary
                   (which falls back to PLAIN pages once the dictionary passes 1 MB), 1 Mi-row groups
  doubles-zstd     the same table with compression='zstd'
  strings          id, a 3-value category, a 1,000-value key, a high-cardinality 32-char hex id
                   and free text of 5..80 characters, pyarrow defaults

pyarrow's default ``pre_buffer=True`` reads the column chunks on its I/O thread pool even with
``use_threads=False`` (so it overlaps reading with decoding on a second core); the last columns
show pyarrow with ``pre_buffer=False``, one thread for everything, as score-cluster's decoder.

MB/s is the same numerator for both: the bytes of the decoded table as pyarrow holds it
(``Table.nbytes``), divided by each reader's best time; rows/s likewise. The ratio is
score-cluster's speed over pyarrow's (> 1: faster).

Usage (release build of the bench executable first):
    swift build -c release --product bench         # in the package that has the bench target
    .venv/bin/python bench/decode_bench.py --bench-exe PATH/.build/release/bench
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def make_files(work_dir, rows):
    os.makedirs(work_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {}
    doubles = None
    for name, kw in [("doubles-snappy", {}), ("doubles-zstd", {"compression": "zstd"})]:
        path = os.path.join(work_dir, f"{name}-{rows}.parquet")
        if not os.path.exists(path):
            if doubles is None:
                cols = {"id": pa.array(np.arange(rows, dtype=np.int64))}
                for k in range(16):
                    cols[f"f{k}"] = pa.array(rng.standard_normal(rows))
                doubles = pa.table(cols)
            pq.write_table(doubles, path, **kw)
        paths[name] = path
    path = os.path.join(work_dir, f"strings-{rows}.parquet")
    if not os.path.exists(path):
        n = rows
        words = np.array(["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do"])
        lengths = rng.integers(1, 12, n)
        text = [" ".join(words[rng.integers(0, 10, k)]) for k in lengths]
        table = pa.table({
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "category": pa.array(np.array(["red", "green", "blue"])[rng.integers(0, 3, n)]),
            "key": pa.array([f"key-{v}" for v in rng.integers(0, 1000, n)]),
            "hex": pa.array([os.urandom(16).hex() for _ in range(n)]),
            "text": pa.array(text),
        })
        pq.write_table(table, path)
    paths["strings"] = path
    return paths


def time_pyarrow(path, repeat, pre_buffer=True):
    pq.read_table(path, use_threads=False, pre_buffer=pre_buffer)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        table = pq.read_table(path, use_threads=False, pre_buffer=pre_buffer)
        best = min(best, time.perf_counter() - t0)
    return best, table.num_rows, table.nbytes


def time_swift(exe, path, repeat):
    out = subprocess.run([exe, path, str(repeat)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench-exe", required=True, help="the release-built bench executable")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "decode"))
    args = parser.parse_args()
    paths = make_files(args.work_dir, args.rows)
    results = []
    print(f"{'file':<16} {'MB':>8} {'rows':>10} | {'pyarrow MB/s':>12} {'Mrows/s':>8} | {'score-cluster MB/s':>18} {'Mrows/s':>8} | {'ratio':>6} | "
          f"{'pyarrow, pre_buffer=False MB/s':>12} {'ratio':>6}")
    for name, path in paths.items():
        # Rounds alternate between the two readers, so that a busy spell of the machine slows
        # both; each keeps its best time.
        py_s, py_nb_s, sw = float("inf"), float("inf"), None
        for _ in range(args.repeat):
            t, rows, nbytes = time_pyarrow(path, 3)
            py_s = min(py_s, t)
            py_nb_s = min(py_nb_s, time_pyarrow(path, 3, pre_buffer=False)[0])
            s = time_swift(args.bench_exe, path, 3)
            if sw is None or s["seconds"] < sw["seconds"]:
                sw = s
        assert sw["rows"] == rows, (sw, rows)
        mb = nbytes / 1e6
        r = {"file": name, "bytes": nbytes, "rows": rows, "file_bytes": os.path.getsize(path),
             "pyarrow_s": py_s, "score_cluster_s": sw["seconds"], "score_cluster_decoded_bytes": sw["bytes"],
             "pyarrow_mb_s": mb / py_s, "score_cluster_mb_s": mb / sw["seconds"],
             "pyarrow_rows_s": rows / py_s, "score_cluster_rows_s": rows / sw["seconds"], "ratio": py_s / sw["seconds"],
             "pyarrow_no_prebuffer_s": py_nb_s, "pyarrow_no_prebuffer_mb_s": mb / py_nb_s, "ratio_no_prebuffer": py_nb_s / sw["seconds"]}
        results.append(r)
        print(f"{name:<16} {mb:>8.1f} {rows:>10} | {r['pyarrow_mb_s']:>12.0f} {r['pyarrow_rows_s'] / 1e6:>8.1f} | "
              f"{r['score_cluster_mb_s']:>18.0f} {r['score_cluster_rows_s'] / 1e6:>8.1f} | {r['ratio']:>6.2f} | "
              f"{r['pyarrow_no_prebuffer_mb_s']:>12.0f} {r['ratio_no_prebuffer']:>6.2f}")
    with open(os.path.join(args.work_dir, "decode-results.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
