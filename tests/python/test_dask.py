"""mlops.dask on a real distributed.LocalCluster (2 worker processes): predictions equal XGBoost's,
drift equals SciPy's ks_2samp on the whole dataset, quality equals scikit-learn's, validation finds
exactly the rows that were broken, read_csv gives what pandas.read_csv reads. 300,000 rows in 24
partitions (CSV: 30,000 rows in >= 20 partitions)."""
import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy import stats
from sklearn import metrics as skm

dask = pytest.importorskip("dask")
import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import mlops  # noqa: E402
import mlops.dask as md  # noqa: E402

N = 300_000
PARTS = 24
COLS = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(17)
    x = rng.normal(size=(N, len(COLS))).astype(np.float32)
    x[:, 5] = np.round(x[:, 5], 1)  # ties
    x[rng.random(N) < 0.01, 2] = np.nan  # missing values
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=N) > 0).astype(np.int64)
    pdf = pd.DataFrame(x, columns=COLS)
    pdf["label"] = y
    return pdf


@pytest.fixture(scope="module")
def booster(data):
    d = xgb.DMatrix(data[COLS].to_numpy()[:50000], data["label"].to_numpy()[:50000], feature_names=COLS)
    return xgb.train({"objective": "binary:logistic", "max_depth": 5, "eta": 0.3, "seed": 1}, d, 30)


@pytest.fixture(scope="module")
def ddf(data):
    out = dd.from_pandas(data, npartitions=PARTS)
    assert out.npartitions >= 20
    return out


# ---- predict --------------------------------------------------------------------------------

def test_predict_dataframe_equals_xgboost_and_loads_the_model_once_per_worker(client, data, ddf, booster):
    blob = bytes(booster.save_raw("json"))
    got = md.predict(ddf[["e", "d", "c", "b", "a", "f"]], blob).compute()  # columns matched by name
    want = booster.inplace_predict(data[COLS].to_numpy())
    assert isinstance(got, pd.Series) and got.name == "prediction" and got.dtype == np.float32
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-6, atol=1e-7)
    assert (got.index == data.index).all()
    margin = md.predict(ddf, booster, output_margin=True).compute()  # a Booster travels as its JSON bytes
    np.testing.assert_allclose(margin.to_numpy(), booster.inplace_predict(data[COLS].to_numpy(), predict_type="margin"),
                               rtol=1e-5, atol=1e-5)
    loads = client.run(md.cache_info)
    assert len(loads) == 2
    digest = md._digest(blob)
    for per_worker in loads.values():  # 24 partitions, one load per worker process
        assert per_worker.get(digest, 0) <= 1
    assert sum(w.get(digest, 0) for w in loads.values()) >= 1


def test_predict_array_multiclass_equals_xgboost(client, data):
    x = data[COLS].to_numpy()
    y3 = np.digitize(x[:, 0], [-0.5, 0.5])
    b = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "seed": 2},
                  xgb.DMatrix(x[:20000], y3[:20000]), 10)
    arr = da.from_array(x, chunks=(N // PARTS, 3))  # column chunks are merged for scoring
    got = md.predict(arr, bytes(b.save_raw("ubj"))).compute()
    assert got.shape == (N, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, b.inplace_predict(x), rtol=1e-6, atol=1e-7)
    frame = md.predict(dd.from_pandas(pd.DataFrame(x, columns=["c%d" % i for i in range(6)]), npartitions=PARTS),
                       bytes(b.save_raw("json")), columns=["c%d" % i for i in range(6)]).compute()
    assert list(frame.columns) == ["prediction_0", "prediction_1", "prediction_2"]
    np.testing.assert_allclose(frame.to_numpy(), b.inplace_predict(x), rtol=1e-6, atol=1e-7)


def test_predict_from_csv_partitions(client, data, booster):
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(4):
            data.iloc[i * 5000:(i + 1) * 5000][COLS].to_csv(os.path.join(tmp, "part-%d.csv" % i), index=False)
        got = md.predict(dd.read_csv(os.path.join(tmp, "part-*.csv")), booster).compute()
        csv = pd.concat(pd.read_csv(os.path.join(tmp, "part-%d.csv" % i)) for i in range(4))
        np.testing.assert_allclose(got.to_numpy(), booster.inplace_predict(csv.to_numpy(np.float32)),
                                   rtol=1e-6, atol=1e-7)


def test_predict_bad_input(client, ddf, booster):
    with pytest.raises(mlops.InvalidArgumentError, match="Dask DataFrame, Series or Array"):
        md.predict(np.zeros((3, 6)), booster)
    with pytest.raises(mlops.InvalidArgumentError, match="C pointer that cannot travel"):
        md.predict(ddf, object())
    with pytest.raises(mlops.FormatError):
        md.predict(ddf, b"{not a model")
    with pytest.raises(mlops.InvalidArgumentError, match="no column"):
        md.predict(ddf, booster, columns=["a", "nope"])
    with pytest.raises(mlops.InvalidArgumentError, match="2-D"):
        md.predict(da.zeros((10,), chunks=5), booster)
    with pytest.raises(mlops.InvalidArgumentError, match="got a Series"):
        md.predict(ddf["a"], booster)
    with pytest.raises(mlops.ShapeError, match="features"):  # raised on a worker, re-raised here
        md.predict(da.zeros((10, 4), chunks=5), booster).compute()
    with pytest.raises(mlops.InvalidArgumentError, match="no column"):  # by-name matching on a worker
        md.predict(ddf[["a", "b"]], booster).compute()


# ---- validate -------------------------------------------------------------------------------

SCHEMA = {"features": [{"name": c, "type": "float", "min": -4.5, "max": 4.5, "nullable": c == "c"} for c in COLS]}


def test_validate_finds_exactly_the_broken_rows(client, data):
    import json
    broken = data[COLS].copy()
    rng = np.random.default_rng(3)
    rows = rng.choice(N, 40, replace=False)
    broken.iloc[rows[:20], 0] = 99.0  # out of range
    broken.iloc[rows[20:], 3] = np.nan  # null where not allowed
    x = broken.to_numpy()
    # the expected verdicts, straight from the rule (|v| <= 4.5, NaN allowed only in "c")
    bad = (np.abs(np.nan_to_num(x, nan=0.0)) > 4.5) | (np.isnan(x) & (np.array(COLS) != "c"))
    want_rows = set(np.nonzero(bad.any(axis=1))[0])
    assert set(rows) <= want_rows
    schema = mlops.Schema.from_json(json.dumps(SCHEMA))
    res = md.validate(dd.from_pandas(broken, npartitions=PARTS), schema)
    verdicts, viol = dask.compute(res.verdicts, res.violations)
    assert set(np.nonzero(~verdicts.to_numpy())[0]) == want_rows
    assert set(viol["index"]) == want_rows
    assert len(viol) == int(bad.sum())
    got = {(int(r.index), r.feature, r.kind) for r in viol.itertuples()}
    assert (int(rows[0]), "a", "out_of_range") in got and (int(rows[20]), "d", "null_not_allowed") in got
    assert viol["partition"].nunique() <= PARTS
    tot = res.totals()
    assert tot == {"n_rows": N, "n_invalid": len(want_rows), "n_violations": int(bad.sum()), "n_omitted": 0,
                   "n_partitions": PARTS,
                   "n_invalid_partitions": int(viol["partition"].nunique())}


def test_validate_reports_missing_columns_by_name(client, data):
    import json
    schema = mlops.Schema.from_json(json.dumps(SCHEMA))
    res = md.validate(dd.from_pandas(data[COLS[:5]].iloc[:2000], npartitions=4), schema)
    viol = res.violations.compute()
    # reported once per partition (Schema.validate reports a missing column once, issue 12), every row invalid
    assert len(viol) == 4 and set(viol["feature"]) == {"f"} and (viol["row"] == -1).all()
    assert res.totals()["n_invalid"] == 2000


def test_validate_bad_input(client, ddf):
    import json
    with pytest.raises(mlops.InvalidArgumentError, match="mlops.Schema"):
        md.validate(ddf, SCHEMA)
    with pytest.raises(mlops.InvalidArgumentError, match="Dask DataFrame"):
        md.validate(ddf["a"], mlops.Schema.from_json(json.dumps(SCHEMA)))


# ---- drift ----------------------------------------------------------------------------------

def _scipy_ks(a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stats.ks_2samp(a, b, **kw)


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(5)
    r = rng.normal(size=(20000, len(COLS)))
    r[:, 1] += 0.02  # slight drift of b
    r[:, 4] = np.round(r[:, 4], 2)  # ties in the reference
    r[:, 5] = np.round(r[:, 5], 1)  # the same lattice as the current values
    r[rng.random(20000) < 0.05, 3] = np.nan
    return pd.DataFrame(r, columns=COLS)


def test_drift_equals_scipy_on_all_current_values(client, ddf, data, reference):
    rep = md.drift(reference, ddf)
    assert [f["name"] for f in rep["features"]] == COLS
    for j, c in enumerate(COLS):
        ref = reference[c].to_numpy()
        cur = data[c].to_numpy(np.float64)
        want = _scipy_ks(ref[~np.isnan(ref)], cur[~np.isnan(cur)])
        f = rep["features"][j]
        assert f["statistic"] == want.statistic  # bit-equal
        assert f["pvalue"] == pytest.approx(want.pvalue, rel=1e-10, abs=1e-300)
        assert f["n_current"] == int((~np.isnan(cur)).sum()) and f["n_missing"] == int(np.isnan(cur).sum())
        assert f["n_reference"] == int((~np.isnan(ref)).sum())
    assert rep["n_rows"] == N
    assert rep["features"][1]["drift"]  # the shifted feature is found


def test_drift_exact_method_as_scipy_chooses_for_small_samples(client, data, reference):
    cur = data[COLS].iloc[:6000]
    small = reference.iloc[:3000]
    rep = md.drift(small, dd.from_pandas(cur, npartitions=20))
    for j, c in enumerate(COLS):
        ref = small[c].to_numpy()
        x = cur[c].to_numpy(np.float64)
        want = _scipy_ks(ref[~np.isnan(ref)], x[~np.isnan(x)])  # 'auto' picks the exact distribution here
        assert rep["features"][j]["statistic"] == want.statistic
        assert rep["features"][j]["pvalue"] == pytest.approx(want.pvalue, rel=1e-10, abs=1e-300)


def test_drift_report_equals_drift_detector_with_corrections_and_categories(client, data, reference):
    n = 30000
    cur = data[COLS].iloc[:n].astype(np.float64).copy()
    ref = reference.copy()
    cur["f"] = np.round(np.abs(cur["f"]) * 2)  # category codes 0..~8
    ref["f"] = np.round(np.abs(ref["f"]) * 2.2)
    for corr, rule in (("none", "share"), ("bonferroni", "any"), ("fdr", "share"), ("fdr", "any")):
        got = md.drift(ref, dd.from_pandas(cur, npartitions=PARTS), correction=corr, categorical=["f"],
                       p_value=0.1, drift_share=0.3, rule=rule)
        with mlops.DriftDetector(ref, window=n, correction=corr, categorical=["f"], p_value=0.1,
                                 drift_share=0.3, rule=rule) as det:
            det.update(cur)
            want = det.report()
        for g, w in zip(got.pop("features"), want.pop("features")):
            if w["kind"] == "categorical":  # chi-square tail: GSL in the detector, SciPy's cephes here
                assert g.pop("pvalue") == pytest.approx(w.pop("pvalue"), rel=1e-12)
                assert g.pop("pvalue_adjusted") == pytest.approx(w.pop("pvalue_adjusted"), rel=1e-12)
            assert g == w
        assert got == want
    # the chi-square test against SciPy's contingency test
    cats = np.union1d(ref["f"].dropna(), cur["f"])
    table = [[int((ref["f"] == k).sum()) for k in cats], [int((cur["f"] == k).sum()) for k in cats]]
    chi = stats.chi2_contingency(table, correction=False)
    got = md.drift(ref, dd.from_pandas(cur, npartitions=PARTS), categorical=["f"])
    assert got["features"][5]["statistic"] == pytest.approx(chi[0], rel=1e-10)
    assert got["features"][5]["pvalue"] == pytest.approx(chi[1], rel=1e-8)


def test_drift_counts_merge_sparse_dense_and_widen_exactly():
    """The partition counts (dense between-value counts, ties sparse or dense) merged in every
    combination, through uint8 -> uint16 -> uint32 widening, give SciPy's statistic bit-equal."""
    rng = np.random.default_rng(23)
    ref = np.round(rng.normal(size=(4000, 1)), 2)  # K ~ 500 distinct values
    r = md._Reference(ref, [])
    k = r.values[0].size
    parts = [
        rng.normal(size=(300, 1)),  # continuous: no ties (sparse, empty)
        np.round(rng.normal(size=(40, 1)), 2),  # a few ties (sparse)
        np.round(rng.normal(size=(5000, 1)), 2),  # ties on most values (dense)
        np.full((70000, 1), r.values[0][k // 2]),  # one slot past uint16 (dense gaps stay uint8)
        np.full((300, 1), (r.values[0][3] + r.values[0][4]) / 2),  # one gap past uint8
        np.round(rng.normal(size=(60, 1)), 2),
    ]
    got = [md._drift_part(p, r.values, [], None) for p in parts]
    kinds = {isinstance(g["counts"][0]["ties"], tuple) for g in got}
    assert kinds == {True, False}  # both representations occur
    for order in ([0, 1, 2, 3, 4, 5], [2, 0, 1, 5, 4, 3], [1, 5, 0, 4, 3, 2]):
        merged = md._drift_merge([{"rows": g["rows"], "missing": g["missing"].copy(),
                                   "counts": [{"gaps": g["counts"][0]["gaps"].copy(),
                                               "ties": tuple(a.copy() for a in g["counts"][0]["ties"])
                                               if isinstance(g["counts"][0]["ties"], tuple)
                                               else g["counts"][0]["ties"].copy()}]}
                                  for g in (got[i] for i in order)])
        slots = md._Slots.of(merged["counts"][0])
        cur = np.concatenate(parts)[:, 0]
        d, m = md._ks_from_counts(r.cum[0], slots.interleaved())
        assert m == cur.size and d == _scipy_ks(ref[:, 0], cur).statistic
        assert int(slots.interleaved().max()) >= 70000  # widened past uint16, nothing wrapped


def test_drift_counts_travel_as_arrays_that_distributed_sends_without_a_copy():
    """What drift tasks return (a partition's counts, a chain's running counts, a merge) is numpy
    arrays in dicts, lists and tuples: distributed serializes each array as a frame over its own
    memory, even with the pickle protocol 4 the scheduler forces on what it gathers (an object of
    our own is pickled whole, in band: a copy of every count, twice the counts at the peak)."""
    from distributed.protocol import serialize, to_serialize
    rng = np.random.default_rng(31)
    ref = np.round(rng.normal(size=(4000, 3)), 2)
    ref[:, 2] = rng.integers(0, 5, size=4000)  # categorical
    r = md._Reference(ref, [2])
    x = np.round(rng.normal(size=(6000, 3)), 2)
    x[:, 2] = rng.integers(0, 6, size=6000)
    x[:40, 1] = np.nan
    parts = [md._drift_part(x[:3000], r.values, [2], None), md._drift_part(x[3000:3100], r.values, [2], None)]
    merged = md._drift_merge([dict(p) for p in parts])
    for counts in parts + [merged]:
        arrays = [counts["missing"]]
        for c in counts["counts"]:
            arrays += [c["gaps"], *(c["ties"] if isinstance(c["ties"], tuple) else [c["ties"]])] \
                if isinstance(c, dict) else list(c)
        assert all(isinstance(a, np.ndarray) for a in arrays)
        header, frames = serialize(to_serialize(counts), context={"pickle-protocol": 4})
        views = [np.frombuffer(f, np.uint8) for f in frames if memoryview(f).nbytes]
        for a in arrays:  # every non-empty array is sent from its own memory
            assert a.size == 0 or any(np.shares_memory(a, v) for v in views)
        inband = sum(memoryview(f).nbytes for f in frames if not any(np.shares_memory(f, a) for a in arrays if a.size))
        assert inband < 1000
    # and the merged counts still give SciPy's statistic (as reported: exact mode at these sizes)
    total = md._from_plain(merged)
    d, m = md._ks_from_counts(r.cum[0], total["counts"][0].interleaved())
    assert m == 3100 and md.ks_pvalue(d, 4000, m)[0] == _scipy_ks(ref[:, 0], x[:3100, 0]).statistic


def test_drift_counts_added_value_by_value_equal_the_partition_counts():
    """add_values (a chunk counted straight into running counts, no K-sized temporary) gives the
    counts _Slots.count gives for all the values at once, through sparse -> dense ties and
    uint8 -> uint16 widening; the statistic is SciPy's, bit-equal."""
    rng = np.random.default_rng(29)
    ref = np.round(rng.normal(size=(4000, 1)), 2)
    r = md._Reference(ref, [])
    u = r.values[0]
    chunks = [rng.normal(size=300), np.round(rng.normal(size=50), 2), np.round(rng.normal(size=6000), 2),
              np.full(400, u[7]), np.full(300, (u[3] + u[4]) / 2), np.empty(0), rng.normal(size=1)]
    acc = md._Slots.count(u, np.empty(0))
    for c in chunks:
        acc.add_values(u, c)
    allv = np.concatenate(chunks)
    want = md._Slots.count(u, allv)
    np.testing.assert_array_equal(acc.interleaved(), want.interleaved())
    assert acc.interleaved().max() > 255  # widened
    d, m = md._ks_from_counts(r.cum[0], acc.interleaved())
    assert m == allv.size and d == _scipy_ks(ref[:, 0], allv).statistic


def test_drift_array_input_and_bad_input(client, data, reference):
    x = data[COLS].to_numpy(np.float64)[:50000]
    rep = md.drift(reference.to_numpy(), da.from_array(x, chunks=(2500, 6)))
    assert rep["features"][0]["name"] == "f0"
    want = _scipy_ks(reference["a"].to_numpy(), x[:, 0])
    assert rep["features"][0]["statistic"] == want.statistic
    with pytest.raises(mlops.InvalidArgumentError, match="correction"):
        md.drift(reference, da.from_array(x), correction="holm")
    with pytest.raises(mlops.InvalidArgumentError, match="method"):
        md.drift(reference, da.from_array(x), method="fast")
    with pytest.raises(mlops.InvalidArgumentError, match="6 columns"):
        md.drift(reference, da.from_array(x[:, :5]))
    with pytest.raises(mlops.InvalidArgumentError, match="no column"):
        md.drift(reference, dd.from_pandas(data[COLS[:4]], npartitions=2))
    with pytest.raises(mlops.InvalidArgumentError, match="non-empty 2-D"):
        md.drift(np.zeros((0, 6)), da.from_array(x))
    with pytest.raises(mlops.InvalidArgumentError, match="no non-missing value"):
        md.drift(np.full((5, 6), np.nan), da.from_array(x))
    with pytest.raises(mlops.InvalidArgumentError, match="non-integer"):  # found on a worker
        md.drift(np.ones((5, 6)), da.from_array(x, chunks=(10000, 6)), categorical=[0])


# ---- monitor --------------------------------------------------------------------------------

def test_monitor_binary_equals_sklearn(client, data, ddf, booster):
    scores = md.predict(ddf, booster)
    got = md.monitor(scores, ddf["label"])
    p = booster.inplace_predict(data[COLS].to_numpy()).astype(np.float64)
    y = data["label"].to_numpy()
    assert got["count"] == N
    assert got["accuracy"] == skm.accuracy_score(y, p >= 0.5)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), rel=1e-12)
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, p), rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    # heavy ties: AUC still exact
    coarse = np.round(p, 1)
    got = md.monitor(da.from_array(coarse, chunks=N // PARTS), da.from_array(y, chunks=N // PARTS), threshold=0.3)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, coarse), rel=1e-12)
    assert got["accuracy"] == skm.accuracy_score(y, coarse >= 0.3)


def test_monitor_regression_and_multiclass_equal_sklearn(client, data):
    rng = np.random.default_rng(9)
    y = data["a"].to_numpy(np.float64)
    p = y + rng.normal(scale=0.3, size=N)
    got = md.monitor(da.from_array(p, chunks=N // PARTS), da.from_array(y, chunks=N // PARTS), task="regression",
                     tolerance=0.2)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert got["tolerance_accuracy"] == pytest.approx(np.mean(np.abs(y - p) < 0.2), rel=1e-12)
    assert "roc_auc" not in got
    probs = rng.dirichlet([1, 2, 3], size=N)
    labels = rng.integers(0, 3, size=N)
    got = md.monitor(da.from_array(probs, chunks=(N // PARTS, 3)), da.from_array(labels, chunks=N // PARTS),
                     task="multiclass", n_classes=3)
    assert got["accuracy"] == skm.accuracy_score(labels, probs.argmax(axis=1))
    assert got["log_loss"] == pytest.approx(skm.log_loss(labels, probs), rel=1e-12)


def test_monitor_bad_input(client, ddf):
    with pytest.raises(mlops.InvalidArgumentError, match="task"):
        md.monitor(ddf["a"], ddf["label"], task="ranking")
    with pytest.raises(mlops.ShapeError, match="partitions"):
        md.monitor(ddf["a"], ddf["label"].repartition(npartitions=3))
    with pytest.raises(mlops.InvalidArgumentError, match="Dask"):
        md.monitor(np.zeros(3), ddf["label"])
    with pytest.raises(mlops.ShapeError, match="3 predictions and 2 labels"):
        md.monitor(da.from_array(np.zeros(3), chunks=3), da.from_array(np.zeros(2), chunks=2))


# ---- read_csv ---------------------------------------------------------------------------------

def _write_csv_files(folder, data, n_files=3):
    """data's COLS as n_files CSV files written by pandas, each in another dialect of the same
    content: LF, CRLF with a UTF-8 BOM and quoted header names, no newline at the end and a
    blank line inside. Returns the paths."""
    paths = []
    rows = np.array_split(np.arange(len(data)), n_files)
    for i, idx in enumerate(rows):
        path = os.path.join(folder, "part-%d.csv" % i)
        frame = data[COLS].iloc[idx]
        if i == 1:
            text = frame.to_csv(index=False, lineterminator="\r\n")
            head, rest = text.split("\r\n", 1)
            text = "\ufeff" + ",".join('"%s"' % c for c in head.split(",")) + "\r\n" + rest
        else:
            text = frame.to_csv(index=False)
        if i == 2:
            lines = text.split("\n")
            text = "\n".join(lines[:5] + [""] + lines[5:]).rstrip("\n")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def csv_files(data):
    with tempfile.TemporaryDirectory() as tmp:
        small = data.iloc[:30000].copy()
        small.iloc[7, 2] = np.nan  # an empty field
        yield _write_csv_files(tmp, small), small


def _pandas_rows(paths, dtype=np.float64):
    """The rows as pandas.read_csv reads each file (the reference)."""
    return pd.concat([pd.read_csv(p, dtype=dtype, encoding="utf-8-sig") for p in paths], ignore_index=True)


def test_read_csv_equals_pandas_in_any_partitioning(client, csv_files):
    paths, _ = csv_files
    want = _pandas_rows(paths)
    assert list(want.columns) == COLS and len(want) == 30000
    for blocksize in (20_000, 1 << 30):  # ~20 KB partitions, one per file
        got = md.read_csv(paths, blocksize=blocksize)
        if blocksize == 20_000:
            assert got.npartitions >= 20
        frame = got.compute()
        assert list(frame.columns) == COLS and (frame.dtypes == np.float64).all()
        np.testing.assert_array_equal(frame.to_numpy(), want.to_numpy())  # NaN where pandas has NaN
    # blocks shorter than a line: every line in exactly one partition (cuts land mid-line, on
    # the header's end, on the CRLF, on the blank line, on the file's unterminated end)
    for p in paths:
        head = open(p, "rb").read(2000)
        short = os.path.join(os.path.dirname(p), "short-" + os.path.basename(p))
        with open(short, "wb") as f:
            f.write(head[:head.rindex(b"\n")] if p != paths[2] else head[:head.rindex(b"\n")].rstrip(b"\n"))
        want_short = pd.read_csv(short, encoding="utf-8-sig").to_numpy()
        for blocksize in (1, 7, 97):
            got = md.read_csv([short], blocksize=blocksize)
            if blocksize < 10:  # shorter than any line: a partition per line
                assert got.npartitions >= len(want_short)
            np.testing.assert_array_equal(got.compute(scheduler="sync").to_numpy(), want_short)
        os.remove(short)
    glob_got = md.read_csv(os.path.join(os.path.dirname(paths[0]), "part-*.csv"), dtype=np.float32).compute()
    np.testing.assert_array_equal(glob_got.to_numpy(), _pandas_rows(paths, np.float32).to_numpy())


def test_read_csv_reads_only_the_selected_columns(client, csv_files):
    paths, _ = csv_files
    want = _pandas_rows(paths)
    ddf = md.read_csv(paths, blocksize=50_000)
    np.testing.assert_array_equal(ddf[["e", "a"]].compute().to_numpy(), want[["e", "a"]].to_numpy())
    part = md.read_csv(paths, columns=["f", "b"])
    assert list(part.columns) == ["f", "b"]
    np.testing.assert_array_equal(part.compute().to_numpy(), want[["f", "b"]].to_numpy())


def test_read_csv_partition_is_one_array_without_copies(csv_files):
    paths, _ = csv_files
    ddf = md.read_csv(paths[:1])
    reader, specs = md._csv_source(ddf)
    frame = reader(specs[0])
    x = frame.to_numpy()
    assert x.flags["C_CONTIGUOUS"] and np.shares_memory(x, frame["c"].to_numpy())


def test_predict_and_drift_from_read_csv_equal_xgboost_and_scipy(client, csv_files, booster, reference):
    paths, _ = csv_files
    want = _pandas_rows(paths)
    ddf = md.read_csv(paths, blocksize=40_000)
    assert ddf.npartitions >= 20 and md._csv_source(ddf) is not None  # drift counts chunks as parsed
    got = md.predict(md.read_csv(paths, blocksize=40_000, dtype=np.float32), booster).compute()
    np.testing.assert_allclose(got.to_numpy(), booster.inplace_predict(want.to_numpy(np.float32)),
                               rtol=1e-6, atol=1e-7)
    rep = md.drift(reference, ddf)
    for j, c in enumerate(COLS):
        ref = reference[c].to_numpy()
        cur = want[c].to_numpy()
        w = _scipy_ks(ref[~np.isnan(ref)], cur[~np.isnan(cur)])
        assert rep["features"][j]["statistic"] == w.statistic  # bit-equal
        assert rep["features"][j]["pvalue"] == pytest.approx(w.pvalue, rel=1e-10, abs=1e-300)
    assert rep["n_rows"] == 30000 and rep["features"][2]["n_missing"] == int(want["c"].isna().sum()) > 1
    # the same report as over dask's own reader, with corrections and a categorical feature
    kw = dict(correction="fdr", categorical=["f"], rule="any")
    cat_ref = reference.assign(f=np.round(np.abs(reference["f"]) * 2))
    with tempfile.TemporaryDirectory() as tmp:
        frame = want.assign(f=np.round(np.abs(want["f"]) * 2))
        files = []
        for i, idx in enumerate(np.array_split(np.arange(len(frame)), 4)):
            files.append(os.path.join(tmp, "c%d.csv" % i))
            frame.iloc[idx].to_csv(files[-1], index=False)
        ours = md.drift(cat_ref, md.read_csv(files, blocksize=30_000), **kw)
        theirs = md.drift(cat_ref, dd.read_csv(files), **kw)
    assert ours == theirs


def test_predict_scores_read_csv_chunks_as_parsed(client, data, booster, tmp_path):
    """predict() on a frame straight from read_csv parses only the model's columns (found by name
    among others, in another order) and scores each chunk as parsed; equal to XGBoost on what
    pandas reads, with read_csv's partitions and index."""
    frame = data.iloc[:20000][["label"] + COLS[::-1]]
    frame.iloc[:10000].to_csv(tmp_path / "s0.csv", index=False)
    frame.iloc[10000:].to_csv(tmp_path / "s1.csv", index=False)
    ddf = md.read_csv(str(tmp_path / "s*.csv"), dtype=np.float32, blocksize=50_000)
    scores = md.predict(ddf, booster)
    assert any("_score_csv_part" in str(k) for k in scores.__dask_graph__())  # the fused path
    assert scores.npartitions == ddf.npartitions >= 4
    got = scores.compute()
    x = pd.concat([pd.read_csv(tmp_path / f) for f in ("s0.csv", "s1.csv")])[COLS].to_numpy(np.float32)
    want = booster.inplace_predict(x)
    np.testing.assert_array_equal(got.to_numpy(), want)
    assert got.dtype == np.float32 and got.name == "prediction"
    assert list(got.index) == list(ddf.map_partitions(lambda p: p.index.to_series()).compute())
    margin = md.predict(ddf, booster, output_margin=True).compute().to_numpy()
    np.testing.assert_allclose(margin, booster.inplace_predict(x, predict_type="margin"), rtol=1e-6, atol=1e-6)
    text = (tmp_path / "s1.csv").read_text()
    cut = text.index("\n") + 1
    (tmp_path / "s1.csv").write_text(text[:cut] + text[cut:].replace("\n", ",\n", 1))  # the first row
    with pytest.raises(mlops.FormatError, match=r"s1.csv, line 2: 8 fields"):
        md.predict(md.read_csv(str(tmp_path / "s*.csv")), booster).compute()


def test_read_csv_refuses_bad_files(client, csv_files, tmp_path):
    paths, _ = csv_files
    text = open(paths[0], encoding="utf-8").read()
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace("\n", "\nnot-a-number,1,2,3,4,5\n", 1))
    with pytest.raises(mlops.FormatError, match="bad.csv"):  # raised on a worker, re-raised here
        md.read_csv([str(bad)]).compute()
    wide = tmp_path / "wide.csv"
    for extra in ("1,2,3,4,5,6,7", "1,2,3,4,5,6,7,8"):  # pandas.read_csv refuses both
        wide.write_text(text.replace("\n", "\n%s\n" % extra, 2))  # the first and the third row
        with pytest.raises(mlops.FormatError, match="wide.csv"):
            md.read_csv([str(wide)]).compute()
        with pytest.raises(mlops.FormatError, match="wide.csv"):  # also when another column is read
            md.read_csv([str(wide)], columns=["a"]).compute()
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(mlops.FormatError, match="header"):
        md.read_csv([paths[0], str(other)])
    with pytest.raises(mlops.FormatError, match="no column"):
        md.read_csv(paths, columns=["a", "zz"])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(mlops.FormatError, match="no header"):
        md.read_csv([str(empty)])
    dup = tmp_path / "dup.csv"
    dup.write_text("a,a\n1,2\n")
    with pytest.raises(mlops.FormatError, match="unique"):
        md.read_csv([str(dup)])
    with pytest.raises(mlops.FileNotFoundError_):
        md.read_csv([str(tmp_path / "absent.csv")])
    with pytest.raises(mlops.InvalidArgumentError, match="no files"):
        md.read_csv([])
    with pytest.raises(mlops.InvalidArgumentError, match="dtype"):
        md.read_csv(paths, dtype=np.int64)
    with pytest.raises(mlops.InvalidArgumentError, match="blocksize"):
        md.read_csv(paths, blocksize=0)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)  # opening it to read would block until a writer came: refused before that
    with pytest.raises(mlops.InvalidArgumentError, match="regular file"):
        md.read_csv([str(fifo)])
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    got = md.read_csv([str(header_only)]).compute()
    assert list(got.columns) == ["a", "b"] and len(got) == 0


def test_read_csv_refuses_a_trailing_comma_with_its_line_number(client, csv_files, reference, tmp_path, monkeypatch):
    """A row with a trailing comma (one field more than the header) is refused wherever it is, with
    the file's line number. pandas.read_csv refuses it too (ParserError) except on the first row,
    where it silently takes the first column as the index; and its chunked reader lets it through
    on the first line of a chunk (shown below); the library's parser counts every row's fields."""
    paths, _ = csv_files
    lines = open(paths[0], "rb").read().split(b"\n")
    path = tmp_path / "comma.csv"
    for at in (1, 2, 5000, len(lines) - 2):  # first row, second, inside, last (line at + 1)
        bad = list(lines)
        bad[at] += b","
        path.write_bytes(b"\n".join(bad))
        if at == 1:
            assert not isinstance(pd.read_csv(path).index, pd.RangeIndex)  # pandas: an index, no error
        else:
            with pytest.raises(pd.errors.ParserError, match="line %d, saw 7" % (at + 1)):
                pd.read_csv(path)
        msg = r"comma.csv, line %d: 7 fields, the header has 6 \(a trailing comma\)" % (at + 1)
        for blocksize in (1 << 30, 20_000):
            with pytest.raises(mlops.FormatError, match=msg):
                md.read_csv([str(path)], blocksize=blocksize).compute()
        with pytest.raises(mlops.FormatError, match=msg):
            md.drift(reference, md.read_csv([str(path)]))
    # the first row of pandas' second chunk (1024 rows each here): pandas' chunked reader accepts it
    bad = list(lines)
    bad[1025] += b","
    path.write_bytes(b"\n".join(bad))
    with pd.read_csv(path, header=None, skiprows=1, names=COLS, index_col=False, chunksize=1024) as r:
        assert sum(len(c) for c in r) == len(lines) - 2  # no error from pandas
    # blocks of a few lines, and shorter than a line (the buffer grows): lines counted across blocks
    for read_bytes in (100, 7):
        monkeypatch.setattr(md, "READ_BYTES", read_bytes)  # in this process: the sync scheduler
        with pytest.raises(mlops.FormatError, match=r"comma.csv, line 1026: 7 fields"):
            md.read_csv([str(path)]).compute(scheduler="sync")
        reader, specs = md._csv_source(md.read_csv([str(path)]))
        with pytest.raises(mlops.FormatError, match=r"comma.csv, line 1026: 7 fields"):
            for _ in reader.chunks(specs[0]):  # block by block, as predict and drift read
                pass
    # a quoted comma is not a field separator; a quoted field too many is still one too many
    path.write_bytes(b"a,b\n1,2\n\"3,5\",4\n")
    with pytest.raises(mlops.FormatError, match=r"comma.csv, line 3, field 1: not a number: \"3,5\"$"):
        md.read_csv([str(path)]).compute(scheduler="sync")
    path.write_bytes(b"a,b\n1,2\n3,4,\"5,6\"\n")
    with pytest.raises(mlops.FormatError, match=r"line 3: 3 fields, the header has 2$"):
        md.read_csv([str(path)]).compute(scheduler="sync")


def test_drift_counts_of_read_csv_blocks_equal_the_whole_partition(csv_files, reference, monkeypatch):
    """drift counts a read_csv partition block by block as parsed (numpy blocks, DRIFT_READ_BYTES
    of text: here a few lines, and the whole file): the counts of the partition built whole by
    pandas.read_csv, NaN counted apart; the statistic is SciPy's."""
    paths, _ = csv_files
    reader, specs = md._csv_source(md.read_csv(paths[:1]))
    reader = reader.project_columns(COLS[::-1])  # the reference's order, not the file's
    ref = reference[COLS[::-1]].to_numpy()
    r = md._Reference(ref, [])
    part = _pandas_rows(paths[:1])
    want = md._drift_part(part, r.values, [], COLS[::-1])
    for read_bytes in (1000, 1 << 30):
        monkeypatch.setattr(md, "DRIFT_READ_BYTES", read_bytes)  # in this process
        got = md._drift_csv(reader, specs[0], r.values, [], COLS[::-1])
        assert got["rows"] == want["rows"] == len(part)
        np.testing.assert_array_equal(got["missing"], want["missing"])
        assert got["missing"][COLS[::-1].index("c")] == part["c"].isna().sum() > 0
        for j in range(len(COLS)):
            np.testing.assert_array_equal(md._Slots.of(got["counts"][j]).interleaved(),
                                          md._Slots.of(want["counts"][j]).interleaved())
        d, m = md._ks_from_counts(r.cum[0], md._Slots.of(got["counts"][0]).interleaved())
        col = part[COLS[-1]].to_numpy()
        assert m == len(col) and md.ks_pvalue(d, len(ref), m)[0] == _scipy_ks(ref[:, 0], col).statistic


def test_read_csv_refuses_bad_cells_with_line_and_field(client, csv_files, booster, reference, tmp_path):
    """A cell that is not a number in a selected column, a row with a field too few and a value
    beyond float32 fail the task with the file's line and the field; a bad cell in a column not
    read does not; quoted numbers, spaces around them and inf are numbers."""
    paths, _ = csv_files
    lines = open(paths[0], "rb").read().split(b"\n")
    path = tmp_path / "cells.csv"
    cases = [(b"NA", r"line 7001, field 3: not a number: \"NA\"$"),
             (b"0x1p3", r"line 7001, field 3: not a number: \"0x1p3\"$"),
             (b"1e39", r"line 7001, field 3: beyond the range of float32: \"1e39\"$")]
    for cell, msg in cases:
        bad = list(lines)
        row = bad[7000].split(b",")
        row[2] = cell
        bad[7000] = b",".join(row)
        path.write_bytes(b"\n".join(bad))
        for blocksize in (1 << 30, 20_000):
            with pytest.raises(mlops.FormatError, match=r"cells.csv, " + msg):
                md.read_csv([str(path)], dtype=np.float32, blocksize=blocksize).compute()
        with pytest.raises(mlops.FormatError, match=r"cells.csv, " + msg):  # the fused path
            md.predict(md.read_csv([str(path)], dtype=np.float32), booster).compute()
        got = md.read_csv([str(path)], columns=["a", "b"]).compute()  # column c is not read
        assert len(got) == len(lines) - 2
    # float64 reads 1e39; a row with a field too few is refused
    got = md.read_csv([str(path)], blocksize=20_000).compute()
    assert got["c"].iloc[6999] == 1e39
    bad = list(lines)
    bad[12] = b",".join(bad[12].split(b",")[:-1])
    path.write_bytes(b"\n".join(bad))
    with pytest.raises(mlops.FormatError, match=r"cells.csv, line 13: 5 fields, the header has 6$"):
        md.drift(reference, md.read_csv([str(path)]))
    path.write_bytes(b"a,b\n\"1.5\", 2 \r\n-inf,\n")
    got = md.read_csv([str(path)]).compute(scheduler="sync").to_numpy()
    np.testing.assert_array_equal(got, [[1.5, 2.0], [-np.inf, np.nan]])


def test_read_csv_file_changed_after_planning(client, csv_files, tmp_path):
    paths, _ = csv_files
    path = tmp_path / "moving.csv"
    path.write_bytes(open(paths[0], "rb").read())
    ddf = md.read_csv([str(path)], blocksize=50_000)
    with open(path, "r+b") as f:  # cut in the middle of the partitions planned above
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(mlops.FormatError, match="changed"):
        ddf.compute()
    with pytest.raises(mlops.FormatError, match="changed"):
        md.drift(pd.DataFrame({c: [0.0, 1.0] for c in COLS}), ddf)
    os.remove(path)
    with pytest.raises(mlops.FileNotFoundError_):
        ddf.compute()


# ---- last: a second client connected by address (becomes the default scheduler) ----------------

def test_works_through_a_scheduler_address(client, data, booster, reference):
    addr = client.scheduler.address
    assert addr.startswith("tcp://")
    with Client(addr, set_as_default=True) as other:
        part = dd.from_pandas(data[COLS].iloc[:20000], npartitions=20)
        got = md.predict(part, booster).compute()
        np.testing.assert_allclose(got.to_numpy(), booster.inplace_predict(data[COLS].to_numpy()[:20000]),
                                   rtol=1e-6, atol=1e-7)
        rep = md.drift(reference, part)
        want = _scipy_ks(reference["a"].to_numpy(), data["a"].to_numpy(np.float64)[:20000])
        assert rep["features"][0]["statistic"] == want.statistic
        assert any(other.run(md.cache_info).values())
