"""mlops.Model against Debian's python3-xgboost on the fixture models."""
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import mlops

FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(os.path.dirname(__file__), "..", "fixtures"))
MANIFEST = json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"]
DATA = os.path.join(FIX, "..", "..", "examples", "data")


def fixture_inputs(fx):
    x = np.fromfile(os.path.join(FIX, fx["x"]), dtype="<f4").reshape(fx["n_rows"], fx["n_features"])
    return x


@pytest.mark.parametrize("fx", MANIFEST, ids=[f["name"] for f in MANIFEST])
@pytest.mark.parametrize("fmt", ["json", "ubjson", "binary"])
@pytest.mark.parametrize("engine", ["auto", "xgboost"])
def test_predictions_equal_xgboost(fx, fmt, engine):
    path = os.path.join(FIX, fx["models"][fmt])
    x = fixture_inputs(fx)
    ref = xgb.Booster(model_file=path)
    with mlops.Model(path, engine=engine) as m:
        for margin in (False, True):
            if fx["booster"] == "gblinear":
                want = ref.predict(xgb.DMatrix(x, missing=np.nan, feature_names=ref.feature_names),
                                   output_margin=margin)
            else:
                want = ref.inplace_predict(x, missing=np.nan, predict_type="margin" if margin else "value")
            got = m.predict(x, margin=margin)
            assert got.shape == want.shape
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, want)
        assert m.n_features == fx["n_features"]
        assert m.objective == fx["objective"]
        assert m.booster == fx["booster"]
        assert m.n_rounds == fx["n_rounds"][fmt]
        assert m.attributes == fx["attributes"][fmt]
        assert m.format == fmt


def test_bytes_and_metadata():
    fx = MANIFEST[0]
    data = open(os.path.join(FIX, fx["models"]["ubjson"]), "rb").read()
    m = mlops.Model(data)
    assert m.feature_names == fx["feature_names"]
    assert m.task == "binary"
    assert m.n_outputs == 1
    assert m.feature_index(fx["feature_names"][3]) == 3
    assert m.feature_index("nope") == -1
    assert "mlops.Model" in repr(m)
    m.close()
    m.close()
    assert "closed" in repr(m)
    with pytest.raises(mlops.MlopsError):
        m.predict(np.zeros((1, 30), dtype=np.float32))


def test_dataframe_any_column_order_and_missing_column():
    fx = MANIFEST[0]
    path = os.path.join(FIX, fx["models"]["json"])
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    ref = xgb.Booster(model_file=path)
    want = ref.inplace_predict(df[fx["feature_names"]].to_numpy(dtype=np.float32), missing=np.nan)
    shuffled = df[list(reversed(df.columns))]
    with mlops.Model(path) as m:
        np.testing.assert_array_equal(m.predict(shuffled), want)
        with pytest.raises(mlops.InvalidArgumentError, match="mean_radius"):
            m.predict(df.drop(columns=["mean_radius"]))


def test_conversions_and_out_buffer():
    fx = MANIFEST[2]  # multi:softprob
    path = os.path.join(FIX, fx["models"]["json"])
    x = fixture_inputs(fx)
    with mlops.Model(path) as m:
        a = m.predict(x)
        assert a.shape == (fx["n_rows"], 3)
        np.testing.assert_array_equal(m.predict(x.astype(np.float64)), a)
        np.testing.assert_array_equal(m.predict(np.asfortranarray(x)), a)
        np.testing.assert_array_equal(m.predict(x[0]), a[:1])
        out = np.empty_like(a)
        assert m.predict(x, out=out) is out
        np.testing.assert_array_equal(out, a)
        with pytest.raises(mlops.InvalidArgumentError):
            m.predict(x, out=np.empty(3, dtype=np.float32))


def test_errors_carry_status_and_message(tmp_path):
    with pytest.raises(mlops.IOError_) as e:
        mlops.Model(tmp_path / "missing.json")
    assert "missing.json" in str(e.value) and e.value.status == -3
    bad = tmp_path / "bad.json"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(mlops.FormatError):
        mlops.Model(bad)
    with pytest.raises(mlops.FormatError):
        mlops.Model(b"")
    with pytest.raises(mlops.InvalidArgumentError):
        mlops.Model(os.path.join(FIX, MANIFEST[0]["models"]["json"]), engine="warp")
    with pytest.raises(TypeError):
        mlops.Model(42)
    with mlops.Model(os.path.join(FIX, MANIFEST[0]["models"]["json"])) as m:
        with pytest.raises(mlops.ShapeError, match="model expects 30 features, got 29"):
            m.predict(np.zeros((2, 29), dtype=np.float32))
        with pytest.raises(mlops.InvalidArgumentError):
            m.predict(np.zeros((2, 3, 4)))


def test_eight_threads_identical_results():
    fx = MANIFEST[0]
    x = fixture_inputs(fx)
    with mlops.Model(os.path.join(FIX, fx["models"]["json"])) as m:
        want = m.predict(x)

        def work(_):
            return all(np.array_equal(m.predict(x[i]), want[i:i + 1]) for i in range(len(x)))

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(work, range(32)))


def test_error_message_is_per_thread():
    got = {}

    def fail():
        try:
            mlops.Model("/nonexistent/thread-model.json")
        except mlops.MlopsError as e:
            got["msg"] = str(e)

    t = threading.Thread(target=fail)
    t.start()
    t.join()
    assert "thread-model.json" in got["msg"]


@pytest.mark.parametrize("fx", MANIFEST, ids=[f["name"] for f in MANIFEST])
def test_predict_through_the_kept_booster_equals_xgboost(fx):
    """predict(engine="xgboost") goes through the booster kept with keep_booster=True
    (MLOPS_PREDICT_XGBOOST): XGBoost 1.7.4's own numbers, margins too, and the native engine's."""
    path = os.path.join(FIX, fx["models"]["ubjson"])
    x = fixture_inputs(fx)
    ref = xgb.Booster(model_file=path)
    assert xgb.__version__ == "1.7.4"
    with mlops.Model(path, keep_booster=True) as m:
        assert m.booster_kept
        for margin in (False, True):
            if fx["booster"] == "gblinear":  # no in-place predict for gblinear in 1.7.4
                want = ref.predict(xgb.DMatrix(x, missing=np.nan, feature_names=ref.feature_names),
                                   output_margin=margin)
            else:
                want = ref.inplace_predict(x, missing=np.nan, predict_type="margin" if margin else "value")
            got = m.predict(x, engine="xgboost", margin=margin)
            assert got.shape == want.shape and got.dtype == np.float32
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(m.predict(x, margin=margin), got)  # the serving engine agrees
        with pytest.raises(mlops.InvalidArgumentError, match="engine"):
            m.predict(x, engine="native")
    with mlops.Model(path) as m:
        if not m.booster_kept:  # the native engine serves alone: no booster to predict through
            with pytest.raises(mlops.NotSupportedError):
                m.predict(x, engine="xgboost")


def test_keep_booster_is_a_choice():
    """No XGBoost booster stays beside the native engine unless asked (issue 24); asked, the model
    holds one and still predicts what XGBoost does."""
    fx = MANIFEST[0]
    path = os.path.join(FIX, fx["models"]["ubjson"])
    x = fixture_inputs(fx)
    want = xgb.Booster(model_file=path).inplace_predict(x, missing=np.nan)
    with mlops.Model(path) as m:
        assert (m.engine, m.booster_kept) == ("native", False)
    with mlops.Model(path, keep_booster=True) as m:
        assert (m.engine, m.booster_kept) == ("native", True)
        assert np.array_equal(m.predict(x), want)
    with mlops.Model(path, engine="xgboost") as m:
        assert m.booster_kept
