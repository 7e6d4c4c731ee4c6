"""mlops.Monitor against scikit-learn, computed directly on the same records."""
import math
import threading

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, log_loss, mean_absolute_error,
                             mean_squared_error, precision_score, r2_score, recall_score, roc_auc_score)

import mlops
from mlops import FormatError, MlopsError, NotFoundError, ShapeError
from mlops.monitor import Monitor

TOL = 1e-9


def close(got, want):
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return math.isnan(got)
    return abs(got - want) <= TOL * max(1.0, abs(want))


def assert_metrics(got, want):
    assert set(want) <= set(got), (sorted(want), sorted(got))
    for k, v in want.items():
        assert close(got[k], v), "%s: monitor %r, scikit-learn %r" % (k, got[k], v)


def sk_binary(p, y, thr=0.5):
    yhat = (p >= thr).astype(int)
    out = {"count": len(y), "accuracy": accuracy_score(y, yhat),
           "precision": precision_score(y, yhat, zero_division=0),
           "recall": recall_score(y, yhat, zero_division=0), "f1": f1_score(y, yhat, zero_division=0),
           "log_loss": log_loss(y, p, labels=[0, 1]), "brier": brier_score_loss(y, p),
           "mean_prediction": float(np.mean(p)), "mean_label": float(np.mean(y))}
    out["roc_auc"] = roc_auc_score(y, p) if len(set(y)) == 2 else float("nan")
    return out


def sk_regression(yhat, y, tol):
    return {"count": len(y), "mse": mean_squared_error(y, yhat), "rmse": mean_squared_error(y, yhat, squared=False),
            "mae": mean_absolute_error(y, yhat), "r2": r2_score(y, yhat),
            "tolerance_accuracy": float(np.mean(np.abs(y - yhat) < tol))}


def test_keys_and_context_manager():
    with Monitor(task="binary", window=10) as m:
        assert mlops.Monitor is Monitor
        assert set(m.metrics()) == {"count", "mean_prediction", "mean_label", "accuracy", "precision", "recall", "f1",
                                    "log_loss", "roc_auc", "brier"}
        assert m.metrics()["count"] == 0 and math.isnan(m.metrics()["accuracy"])
    m.close()  # idempotent
    with pytest.raises(MlopsError):
        m.metrics()
    with Monitor(task="regression") as r:
        assert set(r.metrics()) == {"count", "mean_prediction", "mean_label", "mse", "rmse", "mae", "r2",
                                    "tolerance_accuracy"}
    with Monitor(task="multiclass", n_classes=3) as c:
        assert set(c.metrics()) == {"count", "mean_prediction", "mean_label", "accuracy", "log_loss", "f1"}


@pytest.mark.parametrize("window,thr", [(500, 0.5), (64, 0.35)])
def test_binary_matches_sklearn(window, thr):
    rng = np.random.default_rng(window)
    n = 1700
    p = np.where(rng.random(n) < 0.3, np.round(rng.random(n), 1), rng.random(n))  # ties for ROC AUC
    p[:5] = [0.0, 1.0, thr, 1.0, 0.0]
    y = (rng.random(n) < p * 0.8 + 0.1).astype(int)
    with Monitor(task="binary", window=window, threshold=thr) as m:
        i = 0
        for step in [1, 1, 3, 60, 1, 400, 7, 700, 1, 526]:
            if step == 1:
                m.record(float(p[i]), int(y[i]))
            else:
                m.record(p[i:i + step], y[i:i + step])
            i += step
            lo = max(0, i - window)
            assert_metrics(m.metrics(), sk_binary(p[lo:i], y[lo:i], thr))
        assert i == n
        life = m.lifetime()
        want = sk_binary(p, y, thr)
        del want["roc_auc"]
        assert "roc_auc" not in life
        assert_metrics(life, want)


def test_multiclass_matches_sklearn():
    rng = np.random.default_rng(3)
    k, n, window = 5, 900, 200
    P = rng.dirichlet(np.ones(k), n)
    P[::17] = np.round(P[::17], 1)
    y = np.array([rng.choice(k, p=row / row.sum()) for row in P])
    with Monitor(task="multiclass", n_classes=k, window=window) as m:
        for lo, hi in [(0, 1), (1, 150), (150, 420), (420, 900)]:
            m.record(P[lo:hi], y[lo:hi])
            a = max(0, hi - window)
            yhat = np.argmax(P[a:hi], axis=1)
            assert_metrics(m.metrics(), {
                "count": hi - a, "accuracy": accuracy_score(y[a:hi], yhat),
                "log_loss": log_loss(y[a:hi], P[a:hi], labels=list(range(k))),
                "f1": f1_score(y[a:hi], yhat, average="macro", zero_division=0),
                "mean_label": float(np.mean(y[a:hi])), "mean_prediction": float(np.mean(yhat))})
        m.record(P[0], 2)  # one row as a 1-D array, label as int
        assert m.metrics()["count"] == window


def test_regression_matches_sklearn_and_force_finite():
    rng = np.random.default_rng(5)
    n, window, tol = 600, 100, 0.25
    y = 50 + rng.normal(0, 2, n)
    yhat = y + rng.normal(0, 0.3, n)
    y[300:420] = 3.5
    yhat[300:410] = 3.5
    with Monitor(task="regression", window=window, tolerance=tol) as m:
        for hi in [2, 100, 150, 400, 409, 410, 415, 420, 600]:
            m.record(yhat[m.stats()["recorded"]:hi], y[m.stats()["recorded"]:hi])
            a = max(0, hi - window)
            assert_metrics(m.metrics(), sk_regression(yhat[a:hi], y[a:hi], tol))
        assert m.stats()["recorded"] == n


def test_long_stream_stays_exact():
    """Two million records through W=1000: the sliding sums must not drift (compared with sklearn)."""
    rng = np.random.default_rng(11)
    n, window = 2_000_000, 1000
    y = 1e5 + rng.normal(0, 1, n)
    yhat = y + rng.normal(0, 0.5, n)
    big = rng.integers(0, n // 2, 300)
    yhat[big] = 1e9  # huge errors that pass through the window and must leave no trace
    p = rng.random(n)
    lab = (rng.random(n) < p).astype(int)
    with Monitor(task="regression", window=window, tolerance=0.5) as r, \
            Monitor(task="binary", window=window, recompute_every=2**63) as b:
        for i in range(0, n, 100_000):
            r.record(yhat[i:i + 100_000], y[i:i + 100_000])
            b.record(p[i:i + 100_000], lab[i:i + 100_000])
        assert_metrics(r.metrics(), sk_regression(yhat[-window:], y[-window:], 0.5))
        assert_metrics(b.metrics(), sk_binary(p[-window:], lab[-window:]))


def test_delayed_labels_ttl_and_capacity():
    with Monitor(task="binary", window=100, pending_capacity=2, pending_ttl=5.0) as m:
        m.record_prediction("a", 0.9, now=0.0)
        m.record_prediction("b", 0.2, now=1.0)
        m.record_prediction("c", 0.7, now=2.0)  # evicts "a"
        with pytest.raises(NotFoundError):
            m.record_label("a", 1, now=2.0)
        m.record_label("b", 0, now=3.0)
        assert m.expire(7.0) == 1  # "c" expired (recorded at 2, ttl 5)
        s = m.stats()
        assert (s["matched"], s["evicted_capacity"], s["evicted_ttl"], s["pending"]) == (1, 1, 1, 0)
        m.record_prediction("req-42", 0.6)  # monotonic clock
        m.record_label("req-42", 1)
        assert m.metrics()["count"] == 2 and m.metrics()["accuracy"] == 1.0
    with Monitor(task="multiclass", n_classes=3) as mc:
        mc.record_prediction("x", [0.2, 0.5, 0.3])
        mc.record_label("x", 1)
        assert mc.metrics()["accuracy"] == 1.0


def test_bad_input_leaves_state_unchanged():
    with Monitor(task="binary", window=50) as m:
        m.record([0.2, 0.8, 0.6], [0, 1, 1])
        m.record_prediction("dup", 0.5)
        before, stats = m.metrics(), m.stats()
        cases = [
            (lambda: m.record(float("nan"), 1), mlops.InvalidArgumentError, "prediction"),
            (lambda: m.record(0.5, float("inf")), mlops.InvalidArgumentError, "label"),
            (lambda: m.record(0.5, 2), MlopsError, "not 0 or 1"),
            (lambda: m.record([0.1, 0.2, 1.7], [0, 1, 1]), MlopsError, "(row 3)"),
            (lambda: m.record([0.1, 0.2], [0, 1, 1]), ShapeError, "rows"),
            (lambda: m.record_prediction("dup", 0.4), MlopsError, "already pending"),
            (lambda: m.record_label("nobody", 1), NotFoundError, "not pending"),
            (lambda: m.record_label("dup", 0.5), MlopsError, "not 0 or 1"),
        ]
        for call, exc, text in cases:
            with pytest.raises(exc) as e:
                call()
            assert text in str(e.value)
            got = m.metrics()
            assert got.keys() == before.keys()
            assert all(close(got[k], before[k]) for k in got)
            assert m.stats() == stats
    with Monitor(task="multiclass", n_classes=3) as mc:
        mc.record([[0.2, 0.3, 0.5]], [2])
        before = mc.metrics()
        for call, text in [(lambda: mc.record([[0.2, 0.3, 0.5]], [3]), "not an index"),
                           (lambda: mc.record([[0.5, 0.5]], [1]), "prediction values"),
                           (lambda: mc.record([0.2, 0.3, 0.5, 0.0], 1), "expected 3")]:
            with pytest.raises(MlopsError) as e:
                call()
            assert text in str(e.value)
            assert mc.metrics() == before
    with pytest.raises(mlops.InvalidArgumentError):
        Monitor(task="multiclass", n_classes=1)  # without n_classes the first record gives it (tested below)
    with pytest.raises(mlops.InvalidArgumentError):
        Monitor(window=0)


def test_save_load_and_bad_files(tmp_path):
    path = tmp_path / "monitor.state"
    rng = np.random.default_rng(1)
    p, y = rng.random(300), rng.integers(0, 2, 300)
    with Monitor(task="binary", window=128) as m:
        m.record(p, y)
        m.set_alert("accuracy", 0.9, 0.95)
        m.record_prediction("late", 0.8)
        m.save(path)
        with Monitor.load(path) as n:
            assert n.metrics() == m.metrics()
            assert n.lifetime() == m.lifetime()
            assert n.alert_firing("accuracy") == m.alert_firing("accuracy")
            n.record_label("late", 1)
            assert n.metrics()["count"] == 128
        data = path.read_bytes()
        before = m.metrics()
        m.record(0.1, 1)
        changed = m.metrics()
        for bad, exc in [(data[: len(data) // 2], FormatError), (data[:10], FormatError),
                         (b"PK\x03\x04 not a monitor at all" * 4, FormatError),
                         (data[:-1] + bytes([data[-1] ^ 1]), MlopsError)]:
            path.write_bytes(bad)
            with pytest.raises(exc):
                Monitor.load(path)
            with pytest.raises(exc):
                m.restore(path)
            assert m.metrics() == changed
        path.write_bytes(data)
        m.restore(path)
        assert m.metrics() == before


def test_alert_callback():
    events = []
    with Monitor(task="binary", window=20) as m:
        m.set_alert("accuracy", 0.85, 0.87, min_count=20)
        m.on_alert(lambda metric, firing, value, count: events.append((metric, firing, round(value, 12), count)))
        m.record(np.full(20, 0.9), np.ones(20))
        m.record(np.full(4, 0.1), np.ones(4))  # 16/20 = 0.8 < 0.85
        assert events == [("accuracy", True, 0.8, 20)]
        assert m.alert_firing("accuracy")
        m.record(np.full(20, 0.9), np.ones(20))
        assert events[-1] == ("accuracy", False, 1.0, 20)
        m.on_alert(None)
        m.remove_alert("accuracy")
        with pytest.raises(NotFoundError):
            m.alert_firing("accuracy")


def test_threads_share_a_monitor():
    with Monitor(task="binary", window=1000) as m:
        rng = np.random.default_rng(2)
        chunks = [(rng.random(5000), rng.integers(0, 2, 5000)) for _ in range(4)]

        def work(p, y):
            for i in range(0, len(p), 250):
                m.record(p[i:i + 250], y[i:i + 250])
                m.metrics()

        threads = [threading.Thread(target=work, args=c) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert m.stats()["recorded"] == 20000
        allp = np.concatenate([c[0] for c in chunks])
        ally = np.concatenate([c[1] for c in chunks])
        assert close(m.lifetime()["accuracy"], accuracy_score(ally, (allp >= 0.5).astype(int)))


@pytest.mark.parametrize("first", ["batch", "one_row", "pending"])
def test_multiclass_without_n_classes_takes_the_first_records_width(first):
    """Monitor(task="multiclass") without n_classes: the first record's width is the class count;
    the metrics then equal scikit-learn's with labels=range(k), as with n_classes=k."""
    import pickle
    rng = np.random.default_rng(11)
    k, n = 4, 300
    P = rng.dirichlet(np.ones(k), n)
    y = rng.integers(0, k, n)
    m = Monitor(task="multiclass", window=1000)
    assert m.n_classes == 0 and "first record" in repr(m)
    with pytest.raises(mlops.StateError, match="nothing recorded yet"):
        m.metrics()
    twin = pickle.loads(pickle.dumps(m))  # a monitor still waiting pickles (its options)
    with pytest.raises(mlops.InvalidArgumentError, match="2-D"):
        m.record(P[:, 0], y)  # 1-D predictions with several labels: no width to take
    with pytest.raises(mlops.StateError):
        m.stats()  # the refused record created nothing
    if first == "batch":
        m.record(P, y)
    elif first == "one_row":
        for r in range(n):
            m.record(P[r], int(y[r]))
    else:
        for r in range(n):
            m.record_prediction("id%d" % r, P[r])
            m.record_label("id%d" % r, int(y[r]))
    assert m.n_classes == k
    yhat = np.argmax(P, axis=1)
    assert_metrics(m.metrics(), {"count": n, "accuracy": accuracy_score(y, yhat),
                                 "log_loss": log_loss(y, P, labels=list(range(k))),
                                 "f1": f1_score(y, yhat, average="macro", zero_division=0)})
    with pytest.raises(ShapeError):
        m.record(P[:, :3], y)  # the width is fixed now
    twin.record(P, y)
    assert twin.n_classes == k and twin.metrics()["log_loss"] == pytest.approx(m.metrics()["log_loss"], rel=1e-12)
    m.close()
    with pytest.raises(mlops.StateError):
        m.record(P, y)


def test_multiclass_first_record_with_one_class_is_refused_and_closing_a_waiting_monitor():
    m = Monitor(task="multiclass")
    with pytest.raises(mlops.InvalidArgumentError):
        m.record(np.ones((3, 1)), [0, 0, 0])  # one column: not a class count a monitor takes
    m.record(np.full((2, 3), 1 / 3), [0, 2])  # still waiting: the next record gives the width
    assert m.n_classes == 3
    w = Monitor(task="multiclass")
    w.close()
    with pytest.raises(mlops.StateError, match="closed"):
        w.record(np.full((2, 3), 1 / 3), [0, 2])


def test_multiclass_width_from_first_record_under_threads():
    """Eight threads race to give the first record: one creates the monitor, none is lost."""
    rng = np.random.default_rng(13)
    P = rng.dirichlet(np.ones(3), 80)
    y = rng.integers(0, 3, 80)
    m = Monitor(task="multiclass", window=10000)
    from concurrent.futures import ThreadPoolExecutor
    start = threading.Barrier(8)

    def work(t):
        start.wait()
        for r in range(t, 80, 8):
            m.record(P[r:r + 1], y[r:r + 1])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))  # re-raises a worker's exception here
    assert m.n_classes == 3 and m.metrics()["count"] == 80
    assert m.metrics()["log_loss"] == pytest.approx(log_loss(y, P, labels=[0, 1, 2]), rel=1e-9)
