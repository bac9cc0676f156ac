"""Compute the reference predictions of a pyfunc model over a Parquet dataset, for tests.

The whole dataset is read with pyarrow (the files of --input in sorted order, skipping
names that start with "_" or "."), the --columns are selected in the given order and
renamed "0", "1", ... (spark_udf's names for positional columns), the model predicts on
the whole frame at once, and the predictions are written to --out as a Parquet file with
one float64 column, "prediction", in input row order.

Loaders:
  mlflow  mlflow.pyfunc.load_model(--model)
  seed    no MLflow: read MLmodel's flavors.python_function, put its `code` directory
          first on sys.path, import `loader_module` and call its load_pyfunc(data path)
          (the data path is `data` under the model directory, or the model directory)

Example:
    .venv/bin/python scripts/predict_reference.py --model demo-data/models/sklearn_linear \\
        --input demo-data/input --columns f0,f1,f2 --out /tmp/expected.parquet
"""

import argparse
import contextlib
import importlib
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model directory (holds MLmodel)")
    parser.add_argument("--input", required=True, help="input dataset directory of Parquet files")
    parser.add_argument("--columns", required=True, help="comma-separated input columns, in model order")
    parser.add_argument("--out", required=True, help="Parquet file to write the predictions to")
    parser.add_argument("--loader", choices=["mlflow", "seed"], default="mlflow",
                        help="how to load the model (default: mlflow)")
    args = parser.parse_args(argv)
    args.columns = [c for c in args.columns.split(",") if c]
    if not args.columns:
        parser.error("--columns must name at least one column")
    return args


def dataset_files(directory):
    """The data files of a dataset directory, sorted, without hidden or "_" files."""
    names = sorted(n for n in os.listdir(directory) if not n.startswith(("_", ".")))
    return [os.path.join(directory, n) for n in names if os.path.isfile(os.path.join(directory, n))]


def read_features(directory, columns):
    """The selected columns of the whole dataset as a pandas DataFrame named "0", "1", ..."""
    files = dataset_files(directory)
    if not files:
        sys.exit(f"predict_reference: no data files in {directory}")
    table = pa.concat_tables(pq.read_table(f, columns=columns) for f in files)
    return table.rename_columns([str(i) for i in range(len(columns))]).to_pandas()


def load_seed_model(model_dir):
    """Load a pyfunc model the seed way: code dir on sys.path, loader_module.load_pyfunc(data)."""
    with open(os.path.join(model_dir, "MLmodel")) as f:
        conf = yaml.safe_load(f)["flavors"]["python_function"]
    if conf.get("code"):
        sys.path.insert(0, os.path.join(model_dir, conf["code"]))
    data_path = os.path.join(model_dir, conf["data"]) if "data" in conf else model_dir
    return importlib.import_module(conf["loader_module"]).load_pyfunc(data_path)


def load_mlflow_model(model_dir):
    """Load a pyfunc model with mlflow.pyfunc.load_model, keeping stdout clean."""
    with contextlib.redirect_stdout(sys.stderr):
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(model_dir)


def main(argv=None):
    args = parse_args(argv)
    features = read_features(args.input, args.columns)
    model = load_seed_model(args.model) if args.loader == "seed" else load_mlflow_model(args.model)
    predictions = np.asarray(model.predict(features), dtype=np.float64).reshape(-1)
    if len(predictions) != len(features):
        sys.exit(f"predict_reference: model returned {len(predictions)} predictions for {len(features)} rows")
    pq.write_table(pa.table({"prediction": pa.array(predictions, type=pa.float64())}), args.out)


if __name__ == "__main__":
    main()
