"""Prometheus metrics through libmlops: a registry of counters, gauges and histograms, the standard
`ml_*` metrics, attached models/monitors/drift detectors, rendered as text 0.0.4 or OpenMetrics 1.0.

Example::

    with mlops.Metrics() as m:
        req = m.counter("app_requests_total", "Requests.", labels=("route",))
        req.labels("/predict").inc()
        m.attach(model, name="churn", version="3")      # ml_model_info
        m.standard().observe_predict(rows=128, seconds=0.004)
        text = m.render("openmetrics")

Thread safety: as the C library (every call may come from any thread).
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ._args import byte_buffer
from ._lib import CRef, Handle, StateError, ExistsError, MlopsError, NotFoundError, NotSupportedError, check, closed, declare, declare_init, to_bytes

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_int = ctypes.c_int
_sz = ctypes.c_size_t
_d = ctypes.c_double
_u64 = ctypes.c_uint64

COUNTER, GAUGE, HISTOGRAM = 0, 1, 2
_FORMATS = {"prometheus": 0, "openmetrics": 1}


class _Opts(ctypes.Structure):
    """Mirror of the C struct mlops_metrics_opts (version 2)."""

    _c_struct_ = "mlops_metrics_opts"
    _fields_ = [("version", ctypes.c_uint), ("max_families", _sz), ("default_max_series", _sz),
                ("latency_buckets", ctypes.POINTER(_d)), ("n_latency_buckets", _sz)]


class _FamilyOpts(ctypes.Structure):
    """Mirror of the C struct mlops_metrics_family_opts (version 1)."""

    _c_struct_ = "mlops_metrics_family_opts"
    _fields_ = [("version", ctypes.c_uint), ("label_names", ctypes.POINTER(_cp)), ("n_labels", _sz),
                ("buckets", ctypes.POINTER(_d)), ("n_buckets", _sz), ("max_series", _sz)]


_opts_init = declare_init("mlops_metrics_opts_init", _Opts, 2)
_fopts_init = declare_init("mlops_metrics_family_opts_init", _FamilyOpts)
_exp_buckets = declare("mlops_metrics_exponential_buckets", _int, [_d, _d, _sz, ctypes.POINTER(_d), _sz])
_create = declare("mlops_metrics_create", _int, [ctypes.POINTER(_Opts), ctypes.POINTER(_vp)])
_free = declare("mlops_metrics_free", None, [_vp])
_register = declare("mlops_metrics_register", _int, [_vp, _int, _cp, _cp, ctypes.POINTER(_FamilyOpts),
                                                     ctypes.POINTER(_vp)])
_series = declare("mlops_metrics_series", _int, [_vp, ctypes.POINTER(_cp), _sz, ctypes.POINTER(_vp)])
_counter_inc = declare("mlops_metrics_counter_inc", _int, [_vp, _d])
_gauge_set = declare("mlops_metrics_gauge_set", _int, [_vp, _d])
_gauge_add = declare("mlops_metrics_gauge_add", _int, [_vp, _d])
_observe = declare("mlops_metrics_histogram_observe", _int, [_vp, _d])
_value = declare("mlops_series_value", _int, [_vp, ctypes.POINTER(_d)])
_snapshot = declare("mlops_metrics_histogram_snapshot", _int, [_vp, ctypes.POINTER(_u64), _sz, ctypes.POINTER(_d),
                                                       ctypes.POINTER(_u64)])
_render_alloc = declare("mlops_metrics_render_alloc", _int, [_vp, _int, ctypes.POINTER(_vp), ctypes.POINTER(_sz)])
_write_file = declare("mlops_metrics_write_file", _int, [_vp, _int, _cp])
_content_type = declare("mlops_metrics_content_type", _cp, [_int])
_mfree = declare("mlops_free", None, [_vp])
_std_create = declare("mlops_metrics_std_create", _int, [_vp, _cp, ctypes.POINTER(_vp)])
_std_observe = declare("mlops_metrics_std_observe_predict", _int, [_vp, _sz, _d, _int])
_std_error = declare("mlops_metrics_std_error", _int, [_vp, _cp, _u64])
_std_info = declare("mlops_metrics_std_set_model_info", _int, [_vp, _cp, _cp, _cp, _cp])
_error_reason = declare("mlops_metrics_error_reason", _cp, [_int])
_find = declare("mlops_metrics_find", _int, [_vp, _cp, ctypes.POINTER(_vp)])
_family_type = declare("mlops_metrics_family_type", _int, [_vp])
_family_name = declare("mlops_metrics_family_name", _cp, [_vp])
_family_n_labels = declare("mlops_metrics_family_n_labels", _sz, [_vp])
_family_n_series = declare("mlops_metrics_family_n_series", _sz, [_vp])
_counter_inc_labels = declare("mlops_metrics_counter_inc_labels", _int, [_vp, ctypes.POINTER(_cp), _sz, _d])
_gauge_set_labels = declare("mlops_metrics_gauge_set_labels", _int, [_vp, ctypes.POINTER(_cp), _sz, _d])
_gauge_add_labels = declare("mlops_metrics_gauge_add_labels", _int, [_vp, ctypes.POINTER(_cp), _sz, _d])
_observe_labels = declare("mlops_metrics_histogram_observe_labels", _int, [_vp, ctypes.POINTER(_cp), _sz, _d])
_render = declare("mlops_metrics_render", _int, [_vp, _int, ctypes.c_char_p, _sz, ctypes.POINTER(_sz)])
COLLECT_FN = ctypes.CFUNCTYPE(_int, _vp, _vp)
"""ctypes type of the C mlops_metrics_collect_fn."""
_add_collector = declare("mlops_metrics_add_collector", _int, [_vp, COLLECT_FN, _vp])
_remove_collector = declare("mlops_metrics_remove_collector", _int, [_vp, COLLECT_FN, _vp])
_writer_family = declare("mlops_metrics_writer_family", _int, [_vp, _int, _cp, _cp, ctypes.POINTER(_cp), _sz])
_writer_sample = declare("mlops_metrics_writer_sample", _int, [_vp, ctypes.POINTER(_cp), _sz, _d])
_std_registry = declare("mlops_metrics_std_registry", _vp, [_vp])
_std_requests = declare("mlops_metrics_std_requests", _vp, [_vp])
_std_rows = declare("mlops_metrics_std_rows", _vp, [_vp])
_std_duration = declare("mlops_metrics_std_duration", _vp, [_vp])


def _optional(name: str, restype: Any, argtypes: List[Any]) -> Optional[Any]:
    """Functions that exist only when the module they bridge to is built into the library."""
    try:
        return declare(name, restype, argtypes)
    except AttributeError:
        return None


_std_set_model = _optional("mlops_metrics_std_set_model", _int, [_vp, _vp, _cp, _cp])
_std_predict = _optional("mlops_metrics_std_predict", _int, [_vp, _vp, _vp, _sz, _sz, ctypes.c_uint32, _vp, _sz])
_attach_monitor = _optional("mlops_metrics_attach_monitor", _int, [_vp, _vp])
_attach_drift = _optional("mlops_metrics_attach_drift", _int, [_vp, _vp])


def _strings(values: Sequence[str], what: str = "label value") -> Any:
    arr = (_cp * max(1, len(values)))()
    for i, v in enumerate(values):
        arr[i] = to_bytes(str(v), "%s %d" % (what, i))
    return arr


class Series:
    """One label combination of a family. Lock-free updates; valid while its Metrics is open
    (StateError afterwards)."""

    def __init__(self, family: "Family", handle: int, label_values: Tuple[str, ...]) -> None:
        self._family = family
        self._h = handle
        self.label_values = label_values

    def _handle(self) -> CRef:
        return CRef(self._h, parent=self._family._metrics._handle())  # pins the registry

    def inc(self, amount: float = 1.0) -> None:
        """Counter: add `amount` (>= 0). Gauge: add `amount` (any sign)."""
        if self._family.type == COUNTER:
            check(_counter_inc(self._handle(), float(amount)))
        elif self._family.type == GAUGE:
            check(_gauge_add(self._handle(), float(amount)))
        else:
            raise TypeError("inc() on a histogram; use observe()")

    def dec(self, amount: float = 1.0) -> None:
        """Gauge: subtract `amount`."""
        if self._family.type != GAUGE:
            raise TypeError("dec() is for gauges")
        check(_gauge_add(self._handle(), -float(amount)))

    def set(self, value: float) -> None:
        """Gauge: set to `value` (NaN and infinities allowed)."""
        if self._family.type != GAUGE:
            raise TypeError("set() is for gauges")
        check(_gauge_set(self._handle(), float(value)))

    def observe(self, value: float) -> None:
        """Histogram: record one observation (not NaN)."""
        if self._family.type != HISTOGRAM:
            raise TypeError("observe() is for histograms")
        check(_observe(self._handle(), float(value)))

    @property
    def value(self) -> float:
        """Counter or gauge: the current value."""
        out = _d()
        check(_value(self._handle(), ctypes.byref(out)))
        return out.value

    def snapshot(self) -> Tuple[List[int], float, int]:
        """Histogram: (cumulative bucket counts including +Inf, sum, count)."""
        if not self._family.buckets and self._family.type == HISTOGRAM:
            raise NotSupportedError(-6, "bucket bounds of %s are not known here (found by name)" % self._family.name)
        n = len(self._family.buckets) + 1
        cum = (_u64 * n)()
        s, c = _d(), _u64()
        check(_snapshot(self._handle(), cum, n, ctypes.byref(s), ctypes.byref(c)))
        return list(cum), s.value, c.value


class Family:
    """A metric family (counter, gauge or histogram) with fixed label names; owned by its Metrics."""

    def __init__(self, metrics: "Metrics", handle: int, type_: int, name: str, labelnames: Tuple[str, ...],
                 buckets: Tuple[float, ...]) -> None:
        self._metrics = metrics
        self._h = handle
        self.type = type_
        self.name = name
        self.labelnames = labelnames
        self.buckets = buckets
        self._cache: Dict[Tuple[str, ...], Series] = {}

    @property
    def n_series(self) -> int:
        """Number of series (label combinations) that exist now."""
        return int(_family_n_series(CRef(self._h, parent=self._metrics._handle())))

    def __repr__(self) -> str:
        return "<mlops.metrics.Family %s %s labels=%s>" % (_TYPE_NAMES.get(self.type, "?"), self.name,
                                                          list(self.labelnames))

    def labels(self, *values: str, **kw: str) -> Series:
        """The series for these label values (positional, or by name), created on first use."""
        if kw:
            if values:
                raise TypeError("give label values positionally or by name, not both")
            try:
                values = tuple(kw.pop(n) for n in self.labelnames)
            except KeyError as e:
                raise ValueError("missing label %s for %s" % (e, self.name)) from None
            if kw:
                raise ValueError("unknown labels %s for %s" % (sorted(kw), self.name))
        key = tuple(str(v) for v in values)
        s = self._cache.get(key)
        if s is None:
            out = _vp()
            fh = CRef(self._h, parent=self._metrics._handle())  # pins the registry
            check(_series(fh, _strings(key), len(key), ctypes.byref(out)))
            s = self._cache[key] = Series(self, out.value, key)
        return s

    def _only(self) -> Series:
        if self.labelnames:
            raise ValueError("%s has labels %s: use .labels(...)" % (self.name, list(self.labelnames)))
        return self.labels()

    def inc(self, amount: float = 1.0) -> None:
        """Unlabelled counter/gauge: add `amount`."""
        self._only().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        """Unlabelled gauge: subtract `amount`."""
        self._only().dec(amount)

    def set(self, value: float) -> None:
        """Unlabelled gauge: set the value."""
        self._only().set(value)

    def observe(self, value: float) -> None:
        """Unlabelled histogram: record one observation."""
        self._only().observe(value)

    @property
    def value(self) -> float:
        """Unlabelled counter/gauge: the current value."""
        return self._only().value

    def snapshot(self) -> Tuple[List[int], float, int]:
        """Unlabelled histogram: (cumulative counts, sum, count)."""
        return self._only().snapshot()


Counter = Gauge = Histogram = Family
_TYPE_NAMES = {COUNTER: "counter", GAUGE: "gauge", HISTOGRAM: "histogram"}
_TYPES = {v: k for k, v in _TYPE_NAMES.items()}


class CollectorWriter:
    """Passed to a collector callback during a render: write families and their samples.

    Valid only inside the callback."""

    def __init__(self, handle: int) -> None:
        self._h: Optional[int] = handle

    def family(self, type: str, name: str, help: str = "", labels: Sequence[str] = ()) -> None:
        """Start a family: type "counter" or "gauge" (histograms are NotSupportedError)."""
        if self._h is None:
            raise closed("collector writer (used outside its callback)")
        t = _TYPES.get(type)
        if t is None:
            raise ValueError("type must be 'counter' or 'gauge', not %r" % (type,))
        labels = tuple(labels)
        check(_writer_family(self._h, t, to_bytes(name, "name"), to_bytes(help, "help"), _strings(labels, "label name"), len(labels)))

    def sample(self, value: float, *label_values: str) -> None:
        """Write one sample of the current family with its label values (positional)."""
        if self._h is None:
            raise closed("collector writer (used outside its callback)")
        check(_writer_sample(self._h, _strings(label_values), len(label_values), float(value)))


Collector = Callable[[CollectorWriter], None]
_collect_tls = threading.local()

DEFAULT_BUCKETS: Tuple[float, ...] = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
"""Buckets of a histogram registered without any (Prometheus' classic default)."""
MAX_BUCKETS = 64


def exponential_buckets(start: float, factor: float, count: int) -> Tuple[float, ...]:
    """`count` bucket bounds start * factor**i (C mlops_metrics_exponential_buckets), like Prometheus'
    ExponentialBuckets. Raises InvalidArgumentError unless start > 0, factor > 1, 1 <= count <= 64."""
    n = int(count)
    arr = (_d * MAX_BUCKETS)()
    check(_exp_buckets(float(start), float(factor), n if n >= 0 else 0, arr, MAX_BUCKETS))
    return tuple(arr[:n])


LATENCY_BUCKETS: Tuple[float, ...] = exponential_buckets(1e-6, 2.0, 21)
"""Default buckets of `<prefix>_prediction_duration_seconds`: 1 us doubling to 1.05 s (predictions take
microseconds; the classic default starts at 5 ms and cannot resolve them)."""


def _series_value(ptr: int) -> float:
    out = _d()
    check(_value(ptr, ctypes.byref(out)))
    return out.value


class StandardMetrics:
    """The standard `<prefix>_*` families (requests, rows, errors{reason}, duration, model info, and the
    gauges of an attached monitor or drift detector). Owned by its Metrics: valid while it is open
    (methods raise StateError after Metrics.close())."""

    def __init__(self, metrics: "Metrics", handle: int, prefix: str) -> None:
        self._metrics = metrics
        self._h = handle
        self.prefix = prefix
        self._attached: Dict[str, Any] = {}
        self._lock = threading.RLock()  # serializes attach/detach (C call and bookkeeping together)

    def _handle(self) -> CRef:
        return CRef(self._h, parent=self._metrics._handle())  # pins the registry

    def observe_predict(self, rows: int, seconds: float, status: int = 0) -> None:
        """Record one predict call: requests+1, a duration observation, rows on success (status 0), else
        errors{reason} + 1 where reason is derived from the C status code."""
        check(_std_observe(self._handle(), int(rows), float(seconds), int(status)))

    def error(self, reason: str, count: int = 1) -> None:
        """Add `count` to errors{reason} (for example "validation" for rejected rows)."""
        check(_std_error(self._handle(), to_bytes(reason, "reason"), int(count)))

    def set_model_info(self, model: Optional[str] = None, version: Optional[str] = None,
                       objective: Optional[str] = None, engine: Optional[str] = None) -> None:
        """Set `<prefix>_model_info{model,version,objective,engine} 1`; all None removes it."""
        check(_std_info(self._handle(), to_bytes(model, "model"), to_bytes(version, "version"), to_bytes(objective, "objective"),
                      to_bytes(engine, "engine")))

    def attach(self, obj: Any, name: Optional[str] = None, version: Optional[str] = None) -> None:
        """Attach an mlops.Model (sets model info from it, using `name`/`version`), an mlops.Monitor or an
        mlops.Drift detector (read at every render; one of each). Closing the attached object detaches
        it; closing the registry while a render reads the object keeps the object's C side alive until
        the registry is freed (see the lifetime rule in the package README)."""
        kind = type(obj).__name__
        if not isinstance(obj, Handle):
            raise TypeError("cannot attach %s: no C handle" % kind)
        if kind == "Model":
            fn: Any = _std_set_model
        elif kind == "Monitor":
            fn = _attach_monitor
        elif kind in ("Drift", "DriftDetector"):
            fn, kind = _attach_drift, "Drift"
        else:
            raise TypeError("cannot attach a %s (expected Model, Monitor or Drift)" % kind)
        if fn is None:
            raise NotSupportedError(-6, "this libmlops was built without the module needed to attach a %s" % kind)
        oh = obj._handle()
        if kind == "Model":
            check(fn(self._handle(), oh, to_bytes(name or "", "name"), to_bytes(version or "", "version")))
            return
        with self._lock:
            h = self._handle()
            check(fn(h, oh))
            # The registry's C side now reads the object at every render: its reference keeps
            # the object's C side alive as long as the registry's (closing either is then safe).
            h.parent.keep[(self.prefix, kind)] = oh
            prev = self._attached.pop(kind, None)
            if prev is not None and prev is not obj:
                prev._attachments.discard(self)
            self._attached[kind] = obj
            obj._attachments.add(self)  # obj.close() detaches it

    def detach(self, kind: str) -> None:
        """Detach the "Monitor" or "Drift" object."""
        fn = _attach_monitor if kind == "Monitor" else _attach_drift if kind in ("Drift", "DriftDetector") else None
        if fn is None:
            raise ValueError("detach 'Monitor' or 'Drift'")
        kind = "Drift" if kind == "DriftDetector" else kind
        with self._lock:
            h = self._handle()
            self._detach_locked(h, fn, kind)

    def _detach_locked(self, h: CRef, fn: Any, kind: str) -> None:
        check(fn(h, None))  # when this returns no render uses the object any more
        h.parent.keep.pop((self.prefix, kind), None)
        obj = self._attached.pop(kind, None)
        if obj is not None:
            obj._attachments.discard(self)

    def predict(self, model: Any, data: Any, *, margin: bool = False, out: Any = None) -> Any:
        """Model.predict(data) through mlops_metrics_std_predict: the call is timed and counted
        (requests, rows, duration, errors{reason}) in C. Same arguments and result as Model.predict."""
        if _std_predict is None:
            raise NotSupportedError(-6, "this libmlops was built without the model module")
        h = self._handle()
        return model._predict_with(lambda mh, x, n, c, f, o, size: _std_predict(h, mh, x, n, c, f, o, size),
                                   data, margin, out)

    @property
    def requests(self) -> float:
        """Value of `<prefix>_prediction_requests_total`."""
        h = self._handle()
        return _series_value(_std_requests(h))

    @property
    def rows(self) -> float:
        """Value of `<prefix>_prediction_rows_total`."""
        h = self._handle()
        return _series_value(_std_rows(h))

    def duration(self) -> Tuple[List[int], float, int]:
        """Snapshot of `<prefix>_prediction_duration_seconds` (the registry's latency_buckets):
        (cumulative counts, sum, count)."""
        n = len(self._metrics.latency_buckets) + 1
        cum = (_u64 * n)()
        sm, c = _d(), _u64()
        h = self._handle()
        check(_snapshot(_std_duration(h), cum, n, ctypes.byref(sm), ctypes.byref(c)))
        return list(cum), sm.value, c.value

    def __repr__(self) -> str:
        return "<mlops.StandardMetrics prefix=%s>" % self.prefix

    def _detach_closing(self, obj: Any) -> None:
        """Called by Monitor/DriftDetector.close(): detach `obj` if this registry is still open (if it
        is closed, its C reference keeps `obj`'s C side alive until the registry is freed)."""
        with self._lock:
            for kind, o in list(self._attached.items()):
                if o is obj:
                    try:
                        h = self._handle()
                    except StateError:
                        del self._attached[kind]
                        continue
                    self._detach_locked(h, _attach_monitor if kind == "Monitor" else _attach_drift, kind)
            obj._attachments.discard(self)

    def _forget(self) -> None:
        """Called by Metrics.close(): drop the Python side of the attachments (the C side is the
        registry's reference, released with it)."""
        with self._lock:
            for obj in self._attached.values():
                obj._attachments.discard(self)
            self._attached.clear()

    @staticmethod
    def error_reason(status: int) -> str:
        """The reason label used for a C status code ("validation", "shape", ...)."""
        return _error_reason(int(status)).decode()


class Metrics(Handle):
    """A Prometheus registry: counters, gauges, histograms, the standard `ml_*` metrics, collectors.

    Args:
        max_families: families the registry accepts.
        max_series: default bound on label combinations per family.
        prefix: prefix of the standard metrics (standard(), attach()).
        latency_buckets: buckets of `<prefix>_prediction_duration_seconds`; None = LATENCY_BUCKETS
            (1 us to 1 s, see exponential_buckets()).

    Close it (or use `with`) to free it; families, series and StandardMetrics die with it and
    raise StateError afterwards. Every method may be called from any thread.
    """

    _what = "metrics registry"

    _c_free = staticmethod(_free)

    def _closing(self, c: CRef) -> None:
        for std in self._std.values():
            std._forget()
        self._collectors = []  # the C reference keeps the installed thunks (keep["collectors"])

    _h: Optional[CRef] = None  # the pinned C handle; None once closed (or if __init__ failed)

    def __init__(self, *, max_families: int = 256, max_series: int = 1000, prefix: str = "ml",
                 latency_buckets: Optional[Sequence[float]] = None) -> None:
        self._h: Optional[CRef] = None
        opts = _Opts()
        _opts_init(ctypes.byref(opts))
        opts.max_families = int(max_families)
        opts.default_max_series = int(max_series)
        lat = LATENCY_BUCKETS if latency_buckets is None else tuple(float(b) for b in latency_buckets)
        if latency_buckets is not None:  # validated in C (count, finite, increasing)
            arr = (_d * max(1, len(lat)))(*lat)
            opts.latency_buckets = ctypes.cast(arr, ctypes.POINTER(_d))
            opts.n_latency_buckets = len(lat)
        out = _vp()
        check(_create(ctypes.byref(opts), ctypes.byref(out)))
        self.latency_buckets: Tuple[float, ...] = lat
        c = self._adopt(out.value)
        self._prefix = prefix
        self._std: Dict[str, StandardMetrics] = {}
        self._families: Dict[str, Family] = {}
        self._collectors: List[Tuple[Collector, Any]] = []
        c.keep["collectors"] = self._collectors  # thunks live as long as the C registry may call them

    def _register(self, type_: int, name: str, help: str, labels: Sequence[str], buckets: Optional[Sequence[float]],
                  max_series: int) -> Family:
        opts = _FamilyOpts()
        _fopts_init(ctypes.byref(opts))
        labels = tuple(labels)
        lab = _strings(labels, "label name")
        opts.label_names = ctypes.cast(lab, ctypes.POINTER(_cp))
        opts.n_labels = len(labels)
        bk: Tuple[float, ...] = ()
        if type_ == HISTOGRAM:
            bk = tuple(float(b) for b in buckets) if buckets is not None else DEFAULT_BUCKETS
            if buckets is not None:
                arr = (_d * max(1, len(bk)))(*bk)
                opts.buckets = ctypes.cast(arr, ctypes.POINTER(_d))
                opts.n_buckets = len(bk)
        elif buckets is not None:
            raise ValueError("buckets are for histograms")
        opts.max_series = int(max_series)
        out = _vp()
        check(_register(self._handle(), type_, to_bytes(name, "name"), to_bytes(help, "help"), ctypes.byref(opts), ctypes.byref(out)))
        fam = self._families[name] = Family(self, out.value, type_, name, labels, bk)
        return fam

    def counter(self, name: str, help: str = "", labels: Sequence[str] = (), *, max_series: int = 0) -> Family:
        """Register a counter (name should end in `_total`)."""
        return self._register(COUNTER, name, help, labels, None, max_series)

    def gauge(self, name: str, help: str = "", labels: Sequence[str] = (), *, max_series: int = 0) -> Family:
        """Register a gauge."""
        return self._register(GAUGE, name, help, labels, None, max_series)

    def histogram(self, name: str, help: str = "", labels: Sequence[str] = (), *,
                  buckets: Optional[Sequence[float]] = None, max_series: int = 0) -> Family:
        """Register a histogram; `buckets` are finite increasing upper bounds (+Inf is implicit),
        default .005 ... 10 seconds."""
        return self._register(HISTOGRAM, name, help, labels, buckets, max_series)

    def standard(self, prefix: Optional[str] = None) -> StandardMetrics:
        """The standard metrics with `prefix` (default: the registry's, "ml"), created on first use."""
        h = self._handle()
        prefix = prefix or self._prefix
        std = self._std.get(prefix)
        if std is None:
            out = _vp()
            check(_std_create(h, to_bytes(prefix, "prefix"), ctypes.byref(out)))
            std = self._std[prefix] = StandardMetrics(self, out.value, prefix)
        return std

    def attach(self, obj: Any, name: Optional[str] = None, version: Optional[str] = None) -> None:
        """Attach a Model, Monitor or Drift detector to the standard metrics (see StandardMetrics.attach)."""
        self.standard().attach(obj, name=name, version=version)

    def find(self, name: str) -> Family:
        """The family called `name` (registered here or by the standard metrics). NotFoundError if none.

        A family registered through another object has placeholder label names ("label0"...), so pass
        its label values positionally; its histogram bucket bounds are not known (snapshot() raises)."""
        h = self._handle()
        fam = self._families.get(name)
        if fam is not None:
            return fam
        out = _vp()
        check(_find(h, to_bytes(name, "name"), ctypes.byref(out)))
        n = int(_family_n_labels(out.value))
        return Family(self, out.value, int(_family_type(out.value)), _family_name(out.value).decode(),
                      tuple("label%d" % i for i in range(n)), ())

    def __contains__(self, name: str) -> bool:
        out = _vp()
        st = _find(self._handle(), to_bytes(name, "name"), ctypes.byref(out))
        if st not in (0, -10):
            check(st)
        return st == 0

    def add_collector(self, fn: Collector) -> Collector:
        """Call `fn(writer)` at every render (after the registered families) to write values pulled at
        render time; see CollectorWriter. Runs on the rendering thread under the render lock; an
        exception raised by `fn` aborts that render and is re-raised by render(). Returns `fn`."""
        h = self._handle()
        if not callable(fn):
            raise TypeError("add_collector: fn must be callable")
        if any(f is fn for f, _ in self._collectors):
            raise ExistsError(-11, "collector %r is already added" % (fn,))

        def trampoline(w: int, _user: int) -> int:
            writer = CollectorWriter(w)
            try:
                fn(writer)
                return 0
            except BaseException as e:  # never unwind through C
                _collect_tls.exc = e
                return e.status if isinstance(e, MlopsError) and e.status < 0 else -1
            finally:
                writer._h = None

        cb = COLLECT_FN(trampoline)
        check(_add_collector(h, cb, None))
        self._collectors.append((fn, cb))
        return fn

    def remove_collector(self, fn: Collector) -> None:
        """Remove a collector added with add_collector(). NotFoundError if it was not added."""
        h = self._handle()
        for i, (f, cb) in enumerate(self._collectors):
            if f is fn:
                check(_remove_collector(h, cb, None))
                del self._collectors[i]  # C guarantees cb is not running any more
                return
        raise NotFoundError(-10, "collector %r was not added" % (fn,))

    def _check_render(self, st: int) -> None:
        exc = getattr(_collect_tls, "exc", None)
        _collect_tls.exc = None
        if st != 0 and exc is not None:
            raise exc
        check(st)

    def render_into(self, buf: Union[bytearray, memoryview], format: str = "prometheus") -> int:
        """Render into a caller-owned writable buffer (NUL-terminated); returns the text length.
        ShapeError if `buf` is too small (the message tells the length needed)."""
        mv = byte_buffer(buf, "render_into: buf")
        arr = (ctypes.c_char * mv.nbytes).from_buffer(mv)
        n = _sz()
        _collect_tls.exc = None
        self._check_render(_render(self._handle(), _format(format), arr, mv.nbytes, ctypes.byref(n)))
        return int(n.value)

    def render(self, format: str = "prometheus") -> str:
        """The exposition text: format "prometheus" (text 0.0.4) or "openmetrics" (1.0, ends with # EOF)."""
        fmt = _format(format)
        out, n = _vp(), _sz()
        _collect_tls.exc = None
        self._check_render(_render_alloc(self._handle(), fmt, ctypes.byref(out), ctypes.byref(n)))
        try:
            return ctypes.string_at(out.value, n.value).decode("utf-8") if n.value else ""
        finally:
            _mfree(out)

    def write(self, path: Union[str, os.PathLike], format: str = "prometheus") -> None:
        """Render and replace `path` atomically."""
        check(_write_file(self._handle(), _format(format), os.fsencode(path)))

    @staticmethod
    def content_type(format: str = "prometheus") -> str:
        """The HTTP Content-Type for `format`."""
        return _content_type(_format(format)).decode()

    def __repr__(self) -> str:
        return "<mlops.Metrics %s, %d families>" % ("closed" if self._h is None else "open",
                                                  len(getattr(self, "_families", ())))


def _format(format: str) -> int:
    try:
        return _FORMATS[format]
    except KeyError:
        raise ValueError("format must be 'prometheus' or 'openmetrics', not %r" % (format,)) from None
