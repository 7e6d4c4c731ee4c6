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


# ---- issue 12 part 5: string/category columns, report_frame, the dataset-drift rule, n_features ----

def _chi2_scipy(ref, cur):
    """scipy.stats.chi2_contingency on the 2 x K table over the categories seen in either sample."""
    import pandas as pd
    r = pd.Series(ref).dropna().astype(str)
    c = pd.Series(cur).dropna().astype(str)
    cats = sorted(set(r) | set(c))
    table = np.array([[int((r == k).sum()) for k in cats], [int((c == k).sum()) for k in cats]])
    res = stats.chi2_contingency(table, correction=False)
    return res[0], res[1]


def test_string_and_category_columns_match_scipy_chi2():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(12)
    ref = pd.DataFrame({"x": rng.normal(size=800),
                        "colour": rng.choice(["red", "green", "blue"], 800, p=[.5, .3, .2]).astype(object),
                        "size": pd.Categorical(rng.choice(["S", "M", "L"], 800))})
    ref.loc[[3, 9], "colour"] = None  # missing strings are missing values, not a category
    det = mlops.DriftDetector(ref, window=400)
    assert det.n_features == 3
    # the current frame: other column order, a new label, category dtype with other category codes
    cur = pd.DataFrame({"size": pd.Categorical(rng.choice(["L", "M", "S"], 400, p=[.6, .2, .2]),
                                               categories=["L", "M", "S"]),
                        "colour": pd.Categorical(rng.choice(["blue", "red", "purple"], 400)),
                        "x": rng.normal(0.1, size=400)})
    det.update(cur)
    feats = {f["name"]: f for f in det.report()["features"]}
    for name in ("colour", "size"):
        want_s, want_p = _chi2_scipy(ref[name], cur[name])
        assert feats[name]["kind"] == "categorical"
        assert feats[name]["statistic"] == pytest.approx(want_s, rel=1e-12)
        assert feats[name]["pvalue"] == pytest.approx(want_p, rel=1e-9)
    ks = _scipy(ref["x"].to_numpy(), cur["x"].to_numpy())
    assert feats["x"]["statistic"] == ks.statistic
    assert feats["colour"]["n_reference"] == 798
    cats = det.categories["colour"]  # codes in order of appearance, new labels after the old
    assert sorted(cats[:3]) == ["blue", "green", "red"] and cats[3:] == ["purple"]
    # the label map travels with pickle: a copy keeps coding "purple" as before
    import pickle
    twin = pickle.loads(pickle.dumps(det))
    twin.update(cur)
    det.update(cur)
    assert twin.report()["features"] == det.report()["features"]


def test_string_ndarray_reference_is_categorical():
    rng = np.random.default_rng(5)
    ref = np.array([[v] for v in rng.choice(["a", "b"], 300)], dtype=object)
    cur = np.array([[v] for v in rng.choice(["a", "b", "c"], 200)], dtype=object)
    det = mlops.DriftDetector(ref, window=200, feature_names=["letter"])
    det.update(cur)
    f = det.report()["features"][0]
    want_s, want_p = _chi2_scipy(ref[:, 0], cur[:, 0])
    assert f["kind"] == "categorical"
    assert f["statistic"] == pytest.approx(want_s, rel=1e-12)
    assert f["pvalue"] == pytest.approx(want_p, rel=1e-9)


def test_report_frame_matches_report():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(["u", "v"], 300)})
    det = mlops.DriftDetector(ref, window=100, correction="bonferroni")
    cur = pd.DataFrame({"a": rng.normal(1.0, size=100), "b": rng.choice(["u", "v"], 100)})
    cur.loc[0:9, "a"] = np.nan
    det.update(cur)
    fr = det.report_frame()
    assert list(fr.columns) == ["feature", "test", "statistic", "p_value", "adjusted_p_value", "drift",
                                "n_reference", "n_current", "missing_share"]
    assert list(fr["feature"]) == ["a", "b"] and list(fr["test"]) == ["ks", "chi2"]
    ks = _scipy(ref["a"].to_numpy(), cur["a"].dropna().to_numpy())
    row = fr.iloc[0]
    assert row["statistic"] == ks.statistic
    assert row["p_value"] == pytest.approx(ks.pvalue, rel=1e-8)
    assert row["adjusted_p_value"] == pytest.approx(min(1.0, ks.pvalue * 2), rel=1e-8)
    assert bool(row["drift"]) is True
    assert (row["n_reference"], row["n_current"], row["missing_share"]) == (300, 90, pytest.approx(0.1))
    want_s, want_p = _chi2_scipy(ref["b"], cur["b"])
    assert fr.iloc[1]["statistic"] == pytest.approx(want_s, rel=1e-12)
    assert fr.iloc[1]["p_value"] == pytest.approx(want_p, rel=1e-9)


def _one_drifted_of_four(rule, **kw):
    rng = np.random.default_rng(21)
    ref = rng.normal(size=(500, 4))
    cur = rng.normal(size=(300, 4))
    cur[:, 2] += 1.5  # one feature of four drifts
    det = mlops.DriftDetector(ref, window=300, rule=rule, **kw)
    det.update(cur)
    return det, ref, cur


def test_rule_any_is_alibi_detects_rule():
    det, ref, cur = _one_drifted_of_four("any", correction="bonferroni")
    # the oracle: alibi-detect's KSDrift (correction="bonferroni") flags the data set when
    # min p < p_val / n_features, computed here from SciPy's p-values
    ps = [_scipy(ref[:, j], cur[:, j]).pvalue for j in range(4)]
    assert min(ps) < 0.05 / 4
    rep = det.report()
    assert rep["rule"] == "any" and rep["n_drifted"] == 1 and rep["dataset_drift"] is True
    assert det.results()["summary"]["dataset_drift"] is True
    share, _, _ = _one_drifted_of_four("share", correction="bonferroni")
    assert share.report()["rule"] == "share" and share.report()["dataset_drift"] is False  # 1/4 < 0.5
    # no feature below the threshold: no drift by either rule
    rng = np.random.default_rng(2)
    calm = mlops.DriftDetector(rng.normal(size=(500, 2)), window=300, rule="any", correction="bonferroni")
    calm.update(rng.normal(size=(300, 2)))
    ps = [f["pvalue_adjusted"] for f in calm.report()["features"]]
    assert calm.report()["dataset_drift"] is (min(ps) < 0.05)


def test_rule_survives_save_load_and_pickle(tmp_path):
    import pickle
    det, _, _ = _one_drifted_of_four("any")
    path = str(tmp_path / "d.state")
    det.save(path)
    assert mlops.DriftDetector.load(path).report()["rule"] == "any"
    assert pickle.loads(pickle.dumps(det)).report()["dataset_drift"] is True
    with pytest.raises(mlops.InvalidArgumentError, match="rule"):
        mlops.DriftDetector(n_features=2, rule="most")


def test_version_1_options_still_accepted():
    """A caller compiled against options version 1 (no `rule` field) still creates a detector."""
    import ctypes
    from mlops import drift as dm

    class OptsV1(ctypes.Structure):
        _fields_ = dm.DriftOpts._fields_[:-1]

    o = OptsV1(1, 100, 100, 0.05, 0.5, 0, 0)
    h = ctypes.c_void_p()
    from mlops._lib import library_path
    fn = ctypes.CDLL(library_path).mlops_drift_create  # a private function object: the binding's keeps its argtypes
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(OptsV1),
                   ctypes.POINTER(ctypes.c_void_p)]
    assert fn(2, None, None, ctypes.byref(o), ctypes.byref(h)) == 0
    det = mlops.DriftDetector(_handle=h.value)
    assert det.n_features == 2
    o.version = 3
    h2 = ctypes.c_void_p()
    assert fn(2, None, None, ctypes.byref(o), ctypes.byref(h2)) != 0 and not h2.value


@pytest.mark.parametrize("how", ["n_features", "feature_names", "reference_size"])
def test_n_features_before_the_first_update(how):
    kw = {"n_features": {"n_features": 3}, "feature_names": {"feature_names": ["a", "b", "c"]},
          "reference_size": {"n_features": 3, "reference_size": 5}}[how]
    det = mlops.DriftDetector(**kw)
    assert det.n_features == 3 and len(det.feature_names) == 3
    det.update(np.zeros((2, 3)))
    assert det.n_features == 3


def _drift_cli():
    build = os.environ.get("MLOPS_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
    return os.path.join(build, "examples", "mlops-drift")


def test_to_html_writes_the_page_mlops_drift_writes(tmp_path):
    """The same CSVs through DataFrames and through the CLI give the same bytes: one C writer."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    frames = {}
    for name, n, shift in (("ref", 400, 0.0), ("cur", 300, 0.4)):
        df = pd.DataFrame({"x": rng.normal(shift, size=n), "y": rng.exponential(size=n),
                           "colour": rng.choice(["red", "green", "blue<&>"], n)})
        df.loc[5, "x"] = np.nan
        df.to_csv(tmp_path / (name + ".csv"), index=False)
        frames[name] = pd.read_csv(tmp_path / (name + ".csv"), float_precision="round_trip")
    cli = str(tmp_path / "cli.html")
    subprocess.run([_drift_cli(), "--reference", str(tmp_path / "ref.csv"), "--current", str(tmp_path / "cur.csv"),
                    "--html", cli], check=True, capture_output=True)
    det = mlops.DriftDetector(frames["ref"], window=len(frames["cur"]))
    det.update(frames["cur"])
    ours = str(tmp_path / "py.html")
    det.to_html(ours)
    page = open(ours, encoding="utf-8").read()
    assert page == open(cli, encoding="utf-8").read()
    assert 'data-category="blue&lt;&amp;&gt;"' in page and "Content-Security-Policy" in page
    assert page == det.report_html()


def test_report_html_without_reference_and_refusals(tmp_path):
    det = mlops.DriftDetector(n_features=2, reference_size=10)
    with pytest.raises(mlops.StateError, match="reference not complete"):
        det.report_html()
    det.update(np.arange(20.0).reshape(10, 2))
    det.update(np.arange(20.0).reshape(10, 2) + 3)
    page = det.report_html()
    assert page.startswith("<!DOCTYPE html>") and page.count('<div class="f"') == 2
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    with pytest.raises(mlops.MlopsError):
        det.to_html(fifo)  # never blocks on a FIFO nobody reads


def test_state_format_1_still_loads(tmp_path):
    """A file written before the rule existed (format 1: no rule field) loads with rule "share"."""
    import struct
    from test_snapshot import _reseal  # FNV-1a 64 checksum appended, as the C writer does
    rng = np.random.default_rng(6)
    det = mlops.DriftDetector(rng.normal(size=(50, 2)), window=20, rule="any")
    det.update(rng.normal(size=(20, 2)))
    path = tmp_path / "v2.state"
    det.save(str(path))
    data = path.read_bytes()
    assert struct.unpack_from("<Q", data, 8)[0] == 2 and struct.unpack_from("<Q", data, 64)[0] == 1
    body = data[:8] + struct.pack("<Q", 1) + data[16:64] + data[72:-8]  # format 1, the rule removed
    old = tmp_path / "v1.state"
    old.write_bytes(_reseal(body))
    back = mlops.DriftDetector.load(str(old))
    want = det.report()
    got = back.report()
    assert got["rule"] == "share" and got["features"] == want["features"]
    bad = tmp_path / "v3.state"
    body3 = data[:8] + struct.pack("<Q", 3) + data[16:-8]
    bad.write_bytes(_reseal(body3))
    with pytest.raises(mlops.VersionError):
        mlops.DriftDetector.load(str(bad))
