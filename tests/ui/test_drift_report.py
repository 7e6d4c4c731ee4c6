"""The report of `mlops-drift --html` in a real browser (headless Chromium over the DevTools protocol):
its summary table equals `mlops-drift --json`, sorts when a heading is clicked, each ECDF marks the
point of largest distance where SciPy's ks_2samp puts it (statistic_location) at SciPy's statistic,
categorical columns get bars whose shares are pandas' value_counts, and the page's
Content-Security-Policy (SHA-256 of its one style and one script) lets exactly those run: no console
error, and a hostile column name stays text. A screenshot goes to <build>/tests/ui/artifacts/.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cdp import Browser  # noqa: E402

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
ARTIFACTS = os.path.join(os.environ.get("MLOPS_BUILD_ROOT", "build"), "tests", "ui", "artifacts")
HOSTILE = '<img src=x onerror="window.pwned=1">'

READ = r"""JSON.stringify({
  rows: Array.from(document.querySelectorAll('#summary tbody tr')).map((tr) => ({
    feature: tr.dataset.feature, drift: tr.classList.contains('drift'),
    cells: Array.from(tr.cells).map((td) => td.dataset.value)})),
  marks: Object.fromEntries(Array.from(document.querySelectorAll('.f')).filter((d) => d.querySelector('.ksmark'))
    .map((d) => [d.querySelector('h3').textContent, {x: d.querySelector('.ksmark').dataset.x,
                                                    d: d.querySelector('.ksmark').dataset.d}])),
  bars: Array.from(document.querySelectorAll('rect.ref, rect.cur')).map((r) => ({
    side: r.getAttribute('class'), feature: r.closest('.f').querySelector('h3').textContent,
    category: r.dataset.category, share: r.dataset.share})),
  pwned: window.pwned === undefined ? null : window.pwned,
  images: document.images.length})"""


def data(tmp_path):
    rng = np.random.default_rng(7)
    colors = np.array(["red", "green", "blue", "violet"])
    ref = pd.DataFrame({"a": rng.normal(size=500), "shifted": rng.normal(size=500),
                        "gappy": rng.exponential(size=500),
                        "color": colors[rng.choice(4, 500, p=[0.4, 0.3, 0.2, 0.1])],
                        HOSTILE: rng.normal(size=500)})
    cur = pd.DataFrame({"a": rng.normal(size=300), "shifted": rng.normal(size=300) + 0.8,
                        "gappy": rng.exponential(size=300) * 1.3,
                        "color": colors[rng.choice(4, 300, p=[0.2, 0.3, 0.2, 0.3])],
                        HOSTILE: rng.normal(size=300)})
    cur.loc[cur.index[::7], "gappy"] = np.nan  # missing values: empty cells
    ref.to_csv(tmp_path / "ref.csv", index=False, float_format="%.17g")
    cur.to_csv(tmp_path / "cur.csv", index=False, float_format="%.17g")
    return ref, cur


def drift_cli(tmp_path, *extra):
    r = subprocess.run([os.path.join(BIN, "mlops-drift"), "--reference", str(tmp_path / "ref.csv"), "--current",
                        str(tmp_path / "cur.csv"), *extra], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def sorted_by(rows, col, reverse=False):
    def key(r):
        v = r["cells"][col]
        try:
            return (0, float(v), "")
        except ValueError:
            return (1, 0.0, v)
    return [r["feature"] for r in sorted(rows, key=key, reverse=reverse)]


def test_drift_report_in_a_browser(tmp_path):
    ref, cur = data(tmp_path)
    rep = json.loads(drift_cli(tmp_path, "--json"))
    drift_cli(tmp_path, "--html", str(tmp_path / "report.html"))
    with Browser(tmp_path, height=1200) as b:
        b.open("file://" + str(tmp_path / "report.html"))
        b.wait_for("document.readyState === 'complete' && document.querySelector('#summary tbody tr')")
        page = json.loads(b.eval(READ))
        # the table: drifted first, then by p-value; every figure as --json gives it
        feats = {f["name"]: f for f in rep["features"]}
        order = sorted(rep["features"], key=lambda f: (not f["drift"], f["pvalue"]))
        assert [r["feature"] for r in page["rows"]] == [f["name"] for f in order]
        for r in page["rows"]:
            f = feats[r["feature"]]
            assert r["cells"][0] == f["name"] and r["cells"][1] == f["test"] and r["drift"] == f["drift"]
            assert [float(c) for c in r["cells"][2:5]] == [f["statistic"], f["pvalue"], f["pvalue_adjusted"]]
            assert int(r["cells"][5]) == f["drift"] and float(r["cells"][6]) == f["missing_rate"]
        assert feats["shifted"]["drift"] and feats["color"]["drift"] and feats["color"]["test"] == "chi2"
        assert feats["gappy"]["missing_rate"] == cur["gappy"].isna().mean()
        # ECDFs: the mark where SciPy finds the largest distance
        assert set(page["marks"]) == {"a", "shifted", "gappy", HOSTILE}
        for name, m in page["marks"].items():
            want = stats.ks_2samp(ref[name].dropna(), cur[name].dropna())
            assert feats[name]["statistic"] == want.statistic
            assert abs(float(m["d"]) - want.statistic) < 1e-12  # the mark's own |F_ref - F_cur| at x
            assert float(m["x"]) == want.statistic_location, name
        # the categorical column: bars with pandas' shares
        for side, df in (("ref", ref), ("cur", cur)):
            got = {r["category"]: float(r["share"]) for r in page["bars"] if r["side"] == side}
            want = df["color"].value_counts(normalize=True).to_dict()
            assert set(got) == set(want) and all(abs(got[k] - want[k]) < 1e-15 for k in want), (side, got, want)
        # the hostile column name is text: no element made of it, no script run
        assert page["pwned"] is None and page["images"] == 0
        os.makedirs(ARTIFACTS, exist_ok=True)
        b.screenshot(os.path.join(ARTIFACTS, "drift-report.png"))
        # sorting by a click on a heading: ascending first, then descending
        rows = page["rows"]
        assert len({r["cells"][3] for r in rows}) == len(rows)  # p-values without ties
        for heading, col, reverse in (("p-value", 3, False), ("p-value", 3, True), ("statistic", 2, False),
                                      ("missing share", 6, False), ("missing share", 6, True)):
            b.eval("Array.from(document.querySelectorAll('#summary th')).find((t) => t.textContent === '%s')"
                   ".click()" % heading)
            now = json.loads(b.eval(READ))["rows"]
            # a stable sort of the order before the click (ties keep it)
            assert [r["feature"] for r in now] == sorted_by(rows, col, reverse), (heading, reverse, now)
            rows = now
        assert b.errors() == []
