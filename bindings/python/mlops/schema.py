"""The Schema class: typed, ranged feature schemas and validation reports (mlops/schema.h)."""
from __future__ import annotations

import ctypes
import json
import math
import os
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from ._args import cstr, frame_rows, is_frame, rows, writable
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
    """One thing wrong with one value: row (0-based), feature_index (-1 for an unknown
    feature), feature (name), kind (e.g. "out_of_range") and the library's message."""

    row: int
    feature_index: int
    feature: str
    kind: str
    message: str


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
        """The violations as a pandas DataFrame (columns row, feature_index, feature, kind, message)."""
        import pandas as pd
        return pd.DataFrame(self.violations, columns=list(Violation._fields))


def _read_report(rep: int) -> Tuple[List[Violation], int]:
    out = []
    for i in range(int(_report_count(rep))):
        out.append(Violation(int(_report_row(rep, i)), int(_report_feature(rep, i)),
                             _cstr(_report_feature_name(rep, i)), KINDS.get(int(_report_kind(rep, i)), "unknown"),
                             _cstr(_report_message(rep, i))))
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

        `data` is a 2-D array (1-D = one row) in schema order, a DataFrame (columns matched
        by name; extra, missing and duplicate columns are reported), a dict {name: value}
        (one row) or a list of dicts. Raises ShapeError for an array of the wrong width and
        FormatError for values that cannot be sent as JSON.
        """
        h = self.handle
        rep = ctypes.c_void_p()
        check(_report_new(int(max_violations), ctypes.byref(rep)))
        try:
            if is_frame(data):
                cols = [str(c) for c in data.columns]
                rows: Iterable[Iterable[Tuple[str, Any]]] = (zip(cols, t) for t in
                                                              data.itertuples(index=False, name=None))
                return self._validate_named(h, rows, len(data), rep.value)
            if isinstance(data, dict):
                return self._validate_named(h, [data.items()], 1, rep.value)
            if isinstance(data, (list, tuple)) and data and all(isinstance(r, dict) for r in data):
                return self._validate_named(h, [r.items() for r in data], len(data), rep.value)
            return self._validate_dense(h, data, rep.value)
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


__all__ = ["Schema", "Report", "Violation", "InferOpts", "KINDS", "TYPES"]
