"""The command-line programs, end to end on the bundled data."""
import csv
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
DATA = os.path.join(ROOT, "examples", "data")


def run(*args, **kw):
    return subprocess.run([os.path.join(BIN, args[0]), *args[1:]], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    train, test = df.iloc[: 450], df.iloc[450:]
    train.to_csv(d / "train.csv", index=False)
    # reversed column order: predict must match by name
    test[list(reversed(df.columns))].to_csv(d / "test.csv", index=False)
    r = run("mlops-train", "--data", str(d / "train.csv"), "--label", "malignant0_benign1", "--objective",
            "binary:logistic", "--rounds", "20", "--max-depth", "3", "--out", str(d / "model.json"))
    assert r.returncode == 0, r.stderr
    return d, test


def test_train_stores_feature_names(trained):
    d, test = trained
    b = xgb.Booster(model_file=str(d / "model.json"))
    assert b.feature_names == [c for c in test.columns if c != "malignant0_benign1"]
    assert b.attr("trained_by") == "mlops-train"


def test_predict_matches_xgboost_and_reports_accuracy(trained):
    d, test = trained
    r = run("mlops-predict", "--model", str(d / "model.json"), "--input", str(d / "test.csv"), "--output",
            str(d / "pred.csv"), "--label", "malignant0_benign1")
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stderr
    out = pd.read_csv(d / "pred.csv")
    assert list(out.columns) == ["row", "prediction"]
    assert out["row"].tolist() == list(range(1, len(test) + 1))
    b = xgb.Booster(model_file=str(d / "model.json"))
    want = b.inplace_predict(test[b.feature_names].to_numpy(dtype=np.float32))
    np.testing.assert_array_equal(out["prediction"].to_numpy(dtype=np.float32), want)


def test_predict_margin_and_multiclass(tmp_path):
    df = pd.read_csv(os.path.join(DATA, "iris.csv"))
    df.to_csv(tmp_path / "iris.csv", index=False)
    r = run("mlops-train", "--data", str(tmp_path / "iris.csv"), "--label", df.columns[-1], "--objective",
            "multi:softprob", "--rounds", "5", "--max-depth", "2", "--out", str(tmp_path / "iris.ubj"))
    assert r.returncode == 0, r.stderr
    r = run("mlops-predict", "--model", str(tmp_path / "iris.ubj"), "--input", str(tmp_path / "iris.csv"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(r.stdout.splitlines()))
    assert rows[0] == ["row", "class_0", "class_1", "class_2"]
    assert len(rows) == len(df) + 1
    r = run("mlops-predict", "--model", str(tmp_path / "iris.ubj"), "--input", str(tmp_path / "iris.csv"), "--margin")
    b = xgb.Booster(model_file=str(tmp_path / "iris.ubj"))
    want = b.inplace_predict(df.iloc[:, :-1].to_numpy(dtype=np.float32), predict_type="margin")
    got = np.array([[float(v) for v in row[1:]] for row in csv.reader(r.stdout.splitlines()[1:])], dtype=np.float32)
    np.testing.assert_array_equal(got, want)


def test_malformed_rows_are_reported_and_skipped(trained, tmp_path):
    d, test = trained
    lines = open(d / "test.csv").read().splitlines()
    header = lines[0].split(",")
    bad = lines[2].split(",")
    bad[header.index("mean_area")] = "abc"
    lines[2] = ",".join(bad)
    lines[4] = ",".join(lines[4].split(",")[:-3])
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    r = run("mlops-predict", "--model", str(d / "model.json"), "--input", str(tmp_path / "bad.csv"))
    assert r.returncode == 3
    assert "row 2, column mean_area" in r.stderr
    assert "row 4" in r.stderr and "columns" in r.stderr
    out = list(csv.reader(r.stdout.splitlines()))
    ids = [int(row[0]) for row in out[1:]]
    assert 2 not in ids and 4 not in ids and len(ids) == len(test) - 2


def test_usage_and_io_errors(trained, tmp_path):
    d, _ = trained
    assert run("mlops-predict").returncode == 2
    assert run("mlops-predict", "--model", str(d / "model.json"), "--input", "/nonexistent.csv").returncode == 2
    r = run("mlops-predict", "--model", "/nonexistent.json", "--input", str(d / "test.csv"))
    assert r.returncode == 2 and "nonexistent.json" in r.stderr
    (tmp_path / "few.csv").write_text("a,b\n1,2\n")
    r = run("mlops-predict", "--model", str(d / "model.json"), "--input", str(tmp_path / "few.csv"))
    assert r.returncode == 2 and "mean_radius" in r.stderr
    assert run("mlops-train", "--data", str(d / "train.csv")).returncode == 2
    r = run("mlops-train", "--data", str(d / "train.csv"), "--label", "nope", "--out", str(tmp_path / "m.json"))
    assert r.returncode == 2 and "nope" in r.stderr


def test_train_writes_schema_beside_model(trained):
    d, test = trained
    import json
    schema = json.load(open(d / "schema.json"))
    names = [f["name"] for f in schema["features"]]
    b = xgb.Booster(model_file=str(d / "model.json"))
    assert names == b.feature_names
    assert all("min" in f and "max" in f for f in schema["features"] if f["type"] in ("float", "int"))


def test_predict_with_schema_reports_every_invalid_row(trained, tmp_path):
    d, test = trained
    df = test.copy()
    df = df.astype(object)
    df.iloc[1, df.columns.get_loc("mean_radius")] = -5.0          # out of range (training min >= 0)
    df.iloc[3, df.columns.get_loc("mean_texture")] = "abc"        # wrong type
    df.iloc[5, df.columns.get_loc("mean_area")] = ""              # missing -> null, allowed (nullable)
    df.iloc[7, df.columns.get_loc("mean_smoothness")] = 1e9       # out of range
    df.to_csv(tmp_path / "bad.csv", index=False)
    r = run("mlops-predict", "--model", str(d / "model.json"), "--input", str(tmp_path / "bad.csv"), "--schema",
            str(d / "schema.json"), "--metrics-out", str(tmp_path / "metrics.prom"))
    assert r.returncode == 3, r.stderr
    assert "row 2, feature mean_radius: out_of_range" in r.stderr
    assert "row 4, feature mean_texture: wrong_type" in r.stderr
    assert "row 8, feature mean_smoothness: out_of_range" in r.stderr
    out = list(csv.reader(r.stdout.splitlines()))
    ids = [int(row[0]) for row in out[1:]]
    # Independent oracle: pandas against the bounds in schema.json (compared in float32,
    # as documented); held-out rows may fall outside the training range on their own.
    import json
    schema = json.load(open(d / "schema.json"))
    num = pd.read_csv(tmp_path / "bad.csv").apply(pd.to_numeric, errors="coerce")
    raw = pd.read_csv(tmp_path / "bad.csv", dtype=str, keep_default_na=False)
    bad_rows = set()
    for f in schema["features"]:
        col = num[f["name"]].astype(np.float32)
        lo, hi = np.float32(f.get("min", -np.inf)), np.float32(f.get("max", np.inf))
        wrong = col.isna() & (raw[f["name"]] != "")
        bad_rows |= set(np.flatnonzero(wrong | (col < lo) | (col > hi)) + 1)
    assert {2, 4, 8} <= bad_rows and 6 not in bad_rows
    assert sorted(set(range(1, len(df) + 1)) - bad_rows) == ids
    n_invalid = len(bad_rows)
    # The valid rows get exactly XGBoost's predictions (row 6 with its NaN).
    b = xgb.Booster(model_file=str(d / "model.json"))
    x = pd.read_csv(tmp_path / "bad.csv")[b.feature_names].apply(pd.to_numeric, errors="coerce")
    want = b.inplace_predict(x.to_numpy(dtype=np.float32), missing=np.nan)
    got = np.array([float(row[1]) for row in out[1:]], dtype=np.float32)
    np.testing.assert_array_equal(got, want[[i - 1 for i in ids]])
    prom = open(tmp_path / "metrics.prom").read()
    assert 'ml_prediction_errors_total{reason="validation"} %d' % n_invalid in prom
    assert "ml_prediction_rows_total %d" % (len(df) - n_invalid) in prom
    assert "ml_prediction_duration_seconds_count 1" in prom
    subprocess.run(["promtool", "check", "metrics"], input=prom, text=True, check=True, capture_output=True)


def test_schema_that_does_not_match_model_is_refused(trained, tmp_path):
    d, _ = trained
    (tmp_path / "s.json").write_text('{"features": [{"name": "x", "type": "float"}]}')
    r = run("mlops-predict", "--model", str(d / "model.json"), "--input", str(d / "test.csv"), "--schema",
            str(tmp_path / "s.json"))
    assert r.returncode == 2 and "feature" in r.stderr
