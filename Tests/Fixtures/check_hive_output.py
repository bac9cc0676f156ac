"""Checks a job's output over a Hive-partitioned input against pandas.

usage: check_hive_output.py INPUT OUTPUT --layout mirror|flat [--filter-dates D1,D2,...[,null]]
The model is 2*f1 - f2 + hour. The input is read with pyarrow's hive partitioning (null date partitions included);
with --filter-dates only rows of those dates are expected. The output, read with hive partitioning (mirror) or as flat
files (flat), must hold exactly the expected ids with the expected predictions; mirror output must lie in the same
date=/hour= directories as the input's rows and hold no date/hour columns in its files; flat output must carry date as
date32 and hour as int32 columns. Prints "ok" or exits 1 saying what differs."""
import argparse
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

p = argparse.ArgumentParser()
p.add_argument("input")
p.add_argument("output")
p.add_argument("--layout", default="mirror")
p.add_argument("--filter-dates")
a = p.parse_args()

schema = pa.schema([("date", pa.string()), ("hour", pa.int32())])
inp = ds.dataset(a.input, format="parquet", partitioning=ds.HivePartitioning(schema, null_fallback="__HIVE_DEFAULT_PARTITION__"),
                 exclude_invalid_files=True).to_table().to_pandas()
if a.filter_dates:
    dates = a.filter_dates.split(",")
    inp = inp[inp["date"].isin(dates) | (inp["date"].isna() if "null" in dates else False)]
expected = (2 * inp["f1"] - inp["f2"] + inp["hour"]).to_numpy()
want = dict(zip(inp["id"].to_numpy(), expected))

if a.layout == "mirror":
    files = [os.path.join(r, f) for r, _, fs in os.walk(a.output) for f in fs if f.startswith("part-")]
    for f in files:
        cols = pq.read_schema(f).names
        if "date" in cols or "hour" in cols:
            sys.exit(f"{f} holds a partition column: {cols}")
        rel = os.path.relpath(os.path.dirname(f), a.output)
        if not rel.startswith("date="):
            sys.exit(f"{f} is not in a partition directory")
    out = ds.dataset(a.output, format="parquet", partitioning=ds.HivePartitioning(schema, null_fallback="__HIVE_DEFAULT_PARTITION__"),
                     exclude_invalid_files=True).to_table().to_pandas()
    # Each row lies in its input row's directories.
    merged = out.merge(inp[["id", "date", "hour"]], on="id", suffixes=("", "_in"))
    bad = merged[(merged["date"].fillna("null") != merged["date_in"].fillna("null")) | (merged["hour"] != merged["hour_in"])]
    if len(bad):
        sys.exit(f"{len(bad)} rows are in other partition directories than their input rows, e.g. {bad.head(3).to_dict('records')}")
else:
    files = sorted(os.path.join(a.output, f) for f in os.listdir(a.output) if f.startswith("part-"))
    t = pa.concat_tables([pq.read_table(f) for f in files])
    if t.schema.field("date").type != pa.date32() or t.schema.field("hour").type != pa.int32():
        sys.exit(f"flat output types: {t.schema}")
    out = t.to_pandas()
got = dict(zip(out["id"].to_numpy(), out["prediction"].to_numpy()))
if set(got) != set(want):
    sys.exit(f"ids differ: {len(set(want) - set(got))} missing, {len(set(got) - set(want))} unexpected")
ids = np.array(sorted(want))
diff = np.abs(np.array([got[i] for i in ids]) - np.array([want[i] for i in ids]))
if not np.all(diff < 1e-9):
    sys.exit(f"predictions differ, worst by {diff.max()}")
print("ok")
