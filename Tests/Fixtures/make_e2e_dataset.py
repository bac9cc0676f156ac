"""Writes the end-to-end tests' dataset with pyarrow: 3 part files (5000, 2300 and 1 rows) in
row groups of 1500 rows; id int64, f0 nullable float64, f1..f3 float64, name nullable string,
flag bool, small int32; plus a _SUCCESS marker and a .crc file that readers must skip."""
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out = sys.argv[1]
os.makedirs(out)
rng = np.random.default_rng(7)
start = 0
for i, n in enumerate([5000, 2300, 1]):
    ids = np.arange(start, start + n, dtype=np.int64)
    start += n
    table = pa.table({
        "id": ids,
        "f0": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.1),
        "f1": rng.normal(size=n),
        "f2": rng.normal(size=n),
        "f3": rng.normal(size=n),
        "name": pa.array([f"row{j}" if j % 7 else None for j in ids], pa.string()),
        "flag": pa.array(ids % 3 == 0),
        "small": pa.array((ids % 100).astype(np.int32)),
    })
    pq.write_table(table, f"{out}/part-{i:05d}.parquet", row_group_size=1500)
open(f"{out}/_SUCCESS", "w").close()
open(f"{out}/.part-00000.parquet.crc", "w").close()
