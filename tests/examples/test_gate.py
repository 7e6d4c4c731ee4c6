"""mlops-gate: may a candidate model ship?

Oracles: scikit-learn's accuracy_score, log_loss and mean_squared_error over XGBoost's own
predictions (xgboost.Booster on the same holdout rows) for every metric and for the agreement
between candidate and baseline; the Python standard library's XML parser for the JUnit report.
Models are trained by mlops-train (XGBoost's C API) on breast_cancer rows 0..399 and gated on
rows 400..568; the bad candidate is trained on the same rows with the labels shuffled.
"""
import json
import math
import os
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn import metrics as skm

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
DATA = os.path.join(ROOT, "examples", "data")
LABEL = "malignant0_benign1"
GATE = os.path.join(BIN, "mlops-gate")


def train(d, name, df, label, objective, rounds, depth):
    (d / name).mkdir()
    df.to_csv(d / name / "train.csv", index=False)
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(d / name / "train.csv"), "--label", label,
                        "--objective", objective, "--rounds", str(rounds), "--max-depth", str(depth), "--out",
                        str(d / name / "model.json")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return d / name / "model.json"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    tr, holdout = df.iloc[:400], df.iloc[400:].reset_index(drop=True)
    holdout.to_csv(d / "holdout.csv", index=False)
    noisy = tr.copy()
    noisy[LABEL] = np.random.default_rng(7).permutation(noisy[LABEL].to_numpy())
    m = {
        "good": train(d, "good", tr, LABEL, "binary:logistic", 30, 3),
        "base": train(d, "base", tr, LABEL, "binary:logistic", 10, 2),
        "shuffled": train(d, "shuffled", noisy, LABEL, "binary:logistic", 30, 3),
        "missing": train(d, "missing", tr.drop(columns=[df.columns[3]]), LABEL, "binary:logistic", 30, 3),
        "big": train(d, "big", tr, LABEL, "binary:logistic", 400, 6),
    }
    dia = pd.read_csv(os.path.join(DATA, "diabetes.csv"))
    dia.iloc[300:].to_csv(d / "dia_holdout.csv", index=False)
    m["reg"] = train(d, "reg", dia.iloc[:300], "progression", "reg:squarederror", 50, 3)
    m["reg_base"] = train(d, "reg_base", dia.iloc[:300], "progression", "reg:squarederror", 5, 2)
    return d, m, holdout, dia.iloc[300:].reset_index(drop=True)


def gate(*args, timeout=120):
    return subprocess.run([GATE, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def gate_json(*args):
    r = gate(*args, "--json")
    assert r.returncode in (0, 3), r.stderr
    doc = json.loads(r.stdout)
    return r.returncode, doc, {c["name"]: c for c in doc["checks"]}


def predict(path, df):
    b = xgb.Booster(model_file=str(path))
    return b.predict(xgb.DMatrix(df[b.feature_names])).astype(np.float64)


def junit_cases(path):
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    cases = {c.get("name"): c.find("failure") for c in suite.findall("testcase")}
    return suite, cases


def test_good_candidate_passes_with_sklearn_numbers(models, tmp_path):
    d, m, holdout, _ = models
    args = ["--candidate", m["good"], "--baseline", m["base"], "--data", d / "holdout.csv", "--label", LABEL,
            "--min-accuracy", 0.9, "--max-logloss", 0.3, "--max-logloss-increase", 0.0, "--min-agreement", 0.9,
            "--max-p99-latency-us", 1e6, "--max-memory-mb", 1024, "--schema", m["good"].parent / "schema.json"]
    rc, doc, checks = gate_json(*args, "--junit", tmp_path / "gate.xml")
    assert rc == 0 and doc["passed"] and doc["failed"] == [], doc
    y = holdout[LABEL].to_numpy()
    pc, pb = predict(m["good"], holdout), predict(m["base"], holdout)
    assert doc["rows"] == len(holdout)
    assert checks["accuracy"]["candidate"] == pytest.approx(skm.accuracy_score(y, pc >= 0.5), abs=1e-12)
    assert checks["accuracy"]["baseline"] == pytest.approx(skm.accuracy_score(y, pb >= 0.5), abs=1e-12)
    assert checks["logloss"]["candidate"] == pytest.approx(skm.log_loss(y, pc), rel=1e-6)
    assert checks["logloss"]["baseline"] == pytest.approx(skm.log_loss(y, pb), rel=1e-6)
    assert checks["logloss_increase"]["candidate"] == pytest.approx(skm.log_loss(y, pc) - skm.log_loss(y, pb),
                                                                      rel=1e-5)
    assert checks["agreement"]["candidate"] == pytest.approx(np.mean((pc >= 0.5) == (pb >= 0.5)), abs=1e-12)
    assert checks["schema"]["passed"] is True
    for name in ("p99_latency_us", "memory_mb"):
        assert checks[name]["passed"] is True and checks[name]["candidate"] >= 0, checks[name]
    suite, cases = junit_cases(tmp_path / "gate.xml")
    assert suite.get("tests") == "7" and suite.get("failures") == "0"
    assert set(cases) == set(checks) and all(f is None for f in cases.values())
    text = gate(*args)
    assert text.returncode == 0, text.stderr
    for name in checks:  # the table names every check, each one passing
        line = next(ln for ln in text.stdout.splitlines() if ln.startswith(name + " "))
        assert line.rstrip().endswith("pass"), line


def test_shuffled_labels_fail_accuracy_and_agreement(models, tmp_path):
    d, m, holdout, _ = models
    args = ["--candidate", m["shuffled"], "--baseline", m["base"], "--data", d / "holdout.csv", "--label", LABEL,
            "--min-accuracy", 0.9, "--min-agreement", 0.9, "--max-logloss-increase", 0.05]
    r = gate(*args, "--junit", tmp_path / "bad.xml")
    assert r.returncode == 3, r.stdout + r.stderr
    for name in ("accuracy", "agreement", "logloss_increase"):
        assert "FAIL " + name + " " in r.stdout, r.stdout
    rc, doc, checks = gate_json(*args)
    assert rc == 3 and doc["passed"] is False
    assert doc["failed"] == ["accuracy", "logloss_increase", "agreement"]
    y = holdout[LABEL].to_numpy()
    pc, pb = predict(m["shuffled"], holdout), predict(m["base"], holdout)
    assert checks["accuracy"]["candidate"] == pytest.approx(skm.accuracy_score(y, pc >= 0.5), abs=1e-12)
    assert checks["agreement"]["candidate"] == pytest.approx(np.mean((pc >= 0.5) == (pb >= 0.5)), abs=1e-12)
    assert checks["accuracy"]["candidate"] < 0.9 and checks["agreement"]["candidate"] < 0.9
    suite, cases = junit_cases(tmp_path / "bad.xml")
    assert suite.get("tests") == "3" and suite.get("failures") == "3"
    assert "accuracy" in cases["accuracy"].get("message") and "agreement" in cases["agreement"].get("message")


def test_latency_budget_below_measured_p99_fails(models):
    d, m, _, _ = models
    base = ["--candidate", m["good"], "--data", d / "holdout.csv", "--label", LABEL]
    rc, _, checks = gate_json(*base, "--max-p99-latency-us", 1e6)
    assert rc == 0 and checks["p99_latency_us"]["passed"] is True
    measured = checks["p99_latency_us"]["candidate"]
    assert 0 < measured < 1e6
    budget = 0.001  # 1 ns: below any single-row prediction (a clock read alone costs more)
    rc, doc, checks = gate_json(*base, "--max-p99-latency-us", budget)
    assert rc == 3 and doc["failed"] == ["p99_latency_us"]
    assert checks["p99_latency_us"]["candidate"] > budget


def test_memory_budget_below_the_models_resident_cost_fails(models):
    d, m, _, _ = models
    rc, doc, checks = gate_json("--candidate", m["big"], "--data", d / "holdout.csv", "--label", LABEL,
                                "--max-memory-mb", 0)
    assert rc == 3 and doc["failed"] == ["memory_mb"], checks["memory_mb"]
    assert checks["memory_mb"]["candidate"] > 0


def test_missing_feature_fails_the_schema_check(models, tmp_path):
    d, m, _, _ = models
    r = gate("--candidate", m["missing"], "--baseline", m["good"], "--data", d / "holdout.csv", "--label", LABEL,
             "--schema", m["good"].parent / "schema.json", "--junit", tmp_path / "s.xml")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "FAIL schema" in r.stdout and "29" in r.stdout, r.stdout
    rc, doc, checks = gate_json("--candidate", m["missing"], "--data", d / "holdout.csv", "--label", LABEL,
                                "--schema", m["good"].parent / "schema.json")
    assert rc == 3 and doc["failed"] == ["schema"] and checks["schema"]["candidate"] == 0
    _, cases = junit_cases(tmp_path / "s.xml")
    assert cases["schema"] is not None and "30 features" in cases["schema"].get("message")


def test_regression_rmse_equals_sklearn(models):
    d, m, _, dia = models
    rc, doc, checks = gate_json("--candidate", m["reg"], "--baseline", m["reg_base"], "--data",
                                d / "dia_holdout.csv", "--label", "progression", "--max-rmse", 1000,
                                "--max-rmse-increase", 0)
    y = dia["progression"].to_numpy()
    rc_ = math.sqrt(skm.mean_squared_error(y, predict(m["reg"], dia)))
    rb = math.sqrt(skm.mean_squared_error(y, predict(m["reg_base"], dia)))
    assert checks["rmse"]["candidate"] == pytest.approx(rc_, rel=1e-6)
    assert checks["rmse"]["baseline"] == pytest.approx(rb, rel=1e-6)
    assert checks["rmse_increase"]["candidate"] == pytest.approx(rc_ - rb, rel=1e-4, abs=1e-6)
    assert (rc == 0) == (rc_ <= rb) and "agreement" not in checks


def test_baseline_from_the_registry_is_verified(models, tmp_path):
    d, m, _, _ = models
    reg = tmp_path / "reg"
    run = lambda *a: subprocess.run([os.path.join(BIN, "mlops-registry"), str(reg), *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    assert run("put", "bc", m["base"], "--create").returncode == 0
    assert run("alias", "set", "bc", "production", "1").returncode == 0
    args = ["--candidate", m["good"], "--registry", reg, "--name", "bc", "--baseline-alias", "production",
            "--data", d / "holdout.csv", "--label", LABEL, "--max-logloss-increase", 0]
    rc, doc, checks = gate_json(*args)
    assert rc == 0 and doc["baseline"] == "%s/bc@production" % reg
    _, _, by_file = gate_json("--candidate", m["good"], "--baseline", m["base"], "--data", d / "holdout.csv",
                              "--label", LABEL, "--max-logloss-increase", 0)
    assert checks["logloss"]["baseline"] == by_file["logloss"]["baseline"]
    blob = reg / "bc" / "1" / "model.bin"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1  # tampered: the digest no longer matches
    blob.write_bytes(bytes(data))
    r = gate(*args)
    assert r.returncode == 2 and "model.bin" in r.stderr and r.stdout == "", r.stderr


def test_errors_exit_2_without_a_verdict(models, tmp_path):
    d, m, holdout, _ = models
    ok = ["--data", d / "holdout.csv", "--label", LABEL, "--min-accuracy", 0.5]
    bad_label = holdout.copy()
    bad_label.loc[5, LABEL] = "yes"
    bad_label.to_csv(tmp_path / "bad_label.csv", index=False)
    holdout.drop(columns=[holdout.columns[2]]).to_csv(tmp_path / "no_col.csv", index=False)
    nonbinary = holdout.copy()
    nonbinary.loc[3, LABEL] = 2
    nonbinary.to_csv(tmp_path / "nonbinary.csv", index=False)
    (tmp_path / "junk.json").write_text("{not a model")
    (tmp_path / "empty.csv").write_text(",".join(holdout.columns) + "\n")
    (tmp_path / "ragged.csv").write_text(open(d / "holdout.csv").read() + "1,2,3\n")
    os.mkfifo(tmp_path / "fifo.csv")
    iris = pd.read_csv(os.path.join(DATA, "iris.csv"))
    iris["species"] = iris["species"].astype("category").cat.codes
    iris_model = train(tmp_path, "iris", iris, "species", "multi:softprob", 3, 2)
    cases = [
        (["--candidate", m["good"], "--data", d / "holdout.csv", "--label", LABEL], "no check"),
        (["--candidate", m["good"], *ok, "--min-agreement", 0.9], "need a baseline"),
        (["--candidate", m["good"], *ok, "--bogus"], "unknown option"),
        (["--candidate", m["good"], *ok, "--max-rmse", 3], "need a regression model"),
        (["--candidate", m["reg"], "--data", d / "dia_holdout.csv", "--label", "progression", "--min-accuracy", 0.5],
         "need a binary model"),
        (["--candidate", m["good"], *ok, "--min-accuracy", "0.9x"], "not a finite number"),
        (["--candidate", m["good"], *ok, "--registry", tmp_path], "--registry needs"),
        (["--candidate", tmp_path / "nope.json", *ok], "nope.json"),
        (["--candidate", tmp_path / "junk.json", *ok], "candidate"),
        (["--candidate", iris_model, "--data", d / "holdout.csv", "--label", LABEL, "--max-rmse", 1], "multiclass"),
        (["--candidate", m["good"], "--data", tmp_path / "no_col.csv", "--label", LABEL, "--min-accuracy", 0.5],
         "has no column"),
        (["--candidate", m["good"], "--data", tmp_path / "bad_label.csv", "--label", LABEL, "--min-accuracy", 0.5],
         "malformed rows"),
        (["--candidate", m["good"], "--data", tmp_path / "nonbinary.csv", "--label", LABEL, "--min-accuracy", 0.5],
         "candidate"),
        (["--candidate", m["good"], "--data", tmp_path / "empty.csv", "--label", LABEL, "--min-accuracy", 0.5],
         "0 usable"),
        (["--candidate", m["good"], "--data", tmp_path / "ragged.csv", "--label", LABEL, "--min-accuracy", 0.5],
         "1 malformed rows"),
        (["--candidate", m["good"], "--data", tmp_path / "fifo.csv", "--label", LABEL, "--min-accuracy", 0.5],
         "not a regular file"),
        (["--candidate", m["good"], *ok, "--schema", tmp_path / "junk.json"], "--schema"),
    ]
    for args, msg in cases:
        r = gate(*args, "--junit", tmp_path / "never.xml", timeout=30)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
    assert not (tmp_path / "never.xml").exists()
