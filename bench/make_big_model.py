"""Save the benchmark's large model: a PythonModel holding 1 GiB of numpy weights.

``TableModel`` keeps an embedding-like table of float64 weights (rows x K features, 1 GiB
by default), loaded whole into memory by ``load_context`` as most models load their weights.
``predict`` looks up one table row per input row (chosen by the first feature) and returns
the dot product of the features with it, so every prediction reads the table.

What it measures: memory with many workers. Every process that loads the model holds its
own 1 GiB; workers forked after one load share it.

The class is defined in ``__main__``, so MLflow (cloudpickle) stores it by value; loading
needs mlflow, numpy and pandas, not this file.

Example:
    .venv/bin/python bench/make_big_model.py --out bench/out/models-16k/pyfunc_big --features 16
"""

import argparse
import contextlib
import os
import sys
import tempfile
import warnings

import numpy as np
import mlflow.pyfunc


class TableModel(mlflow.pyfunc.PythonModel):
    """prediction = features . table[row(feature 0)], one table row per input row."""

    def load_context(self, context):
        self.table = np.load(context.artifacts["table"])

    def predict(self, context, model_input, params=None):
        features = model_input.to_numpy(dtype=np.float64)
        rows = (np.abs(np.nan_to_num(features[:, 0])) * 1e6).astype(np.int64) % self.table.shape[0]
        return np.einsum("ij,ij->i", features, self.table[rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="model directory to write (must not exist)")
    parser.add_argument("--features", type=int, required=True, help="number of features K")
    parser.add_argument("--mib", type=int, default=1024, help="size of the weights in MiB (default: 1024)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the weights (default: 1)")
    args = parser.parse_args(argv)
    rows = args.mib * (1 << 20) // (8 * args.features)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(sys.stderr), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = os.path.join(scratch, "table.npy")
        np.save(table, rng.uniform(-1.0, 1.0, (rows, args.features)))
        mlflow.pyfunc.save_model(args.out, python_model=TableModel(), artifacts={"table": table},
                                 pip_requirements=["mlflow-skinny", "numpy", "pandas"])
    print(os.path.abspath(args.out))


if __name__ == "__main__":
    main()
