"""mlops.Deployment: gate metrics against scikit-learn, predictions against XGBoost, slots, canary, shadow, errors."""
import math
import os
import threading

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error

import mlops
from mlops import InvalidArgumentError, NotFoundError, RangeError, ShapeError, StateError, ValidationError
from mlops.deploy import METRICS, Deployment, metric_name

FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(os.path.dirname(__file__), "..", "fixtures"))
DATA = os.path.join(os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")),
                    "examples", "data")


def path(name):
    return os.path.join(FIX, "models", name + ".json")


def xgb_predict(name, x):
    bst = xgb.Booster(model_file=path(name))
    return bst.predict(xgb.DMatrix(x, missing=np.nan, feature_names=bst.feature_names))


@pytest.fixture(scope="module")
def bc():
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    rows = df.sample(200, random_state=5)
    return rows.iloc[:, :-1], rows.iloc[:, -1].to_numpy()


@pytest.fixture(scope="module")
def dia():
    df = pd.read_csv(os.path.join(DATA, "diabetes.csv"))
    rows = df.sample(150, random_state=6)
    return rows.iloc[:, :-1], rows.iloc[:, -1].to_numpy()


def test_gate_logloss_and_accuracy_match_sklearn(bc):
    X, y = bc
    x = X.to_numpy(np.float32)
    pa, pb = xgb_predict("binary_logistic", x), xgb_predict("parallel_forest", x)
    with mlops.Model(path("binary_logistic")) as a, mlops.Model(path("parallel_forest")) as b, Deployment(a) as d:
        d.stage(b)
        r = d.validate(X, y)
        assert r["metric"] == "logloss" and r["n_rows"] == len(y)
        assert r["live_metric"] == pytest.approx(log_loss(y, pa.astype(np.float64), eps=1e-15), rel=1e-9)
        assert r["candidate_metric"] == pytest.approx(log_loss(y, pb.astype(np.float64), eps=1e-15), rel=1e-9)
        assert r["max_abs_diff"] == pytest.approx(float(np.max(np.abs(pa - pb))), rel=1e-7)
        assert r["passed"] is False and "logloss" in r["reason"]
        with pytest.raises(ValidationError, match="validation gate"):
            d.promote()
        r = d.validate(X, y, metric="accuracy")
        assert r["live_metric"] == pytest.approx(accuracy_score(y, pa >= 0.5))
        assert r["candidate_metric"] == pytest.approx(accuracy_score(y, pb >= 0.5))
        assert r["passed"] == (r["candidate_metric"] >= r["live_metric"])
        r = d.validate(X, y, tolerance=1.0)
        assert r["passed"] and d.stats()["gate_passed"]
        d.promote()
        s = d.stats()
        assert s["promotions"] == 1 and s["has_rollback"] and not s["has_candidate"]
        slot, p = d.predict(X)
        assert slot == "blue"
        np.testing.assert_allclose(p, pb, rtol=1e-6)  # the candidate is live now


def test_gate_rmse_matches_sklearn(dia):
    X, y = dia
    x = X.to_numpy(np.float32)
    pl, pt = xgb_predict("gblinear_reg", x), xgb_predict("reg_squarederror", x)
    with mlops.Model(path("gblinear_reg")) as lin, mlops.Model(path("reg_squarederror")) as tree:
        d = Deployment(lin)
        d.stage(tree)
        r = d.validate(x, y)
        assert r["metric"] == "rmse"
        assert r["live_metric"] == pytest.approx(mean_squared_error(y, pl.astype(np.float64), squared=False), rel=1e-6)
        assert r["candidate_metric"] == pytest.approx(mean_squared_error(y, pt.astype(np.float64), squared=False),
                                                      rel=1e-6)
        assert r["passed"] is True
        d.close()


def test_promote_rollback_and_errors(bc):
    X, y = bc
    with mlops.Model(path("binary_logistic")) as a, mlops.Model(path("dart_binary")) as b, \
            mlops.Model(path("reg_squarederror")) as reg, Deployment(a) as d:
        pa = a.predict(X)
        with pytest.raises(StateError, match="nothing to roll back"):
            d.rollback()
        with pytest.raises(StateError, match="no candidate"):
            d.promote(force=True)
        with pytest.raises(StateError, match="no candidate"):
            d.validate(X, y)
        with pytest.raises(ShapeError, match="10 features"):
            d.stage(reg)
        with pytest.raises(TypeError):
            d.stage("model.json")
        with pytest.raises(RangeError, match="canary"):
            d.set_canary(1.5)
        with pytest.raises(ShapeError):
            d.predict(np.zeros((2, 29), np.float32))
        with pytest.raises(InvalidArgumentError, match="metric must be one of"):
            d.validate(X, y, metric="f1")
        s = d.stats()
        assert not s["has_candidate"] and s["canary_fraction"] == 0.0 and s["errors"]["blue"] == 1
        d.stage(b)
        with pytest.raises(mlops.RangeError, match="binary label"):
            d.validate(X, np.full(len(y), 2.0))
        with pytest.raises(InvalidArgumentError, match="no criterion"):
            d.validate(X)
        with pytest.raises(InvalidArgumentError, match="labels for"):
            d.validate(X, y[:-1])
        d.promote(force=True)
        assert d.model("previous").objective == "binary:logistic"
        with pytest.raises(NotFoundError, match="green slot is empty"):
            d.model("green")
        d.rollback()
        slot, p = d.predict(X)
        assert slot == "blue"
        np.testing.assert_array_equal(p, pa)
        with pytest.raises(StateError, match="nothing to roll back"):
            d.rollback()
    with pytest.raises(StateError, match="closed"):
        d.predict(X)
    d.close()  # twice is harmless


def test_canary_and_shadow(bc):
    X, y = bc
    with mlops.Model(path("binary_logistic")) as a, mlops.Model(path("dart_binary")) as b:
        pa, pb = a.predict(X), b.predict(X)
        d = Deployment(a, canary_fraction=0.2, hash_seed=7)
    # The deployment holds its own references: the Model objects are closed now.
    with d:
        assert d.predict(X, key="u1")[0] == "blue"  # nothing staged yet
        d.stage(mlops.Model(path("dart_binary")))
        slots = [d.predict(X[:1])[0] for _ in range(100)]
        assert slots.count("green") == 20  # keyless: exactly floor(n f)
        keyed = {k: d.predict(X[:1], key="user-%d" % k)[0] for k in range(2000)}
        assert all(d.predict(X[:1], key="user-%d" % k)[0] == s for k, s in list(keyed.items())[:200])
        g = sum(s == "green" for s in keyed.values())
        assert abs(g - 400) < 5 * math.sqrt(2000 * 0.2 * 0.8)
        slot, p = d.predict(X, key=b"user-0")
        np.testing.assert_array_equal(p, pb if slot == "green" else pa)
        d.set_canary(0.0)
        d.set_shadow(True)
        before = d.stats()
        slot, p = d.predict(X)
        assert slot == "blue"
        np.testing.assert_array_equal(p, pa)
        s = d.stats()
        assert s["shadow_requests"] == before["shadow_requests"] + 1
        assert s["shadow_rows"] == before["shadow_rows"] + len(X)
        assert s["shadow_disagreements"] - before["shadow_disagreements"] == int(np.sum(pa != pb))
        assert s["shadow_max_abs_diff"] == pytest.approx(float(np.max(np.abs(pa.astype(np.float64) - pb))))
        assert s["shadow"] is True and s["has_candidate"] is True


def test_predict_from_threads_while_switching(bc):
    X, _ = bc
    x = X.to_numpy(np.float32)
    with mlops.Model(path("binary_logistic")) as a, mlops.Model(path("dart_binary")) as b, Deployment(a) as d:
        pa, pb = a.predict(x), b.predict(x)
        stop = threading.Event()
        bad = []

        def work(i):
            k = 0
            while not stop.is_set():
                r = (i * 31 + k) % len(x)
                _, p = d.predict(x[r:r + 1], key=k)
                if p[0] != pa[r] and p[0] != pb[r]:
                    bad.append((r, p[0]))
                k += 1

        d.set_canary(0.5)
        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for _ in range(30):
            d.stage(b)
            d.promote(force=True)
            d.rollback()
        stop.set()
        for t in ts:
            t.join()
        assert not bad
        assert d.stats()["rollbacks"] == 30


def test_metric_names_equal_the_c_names():
    assert {k: metric_name(v) for k, v in METRICS.items()} == {k: k for k in METRICS}


# Issue 28 #5: the gate compares like with like. Models trained here by XGBoost on one data set, one
# per objective; stage() accepts a candidate only when its output kind (probability, margin, class
# index) is the live model's.
OUTPUT_KIND = {"binary:logistic": "probability", "binary:logitraw": "margin", "binary:hinge": "class index",
               "multi:softprob": "probability", "multi:softmax": "class index"}


@pytest.fixture(scope="module")
def by_objective(bc):
    x, y = bc
    rng = np.random.default_rng(3)
    y3 = rng.integers(0, 3, len(y))
    out = {}
    for obj in OUTPUT_KIND:
        params = {"objective": obj, "max_depth": 2, "seed": 1}
        label = y
        if obj.startswith("multi:"):
            params["num_class"] = 3
            label = y3
        bst = xgb.train(params, xgb.DMatrix(x, label), num_boost_round=3)
        out[obj] = mlops.Model(bytes(bst.save_raw("json")))
    yield out
    for m in out.values():
        m.close()


@pytest.mark.parametrize("live,cand", [(a, b) for a in sorted(OUTPUT_KIND) for b in sorted(OUTPUT_KIND)
                                       if a.split(":")[0] == b.split(":")[0]])  # one task kind
def test_stage_compares_output_kinds(by_objective, live, cand):
    with Deployment(by_objective[live]) as d:
        if OUTPUT_KIND[live] == OUTPUT_KIND[cand]:
            d.stage(by_objective[cand])
            assert d.stats()["has_candidate"]
        else:
            with pytest.raises(InvalidArgumentError, match="candidate outputs a %s \\(%s\\), the live model a %s"
                               % (OUTPUT_KIND[cand], cand, OUTPUT_KIND[live])):
                d.stage(by_objective[cand])
            assert not d.stats()["has_candidate"]


def bc_rows():
    return pd.read_csv(os.path.join(DATA, "breast_cancer.csv")).iloc[:, :-1].to_numpy(np.float32)


def test_predict_has_models_shape_and_positional_key_warns():
    """Deployment.predict(X, *, key=None, output_margin=False), as Model.predict and Router.predict."""
    import warnings
    x = bc_rows()[:6]
    with mlops.Model(path("binary_logistic")) as a, mlops.Deployment(a) as d:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            slot, m = d.predict(x, key="u", output_margin=True)
        bst = xgb.Booster(model_file=path("binary_logistic"))
        np.testing.assert_allclose(m, bst.inplace_predict(x, missing=np.nan, predict_type="margin"), atol=1e-5)
        with pytest.warns(DeprecationWarning, match="positional key"):
            old = d.predict(x, "u")
        assert old[0] == slot == "blue"
        np.testing.assert_array_equal(old[1], d.predict(x, key="u")[1])
        with pytest.raises(TypeError, match="keywords only"):
            d.predict(x, "u", key="u")
