"""Checks score-cluster's --merge-schema output against pyarrow's own schema merge
(concat_tables with promote_options="permissive": a missing column is null, int32 widens to
int64, float to double) and the model's predictions on the merged rows.

usage: check_merged_output.py DATA OUTPUT MODEL COLUMNS
Prints OK or raises."""
import glob
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import mlflow.pyfunc

data, output, model, columns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
tables = [pq.read_table(path) for path in sorted(glob.glob(f"{data}/*.parquet"))]
expected = pa.concat_tables(tables, promote_options="permissive")
got = pq.read_table(output)
kept = [name for name in got.column_names if name != "prediction"]
assert kept == expected.column_names, f"columns {kept}, expected {expected.column_names}"
for name in kept:
    assert got.schema.field(name).type == expected.schema.field(name).type, f"{name}: {got.schema.field(name).type} vs {expected.schema.field(name).type}"
    assert got.column(name).to_pylist() == expected.column(name).to_pylist(), f"column {name} differs"
frame = expected.select(columns).to_pandas()
frame.columns = [str(i) for i in range(len(columns))]
predicted = np.asarray(mlflow.pyfunc.load_model(model).predict(frame), dtype=np.float64)
assert np.allclose(got.column("prediction").to_numpy(), predicted, rtol=1e-12, atol=1e-12), "predictions differ"
print("OK")
