"""mlops.Metrics: families, series, standard metrics, attach, render in both formats.

Reference: every exposition is parsed back with prometheus_client's own parsers (Debian
python3-prometheus-client) and checked against the operations made here.
"""
import math
import os
import threading

import pytest

import mlops
from mlops.metrics import StandardMetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as prom_parse


def samples(text, fmt="prometheus"):
    parse = om_parse if fmt == "openmetrics" else prom_parse
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parse(text) for s in f.samples}


def test_counter_gauge_histogram_round_trip():
    with mlops.Metrics() as m:
        c = m.counter("app_requests_total", "Requests \\ and \"quotes\"\nnext", labels=("route", "code"))
        c.labels("/a\"b", "200").inc()
        c.labels(route="/a\"b", code="200").inc(2.5)
        g = m.gauge("app_temp", "Temp.")
        g.set(float("nan"))
        g2 = m.gauge("app_level", "Level.", labels=("k",))
        g2.labels("x").set(float("inf"))
        g2.labels("y").set(-1.5)
        g2.labels("y").inc(0.25)
        g2.labels("y").dec(1)
        h = m.histogram("app_latency_seconds", "Latency.", buckets=(0.1, 1.0))
        for v in (0.05, 0.5, 5):
            h.observe(v)
        assert h.snapshot() == ([1, 2, 3], 5.55, 3)
        assert c.labels("/a\"b", "200").value == 3.5
        for fmt in ("prometheus", "openmetrics"):
            text = m.render(fmt)
            s = samples(text, fmt)
            assert s[("app_requests_total", (("code", "200"), ("route", "/a\"b")))] == 3.5
            assert math.isnan(s[("app_temp", ())])
            assert s[("app_level", (("k", "x"),))] == math.inf
            assert s[("app_level", (("k", "y"),))] == -2.25
            assert s[("app_latency_seconds_count", ())] == 3
            assert s[("app_latency_seconds_bucket", (("le", "+Inf"),))] == 3
            assert s[("app_latency_seconds_sum", ())] == pytest.approx(5.55)
        assert m.render("openmetrics").endswith("# EOF\n")
        docs = {f.name: f.documentation for f in prom_parse(m.render())}
        assert docs["app_requests"] == "Requests \\ and \"quotes\"\nnext"


def test_bad_input_raises_and_changes_nothing():
    with mlops.Metrics(max_series=2) as m:
        c = m.counter("x_total", "X.", labels=("k",))
        c.labels("a").inc()
        c.labels("b")
        before = m.render()
        with pytest.raises(mlops.InvalidArgumentError, match="invalid metric name"):
            m.gauge("bad-name")
        with pytest.raises(mlops.InvalidArgumentError, match="reserved"):
            m.gauge("g", labels=("__x",))
        with pytest.raises(mlops.InvalidArgumentError, match="reserved for histogram"):
            m.histogram("h", labels=("le",))
        with pytest.raises(mlops.InvalidArgumentError, match="strictly increasing"):
            m.histogram("h", buckets=(1, 0.5))
        with pytest.raises(mlops.MlopsError, match="clashes"):
            m.gauge("x")
        with pytest.raises(mlops.InvalidArgumentError, match="negative or NaN"):
            c.labels("a").inc(-1)
        with pytest.raises(mlops.InvalidArgumentError, match="has 1 labels, got 2"):
            c.labels("a", "b")
        with pytest.raises(mlops.LimitError, match="max_series"):
            c.labels("c")
        with pytest.raises(ValueError):
            m.render("json")
        with pytest.raises(TypeError):
            c.labels("a").observe(1)
        after = m.render()
        assert after == before


def test_standard_metrics_and_model_info():
    with mlops.Metrics() as m:
        std = m.standard()
        assert m.standard() is std
        std.observe_predict(rows=10, seconds=0.002)
        std.observe_predict(rows=5, seconds=0.5, status=-13)  # MLOPS_EVALIDATION
        std.error("validation", 3)
        std.set_model_info("churn", "3", "binary:logistic", "native")
        assert StandardMetrics.error_reason(-5) == "shape"
        s = samples(m.render("openmetrics"), "openmetrics")
        assert s[("ml_prediction_requests_total", ())] == 2
        assert s[("ml_prediction_rows_total", ())] == 10
        assert s[("ml_prediction_errors_total", (("reason", "validation"),))] == 4
        assert s[("ml_prediction_duration_seconds_count", ())] == 2
        assert s[("ml_model_info", (("engine", "native"), ("model", "churn"), ("objective", "binary:logistic"),
                                    ("version", "3")))] == 1
        other = m.standard("svc")
        other.observe_predict(1, 0.1)
        assert samples(m.render())[("svc_prediction_rows_total", ())] == 1


def test_attach_model():
    path = os.path.join(os.environ.get("MLOPS_FIXTURES", ""), "models", "binary_logistic.json")
    if not os.path.exists(path):
        pytest.skip("fixture %s is missing" % path)
    with mlops.Model(path) as model, mlops.Metrics() as m:
        m.attach(model, name="fixture", version="1")
        s = samples(m.render())
        info = [k for k in s if k[0] == "ml_model_info"]
        assert len(info) == 1
        labels = dict(info[0][1])
        assert labels["model"] == "fixture" and labels["objective"] == model.objective
        assert labels["engine"] == model.engine


def test_attach_monitor():
    if not hasattr(mlops, "Monitor"):
        pytest.skip("mlops.Monitor is not available yet")
    mon = mlops.Monitor(task="binary", window=10)
    for p, y in [(0.9, 1), (0.2, 0), (0.7, 0), (0.4, 1)]:
        mon.record(p, y)
    with mlops.Metrics() as m:
        try:
            m.attach(mon)
        except mlops.NotSupportedError:
            pytest.skip("library built without the monitor bridge")
        s = samples(m.render())
        # 2 of 4 predictions right at threshold 0.5.
        assert s[("ml_model_accuracy", ())] == 0.5
        assert s[("ml_model_window_metric", (("metric", "accuracy"),))] == 0.5
        assert s[("ml_model_window_metric", (("metric", "count"),))] == 4
        m.standard().detach("Monitor")
        assert not any(k[0] == "ml_model_accuracy" for k in samples(m.render()))
    mon.close()


def test_threads_exact_totals():
    with mlops.Metrics() as m:
        c = m.counter("t_total", "T.")
        h = m.histogram("t_seconds", "T.", buckets=(0.5,))

        def work():
            for _ in range(2000):
                c.inc()
                h.observe(0.25)

        ts = [threading.Thread(target=work) for _ in range(8)]
        for t in ts:
            t.start()
        for _ in range(20):
            m.render()
        for t in ts:
            t.join()
        assert c.value == 16000
        assert h.snapshot() == ([16000, 16000], 4000.0, 16000)


def test_close_and_write(tmp_path):
    m = mlops.Metrics()
    g = m.gauge("w", "W.")
    g.set(1)
    p = tmp_path / "out.prom"
    m.write(p, "openmetrics")
    assert p.read_text().endswith("# EOF\n")
    assert mlops.Metrics.content_type("openmetrics").startswith("application/openmetrics-text")
    m.close()
    m.close()
    with pytest.raises(mlops.MlopsError, match="closed"):
        g.set(2)
    with pytest.raises(mlops.MlopsError, match="closed"):
        m.render()


def _prom_client_buckets(buckets, observations):
    """Cumulative bucket samples of a prometheus_client Histogram fed `observations` (the reference)."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest
    reg = CollectorRegistry()
    h = Histogram("ml_prediction_duration_seconds", "d", buckets=list(buckets), registry=reg)
    for v in observations:
        h.observe(v)
    out = samples(generate_latest(reg).decode())
    return {k: v for k, v in out.items() if k[0] == "ml_prediction_duration_seconds_bucket"}


def test_latency_buckets_default_and_option():
    from mlops.metrics import LATENCY_BUCKETS, exponential_buckets
    assert LATENCY_BUCKETS == tuple(1e-6 * 2.0 ** i for i in range(21))
    assert exponential_buckets(0.5, 2.5, 3) == (0.5, 1.25, 3.125)
    obs = [2e-7, 3e-6, 7e-6, 4.1e-5, 0.004, 0.3, 2.0]
    for kw, buckets in (({}, LATENCY_BUCKETS), ({"latency_buckets": [1e-5, 1e-3, 0.1]}, (1e-5, 1e-3, 0.1))):
        with mlops.Metrics(**kw) as m:
            std = m.standard()
            for v in obs:
                std.observe_predict(1, v)
            ours = {k: v for k, v in samples(m.render()).items() if k[0] == "ml_prediction_duration_seconds_bucket"}
            assert ours == _prom_client_buckets(buckets, obs)
            assert m.latency_buckets == buckets
            assert len(std.duration()[0]) == len(buckets) + 1
    for bad, msg in (([0.1, 0.01], "strictly increasing"), ([], "0 buckets"), ([1.0, math.inf], "not finite"),
                     ([1e-6] * 65, "65 buckets")):
        with pytest.raises(mlops.InvalidArgumentError, match=msg):
            mlops.Metrics(latency_buckets=bad)
    for args in ((0, 2, 3), (1, 1, 3), (1, 2, 0), (1, 2, 65), (1, 2, -1), (math.nan, 2, 3)):
        with pytest.raises(mlops.InvalidArgumentError, match="metrics_exponential_buckets"):
            exponential_buckets(*args)
