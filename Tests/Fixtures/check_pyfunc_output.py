"""Compares score-cluster's predictions with mlflow.pyfunc.load_model(...).predict on the same rows.

usage: check_pyfunc_output.py DATA OUTPUT MODEL COLUMNS LABELS [--config JSON] [--params JSON] [--take-column K]
COLUMNS are the dataset columns the model got, LABELS the names it saw them under. With
--take-column K the reference result is 2-D and spark_udf's double result is its column K.
Prints OK or raises."""
import argparse
import json
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pyarrow.parquet as pq
import mlflow.pyfunc

parser = argparse.ArgumentParser()
for name in ["data", "output", "model", "columns", "labels"]:
    parser.add_argument(name)
parser.add_argument("--config")
parser.add_argument("--params")
parser.add_argument("--take-column", type=int)
a = parser.parse_args()

source = pq.read_table(a.data).select(a.columns.split(",")).to_pandas()
source.columns = a.labels.split(",")
model = mlflow.pyfunc.load_model(a.model, model_config=json.loads(a.config) if a.config else None)
expected = model.predict(source, params=json.loads(a.params) if a.params else None)
expected = np.asarray(expected, dtype=np.float64)
if a.take_column is not None:
    expected = expected[:, a.take_column]
got = pq.read_table(a.output).column("prediction").to_numpy()
assert len(got) == len(expected), f"{len(got)} rows, expected {len(expected)}"
assert np.allclose(got, expected, rtol=1e-12, atol=1e-12), f"max difference {np.max(np.abs(got - expected))}"
print("OK")
