"""The Deployment class: blue/green model slots with a validation gate, promote/rollback, canary and shadow."""
from __future__ import annotations

import ctypes
import math
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ._args import values
from ._lib import CRef, Handle, InvalidArgumentError, check, declare, declare_init
from .model import PREDICT_MARGIN, Model, _ref
from .router import legacy_key

SLOTS = {"blue": 0, "green": 1, "previous": 2}
"""Slot names and their C values (mlops_deploy_slot)."""
METRICS = {"auto": 0, "none": 1, "accuracy": 2, "logloss": 3, "rmse": 4}
"""Gate metric names and their C values (mlops_deploy_gate_metric)."""
FORCE = 1


class DeployOpts(ctypes.Structure):
    """Mirror of the C struct mlops_deploy_opts (version 1)."""

    _c_struct_ = "mlops_deploy_opts"
    _fields_ = [("version", ctypes.c_uint), ("canary_fraction", ctypes.c_double), ("shadow", ctypes.c_int),
                ("shadow_tolerance", ctypes.c_double), ("hash_seed", ctypes.c_uint64)]


class GateOpts(ctypes.Structure):
    """Mirror of the C struct mlops_deploy_gate_opts (version 1)."""

    _c_struct_ = "mlops_deploy_gate_opts"
    _fields_ = [("version", ctypes.c_uint), ("metric", ctypes.c_int), ("tolerance", ctypes.c_double),
                ("max_abs_diff", ctypes.c_double), ("threshold", ctypes.c_double)]


class GateReport(ctypes.Structure):
    """Mirror of the C struct mlops_deploy_gate_report."""

    _c_struct_ = "mlops_deploy_gate_report"
    _fields_ = [("passed", ctypes.c_int), ("metric", ctypes.c_int), ("live_metric", ctypes.c_double),
                ("candidate_metric", ctypes.c_double), ("max_abs_diff", ctypes.c_double),
                ("n_rows", ctypes.c_size_t), ("reason", ctypes.c_char * 160)]


class DeployStats(ctypes.Structure):
    """Mirror of the C struct mlops_deploy_stats."""

    _c_struct_ = "mlops_deploy_stats"
    _fields_ = [("requests", ctypes.c_uint64 * 2), ("rows", ctypes.c_uint64 * 2), ("errors", ctypes.c_uint64 * 2),
                ("shadow_requests", ctypes.c_uint64), ("shadow_rows", ctypes.c_uint64),
                ("shadow_disagreements", ctypes.c_uint64), ("shadow_errors", ctypes.c_uint64),
                ("shadow_max_abs_diff", ctypes.c_double), ("promotions", ctypes.c_uint64),
                ("rollbacks", ctypes.c_uint64), ("generation", ctypes.c_uint64),
                ("canary_fraction", ctypes.c_double), ("shadow", ctypes.c_int), ("has_candidate", ctypes.c_int),
                ("has_rollback", ctypes.c_int), ("gate_passed", ctypes.c_int),
                ("slow_grace_periods", ctypes.c_uint64)]


_opts_init = declare_init("mlops_deploy_opts_init", DeployOpts)
_gate_opts_init = declare_init("mlops_deploy_gate_opts_init", GateOpts)
_metric_name = declare("mlops_deploy_gate_metric_name", ctypes.c_char_p, [ctypes.c_int])
_create = declare("mlops_deploy_create", ctypes.c_int,
                  [ctypes.c_void_p, ctypes.POINTER(DeployOpts), ctypes.POINTER(ctypes.c_void_p)])
_free = declare("mlops_deploy_free", None, [ctypes.c_void_p])
_stage = declare("mlops_deploy_stage", ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p])
_unstage = declare("mlops_deploy_unstage", ctypes.c_int, [ctypes.c_void_p])
_validate = declare("mlops_deploy_validate", ctypes.c_int,
                    [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p,
                     ctypes.POINTER(GateOpts), ctypes.POINTER(GateReport)])
_promote = declare("mlops_deploy_promote", ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint32])
_rollback = declare("mlops_deploy_rollback", ctypes.c_int, [ctypes.c_void_p])
_set_canary = declare("mlops_deploy_set_canary", ctypes.c_int, [ctypes.c_void_p, ctypes.c_double])
_set_shadow = declare("mlops_deploy_set_shadow", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int])
_predict = declare("mlops_deploy_predict", ctypes.c_int,
                   [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                    ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)])
_model = declare("mlops_deploy_model", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)])
_stats = declare("mlops_deploy_get_stats", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(DeployStats)])

_SLOT_NAMES = {v: k for k, v in SLOTS.items()}
_METRIC_NAMES = {v: k for k, v in METRICS.items()}
Key = Union[str, bytes, int, None]


def _key(key: Key) -> Optional[bytes]:
    """The bytes hashed for `key`: str as UTF-8, bytes as given, int as its decimal text, None = keyless."""
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError("deployment key must be str, bytes, int or None, not %s" % type(key).__name__)
    return str(key).encode()


class Deployment(Handle):
    """Blue/green deployment of a live model with a staged candidate.

    ::

        with mlops.Deployment(live) as d:
            d.stage(candidate)                    # same features and output width, else an error
            report = d.validate(X_val, y_val)     # {"passed": ..., "live_metric": ..., ...}
            d.set_canary(0.05)                    # 5% of requests (by key) go to the candidate
            slot, p = d.predict(X, key="user-1")  # slot is "blue" or "green"
            d.promote()                           # only if the last validation passed
            d.rollback()                          # back to the model before the promote

    Args:
        live: the model served from the blue slot. The deployment takes its own reference
            to every model given to it, so the Model objects may be closed afterwards.
        canary_fraction: share of requests the candidate serves while staged, in [0, 1].
        shadow: the candidate also predicts every request blue serves; its output is only
            compared (see stats()), never returned.
        shadow_tolerance: a shadowed row disagrees when some |candidate - live| exceeds this.
        hash_seed: seed of the XXH3 hash that assigns keyed requests to the canary.

    Thread safety: every method may be called from any number of threads; predict() takes
    no lock and never waits for a promote, rollback or stage in progress.
    """

    _what = "deployment"

    _c_free = staticmethod(_free)

    def _closing(self, c: CRef) -> None:
        # The live Model only lends its cached metadata (names, widths) to calls in flight,
        # which never touch its C handle; the deployment holds its own C references.
        if self._live is not None:
            self._live.close()

    _h: Optional[CRef] = None
    _live: Optional[Model] = None

    def __init__(self, live: Model, *, canary_fraction: float = 0.0, shadow: bool = False,
                 shadow_tolerance: float = 0.0, hash_seed: int = 0) -> None:
        self._h = None
        if not isinstance(live, Model):
            raise TypeError("Deployment needs an mlops.Model, not %s" % type(live).__name__)
        o = DeployOpts()
        _opts_init(ctypes.byref(o))
        o.canary_fraction = float(canary_fraction)
        o.shadow = 1 if shadow else 0
        o.shadow_tolerance = float(shadow_tolerance)
        o.hash_seed = int(hash_seed)
        out = ctypes.c_void_p()
        check(_create(live.handle, ctypes.byref(o), ctypes.byref(out)))
        self._adopt(out.value)
        # Our own reference to a model with the deployment's features, for input conversion
        # (DataFrame columns by name) and output shapes: every slot has the same ones.
        self._live = Model._from_handle(_ref(live.handle))

    def __repr__(self) -> str:
        if self._h is None:
            return "<mlops.Deployment closed>"
        s = self.stats()
        return "<mlops.Deployment candidate=%s canary=%g shadow=%s rollback=%s>" % (
            s["has_candidate"], s["canary_fraction"], s["shadow"], s["has_rollback"])

    def stage(self, model: Model) -> None:
        """Put `model` in the green slot (replacing a staged candidate and forgetting its gate result).

        Raises ShapeError (other feature count or output width) or InvalidArgumentError (other
        task kind or feature names); nothing changes then.
        """
        if not isinstance(model, Model):
            raise TypeError("stage needs an mlops.Model, not %s" % type(model).__name__)
        check(_stage(self.handle, model.handle))

    def unstage(self) -> None:
        """Empty the green slot. Raises StateError when nothing is staged."""
        check(_unstage(self.handle))

    def validate(self, X: Any, y: Any = None, *, metric: str = "auto", tolerance: float = 0.0,
                 max_abs_diff: Optional[float] = None, threshold: float = 0.5) -> Dict[str, Any]:
        """Compare the candidate with the live model on a validation set; remember whether it passed.

        Args:
            X: validation rows (array-like or DataFrame, as Model.predict).
            y: labels (0/1 for binary models, targets for regression) or None.
            metric: "auto" (log loss for binary, RMSE for regression, none without labels),
                "accuracy", "logloss", "rmse" or "none".
            tolerance: how much worse than the live model the candidate's metric may be.
            max_abs_diff: also require max |candidate - live| <= this (None = no such bound).
            threshold: binary accuracy counts p >= threshold as class 1.

        Returns a dict: passed, metric, live_metric, candidate_metric (NaN without a metric),
        max_abs_diff, n_rows, reason. A gate that fails returns passed=False; bad input raises.
        """
        if metric not in METRICS:
            raise InvalidArgumentError(-1, "metric must be one of %s, got %r" % (sorted(METRICS), metric))
        x = self._matrix(X)
        n, c = x.shape
        yp = None
        if y is not None:
            yv = values(y, "y", np.float32)
            if yv.shape[0] != n:
                raise InvalidArgumentError(-1, "y has %d labels for %d rows" % (yv.shape[0], n))
            yp = yv.ctypes.data
        o = GateOpts()
        _gate_opts_init(ctypes.byref(o))
        o.metric = METRICS[metric]
        o.tolerance = float(tolerance)
        o.max_abs_diff = math.inf if max_abs_diff is None else float(max_abs_diff)
        o.threshold = float(threshold)
        r = GateReport()
        check(_validate(self.handle, x.ctypes.data, n, c, yp, ctypes.byref(o), ctypes.byref(r)))
        return {"passed": bool(r.passed), "metric": _METRIC_NAMES.get(r.metric, str(r.metric)),
                "live_metric": r.live_metric, "candidate_metric": r.candidate_metric,
                "max_abs_diff": r.max_abs_diff, "n_rows": int(r.n_rows), "reason": r.reason.decode()}

    def promote(self, force: bool = False) -> None:
        """Make the candidate live; the previous live model becomes the rollback target.

        Raises ValidationError unless the candidate's last validate() passed (or force=True),
        StateError when nothing is staged.
        """
        check(_promote(self.handle, FORCE if force else 0))

    def rollback(self) -> None:
        """Make the model before the last promote live again. Raises StateError if there is none."""
        check(_rollback(self.handle))

    def set_canary(self, fraction: float) -> None:
        """Serve `fraction` (0..1) of requests from the candidate while one is staged (RangeError otherwise).

        Keyed requests are assigned by XXH3 of the key (stable per key); keyless ones by a counter.
        """
        check(_set_canary(self.handle, float(fraction)))

    def set_shadow(self, on: bool) -> None:
        """Turn shadow mode on or off: the candidate predicts every request blue serves, for comparison only."""
        check(_set_shadow(self.handle, 1 if on else 0))

    def predict(self, X: Any, *args: Any, key: Key = None, output_margin: bool = False,
                margin: bool = False) -> Tuple[str, np.ndarray]:
        """Predict with the slot the canary rule picks; returns (slot, predictions), slot "blue" or "green".

        The signature Model.predict and Router.predict share: predict(X, *, key=None,
        output_margin=False). `key` (str, bytes, int or None) makes the choice sticky per key;
        predictions have the shape Model.predict returns; `output_margin` (or its older spelling
        `margin`) returns the raw margin. A positional key (the old form) warns (DeprecationWarning).
        """
        X, key, _ = legacy_key("Deployment", args, key, X, 1)
        margin = bool(margin or output_margin)
        h = self.handle
        x = self._matrix(X)
        n, c = x.shape
        m = 1 if margin else 0
        live = self._live
        assert live is not None
        w = live._widths[m]
        out = np.empty((n, w) if live._multi[m] else n, np.float32)
        k = _key(key)
        by = ctypes.c_int(-1)
        check(_predict(h, k, len(k) if k is not None else 0, x.ctypes.data, n, c,
                       PREDICT_MARGIN if margin else 0, out.ctypes.data, n * w, ctypes.byref(by)))
        return _SLOT_NAMES[by.value], out

    def model(self, slot: str = "blue") -> Model:
        """A new Model object for the model in `slot` ("blue", "green" or "previous"); NotFoundError if empty."""
        if slot not in SLOTS:
            raise InvalidArgumentError(-1, "slot must be one of %s, got %r" % (sorted(SLOTS), slot))
        out = ctypes.c_void_p()
        check(_model(self.handle, SLOTS[slot], ctypes.byref(out)))
        return Model._from_handle(out.value)

    def stats(self) -> Dict[str, Any]:
        """Counters (cumulative since creation) and state, as a dict.

        requests/rows/errors are dicts by slot ("blue", "green"); shadow_* count the candidate's
        comparison-only predictions; also promotions, rollbacks, generation, canary_fraction,
        shadow, has_candidate, has_rollback, gate_passed.
        """
        s = DeployStats()
        check(_stats(self.handle, ctypes.byref(s)))
        out: Dict[str, Any] = {}
        for name, _ in DeployStats._fields_:
            v = getattr(s, name)
            if name in ("requests", "rows", "errors"):
                out[name] = {"blue": int(v[0]), "green": int(v[1])}
            elif name in ("shadow", "has_candidate", "has_rollback", "gate_passed"):
                out[name] = bool(v)
            else:
                out[name] = v
        return out

    def _matrix(self, X: Any) -> np.ndarray:
        self.handle
        live = self._live
        assert live is not None
        return live._as_matrix(X)


def metric_name(metric: int) -> str:
    """The C library's name of gate metric value `metric` (see METRICS)."""
    return _metric_name(int(metric)).decode()
