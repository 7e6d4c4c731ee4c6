"""The status page of mlops-serve (GET /, /ui) in a real browser: headless Chromium over the DevTools
protocol (cdp.py) loads it from a server fed a drifting stream with labels, and what the rendered DOM
shows must equal what the JSON endpoints say (and the window accuracy what scikit-learn computes from
the served predictions). The Content-Security-Policy is checked by the browser itself: the page runs
without a single console error or CSP report, and a script injected without the nonce is refused.
Screenshots go to <build>/tests/ui/artifacts/.
"""
import json
import os
import re
import sys
import time

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, HERE)

from cdp import Browser  # noqa: E402
from test_serve import LABEL, features, rows, serve  # noqa: E402
from test_serve_deploy import REG_LABEL, TOKEN, admin, registry, regression, start, start_regression  # noqa: E402,F401

ARTIFACTS = os.path.join(os.environ.get("MLOPS_BUILD_ROOT", "build"), "tests", "ui", "artifacts")

# Everything the page shows that a test compares, read from the rendered DOM.
READ_PAGE = r"""JSON.stringify((() => {
  const val = (id) => { const e = document.getElementById(id);
    return {text: e.textContent, value: e.dataset.value === undefined ? null : e.dataset.value}; };
  const ids = ['model-name', 'model-version', 'objective', 'task', 'n-features', 'engine', 'live-version',
    'candidate-version', 'rollback-version', 'canary', 'shadow', 'gate', 'deploy-note', 'quality', 'window-count',
    'threshold', 'metric-name', 'requests', 'rate', 'p50', 'p95', 'p99', 'ab-note', 'drift-summary'];
  const out = {rounds: Number(document.body.dataset.rounds), ids: {}};
  for (const id of ids) out.ids[id] = val(id);
  out.drift = Array.from(document.querySelectorAll('#drift-table tbody tr')).map((tr) => ({
    feature: tr.dataset.feature, drift: tr.dataset.drift === 'true',
    cells: Array.from(tr.cells).map((td) => td.dataset.value === undefined ? null : td.dataset.value),
    ecdf_paths: tr.querySelectorAll('svg.ecdf path').length}));
  out.ab = Array.from(document.querySelectorAll('#ab-table tbody tr')).map((tr) => ({
    name: tr.dataset.variant, cells: Array.from(tr.cells).map((td) => td.dataset.value ?? null)}));
  out.ab_tests = Array.from(document.querySelectorAll('#ab-tests tbody tr')).map((tr) => ({
    treatment: tr.dataset.treatment, cells: Array.from(tr.cells).map((td) => td.dataset.value ?? null)}));
  const line = document.getElementById('quality-line');
  out.chart_points = line ? Number(line.dataset.points) : 0;
  out.threshold_line = !!document.getElementById('threshold-line');
  return out;
})())"""


def read_page(b):
    return json.loads(b.eval(READ_PAGE))


def num(s):
    return None if s is None else float(s)


def drifting(test, booster):
    """The test rows with two features moved far from the reference (the training rows)."""
    x = features(test, booster).copy()
    x["mean_radius"] = x["mean_radius"] * 1.6
    x["mean_texture"] = x["mean_texture"] + 12.0
    return x


def feed(s, x, y, prefix, headers=None):
    """One request per row with X-Request-Id, then its label. Returns the predictions."""
    preds = []
    for i in range(len(x)):
        h = dict(headers or {}, **{"X-Request-Id": "%s-%d" % (prefix, i), "X-User-Id": "user-%d" % i})
        status, doc = s.json("POST", "/predict", rows(x.iloc[[i]])[0], h)
        assert status == 200, doc
        preds.append(doc["predictions"][0])
        assert s.json("POST", "/feedback", {"id": "%s-%d" % (prefix, i), "label": int(y[i])})[0] == 200
    return np.array(preds)


def wait_rounds(b, more_than, seconds=30):
    b.wait_for("Number(document.body.dataset.rounds) > %d" % more_than, seconds)


def metric_samples(text, name, **want):
    out = []
    for m in re.finditer(r"^%s\{([^}]*)\} (\S+)$" % re.escape(name), text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(labels.get(k) == v for k, v in want.items()):
            out.append((labels, float(m.group(2))))
    return out


def check_drift_table(page, drift, history):
    feats = drift["features"]
    order = sorted(feats, key=lambda f: (not f["drift"], 2 if f["pvalue"] is None else f["pvalue"], f["name"]))
    assert [r["feature"] for r in page["drift"]] == [f["name"] for f in order]
    assert {r["feature"] for r in page["drift"] if r["drift"]} == {f["name"] for f in feats if f["drift"]}
    assert {"mean_radius", "mean_texture"} <= {f["name"] for f in feats if f["drift"]}
    for r, f in zip(page["drift"], order):
        # cells: name, test, statistic, p-value, adjusted, drift, missing, ECDF
        assert num(r["cells"][2]) == f["statistic"] and num(r["cells"][3]) == f["pvalue"]
        assert num(r["cells"][4]) == f["pvalue_adjusted"] and num(r["cells"][6]) == f["missing_rate"]
        assert r["ecdf_paths"] == 2 and history["ecdf"][f["name"]]["current"]  # reference and current
    assert page["ids"]["drift-summary"]["text"].startswith("%d of %d features drifted" % (drift["n_drifted"],
                                                                                        drift["n_features"]))


def check_traffic(page, prom):
    """Requests as /metrics counts them; each percentile inside the bucket where its rank falls."""
    count = sum(v for _, v in metric_samples(prom, "ml_http_requests_total", handler="predict"))
    assert num(page["ids"]["requests"]["value"]) == count
    buckets = {}
    for labels, v in metric_samples(prom, "http_request_duration_seconds_bucket", handler="predict"):
        le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        buckets[le] = buckets.get(le, 0) + v
    les = sorted(buckets)
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        rank = q * buckets[les[-1]]
        k = next(i for i, le in enumerate(les) if buckets[le] >= rank)
        lo, hi = (les[k - 1] if k else 0.0), les[k]
        assert lo <= num(page["ids"][name]["value"]) <= hi, (name, page["ids"][name], lo, hi)


def type_token(b, token):
    b.eval("document.getElementById('token').focus()")
    b.call("Input.insertText", text=token)
    b.eval("document.getElementById('token').blur()")  # 'change' fires


def test_status_page_shows_what_the_endpoints_say(registry, tmp_path):
    d, _, test, boosters = registry
    os.makedirs(ARTIFACTS, exist_ok=True)
    x = drifting(test, boosters[1])
    y = test[LABEL].to_numpy()
    with start(registry, "--reference", d / "v1.csv", "--window", 80, "--rollback-below", 0.8,
               log_dir=tmp_path) as s:
        feed(s, features(test, boosters[1]).iloc[:60], y[:60], "c")  # before the drift
        time.sleep(2.5)  # a snapshot or two in between: the chart shows the change
        preds = feed(s, x, y, "r")
        assert admin(s, "POST", "stage", {"version": 2})[0] == 200
        assert admin(s, "POST", "canary", {"fraction": 0.25})[0] == 200
        assert admin(s, "POST", "validate", {"min_accuracy": 0.5})[0] == 200
        deadline = time.monotonic() + 20  # a few quality snapshots (one a second)
        while len([p for p in s.json("GET", "/history")[1]["points"] if p["value"] is not None]) < 3:
            assert time.monotonic() < deadline, "no quality snapshots"
            time.sleep(0.2)
        with Browser(tmp_path) as b:
            b.open("http://127.0.0.1:%d/" % s.port)
            wait_rounds(b, 0)
            page = read_page(b)
            model, mon = s.json("GET", "/model")[1], s.json("GET", "/monitor")[1]
            drift, hist = s.json("GET", "/drift")[1], s.json("GET", "/history")[1]
            _, _, prom = s.request("GET", "/metrics")
            ids = page["ids"]
            # the model
            assert ids["model-name"]["text"] == model["model"] == "bc"
            assert num(ids["model-version"]["value"]) == model["model_version"] == 1
            assert ids["objective"]["text"] == model["objective"] == "binary:logistic"
            assert ids["engine"]["text"] == model["engine"] and num(ids["n-features"]["value"]) == model["n_features"]
            # quality: the monitor's window, and scikit-learn's accuracy of its last 80 labelled predictions
            acc = skm.accuracy_score(y[-80:], preds[-80:] >= 0.5)
            assert num(ids["quality"]["value"]) == mon["window"]["accuracy"] == pytest.approx(acc, abs=1e-12)
            assert ids["metric-name"]["text"] == "accuracy" and num(ids["window-count"]["value"]) == 80
            assert num(ids["threshold"]["value"]) == hist["threshold"] == 0.8 and page["threshold_line"]
            assert page["chart_points"] >= 3
            check_drift_table(page, drift, hist)
            check_traffic(page, prom.decode())
            # without the token: the live version from /model, the rest withheld
            assert "admin token" in ids["deploy-note"]["text"]
            assert num(ids["live-version"]["value"]) == 1 and ids["candidate-version"]["value"] is None
            assert ids["ab-note"]["text"] == "no A/B experiment is running" and page["ab"] == []
            b.screenshot(os.path.join(ARTIFACTS, "status-page-no-token.png"))

            # with the token (typed into the field): the deployment as /admin/status says
            rounds = page["rounds"]
            type_token(b, TOKEN)
            wait_rounds(b, rounds)
            page = read_page(b)
            _, st = admin(s, "GET", "status")
            ids = page["ids"]
            assert ids["deploy-note"]["text"] == ""
            assert num(ids["live-version"]["value"]) == st["live_version"] == 1
            assert num(ids["candidate-version"]["value"]) == st["candidate_version"] == 2
            assert ids["rollback-version"]["value"] is None and st["rollback_version"] is None
            assert num(ids["canary"]["value"]) == st["canary"] == 0.25
            assert ids["shadow"]["text"] == ("on" if st["shadow"] else "off")
            gate = st["last_gate"]
            assert ids["gate"]["value"] == ("true" if gate["passed"] else "false")
            assert ids["gate"]["text"] == ("passed" if gate["passed"] else "failed: " + gate["why"])
            # the token lives in the page's memory only
            assert b.eval("localStorage.length + sessionStorage.length + document.cookie.length") == 0

            # an A/B experiment appears on the next refresh
            body = {"variants": [{"name": "control", "version": 1, "weight": 50},
                                 {"name": "treatment", "version": 2, "weight": 50}]}
            status, _, data = s.request("PUT", "/admin/ab", body, {"Authorization": "Bearer " + TOKEN,
                                                                  "Content-Type": "application/json"})
            assert status == 200, data
            feed(s, x.iloc[:60], y[:60], "ab")
            rounds = read_page(b)["rounds"]
            wait_rounds(b, rounds + 1, 60)  # a whole refresh after the last label
            page = read_page(b)
            ab = s.json("GET", "/ab")[1]
            assert [r["name"] for r in page["ab"]] == [v["name"] for v in ab["variants"]]
            for r, v in zip(page["ab"], ab["variants"]):
                want = [v["name"], v["version"], v["weight"], v["requests"], v["labelled"], v["accuracy"], v["rmse"],
                        v["latency_p50_ms"], v["latency_p95_ms"], v["latency_p99_ms"]]
                assert [r["cells"][0]] + [num(c) for c in r["cells"][1:]] == want
            [t] = ab["tests"]
            [row] = page["ab_tests"]
            assert row["treatment"] == "treatment" and row["cells"][1] == t["metric"] == "accuracy"
            assert num(row["cells"][2]) == t["statistic"] and num(row["cells"][3]) == t["p_value"]
            assert row["cells"][4] == ("true" if t["significant"] else "false")
            b.screenshot(os.path.join(ARTIFACTS, "status-page.png"))
            assert b.errors() == []

            # the policy is enforced: a script without the nonce does not run, and the browser says so
            b.eval("(() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';"
                   " document.body.appendChild(s); })()")
            assert b.eval("window.pwned === undefined")
            assert any("Content Security Policy" in e for e in b.errors())


def test_status_page_without_admin_drift_or_registry(registry, tmp_path):
    """A plain --model server: the page says what is absent instead of failing."""
    d, _, test, boosters = registry
    with serve(d / "v1.json", log_dir=tmp_path) as s:
        with Browser(tmp_path) as b:
            b.open("http://127.0.0.1:%d/ui" % s.port)
            wait_rounds(b, 0)
            page = read_page(b)
            ids = page["ids"]
            assert ids["model-name"]["text"] == "v1.json" and ids["model-version"]["text"] == "file (no registry)"
            assert ids["live-version"]["text"] == "the --model file"
            assert ids["drift-summary"]["text"].startswith("no drift detector")
            assert ids["quality"]["value"] is None and ids["threshold"]["text"] == "none"
            assert page["drift"] == [] and page["ab"] == []
            assert b.errors() == []
            # the server goes away: the page says so, keeps what it showed, and throws nothing
            s.proc.kill()
            s.proc.wait(timeout=10)
            wait_rounds(b, read_page(b)["rounds"])
            assert b.eval("document.body.dataset.state") == "down"
            assert b.eval("document.getElementById('updated').textContent").startswith("server unreachable since")
            assert read_page(b)["ids"]["model-name"]["text"] == "v1.json"
            assert b.errors() == []


def test_csp_header_and_nonce(registry, tmp_path):
    d = registry[0]
    with serve(d / "v1.json", log_dir=tmp_path) as s:
        nonces = []
        for path in ("/", "/ui"):
            status, hdrs, body = s.request("GET", path)
            assert status == 200 and hdrs["Content-Type"] == "text/html; charset=utf-8"
            csp = hdrs["Content-Security-Policy"]
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "default-src 'none'" in csp
            nonce = re.search(r"script-src 'nonce-([A-Za-z0-9+/=]+)'", csp).group(1)
            assert body.count(('nonce="%s"' % nonce).encode()) == 2 and b"__NONCE__" not in body
            assert not re.search(rb"<(script|link|img|iframe)[^>]*\s(src|href)=", body)  # nothing external
            assert not re.search(rb"\sstyle=|\son[a-z]+=", body)  # no inline styles or handlers to allow
            nonces.append(nonce)
        assert nonces[0] != nonces[1]
        status, hdrs, body = s.request("HEAD", "/")
        assert status == 200 and body == b""
        assert s.request("POST", "/ui", "x")[0] == 405


def test_history_keeps_snapshots_and_ecdf_samples(registry, tmp_path):
    """GET /history: the window accuracy as /monitor reports it, a reference sample of order statistics
    of the reference column (numpy's sort), and the last `--window` values the drift window received."""
    d, _, test, boosters = registry
    ref = pd.read_csv(d / "v1.csv")
    x = drifting(test, boosters[1])
    y = test[LABEL].to_numpy()
    with start(registry, "--reference", d / "v1.csv", "--window", 50, "--rollback-below", 0.7,
               log_dir=tmp_path) as s:
        h = s.json("GET", "/history")[1]
        assert h["metric"] == "accuracy" and h["threshold"] == 0.7 and h["interval"] == 1
        assert all(p["value"] is None for p in h["points"])  # no label yet
        feed(s, x.iloc[:70], y, "h")
        mon = s.json("GET", "/monitor")[1]
        deadline = time.monotonic() + 20
        while not [p for p in s.json("GET", "/history")[1]["points"] if p["window_count"] == 50]:
            assert time.monotonic() < deadline, "no snapshot after the labels"
            time.sleep(0.2)
        h = s.json("GET", "/history")[1]
        last = h["points"][-1]
        assert last["value"] == mon["window"]["accuracy"] and last["recorded"] == 70
        assert [p["t"] for p in h["points"]] == sorted(p["t"] for p in h["points"])
        for name in ("mean_radius", "mean_area"):
            col = np.sort(ref[name].to_numpy(dtype=np.float32).astype(np.float64))
            idx = [int(i * (len(col) - 1) / 199) for i in range(200)]
            assert h["ecdf"][name]["reference"] == col[idx].tolist()
            cur = np.sort(x[name].iloc[20:70].to_numpy(dtype=np.float32).astype(np.float64))
            assert h["ecdf"][name]["current"] == cur.tolist()


def test_regression_shows_rmse_against_rollback_above(regression, tmp_path):
    """A regression model: the page charts the window RMSE (scikit-learn's, as /monitor says) with the
    --rollback-above threshold."""
    d, _, gate, boosters = regression
    x = features(gate, boosters[1]).iloc[:40]
    y = gate[REG_LABEL].to_numpy()[:40]
    with start_regression(regression, "--window", 30, "--rollback-above", 80, log_dir=tmp_path) as s:
        preds = feed(s, x, y, "g")
        deadline = time.monotonic() + 20
        while not [p for p in s.json("GET", "/history")[1]["points"] if p["value"] is not None]:
            assert time.monotonic() < deadline, "no quality snapshot"
            time.sleep(0.2)
        with Browser(tmp_path) as b:
            b.open("http://127.0.0.1:%d/" % s.port)
            wait_rounds(b, 0)
            page = read_page(b)
            mon, hist = s.json("GET", "/monitor")[1], s.json("GET", "/history")[1]
            ids = page["ids"]
            assert ids["metric-name"]["text"] == hist["metric"] == "rmse"
            rmse = np.sqrt(skm.mean_squared_error(y[-30:], preds[-30:]))
            assert num(ids["quality"]["value"]) == mon["window"]["rmse"] == pytest.approx(rmse, rel=1e-9)
            assert num(ids["threshold"]["value"]) == hist["threshold"] == 80 and page["threshold_line"]
            assert "--rollback-above" in ids["threshold"]["text"] and page["chart_points"] >= 1
            assert b.errors() == []
