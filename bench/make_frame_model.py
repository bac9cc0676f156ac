"""Save the benchmark's PythonModel that returns a DataFrame, as an MLflow pyfunc model.

``FrameModel.predict`` returns a pandas DataFrame with one float64 column, ``score``
(a linear function of the features, in their order, weights stored as an artifact).
With a single numeric column every system takes the same values: spark_udf's
``result_type='double'`` rule (the leftmost numeric column), score-cluster's identical
default rule (or ``--output-field score``), and the benchmark's Python baseline, which
applies that rule too.

The class is defined in ``__main__``, so MLflow (cloudpickle) stores it by value, as it does
for a class defined in a notebook; loading needs mlflow, numpy and pandas, not this file.

Example:
    .venv/bin/python bench/make_frame_model.py --out bench/out/models-16k/pyfunc_frame --features 16
"""

import argparse
import contextlib
import os
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd
import mlflow.pyfunc


class FrameModel(mlflow.pyfunc.PythonModel):
    """score = features @ weights + intercept, returned as DataFrame({"score": ...})."""

    def load_context(self, context):
        values = np.load(context.artifacts["weights"])
        self.weights, self.intercept = values[:-1], float(values[-1])

    def predict(self, context, model_input, params=None):
        scores = model_input.to_numpy(dtype=np.float64) @ self.weights + self.intercept
        return pd.DataFrame({"score": scores}, index=model_input.index)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="model directory to write (must not exist)")
    parser.add_argument("--features", type=int, required=True, help="number of features K")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the weights (default: 1)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    values = np.append(rng.uniform(-2.0, 2.0, args.features), 0.25)
    with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(sys.stderr), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = os.path.join(scratch, "weights.npy")
        np.save(weights, values)
        mlflow.pyfunc.save_model(args.out, python_model=FrameModel(), artifacts={"weights": weights},
                                 pip_requirements=["mlflow-skinny", "numpy", "pandas"])
    print(os.path.abspath(args.out))


if __name__ == "__main__":
    main()
