"""Train small regression models on synthetic data and save them as MLflow pyfunc models.

The training frame has K float64 features named by their ordinals "0".."K-1", the
names that score-cluster (like spark_udf with positional columns) gives the columns it
hands to predict, so scikit-learn's feature-name check passes at scoring time.

Models written under --out (all of them, or those named by --only):
  sklearn_linear  mlflow.sklearn.save_model(LinearRegression)          (model.skops)
  sklearn_hgb     mlflow.sklearn.save_model(HistGradientBoostingRegressor(max_iter=100))
  seed_linear     a "seed-style" pyfunc model that needs no MLflow to load: a hand-written
                  MLmodel (loader_module, code, data, env as a string, python_version),
                  code/seed_linear_model.py with load_pyfunc(path), and the linear model's
                  weights in data/weights.npy and data/intercept.npy

The model paths are printed on stdout as one JSON object; MLflow's own messages go to stderr.

Example:
    .venv/bin/python scripts/make_models.py --out demo-data/models --features 16
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression

TRAINING_ROWS = 5000
MODEL_NAMES = ("sklearn_linear", "sklearn_hgb", "seed_linear")

# The one type skops does not trust by default in a HistGradientBoostingRegressor; we wrote it.
HGB_TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]

SEED_LOADER_MODULE = "seed_linear_model"

SEED_LOADER_SOURCE = '''\
"""Loader of the seed-style linear model: load_pyfunc(path) -> object with predict(df)."""

import os

import numpy as np


class SeedLinearModel:
    """y = X @ weights + intercept over the columns of a pandas DataFrame, in order."""

    def __init__(self, weights, intercept):
        self.weights = weights
        self.intercept = intercept

    def predict(self, df):
        return df.to_numpy(dtype=np.float64) @ self.weights + self.intercept


def load_pyfunc(path):
    """Load the weights and the intercept from the model's data directory `path`."""
    weights = np.load(os.path.join(path, "weights.npy"))
    intercept = np.load(os.path.join(path, "intercept.npy"))
    return SeedLinearModel(weights, intercept)
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory to write the model directories into")
    parser.add_argument("--features", type=int, required=True, help="number of features K")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the training data (default: 0)")
    parser.add_argument("--only", default=None,
                        help="comma-separated subset of sklearn_linear,sklearn_hgb,seed_linear to write (default: all)")
    parser.add_argument("--no-infer-requirements", action="store_true",
                        help="write MLflow's default requirements of the sklearn flavor instead of inferring them "
                             "(inference runs a subprocess for seconds per model)")
    args = parser.parse_args(argv)
    if args.features < 1:
        parser.error("--features must be >= 1")
    args.only = args.only.split(",") if args.only else list(MODEL_NAMES)
    unknown = [name for name in args.only if name not in MODEL_NAMES]
    if unknown:
        parser.error(f"--only: unknown model(s) {', '.join(unknown)}; choose among {', '.join(MODEL_NAMES)}")
    return args


def training_data(features, seed):
    """A synthetic regression problem: a linear part plus a non-linear term and noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((TRAINING_ROWS, features))
    weights = rng.uniform(-2.0, 2.0, features)
    y = x @ weights + 0.5 + np.sin(2.0 * x[:, 0]) + 0.1 * rng.standard_normal(TRAINING_ROWS)
    return pd.DataFrame(x, columns=[str(k) for k in range(features)]), y


def save_seed_linear(path, model):
    """Write `model`'s coefficients as a seed-style pyfunc model that loads without MLflow."""
    python_version = platform.python_version()
    os.makedirs(os.path.join(path, "code"))
    os.makedirs(os.path.join(path, "data"))
    np.save(os.path.join(path, "data", "weights.npy"), np.asarray(model.coef_, dtype=np.float64))
    np.save(os.path.join(path, "data", "intercept.npy"), np.float64(model.intercept_))
    with open(os.path.join(path, "code", f"{SEED_LOADER_MODULE}.py"), "w") as f:
        f.write(SEED_LOADER_SOURCE)
    with open(os.path.join(path, "conda.yaml"), "w") as f:
        f.write("name: seed-linear-env\n"
                "channels:\n  - conda-forge\n"
                f"dependencies:\n  - python={python_version}\n  - numpy\n")
    created = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with open(os.path.join(path, "MLmodel"), "w") as f:
        f.write("flavors:\n"
                "  python_function:\n"
                "    code: code\n"
                "    data: data\n"
                "    env: conda.yaml\n"
                f"    loader_module: {SEED_LOADER_MODULE}\n"
                f"    python_version: {python_version}\n"
                f"utc_time_created: '{created}'\n")


def main(argv=None):
    args = parse_args(argv)
    paths = {name: os.path.abspath(os.path.join(args.out, name)) for name in MODEL_NAMES if name in args.only}
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing:
        sys.exit(f"make_models: already exists: {', '.join(existing)}")
    os.makedirs(args.out, exist_ok=True)

    x, y = training_data(args.features, args.seed)
    linear = LinearRegression().fit(x, y)
    with contextlib.redirect_stdout(sys.stderr):
        if "sklearn_linear" in paths or "sklearn_hgb" in paths:
            import mlflow.sklearn

            requirements = {}
            if args.no_infer_requirements:
                requirements["pip_requirements"] = mlflow.sklearn.get_default_pip_requirements()
        if "sklearn_linear" in paths:
            mlflow.sklearn.save_model(linear, paths["sklearn_linear"], **requirements)
        if "sklearn_hgb" in paths:
            hgb = HistGradientBoostingRegressor(max_iter=100, random_state=args.seed).fit(x, y)
            mlflow.sklearn.save_model(hgb, paths["sklearn_hgb"], skops_trusted_types=HGB_TRUSTED_TYPES,
                                      **requirements)
    if "seed_linear" in paths:
        save_seed_linear(paths["seed_linear"], linear)
    print(json.dumps(paths))


if __name__ == "__main__":
    main()
