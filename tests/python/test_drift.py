"""Python binding of the drift module, checked against SciPy 1.10."""
import json
import os
import subprocess
import warnings

import numpy as np
import pytest
from scipy import stats

import mlops


def _scipy(a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stats.ks_2samp(a, b, **kw)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("method", ["auto", "exact", "asymp"])
def test_ks_2samp_matches_scipy(alternative, method):
    rng = np.random.default_rng(7)
    for _ in range(40):
        n, m = rng.integers(1, 400, size=2)
        a = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
        b = np.round(rng.normal(loc=rng.choice([0, 0.2, 1.0]), size=m), int(rng.integers(0, 3)))
        got = mlops.ks_2samp(a, b, alternative=alternative, method=method)
        want = _scipy(a, b, alternative=alternative, method=method)
        assert got.statistic == want.statistic
        assert got.pvalue == pytest.approx(want.pvalue, rel=1e-8, abs=0)
        s, p = got  # tuple-like
        assert (s, p) == (got.statistic, got.pvalue)


def test_ks_2samp_bad_input():
    with pytest.raises(mlops.InvalidArgumentError, match="sample x is empty"):
        mlops.ks_2samp([], [1.0])
    with pytest.raises(mlops.InvalidArgumentError, match="NaN"):
        mlops.ks_2samp([1.0, float("nan")], [1.0])
    with pytest.raises(mlops.InvalidArgumentError, match="alternative"):
        mlops.ks_2samp([1.0], [1.0], alternative="sideways")


def _bh(p):
    p = np.asarray(p)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.empty(m)
    run = 1.0
    for k in range(m - 1, -1, -1):
        run = min(run, p[order[k]] * m / (k + 1))
        adj[order[k]] = run
    return adj


@pytest.mark.parametrize("correction", ["none", "bonferroni", "fdr"])
def test_detector_matches_scipy_on_window(correction):
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(2000, 4))
    ref[:, 3] = rng.integers(0, 5, size=2000)  # categorical
    W = 300
    stream = rng.normal(size=(1000, 4))
    stream[:, 1] += 0.3
    stream[:, 2] = np.round(stream[:, 2], 1)
    stream[::17, 0] = np.nan
    stream[:, 3] = rng.choice(5, size=1000, p=[0.3, 0.3, 0.2, 0.1, 0.1])
    with mlops.DriftDetector(ref, window=W, feature_names=["a", "b", "c", "cat"], categorical=["cat"],
                             correction=correction) as det:
        det.update(stream[:500])
        for row in stream[500:]:
            det.update(row)
        rep = det.report()
        win = stream[-W:]
        raw = []
        for i, f in enumerate(rep["features"][:3]):
            col = win[:, i]
            col = col[~np.isnan(col)]
            want = _scipy(ref[:, i], col)
            assert f["statistic"] == want.statistic
            assert f["pvalue"] == pytest.approx(want.pvalue, rel=1e-8)
            assert f["n_missing"] == int(np.isnan(win[:, i]).sum())
            assert f["missing_rate"] == pytest.approx(np.isnan(win[:, i]).mean())
            raw.append(want.pvalue)
        cats = np.arange(5)
        table = np.array([[np.sum(ref[:, 3] == c) for c in cats], [np.sum(win[:, 3] == c) for c in cats]])
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        assert rep["features"][3]["statistic"] == pytest.approx(chi2, rel=1e-10)
        assert rep["features"][3]["pvalue"] == pytest.approx(p, rel=1e-8)
        raw.append(p)
        if correction == "bonferroni":
            adj = np.minimum(1, np.array(raw) * 4)
        elif correction == "fdr":
            adj = _bh(raw)
        else:
            adj = np.array(raw)
        got = [f["pvalue_adjusted"] for f in rep["features"]]
        np.testing.assert_allclose(got, adj, rtol=1e-8)
        flags = [f["drift"] for f in rep["features"]]
        assert flags == [bool(a < 0.05) for a in adj]
        assert rep["drift_share"] == pytest.approx(sum(flags) / 4)
        assert rep["dataset_drift"] == (sum(flags) / 4 >= 0.5)
        assert rep["mean_statistic"] == pytest.approx(np.mean([f["statistic"] for f in rep["features"][:3]]))


def test_reference_from_first_rows_predictions_and_persistence(tmp_path):
    rng = np.random.default_rng(1)
    det = mlops.DriftDetector(None, window=100, n_features=2, reference_size=200)
    det.update(rng.normal(size=(150, 2)))
    with pytest.raises(mlops.MlopsError, match="reference not complete"):
        det.report()
    det.update(rng.normal(size=(50, 2)))
    det.update(rng.normal(loc=[0, 2], size=(100, 2)))
    preds = rng.uniform(size=300)
    det.update_predictions(preds)
    rep = det.report()
    assert rep["features"][1]["drift"]
    assert "prediction" in rep
    want = _scipy(preds[:200], preds[200:])
    assert rep["prediction"]["statistic"] == want.statistic
    path = tmp_path / "drift.state"
    det.save(path)
    with mlops.DriftDetector.load(path) as loaded:
        assert loaded.report() == rep
        assert loaded.feature_names == ["f0", "f1"]
    (tmp_path / "bad.state").write_bytes(path.read_bytes()[:-9])
    with pytest.raises(mlops.FormatError):
        mlops.DriftDetector.load(tmp_path / "bad.state")
    with pytest.raises(mlops.ShapeError):
        det.update(np.zeros((3, 3)))
    assert det.report() == rep  # unchanged
    assert det.feature_bytes(0) > 0
    det.close()
    det.close()


def _cli():
    return os.path.join(os.environ.get("MLOPS_BUILD_ROOT", "build"), "examples", "mlops-drift")


@pytest.mark.skipif(not os.path.exists(_cli()), reason="mlops-drift not built")
def test_cli(tmp_path):
    rng = np.random.default_rng(5)
    ref = tmp_path / "ref.csv"
    cur = tmp_path / "cur.csv"
    r = rng.normal(size=(500, 3))
    c = rng.normal(size=(300, 3))
    c[:, 2] += 1.0
    with open(ref, "w") as f:
        f.write("a,b,shifted,onlyref\n")
        for row in r:
            f.write(",".join("%.17g" % v for v in row) + ",1\n")
    with open(cur, "w") as f:
        f.write("shifted,a,b\n")
        for row in c:
            f.write("%.17g,%.17g,%.17g\n" % (row[2], row[0], row[1]))
    out = subprocess.run([_cli(), "--reference", str(ref), "--current", str(cur), "--json", "--exclude", "b",
                          "--html", str(tmp_path / "r.html")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    names = [f["name"] for f in rep["features"]]
    assert sorted(names) == ["a", "shifted"]
    for f in rep["features"]:
        i = {"a": 0, "shifted": 2}[f["name"]]
        want = _scipy(r[:, i], c[:, i])
        assert f["statistic"] == want.statistic
        assert f["pvalue"] == pytest.approx(want.pvalue, rel=1e-8)
    assert {f["name"]: f["drift"] for f in rep["features"]}["shifted"] is True
    html = (tmp_path / "r.html").read_text()
    assert html.count("<svg") == 2 and html.index("shifted") < html.index(">a<")
    table = subprocess.run([_cli(), "--reference", str(ref), "--current", str(cur)], capture_output=True, text=True)
    assert table.returncode == 0 and table.stdout.index("shifted") < table.stdout.index("\na ")
    bad = subprocess.run([_cli(), "--reference", str(ref)], capture_output=True, text=True)
    assert bad.returncode == 2
    missing = subprocess.run([_cli(), "--reference", str(tmp_path / "no.csv"), "--current", str(cur)],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no.csv" in missing.stderr
