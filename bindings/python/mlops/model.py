"""The Model class: load an XGBoost model and predict with numpy arrays or DataFrames."""
from __future__ import annotations

import ctypes
import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from ._args import FrameOrder, cstr, is_frame, rows, size, writable
from ._lib import (CRef, FormatError, Handle, InvalidArgumentError, NotSupportedError, ValidationError, check, closed, declare,
                   declare_init, declare_view, lookup)

c_size_p = ctypes.POINTER(ctypes.c_size_t)

ENGINES = {"auto": 0, "native": 1, "xgboost": 2}
FORMATS = {"auto": 0, "json": 1, "ubjson": 2, "binary": 3}
TASKS = {0: "regression", 1: "binary", 2: "multiclass", 3: "ranking"}
PREDICT_MARGIN = 1
PREDICT_XGBOOST = 2  # MLOPS_PREDICT_XGBOOST: through the booster kept with keep_booster=True


class ModelOpts(ctypes.Structure):
    """Mirror of the C struct mlops_model_opts (version 3)."""

    _c_struct_ = "mlops_model_opts"
    _fields_ = [("version", ctypes.c_uint), ("engine", ctypes.c_int), ("n_threads", ctypes.c_int),
                ("missing", ctypes.c_float), ("format", ctypes.c_int), ("max_bytes", ctypes.c_size_t),
                ("iteration_begin", ctypes.c_uint), ("iteration_end", ctypes.c_uint), ("all_rounds", ctypes.c_int),
                ("keep_booster", ctypes.c_int)]


_opts_init = declare_init("mlops_model_opts_init", ModelOpts, 3)
_load = declare("mlops_model_load", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ModelOpts), ctypes.POINTER(ctypes.c_void_p)])
_load_buffer = declare("mlops_model_load_buffer", ctypes.c_int,
                       [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ModelOpts), ctypes.POINTER(ctypes.c_void_p)])
_ref = declare("mlops_model_ref", ctypes.c_void_p, [ctypes.c_void_p])
_free = declare("mlops_model_free", None, [ctypes.c_void_p])
_n_features = declare("mlops_model_n_features", ctypes.c_size_t, [ctypes.c_void_p])
_n_outputs = declare("mlops_model_n_outputs", ctypes.c_size_t, [ctypes.c_void_p])
_output_width = declare("mlops_model_output_width", ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_uint32])
_predict = declare("mlops_model_predict", ctypes.c_int,
                   [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint32,
                    ctypes.c_void_p, ctypes.c_size_t])
_feature_name = declare("mlops_model_feature_name", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t])
_feature_type = declare("mlops_model_feature_type", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t])
_find_feature = declare("mlops_model_find_feature", ctypes.c_int,
                        [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t)])
_objective = declare("mlops_model_objective", ctypes.c_char_p, [ctypes.c_void_p])
_booster = declare("mlops_model_booster", ctypes.c_char_p, [ctypes.c_void_p])
_task = declare("mlops_model_task", ctypes.c_int, [ctypes.c_void_p])
_n_classes = declare("mlops_model_n_classes", ctypes.c_size_t, [ctypes.c_void_p])
_n_rounds = declare("mlops_model_n_rounds", ctypes.c_size_t, [ctypes.c_void_p])
_base_score = declare("mlops_model_base_score", ctypes.c_double, [ctypes.c_void_p])
_n_attrs = declare("mlops_model_n_attrs", ctypes.c_size_t, [ctypes.c_void_p])
_attr_name = declare("mlops_model_attr_name", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t])
_find_attr = declare("mlops_model_find_attr", ctypes.c_int,
                     [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)])
_engine = declare("mlops_model_engine", ctypes.c_int, [ctypes.c_void_p])
_engine_name = declare("mlops_engine_name", ctypes.c_char_p, [ctypes.c_int])
_format_of = declare("mlops_model_format_of", ctypes.c_int, [ctypes.c_void_p])
_native_bytes = declare("mlops_model_native_bytes", ctypes.c_size_t, [ctypes.c_void_p])
_task_name = declare("mlops_task_name", ctypes.c_char_p, [ctypes.c_int])
_fallback = declare("mlops_model_fallback", ctypes.c_int, [ctypes.c_void_p])
_booster_kept = declare("mlops_model_booster_kept", ctypes.c_int, [ctypes.c_void_p])
_best_iteration = declare("mlops_model_best_iteration", ctypes.c_long, [ctypes.c_void_p])
_iteration_begin = declare("mlops_model_iteration_begin", ctypes.c_uint, [ctypes.c_void_p])
_iteration_end = declare("mlops_model_iteration_end", ctypes.c_uint, [ctypes.c_void_p])
_n_categories = declare("mlops_model_n_categories", ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_size_t])
_category = declare("mlops_model_category", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t])

# Hot path: the same C function with float* parameters, fed ctypes.c_float.from_buffer() views of
# the numpy buffers (no copy; cheaper per call than building x.ctypes or __array_interface__).
_F32 = np.dtype(np.float32)
_PF = ctypes.POINTER(ctypes.c_float)
_cf = ctypes.c_float.from_buffer
_predict_fast = declare_view("mlops_model_predict", ctypes.c_int,
                             [ctypes.c_void_p, _PF, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint32, _PF,
                              ctypes.c_size_t])


def _text(b: bytes, what: str) -> str:
    """A string the model carries, as str; FormatError (not UnicodeDecodeError) when it is not UTF-8."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(-4, "model: %s is not valid UTF-8 (byte 0x%02x at %d of %r) (malformed input)"
                          % (what, b[e.start], e.start, b)) from None


def make_opts(engine: str = "auto", n_threads: int = 1, missing: float = float("nan"), format: str = "auto",
              max_bytes: int = 0, iteration_range: Optional[Tuple[int, int]] = None,
              all_rounds: bool = False, keep_booster: bool = False) -> ModelOpts:
    """Build the C options struct from keyword arguments (defaults from mlops_model_opts_init)."""
    if engine not in ENGINES:
        raise InvalidArgumentError(-1, "engine must be one of %s, got %r" % (sorted(ENGINES), engine))
    if format not in FORMATS:
        raise InvalidArgumentError(-1, "format must be one of %s, got %r" % (sorted(FORMATS), format))
    o = ModelOpts()
    _opts_init(ctypes.byref(o))
    o.engine = ENGINES[engine]
    o.n_threads = int(n_threads)
    o.missing = float(missing)
    o.format = FORMATS[format]
    o.max_bytes = size(max_bytes, "max_bytes")
    if iteration_range is not None:
        o.iteration_begin = size(iteration_range[0], "iteration_range[0]")
        o.iteration_end = size(iteration_range[1], "iteration_range[1]")
    o.all_rounds = 1 if all_rounds else 0
    o.keep_booster = 1 if keep_booster else 0
    return o


class _FileSource:
    """The file a model was loaded from, with its size and mtime at load: pickling reads it then and
    refuses (TypeError) if it changed, rather than sending other bytes than the ones being served."""

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path = os.fspath(path)
        self.stamp = self._stamp()

    def _stamp(self) -> Tuple[int, int]:
        st = os.stat(self.path)
        return (st.st_size, st.st_mtime_ns)

    def read(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
            same = self._stamp() == self.stamp and len(data) == self.stamp[0]
        except OSError as e:
            raise TypeError("cannot pickle mlops.Model: its file %r cannot be read again (%s); load it from "
                            "bytes to make it picklable" % (self.path, e.strerror)) from None
        if not same:
            raise TypeError("cannot pickle mlops.Model: its file %r changed since it was loaded; load it "
                            "from bytes to make it picklable" % self.path)
        return data


class Model(Handle):
    """An immutable XGBoost model served by libmlops.

    Load from a path or from bytes::

        with mlops.Model("model.json") as m:
            p = m.predict(X)            # numpy (n,) or (n, k), as xgboost's inplace_predict

    Args:
        source: a file path (str or os.PathLike) or the model's bytes (JSON, UBJSON or legacy binary).
        engine: "auto" (native when supported), "native" (fail otherwise) or "xgboost".
        n_threads: threads per predict call (default 1).
        missing: the input value treated as missing, besides NaN.
        format: "auto", "json", "ubjson" or "binary".
        iteration_range: (begin, end) boosting rounds to use; None for all (up to best_iteration for a
            model trained with early stopping, as xgboost's scikit-learn predict does).
        all_rounds: serve every round even when the model has a best_iteration.
        max_bytes: refuse larger model files (0 = the library's default, 2 GiB).
        keep_booster: keep XGBoost's booster loaded even when the native engine serves (see
            booster_kept); by default it is kept only when XGBoost serves the model.

    Raises IOError_ (unreadable file), FormatError (malformed model), NotSupportedError
    (engine="native" for a model the native engine cannot serve), InvalidArgumentError.

    The model holds one reference to the C model: close() it or use it as a context
    manager (``__del__`` releases it otherwise). Methods of a closed model raise StateError.

    Thread safety: the model is immutable; predict() may be called from any number of
    threads at once (the GIL is released during the C call).
    """

    _what = "model"

    _c_free = staticmethod(_free)
    _shareable = True  # immutable: a copy shares the C model through its own reference

    _h: Optional[CRef] = None  # the pinned C handle; None once closed (or if __init__ failed)

    def __init__(self, source: Union[str, os.PathLike, bytes, bytearray, memoryview], *, engine: str = "auto",
                 n_threads: int = 1, missing: float = float("nan"), format: str = "auto", max_bytes: int = 0,
                 iteration_range: Optional[Tuple[int, int]] = None, all_rounds: bool = False,
                 keep_booster: bool = False) -> None:
        self._h: Optional[CRef] = None
        opts = make_opts(engine, n_threads, missing, format, max_bytes, iteration_range, all_rounds, keep_booster)
        out = ctypes.c_void_p()
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            check(_load_buffer(data, len(data), ctypes.byref(opts), ctypes.byref(out)))
        elif isinstance(source, (str, os.PathLike)):
            check(_load(os.fsencode(source), ctypes.byref(opts), ctypes.byref(out)))
        else:
            raise TypeError("Model source must be a path or bytes, not %s" % type(source).__name__)
        self._adopt(out.value)
        self._init_metadata()
        # What pickle and deepcopy rebuild the model from (the C API cannot serialize a loaded model).
        # A file is read lazily, at the first pickle, and only if it is unchanged since the load.
        self._source: Any = data if isinstance(source, (bytes, bytearray, memoryview)) else _FileSource(source)
        self._opts = dict(engine=engine, n_threads=n_threads, missing=missing, format=format, max_bytes=max_bytes,
                          iteration_range=iteration_range, all_rounds=all_rounds, keep_booster=keep_booster)

    def _to_state(self) -> Any:
        """(model bytes, options) for pickle and deepcopy; None for a model wrapped from a C handle
        (a registry or deployment model), which the bindings have no bytes for."""
        self._handle()
        src = getattr(self, "_source", None)
        if src is None:
            return None
        data = src.read() if isinstance(src, _FileSource) else src
        return (data, self._opts)

    @classmethod
    def _from_state(cls, state: Any) -> "Model":
        data, opts = state
        return cls(data, **opts)

    @classmethod
    def _from_handle(cls, handle: int) -> "Model":
        """Wrap a C handle whose reference the new object takes over."""
        self = cls.__new__(cls)
        self._adopt(handle)
        self._init_metadata()
        return self

    def _init_metadata(self) -> None:
        h = self._h
        self._n_features = int(_n_features(h))
        self._widths = (int(_output_width(h, 0)), int(_output_width(h, PREDICT_MARGIN)))
        self._names = [_text(_feature_name(h, i), "feature name %d" % i) for i in range(self._n_features)]
        self._multi = (self._widths[0] > 1, self._widths[1] > 1)
        self._unnamed = self._names == ["f%d" % i for i in range(self._n_features)]
        # Category strings stored by XGBoost 3.x, per feature index: {string: code}.
        self._cat_codes: Dict[int, Dict[str, int]] = {}
        for i in range(self._n_features):
            k = int(_n_categories(h, i))
            if k:
                self._cat_codes[i] = {_text(_category(h, i, c), "category %d of feature %d" % (c, i)): c
                                     for c in range(k)}
        # the fast DataFrame path (by name, numeric columns); stored category strings take the general one
        self._frames: Optional[FrameOrder] = FrameOrder(self._names) if not self._cat_codes else None

    def __repr__(self) -> str:
        if self._h is None:
            return "<mlops.Model closed>"
        return "<mlops.Model %s %s, %d features, %d rounds, engine=%s>" % (
            self.booster, self.objective, self.n_features, self.n_rounds, self.engine)

    # ---- metadata ----
    @property
    def n_features(self) -> int:
        """Number of input features per row."""
        self.handle
        return self._n_features

    @property
    def n_outputs(self) -> int:
        """Values per row in the default predict output."""
        self.handle
        return self._widths[0]

    def output_width(self, margin: bool = False) -> int:
        """Values per row of predict(margin=margin) (the margin of multi:softmax has n_classes)."""
        return int(_output_width(self.handle, PREDICT_MARGIN if margin else 0))

    @property
    def feature_names(self) -> List[str]:
        """Feature names in model order ("f0".. when the model has none)."""
        self.handle
        return list(self._names)

    @property
    def feature_types(self) -> List[str]:
        """XGBoost feature types ("float", "int", "i", "q", "c")."""
        return [_text(_feature_type(self.handle, i), "feature type %d" % i) for i in range(self._n_features)]

    @property
    def objective(self) -> str:
        """The objective, e.g. "binary:logistic"."""
        return _objective(self.handle).decode()

    @property
    def booster(self) -> str:
        """"gbtree", "dart" or "gblinear"."""
        return _booster(self.handle).decode()

    @property
    def task(self) -> str:
        """"regression", "binary", "multiclass" or "ranking"."""
        return _task_name(_task(self.handle)).decode()

    @property
    def n_classes(self) -> int:
        """Number of classes (0 unless multiclass)."""
        return int(_n_classes(self.handle))

    @property
    def n_rounds(self) -> int:
        """Boosted rounds in the model."""
        return int(_n_rounds(self.handle))

    @property
    def base_score(self) -> float:
        """Base score as stored by XGBoost."""
        return float(_base_score(self.handle))

    @property
    def attributes(self) -> Dict[str, str]:
        """The model's string attributes."""
        h = self.handle
        out = {}
        for i in range(int(_n_attrs(h))):
            k = _attr_name(h, i)
            v = ctypes.c_char_p()
            check(_find_attr(h, k, ctypes.byref(v)))
            out[_text(k, "attribute name")] = _text(v.value or b"", "attribute %r" % k)
        return out

    @property
    def engine(self) -> str:
        """The engine serving predictions: "native" or "xgboost"."""
        return _engine_name(_engine(self.handle)).decode()

    @property
    def fallback(self) -> bool:
        """True when XGBoost 1.7.4 can be handed an exactly equivalent model (it serves when the native
        engine cannot, engine="xgboost" loads it); False when only the native engine can serve the
        model (for example per-output intercepts of XGBoost 3.1+)."""
        return bool(_fallback(self.handle))

    @property
    def booster_kept(self) -> bool:
        """True when the model holds an XGBoost booster: XGBoost serves it, or keep_booster=True."""
        return bool(_booster_kept(self.handle))

    @property
    def best_iteration(self) -> Optional[int]:
        """The model's best_iteration (early stopping), or None."""
        v = int(_best_iteration(self.handle))
        return None if v < 0 else v

    @property
    def iteration_range(self) -> Tuple[int, int]:
        """Boosting rounds [begin, end) that predict uses."""
        h = self.handle
        return int(_iteration_begin(h)), int(_iteration_end(h))

    @property
    def categories(self) -> Dict[str, List[str]]:
        """Category strings XGBoost 3.x stored for each categorical feature (code k is the k-th)."""
        self.handle
        return {self._names[i]: sorted(m, key=m.__getitem__) for i, m in self._cat_codes.items()}

    @property
    def format(self) -> str:
        """Format the model was loaded from: "json", "ubjson" or "binary"."""
        return {v: k for k, v in FORMATS.items()}[_format_of(self.handle)]

    @property
    def native_bytes(self) -> int:
        """Bytes of the native flattened forest (0 when XGBoost serves the model)."""
        return int(_native_bytes(self.handle))

    def feature_index(self, name: str) -> int:
        """Index of feature `name`, or -1."""
        i = ctypes.c_size_t()
        return int(i.value) if lookup(_find_feature, self.handle, cstr(name, "feature name"), out=i) else -1

    # ---- prediction ----
    def _as_matrix(self, data: Any) -> np.ndarray:
        """`data` as a C-contiguous float32 2-D array (a view when it already is one); DataFrame
        columns and Series entries by feature name, stored category strings re-coded to the model's codes."""
        if self._frames is not None and is_frame(data):
            x = self._frames.matrix(data, _F32)
            if x is not None:
                return x
        encoders = {j: (lambda name, col, codes=codes: self._encode(name, col, codes))
                    for j, codes in self._cat_codes.items()}
        names: Optional[List[str]] = self._names
        if self._unnamed and is_frame(data) and not set(self._names) <= set(map(str, data.columns)):
            names = None  # a model trained without feature names takes a DataFrame by position, as xgboost
        return rows(data, "data", names=names, dtype=_F32, encoders=encoders)

    @staticmethod
    def _encode(name: str, col: Any, codes: Dict[str, int]) -> np.ndarray:
        """Category strings to the model's codes (as XGBoost 3.x re-codes a DataFrame); missing -> NaN."""
        values = col.to_numpy(dtype=object)
        out = np.empty(len(values), dtype=_F32)
        for r, v in enumerate(values):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                out[r] = np.nan
                continue
            code = codes.get(str(v))
            if code is None:
                raise ValidationError(-13, "column %r row %d: unknown category %r (the model knows %s)"
                                      % (name, r + 1, v, ", ".join(sorted(codes, key=codes.__getitem__))))
            out[r] = code
        return out

    def _out_shape(self, n: int, m: int) -> Any:
        return (n, self._widths[m]) if self._multi[m] else n

    def predict(self, data: Any, *, margin: bool = False, out: Optional[np.ndarray] = None,
                output_margin: bool = False, engine: Optional[str] = None) -> np.ndarray:
        """Predict rows of `data`; returns float32 of shape (n,) or (n, k), as xgboost's inplace_predict.

        Args:
            data: a 2-D array-like (rows x features; 1-D = one row), a pandas DataFrame (columns
                matched to the model's features by name, in any order; a missing column raises
                InvalidArgumentError naming it) or a pandas Series (one row, by index name).
                C-contiguous float32 arrays are passed to C without a copy; other dtypes and
                memory orders are converted first. NaN (and the model's `missing`) is missing.
            margin: return the raw margin instead of the transformed output.
            output_margin: the same as `margin`, spelled as xgboost spells it.
            out: optional C-contiguous float32 array of the result's shape, filled in place and
                returned (no allocation at all on the native engine).
            engine: None (the engine serving the model, `self.engine`) or "xgboost": through the
                XGBoost booster, a live cross-check of the native engine; it needs the booster
                (loaded with keep_booster=True, or engine="xgboost"; see `booster_kept`).

        Raises:
            ShapeError: wrong number of features. InvalidArgumentError: bad input, `out` or
            `engine`. NotSupportedError: engine="xgboost" and no booster is kept.
            StateError: the model is closed.
        """
        h = self._h  # pins the C model until this call returns (see Handle)
        if h is None:
            raise closed("model")
        x = data
        xp: Any = None
        if type(x) is np.ndarray and x.dtype is _F32:  # the hot path: no copy, no conversion
            shape = x.shape
            if len(shape) == 2:
                n, c = shape
            elif len(shape) == 1:
                n, c = 1, shape[0]
            else:
                n = c = 0
            if c:
                try:
                    # A ctypes view of the array's own buffer (cheaper than x.ctypes.data; see
                    # bench_bindings.py). It refuses non-C-contiguous, read-only and empty arrays.
                    xp = _cf(x)
                except (TypeError, ValueError, BufferError):
                    pass
        if xp is None:
            x = self._as_matrix(x)
            n, c = x.shape
            try:
                xp = _cf(x)
            except (TypeError, ValueError, BufferError):  # read-only or empty input, still not copied
                xp = x.ctypes.data_as(_PF)
        m = 1 if margin or output_margin else 0
        flags = m
        if engine is not None:
            if engine != "xgboost":
                raise InvalidArgumentError(-1, 'engine must be None or "xgboost", got %r' % (engine,))
            flags |= PREDICT_XGBOOST
        w = self._widths[m]
        if out is None:
            out = np.empty((n, w) if self._multi[m] else n, _F32)
            op = _cf(out) if n else out.ctypes.data_as(_PF)
        else:
            op = self._out_pointer(out, n, m)
        st = _predict_fast(h, xp, n, c, flags, op, n * w)
        if st:
            check(st)
        return out

    def _out_pointer(self, out: Any, n: int, m: int) -> Any:
        if type(out) is np.ndarray and out.dtype is _F32 and n and out.shape == (
                (n, self._widths[m]) if self._multi[m] else (n,)):
            try:
                return _cf(out)  # refuses read-only and non-C-contiguous buffers
            except (TypeError, ValueError, BufferError):
                pass
        self._check_out(out, n, m)
        return out.ctypes.data_as(_PF)

    def _check_out(self, out: Any, n: int, m: int) -> None:
        shape = self._out_shape(n, m)
        writable(out, "out", _F32, shape if isinstance(shape, tuple) else (shape,))

    def _predict_with(self, fn: Callable[..., int], data: Any, margin: bool, out: Optional[np.ndarray]) -> np.ndarray:
        """predict() through another C entry point with mlops_model_predict's arguments after the
        model (used by StandardMetrics.predict). `fn(model, x, n_rows, n_cols, flags, out, out_len)`
        receives void pointers as ints."""
        h = self.handle
        x = self._as_matrix(data)
        n, c = x.shape
        m = 1 if margin else 0
        if out is None:
            out = np.empty(self._out_shape(n, m), _F32)
        else:
            self._check_out(out, n, m)
        st = fn(h, x.ctypes.data, n, c, m, out.ctypes.data, out.size)
        if st:
            check(st)
        return out

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes) float32, as scikit-learn's and xgboost's
        XGBClassifier.predict_proba: [1 - p, p] for a binary model, softmax of the margin for
        multi:softmax. NotSupportedError for a regression or ranking model."""
        task = self.task
        if task == "binary":
            p = self.predict(data)
            return np.ascontiguousarray(np.stack([1.0 - p, p], axis=1), dtype=_F32)
        if task != "multiclass":
            raise NotSupportedError(-6, "predict_proba: the model's task is %s (objective %s), not a classifier; "
                                    "use predict()" % (task, self.objective))
        if self._widths[0] > 1:  # multi:softprob
            return self.predict(data)
        z = self.predict(data, margin=True).astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return (z / z.sum(axis=1, keepdims=True)).astype(_F32)

    def predict_label(self, data: Any) -> np.ndarray:
        """Class labels (int64 class indices), as XGBClassifier.predict: p > 0.5 for a binary model,
        the most probable class for a multiclass one. NotSupportedError for regression and ranking."""
        task = self.task
        if task == "binary":
            return (self.predict(data) > 0.5).astype(np.int64)
        if task != "multiclass":
            raise NotSupportedError(-6, "predict_label: the model's task is %s (objective %s), not a classifier; "
                                    "use predict()" % (task, self.objective))
        p = self.predict(data)
        return p.argmax(axis=1).astype(np.int64) if p.ndim == 2 else p.astype(np.int64)

    def __call__(self, data: Any, **kw: Any) -> np.ndarray:
        """Same as predict()."""
        return self.predict(data, **kw)


__all__ = ["Model", "ModelOpts", "make_opts"]
