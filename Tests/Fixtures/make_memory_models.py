"""Saves two MLflow sklearn models with a sizeable payload, for the kept-worker memory test.

usage: make_memory_models.py OUT [ROWS]
Writes OUT/a and OUT/b: each a KNeighborsRegressor fitted on ROWS (default 200,000) rows of 3
float64 features named "0", "1", "2" (the labels score-cluster gives columns without a
signature), saved with mlflow.sklearn in the cloudpickle format. A KNN model keeps its training
data and its KD-tree, so each one holds about 15 MB of numpy arrays: a worker that never
releases a model it replaced grows by that much at each switch. The two differ in their data,
so they have different contents and a kept worker loads them again at each switch.
Prints nothing; fails loudly."""
import sys
import warnings

warnings.filterwarnings("ignore")
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsRegressor

out = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
for name, seed in (("a", 1), ("b", 2)):
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["0", "1", "2"])
    target = features["0"] * seed + features["1"] - features["2"]
    model = KNeighborsRegressor(n_neighbors=3).fit(features, target)
    # Requirements given, so that MLflow does not infer them by loading the model in a subprocess.
    mlflow.sklearn.save_model(model, f"{out}/{name}", serialization_format="cloudpickle",
                              pip_requirements=["scikit-learn", "cloudpickle"])
