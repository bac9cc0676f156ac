"""Checks score-cluster's --merge-schema output against pyarrow's own schema merge
(concat_tables with promote_options="permissive": a missing column is null, int32 widens to
int64, float to double) and the model's predictions on the merged rows.

usage: check_merged_output.py DATA OUTPUT MODEL COLUMNS [--keep a,b]
--keep: the kept columns (default: all of the merged dataset's). Prints OK or raises."""
import glob
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import mlflow.pyfunc

def load(model):
    """The model as MLflow loads it, or a seed-format one (load_pyfunc in code/) as its loader does."""
    import importlib, os, yaml
    conf = yaml.safe_load(open(os.path.join(model, "MLmodel")))["flavors"]["python_function"]
    if conf.get("loader_module", "").startswith("mlflow."):
        return mlflow.pyfunc.load_model(model)
    if conf.get("code"):
        sys.path.insert(0, os.path.join(model, conf["code"]))
    module = importlib.import_module(conf["loader_module"])
    loader = getattr(module, "_load_pyfunc", None) or module.load_pyfunc
    return loader(os.path.join(model, conf["data"]) if conf.get("data") else model)


data, output, model, columns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
tables = [pq.read_table(path) for path in sorted(glob.glob(f"{data}/*.parquet"))]
merged = pa.concat_tables(tables, promote_options="permissive")
keep = sys.argv[6].split(",") if len(sys.argv) > 6 and sys.argv[5] == "--keep" else merged.column_names
expected = merged.select(keep)
got = pq.read_table(output)
kept = [name for name in got.column_names if name != "prediction"]
assert kept == expected.column_names, f"columns {kept}, expected {expected.column_names}"
for name in kept:
    assert got.schema.field(name).type == expected.schema.field(name).type, f"{name}: {got.schema.field(name).type} vs {expected.schema.field(name).type}"
    assert got.column(name).to_pylist() == expected.column(name).to_pylist(), f"column {name} differs"
frame = merged.select(columns).to_pandas()
frame.columns = [str(i) for i in range(len(columns))]
predicted = np.asarray(load(model).predict(frame), dtype=np.float64)
# Rows without the model's inputs predict NaN (a null input is NaN to the model).
assert np.allclose(got.column("prediction").to_numpy(zero_copy_only=False), predicted, rtol=1e-12, atol=1e-12, equal_nan=True), "predictions differ"
print("OK")
