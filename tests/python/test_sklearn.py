"""scikit-learn shapes (issue 12): predict_proba, predict_label, output_margin, DataFrames of a model
trained without feature names, Monitor.record of a predict_proba matrix. Reference values come from
xgboost's own scikit-learn wrapper (XGBClassifier / XGBRegressor) on the same data."""
import warnings

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import accuracy_score, log_loss

import mlops

RNG = np.random.default_rng(12)
X = RNG.normal(size=(300, 5)).astype(np.float32)
Y2 = (X[:, 0] + 0.5 * X[:, 1] + RNG.normal(scale=0.5, size=300) > 0).astype(int)
Y3 = np.digitize(X[:, 0] + 0.3 * RNG.normal(size=300), [-0.5, 0.5])


def _fit(est, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)  # an ndarray: the booster has no feature names (f0.. in libmlops)
    return est


def _model(est):
    return mlops.Model(bytes(est.get_booster().save_raw("json")))


@pytest.fixture(scope="module")
def binary():
    return _fit(xgb.XGBClassifier(n_estimators=15, max_depth=3), Y2)


@pytest.mark.parametrize("objective", ["multi:softprob", "multi:softmax"])
def test_multiclass_proba_and_labels_equal_xgbclassifier(objective):
    clf = _fit(xgb.XGBClassifier(n_estimators=12, max_depth=3, objective=objective), Y3)
    with _model(clf) as m:
        got = m.predict_proba(X)
        assert got.shape == (300, 3) and got.dtype == np.float32
        np.testing.assert_allclose(got, clf.predict_proba(X), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(m.predict_label(X), clf.predict(X))
        np.testing.assert_allclose(m.predict(X, output_margin=True), clf.predict(X, output_margin=True),
                                   rtol=1e-5, atol=1e-5)


def test_binary_proba_labels_and_margin_equal_xgbclassifier(binary):
    with _model(binary) as m:
        got = m.predict_proba(X)
        assert got.shape == (300, 2) and got.dtype == np.float32
        np.testing.assert_allclose(got, binary.predict_proba(X), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(m.predict_label(X), binary.predict(X))
        want = binary.predict(X, output_margin=True)
        np.testing.assert_allclose(m.predict(X, output_margin=True), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(m.predict(X, output_margin=True), m.predict(X, margin=True))


def test_regressor_predicts_and_refuses_proba():
    reg = _fit(xgb.XGBRegressor(n_estimators=10, max_depth=3), X[:, 0] * 2 + X[:, 2])
    with _model(reg) as m:
        np.testing.assert_allclose(m.predict(X), reg.predict(X), rtol=1e-5, atol=1e-5)
        for fn in (m.predict_proba, m.predict_label):
            with pytest.raises(mlops.NotSupportedError, match="task is regression .*reg:squarederror.*use predict"):
                fn(X)


def test_unnamed_model_takes_a_dataframe_by_position(binary):
    df = pd.DataFrame(X, columns=["age", "income", "c", "d", "e"])
    with _model(binary) as m:
        assert m.feature_names == ["f0", "f1", "f2", "f3", "f4"]
        np.testing.assert_array_equal(m.predict(df), m.predict(X))
        np.testing.assert_allclose(m.predict_proba(df), binary.predict_proba(df), rtol=1e-5, atol=1e-6)
        # columns named f0.. are still matched by name, in any order
        named = pd.DataFrame(X, columns=["f%d" % i for i in range(5)])[["f3", "f0", "f4", "f1", "f2"]]
        np.testing.assert_array_equal(m.predict(named), m.predict(X))
        with pytest.raises(mlops.ShapeError, match="feature"):
            m.predict(df.iloc[:, :4])


def test_named_model_still_matches_by_name():
    df = pd.DataFrame(X, columns=list("abcde"))
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(df, Y2)
    with _model(clf) as m:
        with pytest.raises(mlops.InvalidArgumentError, match="no column.*'a'"):
            m.predict(df.rename(columns={"a": "z"}))
        np.testing.assert_allclose(m.predict_proba(df[list("edcba")]), clf.predict_proba(df), rtol=1e-5, atol=1e-6)


def test_monitor_records_a_predict_proba_matrix(binary):
    proba = binary.predict_proba(X)
    with mlops.Monitor("binary", window=300) as a:
        a.record(proba, Y2)
        got = a.metrics()
    assert got["accuracy"] == pytest.approx(accuracy_score(Y2, binary.predict(X)))
    assert got["log_loss"] == pytest.approx(log_loss(Y2, proba[:, 1].astype(np.float64)), rel=1e-9)
    with mlops.Monitor("binary") as b:
        with pytest.raises(mlops.InvalidArgumentError, match="1-D"):
            b.record(np.zeros((4, 3)), [0, 1, 0, 1])  # three columns is not a binary predict_proba


def test_dataframe_fast_path_equals_the_ndarray_path(binary):
    """One to_numpy() per call for numeric frames (issue 12, DataFrames at ndarray speed): reordered and
    extra columns, NaN, int and bool columns, the same columns Index with other dtypes, and the frames
    that need the general path (category, object, a missing column) all give the ndarray answers."""
    names = ["f%d" % i for i in range(5)]
    with _model(binary) as m:
        want = m.predict(X)
        df = pd.DataFrame(X, columns=names)
        for frame in (df, df[names[::-1]], df.assign(extra=1.0), df.assign(extra="text"), df.astype(np.float64)):
            np.testing.assert_array_equal(m.predict(frame), want)
        xn = X.copy()
        xn[::7, 2] = np.nan
        np.testing.assert_array_equal(m.predict(pd.DataFrame(xn, columns=names)), m.predict(xn))
        xi = np.round(X * 3)
        ints = pd.DataFrame(xi.astype(np.int64), columns=names)
        np.testing.assert_array_equal(m.predict(ints), m.predict(xi.astype(np.float32)))
        same_index = ints.copy()
        same_index.columns = df.columns  # the remembered Index object, other dtypes
        np.testing.assert_array_equal(m.predict(df), want)
        np.testing.assert_array_equal(m.predict(same_index), m.predict(xi.astype(np.float32)))
        cat = df.assign(f1=pd.Categorical(np.where(X[:, 1] > 0, 10, 20)))
        xc = X.copy()
        xc[:, 1] = np.where(X[:, 1] > 0, 0, 1)  # category codes, as xgboost's enable_categorical
        np.testing.assert_array_equal(m.predict(cat), m.predict(xc))
        with pytest.raises(mlops.InvalidArgumentError, match="column 'f2' .*cannot be converted"):
            m.predict(df.assign(f2="x"))
