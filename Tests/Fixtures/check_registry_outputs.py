"""Checks that score-cluster's output for each model URI equals mlflow.pyfunc.load_model(uri).predict
on the same rows, the reference loading the model through MLflow's own client from the tracking
server at $MLFLOW_TRACKING_URI.

usage: check_registry_outputs.py DATA COLUMNS URI=OUTPUT [URI=OUTPUT ...]
Prints OK or raises, naming the URI."""
import sys
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pyarrow.parquet as pq
import mlflow.pyfunc

data, columns = sys.argv[1], sys.argv[2].split(",")
source = pq.read_table(data).select(columns).to_pandas()
for pair in sys.argv[3:]:
    uri, output = pair.rsplit("=", 1)
    expected = np.asarray(mlflow.pyfunc.load_model(uri).predict(source), dtype=np.float64).reshape(-1)
    got = pq.read_table(output).column("prediction").to_numpy()
    assert len(got) == len(expected), f"{uri}: {len(got)} rows, expected {len(expected)}"
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-12), f"{uri}: max difference {np.max(np.abs(got - expected))}"
print("OK")
