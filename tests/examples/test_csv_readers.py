"""mlops-drift and mlops-validate on the chunked CSV reader (issue 26).

Both now read their files in chunks of 4 MB (cli_csv_stream). mlops-drift takes the chunked path for
regular files and falls back to the whole-file path (the one standard input still takes) for anything
unusual; its results must be the whole-file path's byte for byte, and SciPy's. mlops-validate reads
every file in chunks: row and line numbers of violations in later chunks are checked against the rows
the test planted, and --infer's ranges against NumPy. The files here are larger than one chunk.
"""
import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
CHUNK = 4 << 20  # CLI_CSV_CHUNK_BYTES


def run(prog, *args, stdin=None):
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as f:
        return subprocess.run([os.path.join(BIN, prog), *map(str, args)], stdin=f, capture_output=True, text=True,
                              timeout=300)


def opens_of(path, prog, *args):
    """How many times prog opens `path` (strace): 1 on the chunked path, 2 when it falls back."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    r = subprocess.run(["strace", "-f", "-e", "trace=openat", os.path.join(BIN, prog), *map(str, args)],
                       capture_output=True, text=True, timeout=300)
    return sum(1 for ln in r.stderr.splitlines() if "openat(" in ln and '"%s"' % path in ln and "= -1" not in ln)


def mixed(rng, n, shift):
    """Numeric columns (some cells missing), strings, small integers."""
    df = pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.exponential(1, n), "s": rng.choice(["x", "y", "z"], n),
                       "k": rng.integers(0, 5 + int(shift > 0), n), "e": rng.normal(size=n)})
    df.loc[rng.choice(n, n // 50, replace=False), "a"] = np.nan
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("readers")
    rng = np.random.default_rng(26)
    mixed(rng, 60_000, 0.0).to_csv(d / "r.csv", index=False)  # ~3 MB: one chunk
    mixed(rng, 160_000, 0.05).to_csv(d / "c.csv", index=False)  # ~8 MB: two chunks
    assert os.path.getsize(d / "c.csv") > CHUNK
    return d


@pytest.mark.parametrize("extra", [[], ["--categorical", "k", "--exclude", "e"], ["--exclude", "nope"]])
def test_drift_chunked_equals_whole_file(files, extra):
    """The chunked path (files) and the whole-file path (the reference on standard input) agree
    byte for byte on the JSON report and on the table, warnings included."""
    for fmt in (["--json"], []):
        fast = run("mlops-drift", "--reference", files / "r.csv", "--current", files / "c.csv", *fmt, *extra)
        whole = run("mlops-drift", "--reference", "-", "--current", files / "c.csv", *fmt, *extra,
                    stdin=files / "r.csv")
        assert fast.returncode == 0, fast.stderr
        assert (fast.returncode, fast.stdout, fast.stderr) == (whole.returncode, whole.stdout, whole.stderr)
    assert opens_of(files / "r.csv", "mlops-drift", "--reference", files / "r.csv", "--current", files / "c.csv") == 1


def test_drift_chunked_matches_scipy(files):
    r = run("mlops-drift", "--reference", files / "r.csv", "--current", files / "c.csv", "--json")
    assert r.returncode == 0, r.stderr
    got = {f["name"]: f for f in json.loads(r.stdout)["features"]}
    ref, cur = pd.read_csv(files / "r.csv"), pd.read_csv(files / "c.csv")
    for col in ("a", "b", "e"):
        want = stats.ks_2samp(ref[col].dropna(), cur[col].dropna())
        assert got[col]["statistic"] == pytest.approx(want.statistic, rel=1e-12, abs=1e-15), col
        assert got[col]["pvalue"] == pytest.approx(want.pvalue, rel=1e-6, abs=1e-300), col


def late_file(path, rows, bad_row, cell):
    """rows x (a, s) with s a small integer except row bad_row (1-based); returns the byte offset of
    that row (past the first chunk when the test needs it there)."""
    rng = np.random.default_rng(bad_row)
    s = [str(v) for v in rng.integers(0, 6, size=rows)]
    s[bad_row - 1] = cell
    lines = ["a,s\n"] + ["%r,%s\n" % (a, v) for a, v in zip(rng.normal(size=rows), s)]
    with open(path, "w") as f:
        f.writelines(lines)
    return sum(len(ln) for ln in lines[:bad_row])


def test_drift_falls_back_on_a_late_non_number(tmp_path):
    """A column's first non-number in a later chunk: the earlier cells' text is gone, so the
    whole-file path runs; same result as it (categories), and the same error when only one file has
    a non-number."""
    assert late_file(tmp_path / "r.csv", 250_000, 230_000, "word") > CHUNK
    assert late_file(tmp_path / "c.csv", 250_000, 245_000, "other") > CHUNK
    late_file(tmp_path / "n.csv", 250_000, 10, "1.5")  # all numeric
    fast = run("mlops-drift", "--reference", tmp_path / "r.csv", "--current", tmp_path / "c.csv", "--json")
    whole = run("mlops-drift", "--reference", "-", "--current", tmp_path / "c.csv", "--json", stdin=tmp_path / "r.csv")
    assert fast.returncode == 0, fast.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (whole.returncode, whole.stdout, whole.stderr)
    kinds = {f["name"]: f["kind"] for f in json.loads(fast.stdout)["features"]}
    assert kinds["s"] != kinds["a"]  # s compared as categories, a by KS
    err = run("mlops-drift", "--reference", tmp_path / "r.csv", "--current", tmp_path / "n.csv")
    assert err.returncode == 2 and "column s is numeric in %s but not in %s (row 230000 (line 230001): \"word\")" % (
        tmp_path / "n.csv", tmp_path / "r.csv") in err.stderr
    assert opens_of(tmp_path / "r.csv", "mlops-drift", "--reference", tmp_path / "r.csv", "--current",
                    tmp_path / "c.csv") == 2


def test_drift_ragged_row_in_a_later_chunk(tmp_path):
    late_file(tmp_path / "r.csv", 250_000, 1, "0.5")
    lines = open(tmp_path / "r.csv").read().splitlines(True)
    assert sum(len(ln) for ln in lines[:230_001]) > CHUNK
    lines[230_001] = "1.0\n"  # data row 230001, file line 230002
    open(tmp_path / "c.csv", "w").writelines(lines)
    r = run("mlops-drift", "--reference", tmp_path / "r.csv", "--current", tmp_path / "c.csv")
    assert r.returncode == 2
    assert "%s row 230001 (line 230002): expected 2 columns, got 1" % (tmp_path / "c.csv") in r.stderr


def test_validate_in_chunks(tmp_path):
    """--infer over two chunks gives NumPy's ranges (margin 0); then violations planted in the
    second chunk are reported with their data row and file line."""
    rng = np.random.default_rng(7)
    n = 250_000
    a = rng.normal(size=n).astype(np.float32)
    k = rng.integers(0, 100, n)
    with open(tmp_path / "t.csv", "w") as f:
        f.write("a,k\n")
        f.writelines("%r,%d\n" % (float(x), y) for x, y in zip(a, k))
    assert os.path.getsize(tmp_path / "t.csv") > CHUNK
    r = run("mlops-validate", "--infer", "--input", tmp_path / "t.csv", "--margin", "0", "--out", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    feats = {f["name"]: f for f in json.load(open(tmp_path / "s.json"))["features"]}
    assert feats["a"]["min"] == pytest.approx(float(a.min()), rel=1e-7)
    assert feats["a"]["max"] == pytest.approx(float(a.max()), rel=1e-7)
    assert (feats["k"]["type"], feats["k"]["min"], feats["k"]["max"]) == ("int", int(k.min()), int(k.max()))
    lines = open(tmp_path / "t.csv").read().splitlines(True)
    lines[200_000] = "1000,5\n"  # data row 200000: a out of range
    lines[240_000] = "0.5\n"  # data row 240000: ragged
    lines[249_999] = "0.5,word\n"  # data row 249999: k not a number
    open(tmp_path / "bad.csv", "w").writelines(lines)
    r = run("mlops-validate", "--schema", tmp_path / "s.json", "--input", tmp_path / "bad.csv", "--json")
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["rows"] == n and doc["invalid_rows"] == 3
    assert [(v["row"], v["line"], v["feature"]) for v in doc["violations"]] == [
        (200_000, 200_001, "a"), (240_000, 240_001, None), (249_999, 250_000, "k")]
    r = run("mlops-validate", "--infer", "--input", tmp_path / "bad.csv", "--out", tmp_path / "s2.json")
    assert r.returncode == 3
    assert "bad.csv row 240000 (line 240001): expected 2 columns, got 1; row skipped" in r.stderr
    assert "bad.csv row 249999 (line 250000), column k: not a number: \"word\"; row skipped" in r.stderr
