"""Checks score-cluster's output against the input and against the model loaded the usual way.

usage: check_e2e_output.py INPUT OUTPUT MODEL LOADER COLUMNS
LOADER is `mlflow` (mlflow.pyfunc.load_model) or `seed` (the seed format's own loader).
Checks: output files named part-NNNNN.parquet, which read in name order hold the input's rows
in input order (files in name order); _SUCCESS and the manifest present; every input column
identical (values, types, nulls, order); predictions equal to the reference to 1e-12, with
null where the reference is NaN. Prints OK or raises."""
import importlib
import os
import sys

import numpy as np
import pyarrow.parquet as pq

input_dir, output_dir, model_dir, loader, columns = sys.argv[1:6]
columns = columns.split(",")
inputs = sorted(f for f in os.listdir(input_dir) if not f.startswith(("_", ".")))
outputs = sorted(f for f in os.listdir(output_dir) if not f.startswith(("_", ".")))
assert outputs and all(f.startswith("part-") and f.endswith(".parquet") for f in outputs), outputs
assert os.path.exists(os.path.join(output_dir, "_manifest.jsonl")), "no _manifest.jsonl"
assert os.path.exists(os.path.join(output_dir, "_SUCCESS")), "no _SUCCESS"
assert not os.path.exists(os.path.join(output_dir, "_temporary")), "_temporary left behind"

if loader == "mlflow":
    import mlflow.pyfunc
    model = mlflow.pyfunc.load_model(model_dir)
else:
    sys.path.insert(0, os.path.join(model_dir, "code"))
    conf = open(os.path.join(model_dir, "MLmodel")).read()
    module = [line.split(":", 1)[1].strip() for line in conf.splitlines() if "loader_module" in line][0]
    model = importlib.import_module(module).load_pyfunc(os.path.join(model_dir, "data"))

import pyarrow as pa
source = pa.concat_tables([pq.read_table(os.path.join(input_dir, f)) for f in inputs])
result = pa.concat_tables([pq.read_table(os.path.join(output_dir, f)) for f in outputs])
name = "output"
assert result.column_names == source.column_names + ["prediction"], result.column_names
assert result.num_rows == source.num_rows, f"{result.num_rows} rows in the output, {source.num_rows} in the input"
kept = result.select(source.column_names)
assert kept.schema.equals(source.schema, check_metadata=False), f"{name}: schema {kept.schema} != {source.schema}"
assert kept.equals(source.cast(kept.schema)), f"{name}: kept columns differ from the input"
frame = source.select(columns).to_pandas()
frame.columns = [str(i) for i in range(len(columns))]
expected = np.asarray(model.predict(frame), dtype=np.float64)
got = result.column("prediction").to_numpy(zero_copy_only=False)
nulls = result.column("prediction").is_null().to_numpy(zero_copy_only=False)
assert np.array_equal(nulls, np.isnan(expected)), f"{name}: nulls differ from the reference's NaN"
ok = ~nulls
assert np.allclose(got[ok], expected[ok], rtol=1e-12, atol=1e-12), \
    f"{name}: max difference {np.max(np.abs(got[ok] - expected[ok]))}"
print("OK")
