"""Saves, with real MLflow, a PythonModel that eats memory, and returns its first column.

usage: make_leaky_model.py OUT MB [VALUE]
Without VALUE every predict call keeps MB more megabytes (a leak); with VALUE only a batch whose
first column holds VALUE does (a batch that needs too much). The bytes are written, so that
they are resident. Prints nothing; fails loudly."""
import sys
import warnings

warnings.filterwarnings("ignore")
import mlflow.pyfunc


class HungryModel(mlflow.pyfunc.PythonModel):
    """Keeps `megabytes` MB of written bytes per predict call (or per batch holding `value`)."""

    def __init__(self, megabytes, value):
        self.megabytes = megabytes
        self.value = value

    def load_context(self, context):
        self.kept = []

    def predict(self, context, model_input, params=None):
        first = model_input.iloc[:, 0]
        if self.value is None or (first == self.value).any():
            self.kept.append(b"\x01" * (self.megabytes << 20))
        return first.astype("float64")


out, megabytes = sys.argv[1], int(sys.argv[2])
value = float(sys.argv[3]) if len(sys.argv) > 3 else None
mlflow.pyfunc.save_model(out, python_model=HungryModel(megabytes, value))
