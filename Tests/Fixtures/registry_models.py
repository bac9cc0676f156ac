"""Logs and registers real models on the MLflow tracking server at $MLFLOW_TRACKING_URI, for the
registry tests, and prints what it made as JSON.

- 'fraud' version 1 and 2: sklearn LinearRegression on columns f1, f2, f3 (different weights),
  logged with mlflow.sklearn.log_model(..., registered_model_name='fraud'); alias 'champion' on
  version 1, 'challenger' on version 2, version 2 in stage 'Production' (deprecated API, still
  served).
- the same model as version 1 registered under a name that needs escaping (space, '+', 'é'),
  alias 'champion'.
- run artifacts of one run: 'classic' (a model saved with mlflow.sklearn.save_model and logged
  as plain artifacts, as MLflow 2 stored models), 'notes' (a text file, not a model), 'raw' (an
  MLmodel without the python_function flavor).

usage: registry_models.py [--name fraud]"""
import argparse
import json
import os
import tempfile
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pandas as pd
import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LinearRegression

parser = argparse.ArgumentParser()
parser.add_argument("--name", default="fraud")
a = parser.parse_args()

rng = np.random.default_rng(11)
X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["f1", "f2", "f3"])
made = {"versions": {}}
client = MlflowClient()
for version, weights in [(1, [1.0, 2.0, 3.0]), (2, [-4.0, 0.5, 7.0])]:
    model = LinearRegression().fit(X, X.to_numpy() @ np.array(weights) + version)
    with mlflow.start_run() as run:
        # pip_requirements given: MLflow then skips inferring them (which loads the model in a subprocess).
        # cloudpickle, not MLflow's default skops: importing skops adds 2 s to every worker's start.
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=a.name, serialization_format="cloudpickle",
                                        signature=infer_signature(X, model.predict(X)), pip_requirements=["scikit-learn"])
    made["versions"][str(version)] = {"run_id": run.info.run_id, "model_id": info.model_id,
                                      "artifact_uri": client.get_model_version_download_uri(a.name, str(version))}
client.set_registered_model_alias(a.name, "champion", "1")
client.set_registered_model_alias(a.name, "challenger", "2")
client.transition_model_version_stage(a.name, "2", "Production")
# A name that needs escaping in URLs (space, '+', non-ASCII), registered from version 1's model.
odd = a.name + " team+1 é"
mlflow.register_model(f"models:/{made['versions']['1']['model_id']}", odd)
client.set_registered_model_alias(odd, "champion", "1")
made["odd_name"] = odd

with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
    classic = LinearRegression().fit(X, X.to_numpy() @ np.array([0.5, 0.25, 0.125]))
    mlflow.sklearn.save_model(classic, os.path.join(tmp, "classic"), signature=infer_signature(X, classic.predict(X)),
                              serialization_format="cloudpickle",
                              pip_requirements=["scikit-learn"])
    mlflow.log_artifacts(os.path.join(tmp, "classic"), "classic")
    with open(os.path.join(tmp, "readme.txt"), "w") as f:
        f.write("not a model\n")
    mlflow.log_artifact(os.path.join(tmp, "readme.txt"), "notes")
    os.makedirs(os.path.join(tmp, "raw"))
    with open(os.path.join(tmp, "raw", "MLmodel"), "w") as f:
        f.write("flavors:\n  onnx:\n    onnx_version: 1.15.0\n")
    mlflow.log_artifacts(os.path.join(tmp, "raw"), "raw")
    made["artifacts_run"] = run.info.run_id
print(json.dumps(made))
