"""Two-sample KS test (SciPy-compatible) and the streaming DriftDetector."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Set, Union

import numpy as np

from ._args import is_frame, rows, values
from ._lib import CRef, Handle, InvalidArgumentError, check, declare, declare_init, load_saved, saved_bytes, to_bytes

ALTERNATIVES = {"two-sided": 0, "less": 1, "greater": 2}
METHODS = {"auto": 0, "exact": 1, "asymp": 2}
CORRECTIONS = {"none": 0, "bonferroni": 1, "fdr": 2, "bh": 2}
KINDS = {"numeric": 0, "categorical": 1}
RULES = {"share": 0, "any": 1}

_dp = ctypes.POINTER(ctypes.c_double)


class DriftOpts(ctypes.Structure):
    """Mirror of the C struct mlops_drift_opts (version 2)."""

    _c_struct_ = "mlops_drift_opts"
    _fields_ = [("version", ctypes.c_uint), ("window", ctypes.c_size_t), ("reference_size", ctypes.c_size_t),
                ("p_value", ctypes.c_double), ("drift_share", ctypes.c_double), ("correction", ctypes.c_int),
                ("method", ctypes.c_int), ("rule", ctypes.c_int)]


_ks = declare("mlops_drift_ks_2samp", ctypes.c_int,
              [_dp, ctypes.c_size_t, _dp, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, _dp, _dp])
_opts_init = declare_init("mlops_drift_opts_init", DriftOpts, 2)
_new = declare("mlops_drift_create", ctypes.c_int,
               [ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int),
                ctypes.POINTER(DriftOpts), ctypes.POINTER(ctypes.c_void_p)])
_free = declare("mlops_drift_free", None, [ctypes.c_void_p])
_set_ref = declare("mlops_drift_set_reference", ctypes.c_int, [ctypes.c_void_p, _dp, ctypes.c_size_t, ctypes.c_size_t])
_update = declare("mlops_drift_update", ctypes.c_int, [ctypes.c_void_p, _dp, ctypes.c_size_t, ctypes.c_size_t])
_set_pref = declare("mlops_drift_set_prediction_reference", ctypes.c_int, [ctypes.c_void_p, _dp, ctypes.c_size_t])
_update_pred = declare("mlops_drift_update_predictions", ctypes.c_int, [ctypes.c_void_p, _dp, ctypes.c_size_t])
_report_json = declare("mlops_drift_report_json", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)])
_save = declare("mlops_drift_save", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p])
_load = declare("mlops_drift_load", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)])
_n_features = declare("mlops_drift_n_features", ctypes.c_size_t, [ctypes.c_void_p])
_feature_name = declare("mlops_drift_feature_name", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t])
_feature_bytes = declare("mlops_drift_feature_bytes", ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_size_t])
_mfree = declare("mlops_free", None, [ctypes.c_void_p])
_ks_pvalue = declare("mlops_drift_ks_pvalue", ctypes.c_int,
                     [ctypes.c_double, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, _dp, _dp])
_statistic = declare("mlops_drift_statistic", ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, _dp])
_snap_create = declare("mlops_drift_snapshot_create", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)])
_snap_free = declare("mlops_drift_snapshot_free", None, [ctypes.c_void_p])
_snap_save = declare("mlops_drift_snapshot_save_buffer", ctypes.c_int,  # void **data: passed as an address
                     [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)])
_snap_load = declare("mlops_drift_snapshot_load_buffer", ctypes.c_int,
                     [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)])
_snap_merge = declare("mlops_drift_snapshot_merge", ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p])
_snap_json = declare("mlops_drift_snapshot_report_json", ctypes.c_int,
                     [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)])
_snap_n_features = declare("mlops_drift_snapshot_n_features", ctypes.c_size_t, [ctypes.c_void_p])
_snap_feature_name = declare("mlops_drift_snapshot_feature_name", ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_size_t])
_snap_digest = declare("mlops_drift_snapshot_get_digest", ctypes.c_int,
                       [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64)])


class FeatureResult(ctypes.Structure):
    """Mirror of the C struct mlops_drift_feature_result (one feature's test)."""

    _c_struct_ = "mlops_drift_feature_result"
    _fields_ = [("statistic", ctypes.c_double), ("pvalue", ctypes.c_double), ("pvalue_adjusted", ctypes.c_double),
                ("drift", ctypes.c_int), ("kind", ctypes.c_int), ("n_reference", ctypes.c_size_t),
                ("n_current", ctypes.c_size_t), ("n_missing", ctypes.c_size_t), ("missing_rate", ctypes.c_double)]

    def to_dict(self) -> Dict[str, Any]:
        """The fields as a dict (kind as "numeric"/"categorical", drift as bool)."""
        d = {name: getattr(self, name) for name, _ in self._fields_}
        d["drift"] = bool(d["drift"])
        d["kind"] = "categorical" if d["kind"] == 1 else "numeric"
        return d


class Summary(ctypes.Structure):
    """Mirror of the C struct mlops_drift_summary (whole-set result)."""

    _c_struct_ = "mlops_drift_summary"
    _fields_ = [("n_features", ctypes.c_size_t), ("n_drifted", ctypes.c_size_t), ("drift_share", ctypes.c_double),
                ("dataset_drift", ctypes.c_int), ("mean_statistic", ctypes.c_double),
                ("reference_ready", ctypes.c_int), ("n_rows", ctypes.c_size_t), ("n_seen", ctypes.c_size_t),
                ("has_prediction", ctypes.c_int), ("prediction", FeatureResult)]


_report_html = declare("mlops_drift_report_html", ctypes.c_int,
                       [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_void_p),
                        ctypes.POINTER(ctypes.c_size_t)])
_write_file = declare("mlops_write_file", ctypes.c_int, [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t])
_report = declare("mlops_drift_report", ctypes.c_int,
                  [ctypes.c_void_p, ctypes.POINTER(FeatureResult), ctypes.c_size_t, ctypes.POINTER(Summary)])


_snap_report = declare("mlops_drift_snapshot_report", ctypes.c_int,
                       [ctypes.c_void_p, ctypes.POINTER(FeatureResult), ctypes.c_size_t, ctypes.POINTER(Summary)])


class KstestResult(NamedTuple):
    """Result of ks_2samp: unpacks as (statistic, pvalue) like SciPy's."""

    statistic: float
    pvalue: float


def _vector(a: Any, name: str) -> np.ndarray:
    return values(a, name, np.float64)


def _lookup(table: Dict[str, int], value: str, what: str) -> int:
    try:
        return table[value]
    except KeyError:
        raise InvalidArgumentError(-1, "%s must be one of %s, got %r" % (what, sorted(table), value)) from None


def ks_2samp(data1: Any, data2: Any, alternative: str = "two-sided", method: str = "auto") -> KstestResult:
    """Two-sample Kolmogorov-Smirnov test; same statistic and p-value as scipy.stats.ks_2samp (SciPy 1.10).

    Raises InvalidArgumentError for an empty sample, a NaN or an unknown alternative/method.
    """
    alt = _lookup(ALTERNATIVES, alternative, "alternative")
    meth = _lookup(METHODS, method, "method")
    a = _vector(data1, "data1")
    b = _vector(data2, "data2")
    s = ctypes.c_double()
    p = ctypes.c_double()
    check(_ks(a.ctypes.data_as(_dp), a.size, b.ctypes.data_as(_dp), b.size, alt, meth, ctypes.byref(s),
              ctypes.byref(p)))
    return KstestResult(s.value, p.value)


def ks_pvalue(statistic: float, n: int, m: int, alternative: str = "two-sided",
              method: str = "auto") -> KstestResult:
    """p-value of a two-sample KS statistic for sample sizes n and m, as ks_2samp computes it.

    Returns (statistic, pvalue) where statistic is the one SciPy reports (the exact path first
    rounds it to a multiple of 1/lcm(n, m)). InvalidArgumentError if n or m is 0 or the
    statistic is outside [0, 1].
    """
    alt = _lookup(ALTERNATIVES, alternative, "alternative")
    meth = _lookup(METHODS, method, "method")
    s = ctypes.c_double()
    p = ctypes.c_double()
    check(_ks_pvalue(float(statistic), int(n), int(m), alt, meth, ctypes.byref(s), ctypes.byref(p)))
    return KstestResult(s.value, p.value)


def _is_label_column(col: Any) -> bool:
    """True for a pandas column of strings/objects or of category dtype (compared as categories)."""
    dtype = getattr(col, "dtype", None)  # a duplicated column name selects a DataFrame: refused later
    return dtype is not None and (str(dtype) == "category" or getattr(dtype, "kind", "O") in "OSU")


def _object_frame(X: Any, names: Sequence[str]) -> Any:
    """A 2-D array-like holding strings as a DataFrame with columns `names` (else `X` unchanged)."""
    if is_frame(X) or X is None:
        return X
    a = np.asarray(X) if isinstance(X, (list, tuple, np.ndarray)) else None
    if a is None or a.dtype.kind not in "OSU":
        return X
    import pandas as pd
    if a.ndim == 1:
        a = a.reshape(1, -1) if len(names) > 1 else a.reshape(-1, 1)
    return pd.DataFrame(a, columns=list(names))


def _matrix(X: Any, n_features: int, names: Optional[Sequence[str]] = None, what: str = "X") -> np.ndarray:
    """Rows of n_features values (0 = any width); DataFrames by column name when `names` is given.
    A 1-D array is one row, or one value per row for a single feature."""
    return rows(X, what, n_cols=n_features or None, names=names, dtype=np.float64, one_row=n_features > 1)


class DriftDetector(Handle):
    """Streaming per-feature drift detector (KS for numeric, chi-square for categorical features).

    Example::

        with mlops.DriftDetector(train_df, window=1000) as det:   # columns become feature names
            det.update(live_df)                                  # matched by column name
            rep = det.report()                                   # dict, as the JSON report
            if rep["dataset_drift"]: ...

    Args:
        reference: a 2-D array (rows x features) or DataFrame; or None with `reference_size`
            to take the first rows passed to update().
        window: observations per feature in the sliding window.
        feature_names: names (default: the DataFrame's columns, else "f0", "f1", ...).
        p_value: a feature drifts when its (corrected) p-value is below this.
        correction: "none", "bonferroni" or "fdr"/"bh" (Benjamini-Hochberg).
        categorical: indices or names of categorical features (values are category codes). Columns
            of strings (object/string dtype) or pandas category dtype in the reference are categorical
            without being named here: their labels are coded by the detector (the same label keeps its
            code in every later update; a new label is a new category), and compared by chi-square
            over the categories, as mlops-drift compares non-numeric CSV columns.
        n_features: needed only without a reference and names.
        reference_size: rows collected as the reference when `reference` is None.
        drift_share: dataset drift when at least this share of features drift.
        method: p-value method of the KS tests: "auto", "exact" or "asymp".
        rule: dataset drift when the share of drifted features reaches `drift_share` ("share",
            Evidently's rule) or when any feature's corrected p-value is below `p_value` ("any",
            alibi-detect's).

    DataFrames passed to update() are matched to the feature names by column name, in any
    column order. Thread-safe (the C handle is internally synchronized).
    """

    _what = "DriftDetector"

    _c_free = staticmethod(_free)

    def _closing(self, c: CRef) -> None:
        for std in list(self._attachments):
            std._detach_closing(self)

    _h: Optional[CRef] = None  # the pinned C handle; None once closed (or if __init__ failed)

    def __init__(self, reference: Any = None, window: int = 1000, feature_names: Optional[Sequence[str]] = None,
                 p_value: float = 0.05, correction: str = "none", categorical: Sequence[Union[int, str]] = (),
                 n_features: Optional[int] = None, reference_size: int = 1000, drift_share: float = 0.5,
                 method: str = "auto", rule: str = "share", _handle: Optional[int] = None) -> None:
        self._h: Optional[CRef] = None
        self._names: List[str] = []
        self._labels: Dict[int, Dict[str, int]] = {}  # feature index -> label -> category code
        self._attachments: Set[Any] = set()  # StandardMetrics this detector is attached to
        if _handle is not None:
            self._adopt(_handle)
            self._init_names()
            return
        if reference is not None and not is_frame(reference):
            a = np.asarray(reference) if isinstance(reference, (list, tuple, np.ndarray)) else None
            if a is not None and a.dtype.kind in "OSU" and a.ndim == 2:
                names0 = feature_names or ["f%d" % j for j in range(a.shape[1])]
                reference = _object_frame(a, [str(n) for n in names0])
        if reference is not None and feature_names is None and hasattr(reference, "columns"):
            feature_names = [str(c) for c in reference.columns]
        ref = None
        if reference is not None:
            if is_frame(reference) and feature_names is not None:
                by_name = {str(c): c for c in reference.columns}
                self._labels = {j: {} for j, n in enumerate(feature_names)
                                if str(n) in by_name and _is_label_column(reference[by_name[str(n)]])}
            ref = self._rows(reference, n_features or 0, None if feature_names is None else
                             [str(n) for n in feature_names] if hasattr(reference, "columns") else None, "reference")
            n_features = ref.shape[1]
        if n_features is None:
            n_features = len(feature_names) if feature_names is not None else None
        if not n_features:
            raise InvalidArgumentError(-1, "give a reference, feature_names or n_features")
        opts = DriftOpts()
        _opts_init(ctypes.byref(opts))
        opts.window = int(window)
        opts.reference_size = int(reference_size)
        opts.p_value = float(p_value)
        opts.drift_share = float(drift_share)
        opts.correction = _lookup(CORRECTIONS, correction, "correction")
        opts.method = _lookup(METHODS, method, "method")
        opts.rule = _lookup(RULES, rule, "rule")
        names_arr = None
        if feature_names is not None:
            if len(feature_names) != n_features:
                raise InvalidArgumentError(-1, "feature_names has %d names for %d features"
                                           % (len(feature_names), n_features))
            names_arr = (ctypes.c_char_p * n_features)(*[to_bytes(n, "feature_names[%d]" % i) for i, n in enumerate(feature_names)])
        kinds = (ctypes.c_int * n_features)()
        for c in categorical:
            idx = list(feature_names).index(c) if isinstance(c, str) and feature_names is not None else int(c)
            kinds[idx] = 1
        for j in self._labels:
            kinds[j] = 1
        h = ctypes.c_void_p()
        check(_new(n_features, names_arr, kinds, ctypes.byref(opts), ctypes.byref(h)))
        self._adopt(h.value)
        self._init_names()
        if ref is not None:
            try:
                check(_set_ref(self._h, ref.ctypes.data_as(_dp), ref.shape[0], ref.shape[1]))
            except BaseException:
                self.close()
                raise

    def _rows(self, X: Any, n_features: int, names: Optional[Sequence[str]], what: str) -> np.ndarray:
        """`X` as float64 rows; string/category columns coded through the detector's label maps."""
        if not self._labels:
            return _matrix(X, n_features, names, what)
        X = _object_frame(X, names if names is not None else self._names)
        if names is None and is_frame(X):
            names = [str(c) for c in X.columns]
        encoders = {j: (lambda name, col, codes=codes: self._code(col, codes)) for j, codes in self._labels.items()}
        return rows(X, what, n_cols=n_features or None, names=names, dtype=np.float64,
                    one_row=n_features > 1, encoders=encoders)

    @staticmethod
    def _code(col: Any, codes: Dict[str, int]) -> np.ndarray:
        """Labels of a column to category codes (a new label gets the next code); missing -> NaN."""
        import pandas as pd
        values = col.to_numpy(dtype=object)
        missing = pd.isna(values)
        out = np.full(len(values), np.nan)
        keys = pd.Series([str(v) for v in values[~missing]], dtype=object)
        for u in pd.unique(keys):  # in order of appearance, as mlops-drift codes a CSV column
            codes.setdefault(u, len(codes))
        out[~missing] = keys.map(codes).to_numpy(dtype=np.float64)
        return out

    @property
    def categories(self) -> Dict[str, List[str]]:
        """Labels of the string/category features, in code order, by feature name."""
        self._handle()
        return {self._names[j]: sorted(c, key=c.__getitem__) for j, c in self._labels.items()}

    def _init_names(self) -> None:
        h = self._handle()
        self._names = [_feature_name(h, i).decode() for i in range(int(_n_features(h)))]

    @property
    def n_features(self) -> int:
        """Number of features."""
        return int(_n_features(self._handle()))

    @property
    def feature_names(self) -> List[str]:
        """Feature names, in column order."""
        self._handle()
        return list(self._names)

    def set_reference(self, X: Any) -> None:
        """Replace the reference sample (2-D array or DataFrame); empties the window. NaN is missing."""
        arr = self._rows(X, len(self._names), self._names, "X")
        check(_set_ref(self._handle(), arr.ctypes.data_as(_dp), arr.shape[0], arr.shape[1]))

    def update(self, X: Any) -> None:
        """Add rows (2-D array or DataFrame, or one row as 1-D) to the stream. NaN is missing.

        All rows are validated first: on failure (ShapeError, InvalidArgumentError) nothing changes.
        """
        arr = self._rows(X, len(self._names), self._names, "X")
        check(_update(self._handle(), arr.ctypes.data_as(_dp), arr.shape[0], arr.shape[1]))

    def set_prediction_reference(self, predictions: Any) -> None:
        """Reference distribution of the model's predictions."""
        a = _vector(predictions, "predictions")
        check(_set_pref(self._handle(), a.ctypes.data_as(_dp), a.size))

    def update_predictions(self, predictions: Any) -> None:
        """Add model predictions to their stream."""
        a = _vector(predictions, "predictions")
        check(_update_pred(self._handle(), a.ctypes.data_as(_dp), a.size))

    def report(self) -> Dict[str, Any]:
        """The drift report as a dict (features, drift_share, dataset_drift, mean_statistic, prediction...)."""
        out = ctypes.c_void_p()
        check(_report_json(self._handle(), ctypes.byref(out)))
        try:
            return json.loads(ctypes.string_at(out.value).decode())
        finally:
            _mfree(out)

    def report_frame(self) -> Any:
        """The per-feature report as a pandas DataFrame, one row per feature: feature, test ("ks" or
        "chi2"), statistic, p_value, adjusted_p_value, drift, n_reference, n_current, missing_share.
        StateError while the reference is incomplete."""
        import pandas as pd
        rep = self.report()
        cols = ["feature", "test", "statistic", "p_value", "adjusted_p_value", "drift", "n_reference",
                "n_current", "missing_share"]
        recs = [(f["name"], "chi2" if f["kind"] == "categorical" else "ks", _num(f["statistic"]), _num(f["pvalue"]),
                 _num(f["pvalue_adjusted"]), bool(f["drift"]), int(f["n_reference"]), int(f["n_current"]),
                 _num(f["missing_rate"])) for f in rep["features"]]
        return pd.DataFrame.from_records(recs, columns=cols)

    def report_html(self) -> str:
        """The report as one self-contained HTML page: the page `mlops-drift --html` writes (the
        same C code), string/category features drawn with their labels. StateError while the
        reference is incomplete."""
        n = len(self._names)
        keep = []  # the label arrays stay alive for the call
        labels = (ctypes.c_void_p * n)()
        counts = (ctypes.c_size_t * n)()
        for j, codes in self._labels.items():
            arr = (ctypes.c_char_p * max(1, len(codes)))(*[k.encode() for k in sorted(codes, key=codes.__getitem__)])
            keep.append(arr)
            labels[j] = ctypes.cast(arr, ctypes.c_void_p)
            counts[j] = len(codes)
        out = ctypes.c_void_p()
        size_ = ctypes.c_size_t()
        check(_report_html(self._handle(), labels, counts, ctypes.byref(out), ctypes.byref(size_)))
        try:
            return ctypes.string_at(out.value, size_.value).decode()
        finally:
            _mfree(out)

    def to_html(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write report_html() to `path` with the library's safe writer (atomic; refuses devices and
        FIFOs), as mlops-drift --html does."""
        data = self.report_html().encode()
        check(_write_file(to_bytes(path), data, len(data)))

    def results(self) -> Dict[str, Any]:
        """The report from the C structs (mlops_drift_report): {"features": {name: {...}},
        "summary": {...}, "prediction": {...} or None}. StateError while the reference is incomplete."""
        h = self._handle()
        n = len(self._names)
        feats = (FeatureResult * max(1, n))()
        summ = Summary()
        check(_report(h, feats, n, ctypes.byref(summ)))
        summary = {name: getattr(summ, name) for name, _ in Summary._fields_ if name != "prediction"}
        summary["dataset_drift"] = bool(summary["dataset_drift"])
        summary["reference_ready"] = bool(summary["reference_ready"])
        summary["has_prediction"] = bool(summary["has_prediction"])
        return {"features": {name: feats[i].to_dict() for i, name in enumerate(self._names)},
                "summary": summary,
                "prediction": summ.prediction.to_dict() if summ.has_prediction else None}

    def statistic(self, feature: Union[int, str]) -> float:
        """Current KS statistic of one numeric feature (index or name), before SciPy's exact-path rounding."""
        i = self._index(feature)
        out = ctypes.c_double()
        check(_statistic(self._handle(), i, ctypes.byref(out)))
        return out.value

    def snapshot(self) -> "DriftSnapshot":
        """A mergeable snapshot of the current window (see DriftSnapshot). StateError while the
        reference is incomplete."""
        h = ctypes.c_void_p()
        check(_snap_create(self._handle(), ctypes.byref(h)))
        return DriftSnapshot(_handle=h.value)

    def _index(self, feature: Union[int, str]) -> int:
        if isinstance(feature, str):
            try:
                return self._names.index(feature)
            except ValueError:
                raise InvalidArgumentError(-1, "no feature named %r" % feature) from None
        return int(feature)

    def feature_bytes(self, i: int) -> int:
        """Approximate bytes of state held for feature i."""
        return int(_feature_bytes(self._handle(), i))

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Save reference and window atomically."""
        check(_save(self._handle(), to_bytes(path)))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "DriftDetector":
        """Load a detector saved with save()."""
        h = ctypes.c_void_p()
        check(_load(to_bytes(path), ctypes.byref(h)))
        return cls(_handle=h.value)

    def __copy__(self) -> "DriftDetector":
        """A real copy of reference and window (as deepcopy); attachments are not copied."""
        return self._from_state(self._to_state())

    def _to_state(self) -> Any:
        """The saved state (the bytes save() writes, with the label maps of string features): what
        pickle and copies carry."""
        data = saved_bytes(_save, self._handle())
        return {"state": data, "labels": {j: dict(c) for j, c in self._labels.items()}} if self._labels else data

    @classmethod
    def _from_state(cls, state: Any) -> "DriftDetector":
        if isinstance(state, dict):
            d = cls(_handle=load_saved(_load, state["state"]))
            d._labels = {int(j): dict(c) for j, c in state["labels"].items()}
            return d
        return cls(_handle=load_saved(_load, state))

    def __repr__(self) -> str:
        if not self._h:
            return "<mlops.DriftDetector closed>"
        return "<mlops.DriftDetector %d features>" % len(self._names)


def _num(v: Any) -> float:
    """A JSON number of the report (null for NaN) as a float."""
    return float("nan") if v is None else float(v)


def _json_out(fn: Any, h: Any) -> Dict[str, Any]:
    out = ctypes.c_void_p()
    check(fn(h, ctypes.byref(out)))
    try:
        return json.loads(ctypes.string_at(out.value).decode())
    finally:
        _mfree(out)


class DriftSnapshot(Handle):
    """A detector's window as mergeable counts over its reference (mlops_drift_snapshot).

    Example::

        snaps = [mlops.DriftSnapshot.from_bytes(b) for b in blobs]   # e.g. GET /drift/window of each replica
        fleet = snaps[0]
        for s in snaps[1:]:
            fleet.merge(s)            # InvalidArgumentError if the references differ
        fleet.report()                # as scipy.stats.ks_2samp(reference, all windows concatenated)

    Not synchronized: do not merge into one snapshot from two threads at once.
    """

    _what = "DriftSnapshot"
    _c_free = staticmethod(_snap_free)
    _h: Optional[CRef] = None

    def __init__(self, _handle: Optional[int] = None) -> None:
        if not _handle:
            raise InvalidArgumentError(-1, "DriftSnapshot: use DriftDetector.snapshot() or DriftSnapshot.from_bytes()")
        self._adopt(_handle)

    @classmethod
    def from_bytes(cls, data: bytes) -> "DriftSnapshot":
        """Parse bytes made by to_bytes() (FormatError if malformed)."""
        data = bytes(data)
        h = ctypes.c_void_p()
        check(_snap_load(data, len(data), ctypes.byref(h)))
        return cls(_handle=h.value)

    def to_bytes(self) -> bytes:
        """The compact binary form (what mlops-serve answers at GET /drift/window)."""
        p = ctypes.c_void_p()
        n = ctypes.c_size_t()
        check(_snap_save(self._handle(), ctypes.addressof(p), ctypes.byref(n)))
        try:
            return ctypes.string_at(p.value, n.value)
        finally:
            _mfree(p)

    def merge(self, other: "DriftSnapshot") -> "DriftSnapshot":
        """Add `other`'s window counts into this snapshot (same reference only); returns self."""
        check(_snap_merge(self._handle(), other._handle()))
        return self

    def report(self) -> Dict[str, Any]:
        """The report as a dict, in DriftDetector.report()'s shape plus "reference_digest"."""
        return _json_out(_snap_json, self._handle())

    def results(self) -> Dict[str, Any]:
        """The report from the C structs (mlops_drift_snapshot_report): {"features": {name: {...}},
        "summary": {...}}, as DriftDetector.results() without the prediction."""
        h = self._handle()
        n = int(_snap_n_features(h))
        feats = (FeatureResult * max(1, n))()
        summ = Summary()
        check(_snap_report(h, feats, n, ctypes.byref(summ)))
        summary = {name: getattr(summ, name) for name, _ in Summary._fields_ if name != "prediction"}
        names = [_snap_feature_name(h, i).decode() for i in range(n)]
        return {"features": {names[i]: feats[i].to_dict() for i in range(n)}, "summary": summary}

    @property
    def digest(self) -> int:
        """The 64-bit digest of the reference."""
        out = ctypes.c_uint64()
        check(_snap_digest(self._handle(), ctypes.byref(out)))
        return out.value

    def _to_state(self) -> Any:
        return self.to_bytes()

    @classmethod
    def _from_state(cls, state: Any) -> "DriftSnapshot":
        return cls.from_bytes(state)

    def __repr__(self) -> str:
        return "<mlops.DriftSnapshot closed>" if not self._h else "<mlops.DriftSnapshot %016x>" % self.digest
