"""Writes one table as Hive-style partition directories (date=YYYY-MM-DD/hour=H/...), as a writer lays them out.

usage: make_hive_dataset.py OUT --writer pyarrow|spark|duckdb [--s3 ENDPOINT BUCKET/PREFIX]
The table: id int64, f1, f2 float64, date (3 days), hour (0, 7, 23); 6,000 rows. pyarrow writes it with
dataset.write_dataset(partitioning_flavor="hive"); duckdb with COPY ... (PARTITION_BY (date, hour)); "spark" lays it out as
Spark's partitionBy does (part-00000-<uuid>.c000.snappy.parquet files, _SUCCESS and .crc files, rows whose date is null in
date=__HIVE_DEFAULT_PARTITION__), written by pyarrow. With --s3 the pyarrow layout goes into that bucket instead."""
import argparse
import os
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--writer", default="pyarrow")
p.add_argument("--s3", nargs=2)
a = p.parse_args()

n = 6000
rng = np.random.default_rng(5)
days = np.array(["2026-11-30", "2026-12-01", "2026-12-02"])
table = pa.table({
    "id": np.arange(n, dtype=np.int64),
    "f1": rng.normal(size=n),
    "f2": rng.normal(size=n),
    "date": pa.array(days[np.arange(n) % 3]),
    "hour": pa.array(np.array([0, 7, 23], dtype=np.int32)[(np.arange(n) // 3) % 3]),
})

if a.s3:
    import pyarrow.fs as pafs
    endpoint, target = a.s3
    scheme, host = endpoint.split("://", 1)
    s3 = pafs.S3FileSystem(endpoint_override=host, scheme=scheme, region="us-east-1", allow_bucket_creation=True,
                           access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"])
    bucket = target.split("/")[0]
    if s3.get_file_info(bucket).type == pafs.FileType.NotFound:
        s3.create_dir(bucket)
    ds.write_dataset(table, target, format="parquet", partitioning=["date", "hour"], partitioning_flavor="hive",
                     filesystem=s3, basename_template="part-{i}.parquet")
    with s3.open_output_stream(f"{target}/_SUCCESS") as out:
        out.write(b"")
elif a.writer == "pyarrow":
    ds.write_dataset(table, a.out, format="parquet", partitioning=["date", "hour"], partitioning_flavor="hive",
                     basename_template="part-{i}.parquet")
elif a.writer == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.register("t", table)
    con.execute(f"COPY t TO '{a.out}' (FORMAT PARQUET, PARTITION_BY (date, hour))")
elif a.writer == "spark":
    # Spark: partition columns out of the files, a null date in __HIVE_DEFAULT_PARTITION__, _SUCCESS at the top.
    dates = table.column("date").to_pylist()
    dates[5] = None
    dates[6] = None
    table = table.set_column(3, "date", pa.array(dates))
    job = uuid.uuid4()
    for d in sorted(set(x for x in dates if x is not None)) + [None]:
        for h in [0, 7, 23]:
            mask = [(x == d) and y == h for x, y in zip(dates, table.column("hour").to_pylist())]
            part = table.filter(pa.array(mask)).drop_columns(["date", "hour"])
            if part.num_rows == 0:
                continue
            directory = os.path.join(a.out, f"date={d or '__HIVE_DEFAULT_PARTITION__'}", f"hour={h}")
            os.makedirs(directory, exist_ok=True)
            name = f"part-00000-{job}.c000.snappy.parquet"
            pq.write_table(part, os.path.join(directory, name))
            open(os.path.join(directory, f".{name}.crc"), "wb").close()
    open(os.path.join(a.out, "_SUCCESS"), "w").close()
else:
    raise SystemExit(f"unknown writer {a.writer}")
print("ok")
