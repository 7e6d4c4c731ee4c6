"""Two-sample KS test (SciPy-compatible) and the streaming DriftDetector."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np

from ._lib import InvalidArgumentError, check, declare, lib, to_bytes

ALTERNATIVES = {"two-sided": 0, "less": 1, "greater": 2}
METHODS = {"auto": 0, "exact": 1, "asymp": 2}
CORRECTIONS = {"none": 0, "bonferroni": 1, "fdr": 2, "bh": 2}
KINDS = {"numeric": 0, "categorical": 1}

_dp = ctypes.POINTER(ctypes.c_double)


class DriftOpts(ctypes.Structure):
    """Mirror of the C struct mlops_drift_opts (version 1)."""

    _fields_ = [("version", ctypes.c_uint), ("window", ctypes.c_size_t), ("reference_size", ctypes.c_size_t),
                ("p_value", ctypes.c_double), ("drift_share", ctypes.c_double), ("correction", ctypes.c_int),
                ("method", ctypes.c_int)]


_ks = declare("mlops_ks_2samp", ctypes.c_int,
              [_dp, ctypes.c_size_t, _dp, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, _dp, _dp])
_opts_init = declare("mlops_drift_opts_init", None, [ctypes.POINTER(DriftOpts)])
_new = declare("mlops_drift_new", ctypes.c_int,
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


class KstestResult(NamedTuple):
    """Result of ks_2samp: unpacks as (statistic, pvalue) like SciPy's."""

    statistic: float
    pvalue: float


def _vector(a: Any, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64).ravel())
    return arr


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


def _matrix(X: Any, n_features: int) -> np.ndarray:
    if hasattr(X, "to_numpy"):
        X = X.to_numpy(dtype=np.float64, na_value=np.nan)
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1) if n_features > 1 or arr.size == 1 else arr.reshape(-1, 1)
    return np.ascontiguousarray(arr)


class DriftDetector:
    """Streaming per-feature drift detector (KS for numeric, chi-square for categorical features).

    `reference` is a 2-D array (rows x features) or DataFrame; or None with `reference_size` to take the
    first rows passed to update(). `window` is the sliding window length. Thread-safe (the C handle
    is internally synchronized).
    """

    def __init__(self, reference: Any = None, window: int = 1000, feature_names: Optional[Sequence[str]] = None,
                 p_value: float = 0.05, correction: str = "none", categorical: Sequence[Union[int, str]] = (),
                 n_features: Optional[int] = None, reference_size: int = 1000, drift_share: float = 0.5,
                 method: str = "auto", _handle: Optional[int] = None) -> None:
        self._h: Optional[int] = None
        if _handle is not None:
            self._h = _handle
            return
        if reference is not None and feature_names is None and hasattr(reference, "columns"):
            feature_names = [str(c) for c in reference.columns]
        ref = None
        if reference is not None:
            ref = _matrix(reference, n_features or 0)
            if ref.ndim != 2:
                raise InvalidArgumentError(-1, "reference must be 2-D (rows x features)")
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
        names_arr = None
        if feature_names is not None:
            if len(feature_names) != n_features:
                raise InvalidArgumentError(-1, "feature_names has %d names for %d features"
                                           % (len(feature_names), n_features))
            names_arr = (ctypes.c_char_p * n_features)(*[to_bytes(n) for n in feature_names])
        kinds = (ctypes.c_int * n_features)()
        for c in categorical:
            idx = list(feature_names).index(c) if isinstance(c, str) and feature_names is not None else int(c)
            kinds[idx] = 1
        h = ctypes.c_void_p()
        check(_new(n_features, names_arr, kinds, ctypes.byref(opts), ctypes.byref(h)))
        self._h = h.value
        if ref is not None:
            try:
                check(_set_ref(self._h, ref.ctypes.data_as(_dp), ref.shape[0], ref.shape[1]))
            except BaseException:
                self.close()
                raise

    def _handle(self) -> int:
        if not self._h:
            raise InvalidArgumentError(-1, "DriftDetector is closed")
        return self._h

    @property
    def n_features(self) -> int:
        """Number of features."""
        return int(_n_features(self._handle()))

    @property
    def feature_names(self) -> List[str]:
        """Feature names, in column order."""
        return [_feature_name(self._handle(), i).decode() for i in range(self.n_features)]

    def update(self, X: Any) -> None:
        """Add rows (2-D, or one row as 1-D) to the stream. NaN is missing."""
        arr = _matrix(X, self.n_features)
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

    def close(self) -> None:
        """Free the C handle (idempotent)."""
        if self._h:
            _free(self._h)
            self._h = None

    def __enter__(self) -> "DriftDetector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
