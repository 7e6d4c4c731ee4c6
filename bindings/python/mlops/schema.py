"""The Schema class: typed, ranged feature schemas and validation reports (mlops/schema.h)."""
from __future__ import annotations

import ctypes
import json
import math
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ._args import FrameOrder, cstr, frame_rows, is_frame, rows, size, writable
from ._lib import CRef, Handle, InvalidArgumentError, check, declare, declare_init, lookup

_VALIDATION = -13  # MLOPS_EVALIDATION: some rows are invalid; the report says which

KINDS = {1: "missing", 2: "null_not_allowed", 3: "out_of_range", 4: "not_integer", 5: "unknown_category",
         6: "unknown_feature", 7: "duplicate_feature", 8: "wrong_type", 9: "not_finite"}
TYPES = {0: "float", 1: "int", 2: "bool", 3: "categorical"}


class InferOpts(ctypes.Structure):
    """Mirror of the C struct mlops_schema_infer_opts (version 1)."""

    _c_struct_ = "mlops_schema_infer_opts"
    _fields_ = [("version", ctypes.c_uint), ("margin", ctypes.c_double), ("detect_int", ctypes.c_int),
                ("keep_sign", ctypes.c_int), ("nullable", ctypes.c_int), ("reject_unknown", ctypes.c_int)]


_vp = ctypes.c_void_p
_pvp = ctypes.POINTER(ctypes.c_void_p)
_parse = declare("mlops_schema_load_buffer", ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, _pvp])
_load = declare("mlops_schema_load", ctypes.c_int, [ctypes.c_char_p, _pvp])
_from_model = declare("mlops_schema_from_model", ctypes.c_int, [_vp, _pvp])
_infer_opts_init = declare_init("mlops_schema_infer_opts_init", InferOpts)
_infer = declare("mlops_schema_infer", ctypes.c_int,
                 [_vp, ctypes.c_size_t, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(InferOpts),
                  _pvp])
_free = declare("mlops_schema_free", None, [_vp])
_to_json = declare("mlops_schema_save_buffer", ctypes.c_int, [_vp, ctypes.POINTER(ctypes.c_void_p)])
_save = declare("mlops_schema_save", ctypes.c_int, [_vp, ctypes.c_char_p])
_check_model = declare("mlops_schema_check_model", ctypes.c_int, [_vp, _vp])
_n_features = declare("mlops_schema_n_features", ctypes.c_size_t, [_vp])
_feature_name = declare("mlops_schema_feature_name", ctypes.c_char_p, [_vp, ctypes.c_size_t])
_find_feature = declare("mlops_schema_find_feature", ctypes.c_int, [_vp, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t)])
_validate = declare("mlops_schema_validate", ctypes.c_int,
                    [_vp, _vp, ctypes.c_size_t, ctypes.c_size_t, _vp, _vp])
_impute = declare("mlops_schema_impute", ctypes.c_int, [_vp, _vp, ctypes.c_size_t, ctypes.c_size_t])
_psize = ctypes.POINTER(ctypes.c_size_t)
_csv_args = [_vp, ctypes.c_size_t, ctypes.c_size_t, _vp, ctypes.c_size_t, _psize, _vp, ctypes.c_size_t, _psize, _psize]
_parse_csv = {np.dtype(np.float32): declare("mlops_schema_parse_csv", ctypes.c_int, _csv_args),
              np.dtype(np.float64): declare("mlops_schema_parse_csv_f64", ctypes.c_int, _csv_args)}


def parse_csv_into(text: int, length: int, n_fields: int, cols: np.ndarray, out: np.ndarray, row: int = 0,
                   first_line: int = 1) -> Tuple[int, int, int]:
    """mlops_schema_parse_csv(_f64) on `length` bytes at address `text` into out[row:] (a
    C-contiguous float32/float64 array of len(cols) columns; cols: np.uintp field indices).
    Returns (status, rows written, bytes consumed); read mlops.last_error() right after a
    failure, on this thread. The GIL is released while it parses (ctypes)."""
    n_rows, n_bytes, line = ctypes.c_size_t(0), ctypes.c_size_t(0), ctypes.c_size_t(first_line)
    k = len(cols)
    st = _parse_csv[out.dtype](text, length, n_fields, cols.ctypes.data, k, ctypes.byref(line),
                               out.ctypes.data + row * k * out.itemsize, (out.shape[0] - row) * k,
                               ctypes.byref(n_rows), ctypes.byref(n_bytes))
    return st, n_rows.value, n_bytes.value


def parse_csv(text: bytes, n_fields: int, *, columns: Optional[Sequence[int]] = None, dtype: Any = np.float64,
              first_line: int = 1) -> np.ndarray:
    """Numeric CSV text (rows, no header) as a rows x columns array, strictly (mlops/schema.h,
    mlops_schema_parse_csv): exactly n_fields fields a row, empty cells NaN, values exactly as
    strtof/strtod read them. columns: field indices to keep (default all). Raises FormatError
    naming the line (counted from first_line) and field of the first bad cell."""
    dtype = np.dtype(dtype)
    if dtype not in _parse_csv:
        raise InvalidArgumentError(-1, "parse_csv: dtype must be float32 or float64, not %s" % dtype)
    cols = np.arange(n_fields, dtype=np.uintp) if columns is None else np.asarray(columns, dtype=np.uintp)
    out = np.empty((len(text) // max(1, n_fields) + 1, len(cols)), dtype)
    buf = ctypes.create_string_buffer(bytes(text), len(text))
    st, n, _ = parse_csv_into(ctypes.addressof(buf), len(text), int(n_fields), cols, out, 0, int(first_line))
    check(st)
    return out[:n].copy()
_parse_rows = declare("mlops_schema_parse_rows", ctypes.c_int,
                      [_vp, ctypes.c_char_p, ctypes.c_size_t, _vp, ctypes.c_size_t, _vp,
                       ctypes.POINTER(ctypes.c_size_t), _vp])
_mlops_free = declare("mlops_free", None, [_vp])
_report_new = declare("mlops_schema_report_create", ctypes.c_int, [ctypes.c_size_t, _pvp])
_report_free = declare("mlops_schema_report_free", None, [_vp])
_report_n_rows = declare("mlops_schema_report_n_rows", ctypes.c_size_t, [_vp])
_report_n_invalid = declare("mlops_schema_report_n_invalid", ctypes.c_size_t, [_vp])
_report_count = declare("mlops_schema_report_count", ctypes.c_size_t, [_vp])
_report_n_omitted = declare("mlops_schema_report_n_omitted", ctypes.c_size_t, [_vp])
_report_row = declare("mlops_schema_report_row", ctypes.c_size_t, [_vp, ctypes.c_size_t])
_report_feature = declare("mlops_schema_report_feature", ctypes.c_long, [_vp, ctypes.c_size_t])
_report_feature_name = declare("mlops_schema_report_feature_name", ctypes.c_void_p, [_vp, ctypes.c_size_t])
_report_kind = declare("mlops_schema_report_kind", ctypes.c_int, [_vp, ctypes.c_size_t])
_report_message = declare("mlops_schema_report_message", ctypes.c_void_p, [_vp, ctypes.c_size_t])
_report_clear = declare("mlops_schema_report_clear", None, [_vp])
_type_name = declare("mlops_feature_type_name", ctypes.c_char_p, [ctypes.c_int])
_kind_name = declare("mlops_violation_kind_name", ctypes.c_char_p, [ctypes.c_int])
_f_type = declare("mlops_schema_feature_type", ctypes.c_int, [_vp, ctypes.c_size_t])
_f_min = declare("mlops_schema_feature_min", ctypes.c_double, [_vp, ctypes.c_size_t])
_f_max = declare("mlops_schema_feature_max", ctypes.c_double, [_vp, ctypes.c_size_t])
_f_nullable = declare("mlops_schema_feature_nullable", ctypes.c_int, [_vp, ctypes.c_size_t])
_f_default = declare("mlops_schema_get_feature_default", ctypes.c_int,
                     [_vp, ctypes.c_size_t, ctypes.POINTER(ctypes.c_double)])
_f_n_categories = declare("mlops_schema_feature_n_categories", ctypes.c_size_t, [_vp, ctypes.c_size_t])
_f_category = declare("mlops_schema_feature_category", ctypes.c_char_p, [_vp, ctypes.c_size_t, ctypes.c_size_t])
_rejects_unknown = declare("mlops_schema_rejects_unknown", ctypes.c_int, [_vp])


def _index_of(handle: Any, name: str) -> int:
    """Index of feature `name` in the schema, or -1."""
    i = ctypes.c_size_t()
    return int(i.value) if lookup(_find_feature, handle, cstr(name, "feature name"), out=i) else -1


def _cstr(p: Optional[int]) -> str:
    return "" if not p else ctypes.string_at(p).decode("utf-8", "replace")


class Violation(NamedTuple):
    """One thing wrong with one value: row (0-based position; -1 for a finding about a whole
    DataFrame column: missing, extra or duplicate), feature_index (-1 for an unknown feature),
    feature (name), kind (e.g. "out_of_range"), the message, and index: the row's label in
    the DataFrame's index (the position for arrays and dicts; None for a whole-column finding)."""

    row: int
    feature_index: int
    feature: str
    kind: str
    message: str
    index: Any = None


class Report:
    """The result of Schema.validate().

    Attributes:
        violations: every violation found (at most `max_violations`; see n_omitted).
        row_ok: numpy bool array, one verdict per row.
        n_rows, n_invalid, n_omitted: counts.
        x: the rows as float32 in schema order (the input array for dense input; the
           converted rows for dicts and DataFrames, with NaN where a value was invalid).
    """

    def __init__(self, violations: List[Violation], row_ok: np.ndarray, n_omitted: int,
                 x: Optional[np.ndarray]) -> None:
        self.violations = violations
        self.row_ok = row_ok
        self.n_rows = int(row_ok.size)
        self.n_invalid = int(self.n_rows - int(row_ok.sum()))
        self.n_omitted = int(n_omitted)
        self.x = x

    @property
    def valid(self) -> bool:
        """True when every row is valid."""
        return self.n_invalid == 0

    @property
    def valid_rows(self) -> Optional[np.ndarray]:
        """The valid rows of `x` (float32), ready to predict."""
        return None if self.x is None else self.x[self.row_ok]

    def __len__(self) -> int:
        return len(self.violations)

    def __iter__(self) -> Iterator[Violation]:
        return iter(self.violations)

    def __bool__(self) -> bool:
        return self.valid

    def __repr__(self) -> str:
        return "<mlops.Report %d rows, %d invalid, %d violations>" % (self.n_rows, self.n_invalid,
                                                                      len(self.violations))

    def kinds(self) -> Dict[str, int]:
        """Count of violations by kind."""
        out: Dict[str, int] = {}
        for v in self.violations:
            out[v.kind] = out.get(v.kind, 0) + 1
        return out

    def to_frame(self) -> Any:
        """The violations as a pandas DataFrame (columns row, feature_index, feature, kind, message, index)."""
        import pandas as pd
        return pd.DataFrame(self.violations, columns=list(Violation._fields))


def _read_report(rep: int, labels: Any = None) -> Tuple[List[Violation], int]:
    """The report's violations, each with index = labels[row] (the row itself when labels is None)."""
    out = []
    for i in range(int(_report_count(rep))):
        row = int(_report_row(rep, i))
        out.append(Violation(row, int(_report_feature(rep, i)),
                             _cstr(_report_feature_name(rep, i)), KINDS.get(int(_report_kind(rep, i)), "unknown"),
                             _cstr(_report_message(rep, i)), row if labels is None else labels[row]))
    return out, int(_report_n_omitted(rep))


def _encode_value(v: Any) -> Tuple[str, bool]:
    """JSON text of one value, and whether it was +-Inf (sent as null, reported as not_finite)."""
    if v is None:
        return "null", False
    if isinstance(v, (bool, np.bool_)):
        return ("true" if v else "false"), False
    if isinstance(v, (int, np.integer)):
        return str(int(v)), False
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "null", False
        if math.isinf(f):
            return "null", True
        return repr(f), False
    if isinstance(v, str):
        return json.dumps(v), False
    if type(v).__name__ in ("NAType", "NaTType"):
        return "null", False
    try:
        return json.dumps(v, allow_nan=False), False
    except (TypeError, ValueError):
        return json.dumps(str(v)), False


class Schema(Handle):
    """A feature schema (immutable): names, types, bounds, nullability, defaults.

    Create one from a file or JSON text, from a model, or from training data::

        s = mlops.Schema("schema.json")
        s = mlops.Schema.from_json('{"features": [...]}')
        s = mlops.Schema.from_model(model)
        s = mlops.Schema.infer(df)               # ndarray or DataFrame

        rep = s.validate(df)                     # ndarray, DataFrame, dict or list of dicts
        if not rep.valid:
            for v in rep.violations: print(v.row, v.feature, v.kind, v.message)
        model.predict(rep.valid_rows)

    Thread safety: a Schema may be used from any number of threads. close() it (or use
    `with`); methods of a closed schema raise StateError.
    """

    _what = "schema"

    _c_free = staticmethod(_free)

    _h: Optional[CRef] = None  # the pinned C handle; None once closed (or if __init__ failed)

    def __init__(self, path: Union[str, os.PathLike]) -> None:
        """Load a schema file. Raises FormatError (line and column in the message) or IOError_."""
        self._h: Optional[CRef] = None
        out = ctypes.c_void_p()
        check(_load(os.fsencode(path), ctypes.byref(out)))
        self._adopt(out.value)

    @classmethod
    def _wrap(cls, handle: Optional[int]) -> "Schema":
        self = cls.__new__(cls)
        if handle:
            self._adopt(handle)
        return self

    _shareable = True  # immutable

    def _to_state(self) -> Any:
        return self.to_json()  # pickles and deep copies by value

    @classmethod
    def _from_state(cls, state: Any) -> "Schema":
        return cls.from_json(state)

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Schema":
        """Parse a schema from JSON text."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        out = ctypes.c_void_p()
        check(_parse(data, len(data), ctypes.byref(out)))
        return cls._wrap(out.value)

    @classmethod
    def from_model(cls, model: Any) -> "Schema":
        """Derive a schema (names and types, no bounds) from an mlops.Model."""
        out = ctypes.c_void_p()
        check(_from_model(model.handle, ctypes.byref(out)))
        return cls._wrap(out.value)

    @classmethod
    def infer(cls, data: Any, names: Optional[Sequence[str]] = None, *, margin: float = 0.1,
              detect_int: bool = True, keep_sign: bool = True, nullable: bool = True,
              reject_unknown: bool = True) -> "Schema":
        """Infer a schema from training data (a 2-D array or a DataFrame).

        Numeric columns: observed [min, max] widened by `margin` times the range on each
        side (margin * max(|min|, 1) for a constant column); a column never negative keeps
        min >= 0 (`keep_sign`); all-integral columns become "int" (`detect_int`). NaN is
        missing and makes the column nullable. DataFrame columns of dtype category become
        categorical in the dtype's category order (the codes XGBoost uses), object columns
        of strings categorical in sorted order, bool columns bool.
        """
        o = InferOpts()
        _infer_opts_init(ctypes.byref(o))
        o.margin, o.detect_int, o.keep_sign = float(margin), int(detect_int), int(keep_sign)
        o.nullable, o.reject_unknown = int(nullable), int(reject_unknown)
        if is_frame(data):
            return cls._infer_frame(data, o)
        x = rows(data, "infer: data", dtype=np.float32, one_row=False)
        if np.ndim(data) != 2:
            raise InvalidArgumentError(-1, "infer: expected a 2-D array, got %d dimensions" % np.ndim(data))
        return cls._infer_dense(x, names, o)

    @classmethod
    def _infer_dense(cls, x: np.ndarray, names: Optional[Sequence[str]], o: InferOpts) -> "Schema":
        c_names = None
        if names is not None:
            if len(names) != x.shape[1]:
                raise InvalidArgumentError(-1, "infer: %d names for %d columns" % (len(names), x.shape[1]))
            c_names = (ctypes.c_char_p * len(names))(*[cstr(str(n), "infer: names[%d]" % i) for i, n in enumerate(names)])
        out = ctypes.c_void_p()
        check(_infer(x.ctypes.data, x.shape[0], x.shape[1], c_names, ctypes.byref(o), ctypes.byref(out)))
        return cls._wrap(out.value)

    @classmethod
    def _infer_frame(cls, df: Any, o: InferOpts) -> "Schema":
        import pandas as pd
        cols = [str(c) for c in df.columns]
        if len(set(cols)) != len(cols):
            raise InvalidArgumentError(-1, "infer: DataFrame has duplicate column names")
        special: Dict[str, Dict[str, Any]] = {}
        numeric = []
        for c, name in zip(df.columns, cols):
            s = df[c]
            has_null = bool(s.isna().any())
            nul = has_null or bool(o.nullable)
            if isinstance(s.dtype, pd.CategoricalDtype):
                cats = [str(v) for v in s.cat.categories]
                special[name] = {"name": name, "type": "categorical", "categories": cats}
            elif pd.api.types.is_bool_dtype(s.dtype):
                special[name] = {"name": name, "type": "bool"}
            elif pd.api.types.is_numeric_dtype(s.dtype):
                numeric.append(name)
                continue
            else:
                vals = s.dropna()
                if not all(isinstance(v, str) for v in vals):
                    raise InvalidArgumentError(-1, "infer: column %r is neither numeric nor strings" % name)
                cats = sorted(set(vals))
                if not cats:
                    raise InvalidArgumentError(-1, "infer: column %r has no values" % name)
                special[name] = {"name": name, "type": "categorical", "categories": cats}
            if not nul:
                special[name]["nullable"] = False
        feats: Dict[str, Any] = {}
        if numeric:
            x = frame_rows(df, numeric, np.float32, "infer: data")
            with cls._infer_dense(x, numeric, o) as part:
                for f in part.features:
                    feats[f["name"]] = f
        doc = {"features": [feats[n] if n in feats else special[n] for n in cols],
               "unknown_features": "reject" if o.reject_unknown else "ignore"}
        return cls.from_json(json.dumps(doc))

    # ---- lifetime ----
    def __repr__(self) -> str:
        if self._h is None:
            return "<mlops.Schema closed>"
        return "<mlops.Schema %d features>" % self.n_features

    # ---- reading ----
    @property
    def n_features(self) -> int:
        """Number of features."""
        return int(_n_features(self.handle))

    @property
    def names(self) -> List[str]:
        """Feature names in model order."""
        h = self.handle
        return [_feature_name(h, i).decode() for i in range(int(_n_features(h)))]

    @property
    def features(self) -> List[Dict[str, Any]]:
        """The features as in the JSON file format (list of dicts)."""
        return list(json.loads(self.to_json())["features"])

    def feature_index(self, name: str) -> int:
        """Index of feature `name`, or -1."""
        return _index_of(self.handle, name)

    @property
    def rejects_unknown(self) -> bool:
        """True if unknown features in named rows are violations, False if they are ignored."""
        return bool(_rejects_unknown(self.handle))

    def feature(self, key: Union[int, str]) -> Dict[str, Any]:
        """One feature read through the C getters: {"name", "type", "min", "max", "nullable",
        "default" (None if none; as the model sees it), "categories" (list, empty unless categorical)}.
        `key` is an index or a name; IndexError/KeyError if there is no such feature."""
        h = self.handle
        n = int(_n_features(h))
        if isinstance(key, str):
            i = _index_of(h, key)
            if i < 0:
                raise KeyError(key)
        else:
            i = int(key)
            if not 0 <= i < n:
                raise IndexError("feature index %d out of range (%d features)" % (i, n))
        d = ctypes.c_double()
        has_default = lookup(_f_default, h, i, out=d)
        return {"name": _feature_name(h, i).decode(), "type": _type_name(_f_type(h, i)).decode(),
                "min": float(_f_min(h, i)), "max": float(_f_max(h, i)), "nullable": bool(_f_nullable(h, i)),
                "default": d.value if has_default else None,
                "categories": [_f_category(h, i, k).decode() for k in range(int(_f_n_categories(h, i)))]}

    def to_json(self) -> str:
        """The schema as JSON text (the file format)."""
        p = ctypes.c_void_p()
        check(_to_json(self.handle, ctypes.byref(p)))
        try:
            return _cstr(p.value)
        finally:
            _mlops_free(p.value)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the schema file atomically."""
        check(_save(self.handle, os.fsencode(path)))

    def check_model(self, model: Any) -> None:
        """Raise ShapeError / ValidationError (listing every disagreement) unless the model's
        feature names, count and order match the schema."""
        check(_check_model(self.handle, model.handle))

    # ---- validation ----
    def validate(self, data: Any, *, max_violations: int = 10000) -> Report:
        """Validate rows and return a Report (never raises because rows are invalid).

        `data` is a 2-D array (1-D = one row) in schema order, a DataFrame, a dict {name: value}
        (one row) or a list of dicts. Raises ShapeError for an array of the wrong width,
        FormatError for dict values that cannot be sent as JSON, TypeError for an unsupported
        type (None, str, scipy.sparse...) and ValueError for a negative max_violations.

        A DataFrame is validated per column (columns matched by name, category and string
        columns through the schema's categories) with the checks of the dict path: a missing
        (without default), extra (when the schema rejects unknown features) or duplicate column
        is one violation with row -1 and every row invalid; violations carry the row's index
        label in `Violation.index`.
        """
        h = self.handle
        rep = ctypes.c_void_p()
        max_violations = size(max_violations, "max_violations")
        check(_report_new(max_violations, ctypes.byref(rep)))
        try:
            if is_frame(data):
                return _FrameCheck(self._spec(), data, self._frame_order()).run(h, rep.value, max_violations)
            if isinstance(data, dict):
                return self._validate_named(h, [data.items()], 1, rep.value)
            if isinstance(data, (list, tuple)) and data and all(isinstance(r, dict) for r in data):
                return self._validate_named(h, [r.items() for r in data], len(data), rep.value)
            return self._validate_dense(h, data, rep.value)
        finally:
            _report_free(rep.value)

    def _spec(self) -> List[Dict[str, Any]]:
        """The features as read by feature(), computed once (the schema is immutable)."""
        spec = self.__dict__.get("_spec_cache")
        if spec is None:
            spec = [self.feature(i) for i in range(self.n_features)]
            self._spec_cache = spec
        return spec

    def _frame_order(self) -> FrameOrder:
        """Where the features are in the DataFrames validated (FrameOrder remembers the last layout)."""
        fo = self.__dict__.get("_frames")
        if fo is None:
            fo = FrameOrder([f["name"] for f in self._spec()])
            self._frames = fo
        return fo

    def _validate_rowwise(self, df: Any, *, max_violations: int = 10000) -> Report:
        """The previous DataFrame path (one JSON object per row through mlops_schema_parse_rows),
        kept for the benchmark that measures validate(df) against it."""
        h = self.handle
        rep = ctypes.c_void_p()
        check(_report_new(int(max_violations), ctypes.byref(rep)))
        try:
            cols = [str(c) for c in df.columns]
            rows = (zip(cols, t) for t in df.itertuples(index=False, name=None))
            return self._validate_named(h, rows, len(df), rep.value)
        finally:
            _report_free(rep.value)

    def _validate_dense(self, h: int, data: Any, rep: int) -> Report:
        x = rows(data, "validate: data", dtype=np.float32)
        ok = np.zeros(x.shape[0], dtype=np.uint8)
        st = _validate(h, x.ctypes.data, x.shape[0], x.shape[1], ok.ctypes.data, rep)
        if st not in (0, _VALIDATION):
            check(st)
        v, omitted = _read_report(rep)
        return Report(v, ok.astype(bool), omitted, x)

    def _validate_named(self, h: int, rows: Iterable[Iterable[Tuple[str, Any]]], n: int, rep: int) -> Report:
        inf_at: List[Tuple[int, str]] = []
        parts = []
        for r, items in enumerate(rows):
            fields = []
            for k, v in items:
                text, was_inf = _encode_value(v)
                if was_inf:
                    inf_at.append((r, str(k)))
                fields.append(json.dumps(str(k)) + ": " + text)
            parts.append('{"features": {' + ", ".join(fields) + "}}")
        payload = ("[" + ",\n".join(parts) + "]").encode()
        nf = int(_n_features(h))
        x = np.full((n, nf), np.nan, dtype=np.float32)
        ok = np.zeros(n, dtype=np.uint8)
        n_rows = ctypes.c_size_t(0)
        st = _parse_rows(h, payload, len(payload), x.ctypes.data, x.size, ok.ctypes.data, ctypes.byref(n_rows), rep)
        if st not in (0, _VALIDATION):
            check(st)
        v, omitted = _read_report(rep)
        row_ok = ok[: n_rows.value].astype(bool)
        if inf_at:  # +-Inf cannot travel in JSON: it went as null; report it as not finite instead
            inf_set = set(inf_at)
            v = [e for e in v if (e.row, e.feature) not in inf_set or e.kind != "null_not_allowed"]
            for r, k in inf_at:
                idx = _index_of(h, k)
                if idx < 0:
                    continue  # an unknown feature is reported as such already
                v.append(Violation(r, idx, k, "not_finite",
                                   "row %d: feature '%s' (%d): infinity is not finite" % (r + 1, k, idx)))
                row_ok[r] = False
                x[r, idx] = np.nan
            v.sort(key=lambda e: e.row)
        return Report(v, row_ok, omitted, x[: n_rows.value])

    def impute(self, x: np.ndarray) -> np.ndarray:
        """Replace NaN by the schema defaults, in place, in a C-contiguous float32 2-D array; returns it."""
        writable(x, "impute: x", np.float32, ndim=2)  # C writes into it
        check(_impute(self.handle, x.ctypes.data, x.shape[0], x.shape[1]))
        return x


_FLT_MAX = float(np.finfo(np.float32).max)


def _placeholder(f: Dict[str, Any]) -> float:
    """A value feature `f` accepts: put where a finding is reported by Python (a missing column, an
    unconvertible value), so the C validator does not report the same cell a second time."""
    if f["type"] in ("categorical", "bool"):
        return 0.0
    lo, hi = f["min"], f["max"]
    v = 0.0 if lo <= 0.0 <= hi else (lo if math.isfinite(lo) else hi)
    return float(math.ceil(v)) if f["type"] == "int" else float(v)


def _classify(v: Any, f: Dict[str, Any], codes: Dict[str, int]) -> Tuple[float, Optional[str], str]:
    """One value of a non-numeric column as the named path reads it: (float for the C validator,
    violation kind or None, detail). Null is NaN; a string is a category of a categorical feature,
    wrong_type elsewhere; a boolean is wrong_type outside bool features; a number is wrong_type
    for a categorical feature."""
    t = f["type"]
    if v is None or type(v).__name__ in ("NAType", "NaTType") or (isinstance(v, float) and math.isnan(v)):
        return math.nan, None, ""
    if isinstance(v, (bool, np.bool_)):
        if t == "bool":
            return float(v), None, ""
        return math.nan, "wrong_type", "expected %s, got a boolean" % ("a category string" if t == "categorical"
                                                                       else "a number")
    if isinstance(v, (int, float, np.integer, np.floating)):
        if t == "categorical":
            return math.nan, "wrong_type", "expected a category string, got a number"
        return float(v), None, ""
    text = v if isinstance(v, str) else str(v)
    if t != "categorical":
        return math.nan, "wrong_type", "expected %s, got a string" % ("true or false" if t == "bool" else "a number")
    k = codes.get(text)
    if k is None:
        return math.nan, "unknown_category", "%r is not one of the %d categories (%s)" % (
            text, len(codes), ", ".join(repr(c) for c in f["categories"][:5]) + (", ..." if len(codes) > 5 else ""))
    return float(k), None, ""


class _FrameCheck:
    """Schema.validate(DataFrame), one column at a time: builds the (rows x features) float32 matrix
    by column name (category/string columns through the schema's categories), runs the C dense
    validator once, then adds what only the frame can say: a missing, extra or duplicate column
    (once each, every row invalid) and values C never sees (strings, booleans, wrong-typed cells).
    Rows are reported with their index label."""

    def __init__(self, spec: List[Dict[str, Any]], df: Any, frames: Optional[FrameOrder] = None) -> None:
        self.spec = spec
        self.frames = frames
        self.has_categorical = any(f["type"] == "categorical" for f in spec)
        self.df = df
        self.n = len(df)
        self.found: List[Violation] = []  # Python-made findings
        self.bad_rows = np.zeros(self.n, dtype=bool)
        self.bad_cells: List[Tuple[np.ndarray, int]] = []  # (row mask, feature) set to NaN after validation
        self.all_bad = False
        self.dropped = 0  # findings beyond max_violations
        self.reject_unknown = False

    def _frame_level(self, i: int, name: str, kind: str, detail: str) -> None:
        where = "feature '%s' (%d)" % (name, i) if i >= 0 else "'%s'" % name
        self.found.append(Violation(-1, i, name, kind, "every row: %s: %s" % (where, detail), None))
        self.all_bad = True

    def _columns(self) -> Dict[str, Any]:
        """Schema name -> the DataFrame's column label; reports duplicate and unknown columns once."""
        by_name: Dict[str, Any] = {}
        counted: Dict[str, int] = {}
        for c in self.df.columns:
            k = str(c)
            counted[k] = counted.get(k, 0) + 1
            by_name.setdefault(k, c)
        index = {f["name"]: i for i, f in enumerate(self.spec)}
        for k, cnt in counted.items():
            if cnt > 1:
                self._frame_level(index.get(k, -1), k, "duplicate_feature",
                                  "the DataFrame has %d columns with this name" % cnt)
            if k not in index and self.reject_unknown:
                self._frame_level(-1, k, "unknown_feature", "unknown feature (not in the schema)")
        return by_name

    def _column(self, x: np.ndarray, i: int, col: Any) -> None:
        """Fill x[:, i] from Series `col`; record the cells C cannot judge."""
        f = self.spec[i]
        dt = col.dtype
        kind = getattr(dt, "kind", "O")
        if kind in "iuf" and str(dt) != "category":
            v = col.to_numpy(dtype=np.float64, na_value=np.nan)
            if f["type"] == "categorical":
                x[:, i] = np.nan
                self._flag(x, i, ~np.isnan(v), "wrong_type", lambda r: "expected a category string, got a number")
                return
            big = np.isfinite(v) & (np.abs(v) > _FLT_MAX)
            with np.errstate(over="ignore"):  # too large for float32: reported below, not warned about
                x[:, i] = v
            if big.any():
                self._flag(x, i, big, "out_of_range", lambda r: "%.17g does not fit in float32" % v[r])
            return
        if kind == "b" and f["type"] == "bool":
            x[:, i] = col.to_numpy(dtype=np.float32, na_value=np.nan)
            return
        self._objects(x, i, col, f)

    def _objects(self, x: np.ndarray, i: int, col: Any, f: Dict[str, Any]) -> None:
        """A column of objects, strings, booleans or categories: each distinct value classified once."""
        import pandas as pd
        codes = {c: k for k, c in enumerate(f["categories"])}
        try:
            pos, uniques = pd.factorize(col, use_na_sentinel=True)
            uniq = list(uniques)
        except TypeError:  # unhashable values: classify each
            pos, uniq = np.arange(self.n), list(col)
        table = [_classify(v, f, codes) for v in uniq]
        vals = np.array([t[0] for t in table] + [math.nan], dtype=np.float64)
        x[:, i] = vals[pos]  # pos == -1 (missing) takes the trailing NaN
        for kind in ("wrong_type", "unknown_category"):
            which = np.array([t[1] == kind for t in table] + [False])
            mask = which[pos]
            if mask.any():
                detail = [t[2] for t in table] + [""]
                self._flag(x, i, mask, kind, lambda r: detail[pos[r]])

    def _flag(self, x: np.ndarray, i: int, mask: np.ndarray, kind: str, detail: Callable[[int], str]) -> None:
        f = self.spec[i]
        for r in np.flatnonzero(mask):
            self.found.append(Violation(int(r), i, f["name"], kind, "row %d: feature '%s' (%d): %s"
                                        % (r + 1, f["name"], i, detail(int(r)))))
        x[mask, i] = _placeholder(f)
        self.bad_rows |= mask
        self.bad_cells.append((mask, i))

    def _dense(self, by_name: Dict[str, Any]) -> Optional[np.ndarray]:
        """The whole matrix in one conversion when every column is numeric (no bool), the schema has
        no categorical feature and every feature's column is there once; else None."""
        if self.has_categorical or self.frames is None:
            return None
        df = self.df
        if any(getattr(dt, "kind", "O") == "b" for dt in df.dtypes):
            return None
        with np.errstate(over="ignore"):  # a float64 too large for float32 becomes inf, re-read below
            x = self.frames.matrix(df, np.float32)
        if x is None:
            return None
        if not x.flags.owndata:  # possibly a view of the frame's own memory: impute writes into x
            x = x.copy()
        for i in np.flatnonzero(np.isinf(x).any(axis=0)):  # +-Inf, or a float64 too large for float32
            self._column(x, int(i), df[by_name[self.spec[i]["name"]]])
        return x

    def _by_column(self, x: np.ndarray, by_name: Dict[str, Any]) -> List[int]:
        """Fill x column by column; returns the features without a column."""
        absent = []
        for i, f in enumerate(self.spec):
            label = by_name.get(f["name"])
            if label is None:
                absent.append(i)
                x[:, i] = np.nan if f["default"] is None else _placeholder(f)
                continue
            col = self.df[label]
            if is_frame(col):  # duplicate labels: the first column
                col = col.iloc[:, 0]
            self._column(x, i, col)
        return absent

    def run(self, h: int, rep: int, max_violations: int) -> Report:
        self.reject_unknown = bool(_rejects_unknown(h))
        by_name = self._columns()
        absent: List[int] = []
        x = self._dense(by_name)
        if x is None:
            x = np.empty((self.n, len(self.spec)), dtype=np.float32)
            absent = self._by_column(x, by_name)
        check(_impute(h, x.ctypes.data, x.shape[0], x.shape[1]))  # null -> default, as the named path
        for i in absent:
            f = self.spec[i]
            if f["default"] is None:  # a column with a default is filled with it, as a missing key is
                self._frame_level(i, f["name"], "missing", "missing from the DataFrame")
                x[:, i] = _placeholder(f)
                self.bad_cells.append((np.ones(self.n, dtype=bool), i))
        ok = np.zeros(self.n, dtype=np.uint8)
        st = _validate(h, x.ctypes.data, x.shape[0], x.shape[1], ok.ctypes.data, rep)
        if st not in (0, _VALIDATION):
            check(st)
        v, omitted = _read_report(rep, self.df.index.to_numpy())  # numpy: a label per violation, cheaply
        for e in v:  # named semantics: an invalid value is NaN in x
            if e.feature_index >= 0:
                x[e.row, e.feature_index] = np.nan
        for mask, i in self.bad_cells:
            x[mask, i] = np.nan
        row_ok = ok.astype(bool) & ~self.bad_rows
        if self.all_bad:
            row_ok[:] = False
        merged = self._merge(v, max_violations)
        return Report(merged, row_ok, omitted + self.dropped, x)

    def _merge(self, v: List[Violation], max_violations: int) -> List[Violation]:
        """C's and Python's findings in row order (whole-column findings first), with index labels,
        at most max_violations (the rest counted in n_omitted)."""
        out = sorted(v + self.found, key=lambda e: (e.row, e.feature_index if e.feature_index >= 0 else 1 << 62))
        self.dropped = max(0, len(out) - max_violations)
        out = out[:max_violations]
        labels = self.df.index.to_numpy()
        return [e if e.row < 0 or e.index is not None else e._replace(index=labels[e.row]) for e in out]


__all__ = ["Schema", "Report", "Violation", "InferOpts", "KINDS", "TYPES", "parse_csv"]
