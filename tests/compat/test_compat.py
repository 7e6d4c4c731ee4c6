"""Python view of newer-XGBoost models: early stopping against 1.7.4's XGBClassifier, stored
category strings in DataFrames (XGBoost 3.5 fixtures), engine and fallback metadata."""
import json
import os

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import mlops

ROOT = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "compat", "fixtures")
MANIFEST = {f["name"]: f for f in json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"]}


def f32(name):
    return np.fromfile(os.path.join(FIX, name), dtype="<f4")


def rows(fx):
    return f32(fx["x"]).reshape(fx["n_rows"], fx["n_features"])


def same_bits(a, b):
    return np.array_equal(np.asarray(a, np.float32).view(np.uint32), np.asarray(b, np.float32).view(np.uint32))


@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory):
    """XGBClassifier(early_stopping_rounds=...) from Debian's XGBoost 1.7.4, saved as UBJSON."""
    df = pd.read_csv(os.path.join(ROOT, "examples", "data", "breast_cancer.csv"))
    x, y = df.iloc[:, :-1].to_numpy(np.float32), df.iloc[:, -1].to_numpy()
    valid = np.arange(len(y)) % 4 == 0
    clf = xgb.XGBClassifier(n_estimators=80, max_depth=3, learning_rate=0.6, early_stopping_rounds=3, n_jobs=1,
                            random_state=1)
    clf.fit(x[~valid], y[~valid], eval_set=[(x[valid], y[valid])], verbose=False)
    path = str(tmp_path_factory.mktemp("es") / "model.ubj")
    clf.save_model(path)
    return clf, x, path


def test_early_stopping_predicts_like_xgbclassifier(early_stopped):
    clf, x, path = early_stopped
    assert clf.best_iteration + 1 < clf.get_booster().num_boosted_rounds()
    with mlops.Model(path) as m:
        assert m.best_iteration == clf.best_iteration
        assert m.iteration_range == (0, clf.best_iteration + 1)
        assert same_bits(m.predict(x), clf.predict_proba(x)[:, 1])
        assert not same_bits(m.predict(x), clf.get_booster().inplace_predict(x))
    with mlops.Model(path, all_rounds=True) as m:
        assert m.iteration_range == (0, clf.get_booster().num_boosted_rounds())
        assert same_bits(m.predict(x), clf.get_booster().inplace_predict(x))


def test_model_without_early_stopping_has_no_best_iteration():
    with mlops.Model(os.path.join(FIX, "random_forest.json")) as m:
        assert m.best_iteration is None


def test_stored_categories_take_strings_from_dataframes():
    fx = MANIFEST["categorical"]
    x = rows(fx)
    want = f32(fx["pred"])
    with mlops.Model(os.path.join(FIX, "categorical.ubj")) as m:
        assert m.categories == fx["categories"]
        names = m.feature_names
        df = pd.DataFrame(x[:, :-1], columns=names[:-1])
        df["plan"] = fx["plan"]  # plain strings
        assert same_bits(m.predict(df), want)
        # A pandas category column with its own order is re-coded through the model's strings.
        df["plan"] = pd.Categorical(fx["plan"], categories=sorted(set(fx["plan"]), reverse=True))
        assert same_bits(m.predict(df), want)
        df["plan"] = ["gold"] + fx["plan"][1:]
        with pytest.raises(mlops.ValidationError, match="unknown category 'gold'"):
            m.predict(df)


@pytest.mark.parametrize("name,fallback", [("binary_logistic", True), ("multi_softmax", False), ("quantile", False)])
def test_engine_and_fallback_are_reported(name, fallback):
    with mlops.Model(os.path.join(FIX, name + ".json")) as m:
        assert m.engine == "native"
        assert m.fallback is fallback
    if not fallback:
        with pytest.raises(mlops.NotSupportedError, match="per-output intercepts"):
            mlops.Model(os.path.join(FIX, name + ".json"), engine="xgboost")


def predict_cli(*args):
    import subprocess
    exe = os.path.join(os.environ.get("MLOPS_BUILD_ROOT", os.path.join(ROOT, "build")), "examples", "mlops-predict")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def write_csv(path, fx, names, plan=None):
    x = rows(fx)
    df = pd.DataFrame(x, columns=names)
    if plan is not None:
        df["plan"] = plan
    df.to_csv(path, index=False, float_format="%.9g", na_rep="")
    return path


def cli_predictions(out):
    return pd.read_csv(out)["prediction"].to_numpy(np.float32)


def test_mlops_predict_reads_category_strings_and_reports_engine(tmp_path):
    fx = MANIFEST["categorical"]
    with mlops.Model(os.path.join(FIX, "categorical.json")) as m:
        names = m.feature_names
    csv = write_csv(tmp_path / "in.csv", fx, names, plan=fx["plan"])
    r = predict_cli("--model", os.path.join(FIX, "categorical.json"), "--input", str(csv), "--output",
                    str(tmp_path / "out.csv"), "--info")
    assert r.returncode == 0, r.stderr
    assert "engine native, fallback xgboost" in r.stderr
    assert same_bits(cli_predictions(tmp_path / "out.csv"), f32(fx["pred"]))
    bad = write_csv(tmp_path / "bad.csv", fx, names, plan=["gold"] + fx["plan"][1:])
    r = predict_cli("--model", os.path.join(FIX, "categorical.json"), "--input", str(bad), "--output",
                    str(tmp_path / "out2.csv"))
    assert r.returncode == 3 and "1 invalid" in r.stderr, r.stderr


def test_mlops_predict_all_rounds_and_no_fallback(tmp_path):
    fx = MANIFEST["early_stopping"]
    names = ["f%d" % i for i in range(fx["n_features"])]
    with mlops.Model(os.path.join(FIX, "early_stopping.json")) as m:
        names = m.feature_names
    csv = write_csv(tmp_path / "in.csv", fx, names)
    model = os.path.join(FIX, "early_stopping.ubj")
    r = predict_cli("--model", model, "--input", str(csv), "--output", str(tmp_path / "best.csv"), "--info")
    assert r.returncode == 0, r.stderr
    assert "rounds [0, %d) of %d, best_iteration %d" % (fx["best_iteration"] + 1, fx["n_rounds"],
                                                         fx["best_iteration"]) in r.stderr
    assert same_bits(cli_predictions(tmp_path / "best.csv"), f32(fx["proba"]))
    r = predict_cli("--model", model, "--input", str(csv), "--output", str(tmp_path / "all.csv"), "--all-rounds")
    assert r.returncode == 0, r.stderr
    assert same_bits(cli_predictions(tmp_path / "all.csv"), f32(fx["all_rounds"]))
    r = predict_cli("--model", os.path.join(FIX, "quantile.json"), "--input", str(tmp_path / "in.csv"), "--info")
    assert "fallback none" in r.stderr
