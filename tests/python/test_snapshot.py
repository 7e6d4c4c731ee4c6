"""Mergeable drift-window snapshots (issue 14): the merged report of several detectors with one
reference equals SciPy on the reference and the concatenation of their windows."""
import struct
import warnings

import numpy as np
import pytest
from scipy import stats

import mlops


def _ks(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stats.ks_2samp(a, b)


def _fleet(ref, streams, window, categorical=()):
    """One detector per stream (same reference); returns (detectors, the windows they hold)."""
    dets, windows = [], []
    for rows in streams:
        d = mlops.DriftDetector(ref, window=window, categorical=categorical)
        for chunk in np.array_split(rows, 3):  # several updates, so the ring wraps
            d.update(chunk)
        dets.append(d)
        windows.append(rows[-window:])
    return dets, windows


def _merged(dets):
    snaps = [mlops.DriftSnapshot.from_bytes(d.snapshot().to_bytes()) for d in dets]
    m = snaps[0]
    for s in snaps[1:]:
        m.merge(s)
    return m


def _data(rng, n, shift, decimals):
    x = np.round(rng.normal(loc=shift, size=(n, 3)), decimals)
    x[rng.random(n) < 0.05, 1] = np.nan  # missing values
    x[rng.random(n) < 0.02, 2] = np.inf
    return x


@pytest.mark.parametrize("window,ref_rows,decimals", [(40, 60, 1), (300, 500, 2), (5000, 4000, 3)])
def test_merged_report_equals_scipy_on_the_concatenated_windows(window, ref_rows, decimals):
    rng = np.random.default_rng(window)
    ref = _data(rng, ref_rows, 0.0, decimals)
    streams = [_data(rng, int(window * 1.7) + k, 0.1 * k, decimals) for k in range(3)]
    dets, windows = _fleet(ref, streams, window)
    rep = _merged(dets).report()
    union = np.concatenate(windows)
    assert rep["n_rows"] == len(union)
    for j, f in enumerate(rep["features"]):
        r, c = ref[:, j], union[:, j]
        want = _ks(r[~np.isnan(r)], c[~np.isnan(c)])
        assert f["statistic"] == want.statistic  # bit-equal
        assert f["pvalue"] == pytest.approx(want.pvalue, abs=1e-10, rel=0)
        assert f["n_current"] == np.count_nonzero(~np.isnan(c))
        assert f["n_missing"] == np.count_nonzero(np.isnan(c))
        assert f["n_reference"] == np.count_nonzero(~np.isnan(r))


def test_categorical_counts_merge_like_one_table():
    rng = np.random.default_rng(3)
    ref = np.column_stack([rng.normal(size=400), rng.integers(0, 4, 400).astype(float)])
    streams = [np.column_stack([rng.normal(size=250), rng.integers(0, 5 + k, 250).astype(float)]) for k in range(3)]
    dets, windows = _fleet(ref, streams, 200, categorical=[1])
    f = _merged(dets).report()["features"][1]
    union = np.concatenate(windows)[:, 1]
    cats = np.union1d(ref[:, 1], union)
    table = np.array([[np.count_nonzero(ref[:, 1] == c) for c in cats],
                      [np.count_nonzero(union == c) for c in cats]])
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert f["statistic"] == pytest.approx(chi2, rel=1e-12)
    assert f["pvalue"] == pytest.approx(p, abs=1e-10)


def test_a_single_snapshot_reports_as_its_detector():
    rng = np.random.default_rng(5)
    d = mlops.DriftDetector(rng.normal(size=(300, 2)), window=100)
    d.update(rng.normal(size=(250, 2)))
    a, b = d.report(), d.snapshot().report()
    for fa, fb in zip(a["features"], b["features"]):
        assert (fa["statistic"], fa["pvalue"]) == (fb["statistic"], fb["pvalue"])
    c, s = d.results(), d.snapshot().results()
    assert c["features"] == s["features"] and list(s["features"]) == ["f0", "f1"]
    assert s["summary"]["n_rows"] == 100 and s["summary"]["n_drifted"] == c["summary"]["n_drifted"]


def test_different_references_are_refused_and_leave_the_target_unchanged():
    rng = np.random.default_rng(9)
    ref = rng.normal(size=(200, 2))
    a = mlops.DriftDetector(ref, window=50)
    b = mlops.DriftDetector(ref[:-1], window=50)
    c = mlops.DriftDetector(ref, window=50, feature_names=["x", "y"])
    for d in (a, b, c):
        d.update(rng.normal(size=(60, 2)))
    sa = a.snapshot()
    before = sa.to_bytes()
    for other in (b, c):
        with pytest.raises(mlops.InvalidArgumentError, match="different references"):
            sa.merge(other.snapshot())
        assert sa.to_bytes() == before
    assert sa.digest != b.snapshot().digest


def test_no_snapshot_before_the_reference_is_complete():
    d = mlops.DriftDetector(None, n_features=2, reference_size=10)
    d.update(np.ones((3, 2)))
    with pytest.raises(mlops.StateError):
        d.snapshot()


def _fnv(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def _reseal(body):
    return body + struct.pack("<Q", _fnv(body))


def test_malformed_buffers_are_refused():
    rng = np.random.default_rng(11)
    d = mlops.DriftDetector(rng.normal(size=(50, 1)), window=20)
    d.update(rng.normal(size=(30, 1)))
    good = d.snapshot().to_bytes()
    mlops.DriftSnapshot.from_bytes(good)
    for n in range(0, len(good), 7):  # every truncation
        with pytest.raises(mlops.FormatError):
            mlops.DriftSnapshot.from_bytes(good[:n])
    flipped = bytearray(good)
    flipped[40] ^= 1
    with pytest.raises(mlops.FormatError, match="checksum"):
        mlops.DriftSnapshot.from_bytes(bytes(flipped))
    # a reference value changed and the checksum recomputed: the digest no longer matches
    body = bytearray(good[:-8])
    name_len = struct.unpack_from("<Q", body, 80)[0]
    first_value = 80 + 8 + name_len + 5 * 8
    struct.pack_into("<d", body, first_value, struct.unpack_from("<d", body, first_value)[0] - 1.0)
    with pytest.raises(mlops.FormatError, match="digest"):
        mlops.DriftSnapshot.from_bytes(_reseal(bytes(body)))
    # trailing garbage
    with pytest.raises(mlops.FormatError):
        mlops.DriftSnapshot.from_bytes(_reseal(good[:-8] + b"\0" * 8))
    # an unknown format version
    body = bytearray(good[:-8])
    struct.pack_into("<Q", body, 8, 99)
    with pytest.raises(mlops.VersionError):
        mlops.DriftSnapshot.from_bytes(_reseal(bytes(body)))
