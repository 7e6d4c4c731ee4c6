"""The C++17 example (examples/cpp): RAII wrappers over the C API, checked against XGBoost and
scikit-learn on the bundled breast cancer data."""
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.metrics import accuracy_score

BIN = os.path.join(os.environ.get("MLOPS_BIN_DIR", "build/examples"), "cpp", "mlops-cpp-service")
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
LABEL = "malignant0_benign1"

pytestmark = pytest.mark.skipif(not os.path.exists(BIN), reason="no C++ compiler: example not built")


def run(*args):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cpp")
    df = pd.read_csv(os.path.join(ROOT, "examples", "data", "breast_cancer.csv"))
    train, test = df.iloc[:400], df.iloc[400:]
    feats = [c for c in df.columns if c != LABEL]
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(train[feats], train[LABEL]), 15)
    booster.save_model(str(d / "model.json"))
    # columns reversed (label still last): the service must place features by name
    test[list(reversed(feats)) + [LABEL]].to_csv(d / "test.csv", index=False)
    want = booster.inplace_predict(test[feats].to_numpy(np.float32))
    return d, test, want


def test_predictions_match_xgboost_and_accuracy_matches_sklearn(data):
    d, test, want = data
    r = run(d / "model.json", d / "test.csv")
    assert r.returncode == 0, r.stderr
    got = np.array([float(v) for v in r.stdout.split()], dtype=np.float32)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want.astype(np.float32))
    acc = accuracy_score(test[LABEL], (want >= 0.5).astype(int))
    line = r.stderr.splitlines()[0].split()
    assert line[:2] == ["rows", str(len(test))]
    assert float(line[3]) == pytest.approx(acc, abs=1e-12)
    assert "ml_prediction_requests_total 1" in r.stderr


def test_library_errors_become_exceptions_with_the_message(data, tmp_path):
    d, _, _ = data
    r = run(tmp_path / "missing.json", d / "test.csv")
    assert r.returncode == 1
    assert "missing.json" in r.stderr and "(I/O error)" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("no_such_feature,label\n1,0\n")
    r = run(d / "model.json", bad)
    assert r.returncode == 1
    assert "no feature 'no_such_feature'" in r.stderr and "(not found)" in r.stderr


def test_usage():
    r = run()
    assert r.returncode == 2 and "usage:" in r.stderr
