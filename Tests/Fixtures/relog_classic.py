"""Saves another LinearRegression over the 'classic' artifacts of run RUN_ID (same file names,
a new MLmodel), as re-logging a model to the same run path does.

usage: relog_classic.py RUN_ID"""
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
import numpy as np
import pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LinearRegression

X = pd.DataFrame(np.random.default_rng(12).normal(size=(100, 3)), columns=["f1", "f2", "f3"])
model = LinearRegression().fit(X, X.to_numpy() @ np.array([9.0, 8.0, 7.0]))
with tempfile.TemporaryDirectory() as tmp:
    mlflow.sklearn.save_model(model, os.path.join(tmp, "classic"), signature=infer_signature(X, model.predict(X)),
                              serialization_format="cloudpickle", pip_requirements=["scikit-learn"])
    MlflowClient().log_artifacts(sys.argv[1], os.path.join(tmp, "classic"), "classic")
print("relogged")
