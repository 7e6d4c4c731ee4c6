"""The Monitor class: sliding-window model quality (scikit-learn's metrics), delayed labels, alerts, state files."""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Set, Union

import numpy as np

from ._args import cstr, rows, size, values
from ._lib import (CRef, Handle, InvalidArgumentError, StateError, check, declare, declare_init, load_saved,
                   saved_bytes, to_bytes)

TASKS = {"regression": 0, "binary": 1, "multiclass": 2}
METRICS = ["count", "mean_prediction", "mean_label", "accuracy", "precision", "recall", "f1", "log_loss",
           "roc_auc", "brier", "mse", "rmse", "mae", "r2", "tolerance_accuracy"]
DIRECTIONS = {"below": 0, "above": 1}


class MonitorOpts(ctypes.Structure):
    """Mirror of the C struct mlops_monitor_opts (version 1)."""

    _c_struct_ = "mlops_monitor_opts"
    _fields_ = [("version", ctypes.c_uint), ("task", ctypes.c_int), ("window", ctypes.c_size_t),
                ("threshold", ctypes.c_double), ("tolerance", ctypes.c_double), ("n_classes", ctypes.c_uint),
                ("pending_capacity", ctypes.c_size_t), ("pending_ttl", ctypes.c_double),
                ("log_loss_eps", ctypes.c_double), ("recompute_every", ctypes.c_size_t)]


class MonitorMetrics(ctypes.Structure):
    """Mirror of the C struct mlops_monitor_metrics (version 1)."""

    _c_struct_ = "mlops_monitor_metrics"
    _fields_ = [("version", ctypes.c_uint), ("has", ctypes.c_uint64), ("count", ctypes.c_uint64)] + \
               [(name, ctypes.c_double) for name in METRICS[1:]]


class MonitorStats(ctypes.Structure):
    """Mirror of the C struct mlops_monitor_stats (version 1)."""

    _c_struct_ = "mlops_monitor_stats"
    _fields_ = [("version", ctypes.c_uint)] + [(n, ctypes.c_uint64) for n in (
        "recorded", "window_count", "pending", "matched", "evicted_ttl", "evicted_capacity", "recomputes")]


class AlertRule(ctypes.Structure):
    """Mirror of the C struct mlops_alert_rule (version 1)."""

    _c_struct_ = "mlops_alert_rule"
    _fields_ = [("version", ctypes.c_uint), ("metric", ctypes.c_int), ("direction", ctypes.c_int),
                ("trigger", ctypes.c_double), ("clear", ctypes.c_double), ("min_count", ctypes.c_uint64)]


class AlertEvent(ctypes.Structure):
    """Mirror of the C struct mlops_alert_event."""

    _c_struct_ = "mlops_alert_event"
    _fields_ = [("metric", ctypes.c_int), ("firing", ctypes.c_int), ("value", ctypes.c_double),
                ("count", ctypes.c_uint64)]


_ALERT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(AlertEvent), ctypes.c_void_p)
_dp = ctypes.POINTER(ctypes.c_double)
_vpp = ctypes.POINTER(ctypes.c_void_p)

class MonitorTotals(ctypes.Structure):
    """Mirror of the C struct mlops_monitor_totals (version 1): lifetime sums that add up across replicas."""

    _c_struct_ = "mlops_monitor_totals"
    _fields_ = [("version", ctypes.c_uint), ("labelled", ctypes.c_uint64), ("correct", ctypes.c_uint64),
                ("squared_error", ctypes.c_double), ("absolute_error", ctypes.c_double), ("log_loss", ctypes.c_double),
                ("n_classes", ctypes.c_uint)]


_opts_init = declare_init("mlops_monitor_opts_init", MonitorOpts)
_rule_init = declare_init("mlops_alert_rule_init", AlertRule)
_create = declare("mlops_monitor_create", ctypes.c_int, [ctypes.POINTER(MonitorOpts), _vpp])
_free = declare("mlops_monitor_free", None, [ctypes.c_void_p])
_get_opts = declare("mlops_monitor_get_opts", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(MonitorOpts)])
_record = declare("mlops_monitor_record", ctypes.c_int, [ctypes.c_void_p, _dp, ctypes.c_size_t, ctypes.c_double])
_record_batch = declare("mlops_monitor_record_batch", ctypes.c_int,
                        [ctypes.c_void_p, _dp, ctypes.c_size_t, _dp, ctypes.c_size_t])
_record_prediction = declare("mlops_monitor_record_prediction", ctypes.c_int,
                             [ctypes.c_void_p, ctypes.c_char_p, _dp, ctypes.c_size_t])
_record_prediction_at = declare("mlops_monitor_record_prediction_at", ctypes.c_int,
                                [ctypes.c_void_p, ctypes.c_char_p, _dp, ctypes.c_size_t, ctypes.c_double])
_record_label = declare("mlops_monitor_record_label", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double])
_record_label_at = declare("mlops_monitor_record_label_at", ctypes.c_int,
                           [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_double])
_expire_at = declare("mlops_monitor_expire_at", ctypes.c_int,
                     [ctypes.c_void_p, ctypes.c_double, ctypes.POINTER(ctypes.c_size_t)])
_get_metrics = declare("mlops_monitor_compute_metrics", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(MonitorMetrics)])
_get_lifetime = declare("mlops_monitor_get_lifetime", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(MonitorMetrics)])
_get_stats = declare("mlops_monitor_get_stats", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(MonitorStats)])
_get_totals = declare("mlops_monitor_get_totals", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(MonitorTotals)])
_get_class_totals = declare("mlops_monitor_get_class_totals", ctypes.c_int,
                            [ctypes.c_void_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)])
_reset_window = declare("mlops_monitor_reset_window", ctypes.c_int, [ctypes.c_void_p])
_set_alert = declare("mlops_monitor_set_alert", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(AlertRule)])
_remove_alert = declare("mlops_monitor_remove_alert", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int])
_alert_state = declare("mlops_monitor_alert_state", ctypes.c_int,
                       [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)])
_set_alert_callback = declare("mlops_monitor_set_alert_callback", ctypes.c_int,
                              [ctypes.c_void_p, _ALERT_FN, ctypes.c_void_p])
_save = declare("mlops_monitor_save", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p])
_load = declare("mlops_monitor_load", ctypes.c_int, [ctypes.c_char_p, _vpp])
_restore = declare("mlops_monitor_restore", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p])
_metric_name = declare("mlops_metric_name", ctypes.c_char_p, [ctypes.c_int])
_metrics_value = declare("mlops_monitor_metrics_value", ctypes.c_double,
                         [ctypes.POINTER(MonitorMetrics), ctypes.c_int])

PathLike = Union[str, "os.PathLike[str]"]
AlertCallback = Callable[[str, bool, float, int], None]


def _metric_id(name: str) -> int:
    if name not in METRICS:
        raise InvalidArgumentError(-1, "unknown metric %r; one of %s" % (name, METRICS[1:]))
    return METRICS.index(name)


def _as_dict(m: MonitorMetrics) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for i, name in enumerate(METRICS):
        if m.has & (1 << i):
            out[name] = int(m.count) if name == "count" else float(getattr(m, name))
    return out


def metric_names() -> List[str]:
    """The metric names in C enum order, from the library (mlops_metric_name)."""
    out: List[str] = []
    while True:
        n = _metric_name(len(out))
        if n is None:
            return out
        out.append(n.decode())


class Monitor(Handle):
    """Live model quality over a sliding window of (prediction, label) pairs.

    Example::

        with mlops.Monitor("binary", window=1000) as mon:
            mon.record(model.predict(X), y)                  # arrays or scalars
            mon.record_prediction("req-17", 0.83)            # label arrives later:
            mon.record_label("req-17", 1)
            mon.metrics()["roc_auc"]

    Metrics equal scikit-learn 1.2's on the same records (see include/mlops/monitor.h). Safe to share
    between threads. Use as a context manager or call close(); methods of a closed monitor raise
    StateError.
    """

    _what = "monitor"

    _c_free = staticmethod(_free)

    def _closing(self, c: CRef) -> None:
        for std in list(self._attachments):
            std._detach_closing(self)

    _h: Optional[CRef] = None  # the pinned C handle; None once closed (or if __init__ failed)
    _deferred: Optional[MonitorOpts] = None

    def __init__(self, task: str = "binary", window: int = 1000, threshold: float = 0.5, tolerance: float = 0.1,
                 n_classes: Optional[int] = None, pending_capacity: int = 10000, pending_ttl: float = 3600.0,
                 log_loss_eps: Optional[float] = None, recompute_every: int = 0) -> None:
        """Create a monitor.

        task: "binary" (predictions are P(y=1), labels 0/1), "multiclass" (predictions are rows of
        n_classes probabilities, labels are class indices) or "regression". threshold: binary decision
        threshold (p >= threshold is positive). tolerance: regression |y - yhat| < tolerance counts as
        correct. n_classes: for multiclass; when omitted the first record (or record_prediction) gives it,
        its width (before that, the other methods raise StateError). pending_capacity / pending_ttl (seconds): the store
        of predictions that wait for a label. log_loss_eps: clipping (default DBL_EPSILON as sklearn 1.2).
        """
        self._h: Optional[CRef] = None
        self._attachments: Set[Any] = set()  # StandardMetrics this monitor is attached to
        self._deferred: Optional[MonitorOpts] = None  # multiclass without n_classes: created at the first record
        if task not in TASKS:
            raise InvalidArgumentError(-1, "task must be one of %s, got %r" % (sorted(TASKS), task))
        o = MonitorOpts()
        _opts_init(ctypes.byref(o))
        o.task = TASKS[task]
        o.window = size(window, "window")
        o.threshold = float(threshold)
        o.tolerance = float(tolerance)
        if task == "multiclass" and n_classes is not None:
            o.n_classes = size(n_classes, "n_classes")
        o.pending_capacity = size(pending_capacity, "pending_capacity")
        o.pending_ttl = float(pending_ttl)
        if log_loss_eps is not None:
            o.log_loss_eps = float(log_loss_eps)
        o.recompute_every = size(recompute_every, "recompute_every")
        if task == "multiclass" and n_classes is None:
            o.n_classes = 2  # the options are checked now, with a valid width; the real one comes later
            self._create(o)
            self.close()
            self.__dict__.update(_deferred=o, _deferred_lock=threading.Lock(), task=task, window=int(o.window),
                                 n_classes=0, _width=0)
            return
        self._create(o)

    def _create(self, o: MonitorOpts) -> None:
        h = ctypes.c_void_p()
        check(_create(ctypes.byref(o), ctypes.byref(h)))
        self._init_from_handle(self._adopt(h.value))

    def _take_width(self, width: int) -> None:
        """Create the deferred multiclass monitor with `width` classes (the first record's); once."""
        with self._deferred_lock:
            o = self._deferred
            if o is None:
                return  # another thread created it meanwhile, or it was closed (then _handle() says so)
            o.n_classes = size(width, "n_classes")
            self._create(o)  # on failure nothing is created: still waiting for a valid first record
            self._deferred = None  # last: a thread that sees it None finds the handle and the width set

    def _handle(self) -> CRef:
        if getattr(self, "_deferred", None) is not None:
            raise StateError(-9, "multiclass monitor without n_classes: nothing recorded yet (the first "
                             "record gives the number of classes)")
        return super()._handle()

    def close(self) -> None:
        """Release the C object (see Handle.close); a monitor still waiting for its first record is closed too."""
        lock = self.__dict__.get("_deferred_lock")
        if lock is not None:
            with lock:  # not while another thread creates it from the first record
                self._deferred = None
        super().close()

    def _init_from_handle(self, h: Optional[CRef] = None) -> None:
        o = MonitorOpts()
        check(_get_opts(h if h is not None else self._handle(), ctypes.byref(o)))
        self.task: str = {v: k for k, v in TASKS.items()}[o.task]
        self.window: int = int(o.window)
        self.n_classes: int = int(o.n_classes)
        self._width = self.n_classes if self.task == "multiclass" else 1

    @classmethod
    def load(cls, path: PathLike) -> "Monitor":
        """Create a monitor from a file written by save(). Raises FormatError for truncated or foreign files."""
        h = ctypes.c_void_p()
        check(_load(to_bytes(path), ctypes.byref(h)))
        self = cls.__new__(cls)
        self._adopt(h.value)
        self._attachments = set()
        self._deferred = None
        self._init_from_handle()
        return self

    def record(self, predictions: Any, actuals: Any) -> None:
        """Record pairs: scalars, or arrays (for multiclass, a 2-D array of probabilities and int labels;
        for binary, P(y=1) or a predict_proba matrix (n, 2)).

        All rows are validated first; one bad row records nothing.
        """
        y = values(actuals, "actuals")
        if self._deferred is not None:
            if not (np.ndim(predictions) == 2 or (np.ndim(predictions) == 1 and np.ndim(actuals) == 0)):
                raise InvalidArgumentError(-5, "multiclass predictions must be a 2-D array (rows x n_classes)")
            self._take_width(np.shape(predictions)[-1])
        self._handle()  # closed: StateError before any shape message
        if self.task == "binary" and np.ndim(predictions) == 2 and np.shape(predictions)[1] == 2:
            predictions = np.asarray(predictions)[:, 1]  # a predict_proba matrix: P(y=1) is column 1
        if np.ndim(actuals) == 0:
            p = values(predictions, "predictions")
            check(_record(self._handle(), p.ctypes.data_as(_dp), p.size, float(y[0])))
            return
        if self._width > 1:
            if np.ndim(predictions) != 2:
                raise InvalidArgumentError(-5, "multiclass predictions must be a 2-D array (rows x %d)" % self._width)
            p = rows(predictions, "predictions", dtype=np.float64)
        else:
            p = values(predictions, "predictions")
        check(_record_batch(self._handle(), p.ctypes.data_as(_dp), p.size, y.ctypes.data_as(_dp), y.size))

    def record_prediction(self, id: str, prediction: Any, now: Optional[float] = None) -> None:
        """Keep a prediction under request id `id` until record_label(id, ...). `now`: explicit time in seconds."""
        p = values(prediction, "prediction")
        i = cstr(id, "id")
        if self._deferred is not None and p.size:
            self._take_width(p.size)
        if now is None:
            check(_record_prediction(self._handle(), i, p.ctypes.data_as(_dp), p.size))
        else:
            check(_record_prediction_at(self._handle(), i, p.ctypes.data_as(_dp), p.size, float(now)))

    def record_label(self, id: str, actual: float, now: Optional[float] = None) -> None:
        """Attach the label of pending prediction `id`. NotFoundError for unknown, labeled or evicted ids."""
        i = cstr(id, "id")
        if now is None:
            check(_record_label(self._handle(), i, float(actual)))
        else:
            check(_record_label_at(self._handle(), i, float(actual), float(now)))

    def expire(self, now: float) -> int:
        """Evict pending predictions whose time to live ran out at `now`; returns how many."""
        n = ctypes.c_size_t()
        check(_expire_at(self._handle(), float(now), ctypes.byref(n)))
        return int(n.value)

    def metrics(self) -> Dict[str, float]:
        """Metrics over the window: the keys that apply to the task; NaN where undefined."""
        m = MonitorMetrics()
        m.version = 1
        check(_get_metrics(self._handle(), ctypes.byref(m)))
        return _as_dict(m)

    def lifetime(self) -> Dict[str, float]:
        """Metrics over every record since creation (no roc_auc)."""
        m = MonitorMetrics()
        m.version = 1
        check(_get_lifetime(self._handle(), ctypes.byref(m)))
        return _as_dict(m)

    def stats(self) -> Dict[str, int]:
        """Counters: recorded, window_count, pending, matched, evicted_ttl, evicted_capacity, recomputes."""
        s = MonitorStats()
        s.version = 1
        check(_get_stats(self._handle(), ctypes.byref(s)))
        return {name: int(getattr(s, name)) for name, _ in MonitorStats._fields_[1:]}

    def reset_window(self) -> None:
        """Forget the window, pending predictions and alert states (lifetime totals stay)."""
        check(_reset_window(self._handle()))

    def set_alert(self, metric: str, trigger: float, clear: Optional[float] = None, direction: str = "below",
                  min_count: int = 1) -> None:
        """Alert when `metric` goes below (or above) `trigger`; it clears past `clear` (hysteresis)."""
        if direction not in DIRECTIONS:
            raise InvalidArgumentError(-1, "direction must be 'below' or 'above', got %r" % direction)
        r = AlertRule()
        _rule_init(ctypes.byref(r))
        r.metric = _metric_id(metric)
        r.direction = DIRECTIONS[direction]
        r.trigger = float(trigger)
        r.clear = float("nan") if clear is None else float(clear)
        r.min_count = int(min_count)
        check(_set_alert(self._handle(), ctypes.byref(r)))

    def remove_alert(self, metric: str) -> None:
        """Remove the alert rule on `metric`."""
        check(_remove_alert(self._handle(), _metric_id(metric)))

    def alert_firing(self, metric: str) -> bool:
        """Whether the alert on `metric` is firing."""
        f = ctypes.c_int()
        check(_alert_state(self._handle(), _metric_id(metric), ctypes.byref(f)))
        return bool(f.value)

    def on_alert(self, callback: Optional[AlertCallback]) -> None:
        """Call `callback(metric, firing, value, count)` on every alert change (None removes it).

        The callback runs on the thread that recorded the change, outside the monitor's lock; exceptions
        it raises are printed by ctypes and otherwise ignored. It may call on_alert() itself. A replaced
        callback may still run for a delivery already under way; every callback installed stays
        referenced until the monitor's C object is freed, so none is ever called after being collected.
        """
        h = self._handle()
        if callback is None:
            check(_set_alert_callback(h, _ALERT_FN(), None))
            return

        def trampoline(_m: int, ev: Any, _user: int) -> None:
            e = ev.contents
            callback(METRICS[e.metric], bool(e.firing), float(e.value), int(e.count))

        fn = _ALERT_FN(trampoline)
        # Every thunk ever installed lives as long as the C monitor: a delivery in progress on
        # another thread (or the one calling on_alert from inside the callback) may still call the
        # one being replaced, and the C side gives no point after which it cannot.
        h.keep.setdefault("alert_thunks", []).append(fn)
        check(_set_alert_callback(h, fn, None))

    def save(self, path: PathLike) -> None:
        """Save the whole state atomically (write, fsync, rename)."""
        check(_save(self._handle(), to_bytes(path)))

    def restore(self, path: PathLike) -> None:
        """Replace this monitor's state with a saved one (same task and settings); unchanged on failure."""
        check(_restore(self._handle(), to_bytes(path)))

    _shareable = False  # copy.copy() makes a real copy (below): attachments and callbacks are per object

    def __copy__(self) -> "Monitor":
        """A real copy of the state (as deepcopy); the alert callback and attachments are not copied."""
        return self._from_state(self._to_state())

    def _to_state(self) -> Any:
        """The saved state (the bytes save() writes; the options of a monitor still waiting for its
        first record): what pickle and copies carry."""
        o = self._deferred
        if o is not None:
            return {"deferred_opts": bytes(o)}
        return saved_bytes(_save, self._handle())

    @classmethod
    def _from_state(cls, state: Any) -> "Monitor":
        self = cls.__new__(cls)
        self._h = None
        self._attachments = set()
        self._deferred = None
        if isinstance(state, dict):
            o = MonitorOpts.from_buffer_copy(state["deferred_opts"])
            self.__dict__.update(_deferred=o, _deferred_lock=threading.Lock(), task="multiclass",
                                 window=int(o.window), n_classes=0, _width=0)
            return self
        self._adopt(load_saved(_load, state))
        self._init_from_handle()
        return self

    def __repr__(self) -> str:
        if self._deferred is not None:
            return "<mlops.Monitor task=multiclass window=%d n_classes=(first record)>" % self.window
        if not self._h:
            return "<mlops.Monitor closed>"
        return "<mlops.Monitor task=%s window=%d count=%d>" % (self.task, self.window, self.stats()["window_count"])
