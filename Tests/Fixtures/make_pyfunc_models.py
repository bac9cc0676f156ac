"""Saves, with real MLflow, the model kinds the model-coverage tests score, and a dataset for them.

usage: make_pyfunc_models.py OUT
Writes OUT/data (2 part files: id int64, z, x float64, y int32, extra string), and models:
  signature_named   sklearn LinearRegression fitted on named columns x, y; signature x double, y long, w optional
  python_model      a PythonModel from a code path, with an artifact, params (scale) and model_config (offset)
  predict_proba     LogisticRegression saved with pyfunc_predict_fn="predict_proba"
  compressed        the PythonModel again, its python_model.pkl compressed with gzip
  cloudpickle       sklearn LinearRegression in the cloudpickle format
Prints nothing; fails loudly."""
import os
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import mlflow
import mlflow.pyfunc
import mlflow.sklearn
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema
from sklearn.linear_model import LinearRegression, LogisticRegression

out = sys.argv[1]
os.makedirs(f"{out}/data")
rng = np.random.default_rng(3)
start = 0
for i, n in enumerate([1200, 700]):
    pq.write_table(pa.table({
        "id": np.arange(start, start + n, dtype=np.int64),
        "z": rng.normal(size=n),
        "x": rng.normal(size=n),
        "y": rng.integers(0, 50, size=n).astype(np.int32),
        "extra": pa.array([f"e{j}" for j in range(n)]),
    }), f"{out}/data/part-{i}.parquet", row_group_size=500)
    start += n

train = pd.DataFrame({"x": rng.normal(size=200), "y": rng.integers(0, 50, size=200).astype(np.int64)})
target = 3 * train["x"] - 0.5 * train["y"] + 1

signature = ModelSignature(
    inputs=Schema([ColSpec("double", "x"), ColSpec("long", "y"), ColSpec("double", "w", required=False)]),
    outputs=Schema([ColSpec("double")]))
linear = LinearRegression().fit(train, target)
mlflow.sklearn.save_model(linear, f"{out}/signature_named", signature=signature)

# A PythonModel whose class lives in a code path, reading an artifact, with params and model_config.
code = f"{out}/src"
os.makedirs(code)
with open(f"{code}/scaled_model.py", "w") as f:
    f.write('''
import mlflow.pyfunc
import numpy as np

class ScaledModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["weights"]) as f:
            self.weights = np.array([float(v) for v in f.read().split()])
        self.offset = float((context.model_config or {}).get("offset", 0.0))

    def predict(self, context, model_input, params=None):
        scale = (params or {}).get("scale", 1.0)
        return (model_input.to_numpy(dtype=np.float64) @ self.weights) * scale + self.offset
''')
with open(f"{out}/weights.txt", "w") as f:
    f.write("2.0 -1.0")
sys.path.insert(0, code)
from scaled_model import ScaledModel  # noqa: E402

python_signature = ModelSignature(
    inputs=Schema([ColSpec("double", "x"), ColSpec("double", "z")]),
    params=ParamSchema([ParamSpec("scale", "double", 1.0)]))
common = dict(python_model=ScaledModel(), artifacts={"weights": f"{out}/weights.txt"}, code_paths=[f"{code}/scaled_model.py"],
              signature=python_signature, model_config={"offset": 0.5})
mlflow.pyfunc.save_model(f"{out}/python_model", **common)
os.environ["MLFLOW_LOG_MODEL_COMPRESSION"] = "gzip"
mlflow.pyfunc.save_model(f"{out}/compressed", **common)
del os.environ["MLFLOW_LOG_MODEL_COMPRESSION"]

classes = (train["x"] > 0).astype(int)
mlflow.sklearn.save_model(LogisticRegression().fit(train[["x"]].rename(columns={"x": "0"}), classes),
                          f"{out}/predict_proba", pyfunc_predict_fn="predict_proba")
mlflow.sklearn.save_model(LinearRegression().fit(train.rename(columns={"x": "0", "y": "1"}), target),
                          f"{out}/cloudpickle", serialization_format="cloudpickle")
