"""The Router class: split traffic between model variants (A/B) with sticky, weighted assignment."""
from __future__ import annotations

import ctypes
import warnings
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ._args import cstr, rows
from ._lib import CRef, Handle, InvalidArgumentError, check, declare, declare_init, to_bytes
from .model import PREDICT_MARGIN, Model

NAME_MAX = 64
"""Bytes of a variant name including the C NUL (names have at most 63 UTF-8 bytes)."""


class RouterOpts(ctypes.Structure):
    """Mirror of the C struct mlops_router_opts (version 1)."""

    _c_struct_ = "mlops_router_opts"
    _fields_ = [("version", ctypes.c_uint), ("seed", ctypes.c_uint64)]


class VariantStats(ctypes.Structure):
    """Mirror of the C struct mlops_variant_stats."""

    _c_struct_ = "mlops_variant_stats"
    _fields_ = [("name", ctypes.c_char * NAME_MAX), ("weight", ctypes.c_uint32), ("assignments", ctypes.c_uint64),
                ("requests", ctypes.c_uint64), ("rows", ctypes.c_uint64), ("errors", ctypes.c_uint64),
                ("latency_ns", ctypes.c_uint64)]


_c_size_p = ctypes.POINTER(ctypes.c_size_t)
_opts_init = declare_init("mlops_router_opts_init", RouterOpts)
_create = declare("mlops_router_create", ctypes.c_int, [ctypes.POINTER(RouterOpts), ctypes.POINTER(ctypes.c_void_p)])
_free = declare("mlops_router_free", None, [ctypes.c_void_p])
_add = declare("mlops_router_add_variant", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                                          ctypes.c_uint32])
_set_weight = declare("mlops_router_set_weight", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32])
_remove = declare("mlops_router_remove_variant", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p])
_n_variants = declare("mlops_router_n_variants", ctypes.c_size_t, [ctypes.c_void_p])
_find = declare("mlops_router_find", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, _c_size_p])
_n_features = declare("mlops_router_n_features", ctypes.c_size_t, [ctypes.c_void_p])
_output_width = declare("mlops_router_output_width", ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_uint32])
_key_hash = declare("mlops_router_key_hash", ctypes.c_uint64, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64])
_assign = declare("mlops_router_assign", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, _c_size_p])
_predict = declare("mlops_router_predict", ctypes.c_int,
                   [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                    ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t, _c_size_p])
_stats = declare("mlops_router_get_variant_stats", ctypes.c_int, [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(VariantStats)])


class AbTest(ctypes.Structure):
    """Mirror of the C struct mlops_ab_test: statistic (sign of a - b), two-sided p-value, degrees of freedom."""

    _c_struct_ = "mlops_ab_test"
    _fields_ = [("statistic", ctypes.c_double), ("p_value", ctypes.c_double), ("df", ctypes.c_double)]


_ztest = declare("mlops_ab_proportions_ztest", ctypes.c_int,
                 [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.POINTER(AbTest)])
_welch = declare("mlops_ab_welch_ttest", ctypes.c_int,
                 [ctypes.c_double, ctypes.c_double, ctypes.c_uint64, ctypes.c_double, ctypes.c_double, ctypes.c_uint64,
                  ctypes.POINTER(AbTest)])

# Latency percentiles over a sliding window (mlops_router_latency_window_*): used by mlops-serve's GET /ab;
# declared here so that every public function has its ctypes signature.
_lw_create = declare("mlops_router_latency_window_create", ctypes.c_int,
                     [ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)])
_lw_free = declare("mlops_router_latency_window_free", None, [ctypes.c_void_p])
_lw_observe = declare("mlops_router_latency_window_observe", ctypes.c_int, [ctypes.c_void_p, ctypes.c_double])
_lw_quantiles = declare("mlops_router_latency_window_quantiles", ctypes.c_int,
                        [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double), ctypes.c_size_t,
                         ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_size_t)])


def proportions_ztest(successes_a: int, n_a: int, successes_b: int, n_b: int) -> Tuple[float, float]:
    """Pooled two-proportion z-test, two-sided: (z, p_value), z with the sign of p_a - p_b
    (mlops_ab_proportions_ztest). InvalidArgumentError for empty samples or successes above n,
    StateError when every trial failed or every one succeeded."""
    r = AbTest()
    check(_ztest(int(successes_a), int(n_a), int(successes_b), int(n_b), ctypes.byref(r)))
    return r.statistic, r.p_value


def welch_ttest(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float,
                n_b: int) -> Tuple[float, float, float]:
    """Welch's t-test from summary statistics (unbiased variances): (t, p_value, df), as
    scipy.stats.ttest_ind_from_stats(..., equal_var=False) (mlops_ab_welch_ttest)."""
    r = AbTest()
    check(_welch(float(mean_a), float(var_a), int(n_a), float(mean_b), float(var_b), int(n_b), ctypes.byref(r)))
    return r.statistic, r.p_value, r.df

Key = Union[str, bytes, int, None]


def legacy_key(cls: str, args: Tuple[Any, ...], key: Key, X: Any, n_old: int) -> Tuple[Any, Key, Tuple[Any, ...]]:
    """Accept the old positional forms of predict (Router: (key, X[, margin]); Deployment:
    (X, key[, margin])) with a DeprecationWarning; returns (X, key, the remaining old positional
    arguments). The new form is predict(X, *, key=None, output_margin=False)."""
    if not args:
        return X, key, ()
    if key is not None or len(args) > n_old:
        raise TypeError("%s.predict(X, *, key=None, output_margin=False) takes X and keywords only" % cls)
    warnings.warn("%s.predict with a positional key is deprecated: call predict(X, key=..., output_margin=...)"
                  % cls, DeprecationWarning, stacklevel=3)
    if cls == "Router":
        return args[0], X, args[1:]
    return X, args[0], args[1:]


def _key(key: Key) -> Optional[bytes]:
    """The bytes hashed for `key`: str as UTF-8, bytes as given, int as its decimal text, None = unkeyed."""
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError("router key must be str, bytes, int or None, not %s" % type(key).__name__)
    return str(key).encode()


def key_hash(key: Union[str, bytes, int], seed: int = 0) -> int:
    """XXH3_64bits_withSeed of the key's bytes: the hash sticky assignment uses (see Router)."""
    k = _key(key)
    if k is None:
        raise InvalidArgumentError(-1, "key_hash needs a key")
    return int(_key_hash(k, len(k), int(seed)))


class Router(Handle):
    """Route requests to weighted model variants, sticky per key (A/B testing).

    ::

        with mlops.Router(seed=42) as r:
            r.add_variant("control", model_a, 90)
            r.add_variant("treatment", model_b, 10)
            name, p = r.predict(X, key="user-123")   # the same user always gets the same variant

    A key (str, bytes or int) is hashed with XXH3-64 (``seed`` is the experiment's salt) to a
    position u in [0, 1); variant i owns the slice [C_{i-1}/T, C_i/T) of cumulative weights in
    insertion order. The result is identical in every process and on every machine; ramping the
    last variant only moves the keys that must move. ``key=None`` spreads requests evenly by a
    counter instead (not sticky). The full scheme is in include/mlops/router.h.

    The router takes its own reference to each model: closing the Model afterwards is fine.
    Variants must agree on feature count and output width. All methods are thread-safe (the GIL
    is released during predict). Indices returned by the C library are resolved to names right
    away; a variant removed concurrently by another thread can make that lookup fail.
    """

    _what = "router"
    _names: Optional[List[str]] = None  # the variants' feature names (DataFrame columns by name)

    _c_free = staticmethod(_free)
    _shareable = True  # the Python side keeps no per-object state: a copy shares the C router

    def __init__(self, seed: int = 0) -> None:
        self._h: Optional[CRef] = None
        o = RouterOpts()
        _opts_init(ctypes.byref(o))
        o.seed = int(seed)
        out = ctypes.c_void_p()
        check(_create(ctypes.byref(o), ctypes.byref(out)))
        self._adopt(out.value)
        self.seed = int(seed)
        self._names: Optional[List[str]] = None

    def __repr__(self) -> str:
        if self._h is None:
            return "<mlops.Router closed>"
        return "<mlops.Router %s>" % ", ".join("%s=%d" % (n, s["weight"]) for n, s in self.stats().items())

    def __len__(self) -> int:
        return int(_n_variants(self.handle))

    @staticmethod
    def _name(name: str) -> bytes:
        if not isinstance(name, str):
            raise TypeError("variant name must be str, not %s" % type(name).__name__)
        return cstr(name, "variant name")

    @staticmethod
    def _weight(weight: int) -> int:
        w = int(weight)
        if w < 0 or w > 0xFFFFFFFF:
            raise InvalidArgumentError(-1, "weight must be in [0, 2**32 - 1], got %d" % w)
        return w

    def add_variant(self, name: str, model: Model, weight: int) -> None:
        """Append variant `name` served by `model` with integer `weight` (>= 0).

        Raises ExistsError (duplicate name), ShapeError (the model's features or output width differ
        from the other variants'), RangeError (total weight over 2**32 - 1), LimitError (name over
        63 bytes, too many variants), InvalidArgumentError (empty name).
        """
        if not isinstance(model, Model):
            raise TypeError("model must be an mlops.Model, not %s" % type(model).__name__)
        check(_add(self.handle, self._name(name), model.handle, self._weight(weight)))
        if self._names is None or len(self) == 1:
            self._names = model.feature_names  # every variant has these features: DataFrames by name

    def set_weight(self, name: str, weight: int) -> None:
        """Change the weight of variant `name` (NotFoundError if absent); statistics are kept."""
        check(_set_weight(self.handle, self._name(name), self._weight(weight)))

    def remove_variant(self, name: str) -> None:
        """Remove variant `name` (NotFoundError if absent); its model is released once no request uses it."""
        check(_remove(self.handle, self._name(name)))

    @property
    def variants(self) -> List[str]:
        """Variant names in order."""
        return list(self.stats())

    @property
    def n_features(self) -> int:
        """Features per row every variant takes (0 while empty)."""
        return int(_n_features(self.handle))

    def _name_of(self, h: int, index: int) -> str:
        s = VariantStats()
        check(_stats(h, index, ctypes.byref(s)))
        return s.name.decode()

    def index(self, name: str) -> int:
        """Current index of variant `name` (NotFoundError if absent)."""
        i = ctypes.c_size_t()
        check(_find(self.handle, self._name(name), ctypes.byref(i)))
        return int(i.value)

    def assign(self, key: Key = None) -> str:
        """Name of the variant `key` is assigned to (counted in its ``assignments``).

        Raises StateError when the total weight is 0.
        """
        h = self.handle
        k = _key(key)
        i = ctypes.c_size_t()
        check(_assign(h, k, len(k) if k is not None else 0, ctypes.byref(i)))
        return self._name_of(h, i.value)

    def predict(self, X: Any, *args: Any, key: Key = None, output_margin: bool = False,
                margin: bool = False) -> Tuple[str, np.ndarray]:
        """Route `key` and predict rows `X` with the chosen variant's model; the signature Model.predict
        and Deployment.predict share: predict(X, *, key=None, output_margin=False).

        The old form predict(key, X[, margin]) still works and warns (DeprecationWarning).
        `output_margin` (or its older spelling `margin`) returns the raw margin.

        `X` is array-like, (n_rows, n_features) or one row (n_features,), or a DataFrame (columns
        matched to the variants' feature names by name, as Model.predict); C-contiguous float32 is
        passed without a copy. Returns (variant name, predictions): shape (n,) when the output width
        is 1, else (n, width). Raises ShapeError (wrong feature count), StateError (total weight 0).
        """
        X, key, old = legacy_key("Router", args, key, X, 2)
        margin = bool(margin or output_margin or (old and old[0]))
        h = self.handle
        x = rows(X, "X", names=self._names, dtype=np.float32)
        flags = PREDICT_MARGIN if margin else 0
        width = int(_output_width(h, flags))
        n = x.shape[0]
        out = np.empty(n * width, dtype=np.float32)
        k = _key(key)
        i = ctypes.c_size_t()
        check(_predict(h, k, len(k) if k is not None else 0, x.ctypes.data if n else None, n, x.shape[1], flags,
                       out.ctypes.data if out.size else None, out.size, ctypes.byref(i)))
        return self._name_of(h, i.value), (out if width == 1 else out.reshape(n, width))

    def stats(self) -> Dict[str, Dict[str, int]]:
        """Per variant, in order: weight, assignments, requests, rows, errors, latency_ns (sum over
        successful predictions) — a snapshot of atomic counters."""
        h = self.handle
        out: Dict[str, Dict[str, int]] = {}
        for i in range(int(_n_variants(h))):
            s = VariantStats()
            if _stats(h, i, ctypes.byref(s)) != 0:
                break  # a variant was removed meanwhile
            out[s.name.decode()] = {f: int(getattr(s, f)) for f, _ in VariantStats._fields_ if f != "name"}
        return out
