"""The Python half of score-cluster's worker bridge, imported as the module `_score_cluster_bridge`.

What is easier and no slower in vectorised Python lives here: building the DataFrame from
zero-copy views of the Swift column buffers, loading the model the way MLflow does, and
converting predictions to the result type exactly as `mlflow.pyfunc.spark_udf` does
(`_predict_row_batch`). Swift (Sources/PyFunc) calls these functions with the GIL held, on the
worker's Python thread only.

The file is compiled into the score-cluster binary by the EmbedPython build-tool plugin
(Plugins/EmbedPythonPlugin), so workers need no source tree; it can also be imported and
tested as a plain module with the project's .venv.
"""
import ctypes
import gc
import importlib
import os
import sys
import traceback


def _mark(exc, kind):
    """Tells Swift what failed: sets `exc._score_cluster_kind`, which PythonRuntime.fetchError
    reads into PythonError.kind (Sources/PyFunc/PythonError.swift), so that Swift tells errors
    apart by this field and never by class names. The kinds:

    environment  the environment lacks a package the bridge needs (numpy, pandas)
    input        a batch does not fit the model's input signature (SchemaError)
    predict      the model's predict function raised
    result       the prediction cannot be converted to the result type (ResultTypeError,
                 ResultRowsError); the message is spark_udf's, for people as it is
    """
    try:
        exc._score_cluster_kind = kind
    except Exception:  # an exception type that takes no attributes: it stays unmarked
        pass
    return exc


try:
    import numpy as np
    import pandas as pd
except ImportError as _exc:
    raise _mark(_exc, "environment")


def format_exception(exc_type, exc, tb):
    return "".join(traceback.format_exception(exc_type, exc, tb))


_code_dirs = []  # code directories of models loaded earlier in this interpreter
_loaded_before = False  # whether a model was loaded earlier in this interpreter


def _forget_earlier_models():
    """A kept-alive worker loads the next model in the same interpreter: modules imported from
    an earlier model's code directory must not stand in for the new model's (a module of the
    same name, or the same files changed on disk)."""
    prefixes = tuple(os.path.join(os.path.realpath(d), "") for d in _code_dirs)
    for d in _code_dirs:
        while d in sys.path:
            sys.path.remove(d)
    _code_dirs.clear()
    if prefixes:
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if path and os.path.realpath(path).startswith(prefixes):
                del sys.modules[name]
        importlib.invalidate_caches()


def _load(loader_module, code_dir, data_path, predict_fn, model_config):
    """Loads a pyfunc model as mlflow.pyfunc.load_model does; returns the bound predict function."""
    global _loaded_before
    _forget_earlier_models()
    if _loaded_before:
        # The model this one replaces has been released by Swift; a model whose objects form
        # reference cycles is freed only by a full collection, which the interpreter would
        # otherwise run only after many more allocations. About 0.15 s with mlflow imported.
        gc.collect()
    _loaded_before = True
    if code_dir:
        sys.path.insert(0, code_dir)
        _code_dirs.append(code_dir)
    module = importlib.import_module(loader_module)
    loader = getattr(module, "_load_pyfunc", None)
    if loader is None:
        # The seed format's name for the loader.
        loader = getattr(module, "load_pyfunc", None)
    if loader is None:
        raise ImportError(
            f"loader module '{loader_module}' ({getattr(module, '__file__', '?')}) defines neither "
            "_load_pyfunc(path) nor load_pyfunc(path)")
    # As MLflow: the inference configuration goes to the loader only when there is one.
    impl = loader(data_path, model_config) if model_config else loader(data_path)
    fn = getattr(impl, predict_fn, None)
    if fn is None or not callable(fn):
        raise AttributeError(
            f"the model loaded by '{loader_module}' ({type(impl).__name__}) has no callable '{predict_fn}'")
    return fn


class SchemaError(Exception):
    """A batch does not fit the model's input signature."""

    _score_cluster_kind = "input"


_CASTS = {"double": np.float64, "float": np.float32, "long": np.int64, "integer": np.int32}
_NAN_HINT = (" Hint: the type mismatch is likely caused by missing values. Integer columns in python can not "
             "represent missing values and are therefore encoded as floats. The best way to avoid this problem "
             "is to infer the model schema based on a realistic data sample (training dataset) that includes "
             "missing values. Alternatively, you can declare integer columns as doubles (float64) whenever "
             "these columns may have missing values.")


class Scorer:
    """One loaded model and how to call it: labels, enforced signature types, params, result type.

    Swift's ScorerConfiguration (Sources/PyFunc/ScorerConfiguration.swift) names every argument;
    they are keyword-only so that the two sides cannot bind a value to the wrong parameter.

    loader_module: the module whose _load_pyfunc (or load_pyfunc) loads the model
    code_dir: put first on sys.path before importing it (or None)
    data_path: what the loader gets
    predict_fn: the loaded model's method that predicts
    labels: the DataFrame's column labels (strings, or the integers 0, 1, ...)
    result_type: a primitive type name ("double", ...) or a JSON type tree for nested types
    enforced_types: per column, the signature type cast to on each batch (or None)
    model_config_json: the loader's model_config as JSON (or None)
    params_json: params for a predict that declares them, as JSON (or None)
    output_field: the column of a DataFrame result to convert (or None)
    strict_types: exact casts instead of spark_udf's silent choices
    """

    def __init__(self, *, loader_module, code_dir, data_path, predict_fn, labels, result_type, enforced_types,
                 model_config_json=None, params_json=None, output_field=None, strict_types=False):
        import inspect
        import json
        self.fn = _load(loader_module, code_dir, data_path, predict_fn,
                        json.loads(model_config_json) if model_config_json else None)
        self.labels = labels
        self.result_type = result_type
        self.output_field = output_field
        self.strict = bool(strict_types)
        self.enforced = enforced_types if any(t is not None for t in enforced_types) else None
        self.params = json.loads(params_json) if params_json else None
        try:
            arg = inspect.signature(self.fn).parameters.get("params")
        except (TypeError, ValueError):
            arg = None
        # As MLflow's PyFuncModel.predict: params only to a predict that declares them.
        self.pass_params = self.params is not None and arg is not None and arg.kind != inspect.Parameter.VAR_KEYWORD

    def frame(self, nrows, columns, block):
        """The DataFrame for one batch, with the signature's casts applied."""
        df = make_frame(self.labels, nrows, columns, block)
        if self.enforced is not None:
            self._enforce(df)
        return df

    def _enforce(self, df):
        """MLflow's _enforce_schema casts for column signatures: safe upcasts, checked up front
        by the coordinator; what is left to find here are nulls in integer columns."""
        for label, spec in zip(self.labels, self.enforced):
            if spec is None:
                continue
            column = df[label]
            target = _CASTS.get(spec)
            if target is not None and column.dtype != target:
                if column.dtype.kind == "f" and np.dtype(target).kind == "i":
                    raise SchemaError(
                        f"Incompatible input types for column {label}. Can not safely convert {column.dtype} "
                        f"to {np.dtype(target)}." + (_NAN_HINT if column.isna().any() else ""))
                df[label] = column.astype(target)
            elif spec == "datetime" and column.dtype != "datetime64[ns]":
                df[label] = pd.to_datetime(column).astype("datetime64[ns]")

    def predict(self, df):
        try:
            return self.fn(df, params=self.params) if self.pass_params else self.fn(df)
        except Exception as exc:
            _mark(exc, "predict")
            raise

    def convert(self, result, nrows):
        if self.output_field is not None and self.result_type.startswith("{"):
            result = _pick_field(result, self.output_field)
        if self.result_type.startswith("{"):
            return convert_nested(result, self.result_type, nrows)
        return convert(result, self.result_type, nrows, self.output_field, self.strict)


_NUMPY = {1: np.bool_, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.uint8, 7: np.uint16,
          8: np.uint32, 9: np.uint64, 10: np.float32, 11: np.float64, 14: np.float16}
_UNITS = {1: "ms", 2: "us", 3: "ns"}
_PER_SECOND = {1: 1_000, 2: 1_000_000, 3: 1_000_000_000}


def _buffer(spec):
    """A zero-copy view of Swift memory: spec is (address, size, owner). The owner (a capsule
    holding the Swift buffer) lives as long as any numpy view of the memory does, so a model
    that keeps its input keeps the memory too."""
    if spec is None:
        return None
    address, size, owner = spec
    view = (ctypes.c_char * size).from_address(address)
    view._owner = owner
    return view


def _objects(cells, valid):
    """An object array of `cells` with None where `valid` is False."""
    out = np.empty(len(cells), dtype=object)
    out[:] = cells
    if valid is not None:
        out[~valid] = None
    return out


def _column(kind, params, nrows, values, offsets, validity):
    """One column as pandas gets it from pyarrow's to_pandas() with default options.

    Numbers stay numpy views of the Swift memory (NaN already in float null slots); integers
    with nulls become float64 with NaN, booleans with nulls objects with None; strings `str`;
    binary, fixed-size binary and UUID bytes objects; dates datetime.date and times
    datetime.time objects; decimals decimal.Decimal; timestamps datetime64 in their own unit,
    tz-aware UTC when the file says isAdjustedToUTC; the null type None."""
    values, offsets, validity = _buffer(values), _buffer(offsets), _buffer(validity)
    valid = None if validity is None else np.frombuffer(validity, dtype=np.bool_, count=nrows)
    if valid is not None and valid.all():
        valid = None
    if kind in (12, 13):
        data = bytes(values)
        offs = np.frombuffer(offsets, dtype=np.int64, count=nrows + 1).tolist()
        if kind == 12:
            cells = [data[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(nrows)]
        else:
            cells = [data[offs[i]:offs[i + 1]] for i in range(nrows)]
        return _objects(cells, valid)
    if kind == 21:
        return np.full(nrows, None, dtype=object)
    if kind in (19, 20):
        width = 16 if kind == 20 else params[0] | params[1] << 8 | params[2] << 16 | params[3] << 24
        data = bytes(values)
        return _objects([data[i * width:(i + 1) * width] for i in range(nrows)], valid)
    if kind == 15:
        days = np.frombuffer(values, dtype=np.int32, count=nrows)
        return _objects(days.astype("datetime64[D]").astype(object).tolist(), valid)
    if kind == 16:
        stamps = np.frombuffer(values, dtype=np.int64, count=nrows).view(f"datetime64[{_UNITS[params[0]]}]")
        if valid is not None:
            stamps = stamps.copy()
            stamps[~valid] = np.datetime64("NaT")
        series = pd.Series(stamps, copy=False)
        return series.dt.tz_localize("UTC") if params[1] else series
    if kind == 17:
        import datetime
        per_second = _PER_SECOND[params[0]]
        ticks = np.frombuffer(values, dtype=np.int64, count=nrows).tolist()
        cells = []
        for t in ticks:
            seconds, fraction = divmod(t, per_second)
            minutes, second = divmod(seconds, 60)
            hour, minute = divmod(minutes, 60)
            cells.append(datetime.time(hour % 24, minute, second, fraction * 1_000_000 // per_second))
        return _objects(cells, valid)
    if kind == 18:
        import decimal
        scale = params[3] - 256 if params[3] > 127 else params[3]
        data = bytes(values)
        cells = [decimal.Decimal(int.from_bytes(data[i * 16:(i + 1) * 16], "little", signed=True)).scaleb(-scale)
                 for i in range(nrows)]
        return _objects(cells, valid)
    array = np.frombuffer(values, dtype=_NUMPY[kind], count=nrows)
    if valid is None or array.dtype.kind == "f":
        return array  # float null slots already hold NaN
    if array.dtype.kind == "b":
        out = array.astype(object)
        out[~valid] = None
        return out
    out = array.astype(np.float64)
    out[~valid] = np.nan
    return out


def make_frame(names, nrows, columns, block):
    """The DataFrame handed to predict. `block` is a buffer spec of len(names) contiguous float64
    columns when every column is float64, else None and `columns` lists
    (kind, parameters, values, offsets, validity)."""
    if block is not None:
        array = np.frombuffer(_buffer(block), dtype=np.float64, count=len(names) * nrows).reshape(len(names), nrows).T
        return pd.DataFrame(array, columns=names, copy=False)
    return pd.DataFrame({name: _column(kind, params, nrows, v, o, m)
                         for name, (kind, params, v, o, m) in zip(names, columns)}, copy=False)


class ResultTypeError(Exception):
    """The prediction has no values of the requested type (spark_udf's ERR-nc)."""

    _score_cluster_kind = "result"


class ResultRowsError(Exception):
    """The prediction has another number of rows than the batch."""

    _score_cluster_kind = "result"


_SPARK_NAMES = {"double": "DoubleType()", "float": "FloatType()", "int": "IntegerType()",
                "long": "LongType()", "string": "StringType()", "boolean": "BooleanType()"}


def _select(frame, result_type):
    """spark_udf's column filter by element type, then the cast (mlflow/pyfunc/__init__.py)."""
    if result_type == "int":
        return frame.select_dtypes([np.byte, np.ubyte, np.short, np.ushort, np.int32]).astype(np.int32)
    if result_type == "long":
        return frame.select_dtypes([np.byte, np.ubyte, np.short, np.ushort, int]).astype(np.int64)
    if result_type == "float":
        return frame.select_dtypes(include=(np.number,)).astype(np.float32)
    if result_type == "double":
        return frame.select_dtypes(include=(np.number,)).astype(np.float64)
    if result_type == "boolean":
        return frame.select_dtypes([bool, np.bool_]).astype(bool)
    return frame


def _to_series(result, result_type):
    """spark_udf's conversion of a predict result to one column of the result type."""
    if isinstance(result, dict):
        result = {k: list(v) for k, v in result.items()}
    if not isinstance(result, pd.DataFrame):
        result = pd.DataFrame([result]) if np.isscalar(result) else pd.DataFrame(result)
    selected = _select(result, result_type)
    if len(selected.columns) == 0:
        raise ResultTypeError(
            "The model did not produce any values compatible with the requested type "
            f"'{_SPARK_NAMES[result_type]}'. Consider requesting udf with StringType or "
            "Arraytype(StringType).")
    if result_type == "string":
        selected = selected.map(str)
    return selected[selected.columns[0]]


_RESULT_DTYPES = {"double": np.float64, "float": np.float32, "int": np.int32, "long": np.int64, "boolean": np.bool_}


def _pack(values, validity, result_type, nrows):
    """(values, validity-or-None, offsets-or-None) for Swift to copy; strings as UTF-8 bytes + offsets."""
    if len(values) != nrows:
        code = "OUTPUT_EXCEEDS_INPUT_ROWS" if len(values) > nrows else "RESULT_ROWS_MISMATCH"
        raise ResultRowsError(
            f"[{code}] the model returned {len(values)} rows for a batch of {nrows} rows; "
            "predict must return one value per input row")
    if validity is not None:
        validity = np.ascontiguousarray(validity, dtype=np.bool_)
        if validity.all():
            validity = None
    if result_type == "string":
        encoded = [b"" if v is None else str(v).encode("utf-8") for v in values]
        offsets = np.zeros(nrows + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return b"".join(encoded), validity, offsets
    return np.ascontiguousarray(values), validity, None


def _dataframe(result):
    if isinstance(result, dict):
        return pd.DataFrame({k: list(v) for k, v in result.items()})
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return pd.DataFrame(result)
    return result


def _pick_field(result, output_field):
    """--output-field: the named column of a DataFrame or dict result, as a 1-column frame."""
    result = _dataframe(result)
    if not isinstance(result, pd.DataFrame):
        raise ResultTypeError(f"--output-field {output_field}: the model returned {type(result).__name__}, "
                              "not a DataFrame or a dict with named columns")
    if output_field not in result.columns:
        raise ResultTypeError(f"--output-field {output_field}: the model's result has the columns "
                              f"{[str(c) for c in result.columns]}")
    return result[[output_field]]


def _single_column(result):
    """--strict-types: the result's only column, or an error that says how to choose one."""
    result = _dataframe(result)
    if isinstance(result, pd.DataFrame):
        if len(result.columns) != 1:
            raise ResultTypeError(f"the model returned {len(result.columns)} columns "
                                  f"{[str(c) for c in result.columns]}; choose one with --output-field")
        return result.iloc[:, 0]
    if isinstance(result, pd.Series):
        return result
    array = np.asarray(result)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ResultTypeError(f"the model returned an array of shape {array.shape}; a {array.ndim}-D result "
                              "has no single value per row (choose a column in the model, or use --output-field)")
    return pd.Series(array)


def _samples(series, bad):
    return ", ".join(repr(v) for v in series[bad].head(5).tolist())


def _strict(series, result_type):
    """Exact casts: nulls (None, NaN) stay null; a value that does not convert exactly is an error
    that shows a few of them."""
    series = series.reset_index(drop=True)
    isnull = series.isna().to_numpy()
    valid = ~isnull
    if result_type == "string":
        return [None if n else str(v) for v, n in zip(series.tolist(), isnull)], valid
    if series.dtype == np.bool_:
        numeric = series.astype(np.int64)
    else:
        numeric = pd.to_numeric(series, errors="coerce")
        bad = valid & numeric.isna().to_numpy()
        if bad.any():
            raise ResultTypeError(f"--strict-types: the prediction has values that are not numbers, "
                                  f"so not {result_type}: {_samples(series, bad)}")
    target = _RESULT_DTYPES[result_type]
    if result_type == "boolean":
        bad = valid & ~numeric.isin([0, 1]).to_numpy()
        if bad.any():
            raise ResultTypeError(f"--strict-types: the prediction has values that are not booleans: {_samples(series, bad)}")
        return numeric.fillna(0).to_numpy().astype(np.bool_), valid
    if np.dtype(target).kind == "i":
        info = np.iinfo(target)
        floats = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        if numeric.dtype.kind in "iu":
            ints = numeric.to_numpy()
            bad = valid & ((ints < info.min) | (ints > info.max))
        else:
            bad = valid & ((floats != np.floor(floats)) | (floats < info.min) | (floats > info.max))
        if bad.any():
            raise ResultTypeError(f"--strict-types: the prediction has values that are not {result_type}s "
                                  f"({np.dtype(target)}): {_samples(series, bad)}")
        return numeric.fillna(0).to_numpy().astype(target), valid
    values = numeric.to_numpy(dtype=np.float64, na_value=np.nan).astype(target)
    return values, valid & ~np.isnan(values)


_SPARK_NUMPY = {"double": np.float64, "float": np.float32, "int": np.int32, "long": np.int64,
                "boolean": np.bool_, "string": np.str_}


def _is_none_or_nan(value):
    return value is None or (isinstance(value, float) and np.isnan(value))


def _spark_name(t):
    """Spark's simpleString of a type spec, for messages."""
    kind = t["type"]
    if kind == "array":
        return f"array<{_spark_name(t['element'])}>"
    if kind == "map":
        return f"map<string,{_spark_name(t['value'])}>"
    if kind == "struct":
        return "struct<" + ",".join(f"{f['name']}:{_spark_name(f['type'])}" for f in t["fields"]) + ">"
    return kind


def _convert_array_values(values, t):
    """mlflow.pyfunc._convert_array_values: one row's array; None/NaN is a null array."""
    element = t["element"]
    if element["type"] in _SPARK_NUMPY:
        return None if _is_none_or_nan(values) else np.array(values, dtype=_SPARK_NUMPY[element["type"]])
    if element["type"] == "array":
        return [_convert_array_values(v, element) for v in values]
    if element["type"] == "struct":
        return [_convert_struct_values(v, element) for v in values]
    raise ResultTypeError(f"Unsupported array element type {_spark_name(element)}")


def _convert_struct_values(result, t):
    """mlflow.pyfunc._convert_struct_values: fields taken by name, cast to their types."""
    is_frame = isinstance(result, pd.DataFrame)
    out = {}
    for field in t["fields"]:
        name, ft = field["name"], field["type"]
        try:
            values = result[name]
        except (KeyError, IndexError, TypeError):
            present = list(result.columns) if is_frame else list(result.keys()) if isinstance(result, dict) else []
            raise ResultTypeError(f"the model's result has no field '{name}' for the result type "
                                  f"{_spark_name(t)}; it has {[str(c) for c in present]}") from None
        if ft["type"] in _SPARK_NUMPY:
            np_type = _SPARK_NUMPY[ft["type"]]
            if is_frame:
                if not all(_is_none_or_nan(v) for v in values):
                    values = values.astype(np_type)
            else:
                values = None if _is_none_or_nan(values) else np.array(values, dtype=np_type).item()
        elif ft["type"] == "array":
            values = (pd.Series([_convert_array_values(v, ft) for v in values]) if is_frame
                      else _convert_array_values(values, ft))
        elif ft["type"] == "struct":
            values = (pd.Series([_convert_struct_values(v, ft) for v in values]) if is_frame
                      else _convert_struct_values(values, ft))
        elif ft["type"] == "map":
            pass
        else:
            raise ResultTypeError(f"Unsupported field type {_spark_name(ft)} in struct type.")
        out[name] = values
    return pd.DataFrame(out) if is_frame else out


def _nested_cells(result, t, nrows):
    """spark_udf's conversion of a result to one Python value per row, for compound types."""
    kind = t["type"]
    if isinstance(result, dict):
        result = {k: list(v) for k, v in result.items()}
    if kind == "array" and t["element"]["type"] in ("array", "struct"):
        # As spark_udf: each row is converted on its own (a 2-D list for array<array<...>>).
        return list(_convert_array_values(result, t))
    if kind == "struct":
        if isinstance(result, list) and result and hasattr(result[0], "model_dump"):
            result = pd.DataFrame([r.model_dump() for r in result])
        elif not isinstance(result, pd.DataFrame):
            result = pd.DataFrame(result)
        return _convert_struct_values(result, t).to_dict("records")
    if not isinstance(result, pd.DataFrame):
        result = pd.DataFrame([result]) if (np.isscalar(result) or kind == "map") else pd.DataFrame(result)
    if kind == "map":
        return list(result[result.columns[0]])
    selected = _select(result, t["element"]["type"])
    if len(selected.columns) == 0:
        raise ResultTypeError(
            "The model did not produce any values compatible with the requested type "
            f"'{_SPARK_NAMES.get(t['element']['type'], _spark_name(t['element']))}'. Consider requesting udf with "
            "StringType or Arraytype(StringType).")
    if t["element"]["type"] == "string":
        selected = selected.map(str)
    return selected.to_numpy().tolist()


def _pack_tree(cells, t):
    """Packs one Python value per row (None = null) into buffers for Swift:
    (values, validity, offsets, children) per node of the type tree."""
    kind = t["type"]
    n = len(cells)
    valid = np.fromiter((not _is_none_or_nan(c) for c in cells), dtype=np.bool_, count=n)
    if kind in ("array", "map"):
        lengths = np.fromiter((len(c) if v else 0 for c, v in zip(cells, valid)), dtype=np.int64, count=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if kind == "array":
            flat = [x for c, v in zip(cells, valid) if v for x in c]
            children = [_pack_tree(flat, t["element"])]
        else:
            items = [kv for c, v in zip(cells, valid) if v for kv in c.items()]
            children = [_pack_tree([str(k) for k, _ in items], {"type": "string"}),
                        _pack_tree([x for _, x in items], t["value"])]
        return (None, valid, offsets, children)
    if kind == "struct":
        children = []
        for field in t["fields"]:
            name = field["name"]
            children.append(_pack_tree([c.get(name) if v and isinstance(c, dict) else (c[name] if v else None)
                                        for c, v in zip(cells, valid)], field["type"]))
        return (None, valid, None, children)
    if kind == "string":
        encoded = [str(c).encode("utf-8") if v else b"" for c, v in zip(cells, valid)]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return (b"".join(encoded), valid, offsets, [])
    dtype = _SPARK_NUMPY[kind]
    values = np.array([c if v else 0 for c, v in zip(cells, valid)], dtype=dtype)
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values)  # NaN elements become nulls, as Arrow makes them
    return (np.ascontiguousarray(values), valid, None, [])


def convert_nested(result, type_json, nrows):
    """Converts a prediction to an array, struct or map result type as spark_udf does, packed as a tree."""
    import json
    t = json.loads(type_json)
    cells = _nested_cells(result, t, nrows)
    if len(cells) != nrows:
        code = "OUTPUT_EXCEEDS_INPUT_ROWS" if len(cells) > nrows else "RESULT_ROWS_MISMATCH"
        raise ResultRowsError(f"[{code}] the model returned {len(cells)} rows for a batch of {nrows} rows; "
                              "predict must return one value per input row")
    return _pack_tree(cells, t)


def convert(result, result_type, nrows, output_field=None, strict=False):
    """Converts a prediction to the result type: spark_udf's rules by default, exact casts with
    `strict`, a named column of a DataFrame result with `output_field`."""
    if output_field is not None:
        result = _pick_field(result, output_field)
    if strict:
        values, valid = _strict(_single_column(result), result_type)
        return _pack(values, valid, result_type, nrows)
    if (result_type in ("double", "float") and isinstance(result, (np.ndarray, pd.Series))
            and result.ndim == 1 and isinstance(result.dtype, np.dtype) and result.dtype.kind in "iuf"):
        # Fast path, equivalent to the general one for 1-D numeric results.
        values = np.asarray(result).astype(np.float64 if result_type == "double" else np.float32, copy=False)
    else:
        values = _to_series(result, result_type).to_numpy()
        if result_type == "string":
            values = values.astype(object)
    validity = None
    if result_type in ("double", "float"):
        # NaN in a double/float result becomes null, as Arrow makes it in spark_udf.
        validity = ~np.isnan(values)
    return _pack(values, validity, result_type, nrows)


def prepare_forks():
    """Before forking workers that share this process's memory: move every object into the
    collector's permanent generation (gc.freeze), so that no collection in a child walks them and
    writes their headers, which would copy their pages. No collection first, as Python's
    documentation advises: after a model's load one finds next to nothing (22 objects after an
    sklearn model's) and takes 0.14 s of the start-up every forked worker waits for."""
    import gc
    gc.freeze()


def restore_signals():
    """Importing numpy/pandas installs Python's SIGINT handler; give signals back to the worker."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
