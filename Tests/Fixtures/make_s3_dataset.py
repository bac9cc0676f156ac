"""Writes a dataset into an S3-API server with pyarrow's S3FileSystem, then downloads the
objects it wrote into a local directory, so that a job can read the same bytes from both.

usage: make_s3_dataset.py ENDPOINT BUCKET PREFIX LOCAL_DIR [--rows N] [--files F] [--row-group R]
The table: id int64, f0..f14 float64 (f0 with nulls), name string (16 columns, 17 with name);
F part files of N rows each, row groups of R rows; plus _SUCCESS, as Spark leaves it. The
bucket is created if missing. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY come from the environment."""
import argparse
import os

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

p = argparse.ArgumentParser()
p.add_argument("endpoint")
p.add_argument("bucket")
p.add_argument("prefix")
p.add_argument("local")
p.add_argument("--rows", type=int, default=60000)
p.add_argument("--files", type=int, default=3)
p.add_argument("--row-group", type=int, default=20000)
a = p.parse_args()

scheme, host = a.endpoint.split("://", 1)
s3 = pafs.S3FileSystem(endpoint_override=host, scheme=scheme, region="us-east-1", allow_bucket_creation=True,
                       access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"])
if s3.get_file_info(a.bucket).type == pafs.FileType.NotFound:
    s3.create_dir(a.bucket)
rng = np.random.default_rng(16)
start = 0
for i in range(a.files):
    n = a.rows
    ids = np.arange(start, start + n, dtype=np.int64)
    start += n
    columns = {"id": ids, "f0": pa.array(rng.normal(size=n), mask=rng.random(n) < 0.05)}
    for c in range(1, 15):
        columns[f"f{c}"] = rng.normal(size=n)
    columns["name"] = pa.array([f"row{j}" for j in ids], pa.string())
    pq.write_table(pa.table(columns), f"{a.bucket}/{a.prefix}/part-{i:05d}.parquet", filesystem=s3,
                   row_group_size=a.row_group)
with s3.open_output_stream(f"{a.bucket}/{a.prefix}/_SUCCESS") as out:
    out.write(b"")

os.makedirs(a.local, exist_ok=True)
for info in s3.get_file_info(pafs.FileSelector(f"{a.bucket}/{a.prefix}")):
    name = info.path.rsplit("/", 1)[1]
    with s3.open_input_stream(info.path) as src, open(os.path.join(a.local, name), "wb") as dst:
        dst.write(src.read())
print("ok")
