"""mlops-serve end to end: a model trained by mlops-train, served on a free loopback port.

Oracles: XGBoost's own predictions for the same rows, scikit-learn for the monitor's window
metrics, SciPy's ks_2samp for the drift report, promtool and prometheus_client for /metrics.
Every server is started with --port 0 (the kernel picks a free port, printed on stderr) and
killed in a finally block.
"""
import contextlib
import http.client
import json
import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy import stats
from sklearn import metrics as skm

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
DATA = os.path.join(ROOT, "examples", "data")
LABEL = "malignant0_benign1"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    train, test = df.iloc[:450], df.iloc[450:]
    train.to_csv(d / "train.csv", index=False)
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(d / "train.csv"), "--label", LABEL,
                        "--objective", "binary:logistic", "--rounds", "20", "--max-depth", "3", "--out",
                        str(d / "model.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    booster = xgb.Booster(model_file=str(d / "model.json"))
    return d, train, test.reset_index(drop=True), booster


class Server:
    def __init__(self, proc, port, log):
        self.proc, self.port, self.log = proc, port, log

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            headers = dict(headers or {})
            if method == "POST":  # the server takes JSON bodies only (415 otherwise)
                headers.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        assert hdrs.get("Content-Type", "").startswith("application/json"), (status, data)
        return status, json.loads(data)


@contextlib.contextmanager
def serve(*args, log_dir, model=True):
    """mlops-serve on a free loopback port: serve(MODEL, args...), or serve(args..., model=None) when
    the arguments name the model source themselves."""
    if model:
        args = ("--model",) + args
    log = open(os.path.join(log_dir, "serve-%d.log" % time.monotonic_ns()), "w+")
    proc = subprocess.Popen([os.path.join(BIN, "mlops-serve"), "--bind", "127.0.0.1", "--port", "0", "--threads",
                             "2", *map(str, args)], stdout=log, stderr=log)
    try:
        port, deadline = None, time.monotonic() + 20
        while port is None:
            assert proc.poll() is None, "server exited: " + open(log.name).read()
            assert time.monotonic() < deadline, "server did not start: " + open(log.name).read()
            for line in open(log.name):
                for scheme in ("http", "https"):
                    if "on %s://127.0.0.1:" % scheme in line:
                        port = int(line.split("on %s://127.0.0.1:" % scheme)[1].split("/")[0])
            time.sleep(0.05)
        yield Server(proc, port, log.name)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        log.close()


def rows(df):
    return [{"features": {k: float(v) for k, v in r.items()}} for r in df.to_dict("records")]


def features(df, booster):
    return df[booster.feature_names]


def test_predictions_match_xgboost(trained, tmp_path):
    d, _, test, b = trained
    x = features(test, b)
    want = b.inplace_predict(x.to_numpy(dtype=np.float32))
    with serve(d / "model.json", log_dir=tmp_path) as s:
        status, doc = s.json("POST", "/predict", rows(x))
        assert status == 200, doc
        assert doc["model"] == "model.json" and doc["engine"] in ("native", "xgboost")
        np.testing.assert_array_equal(np.array(doc["predictions"], dtype=np.float32), want)
        # one object (not an array), keys in another order
        one = {"features": dict(reversed(list(rows(x.iloc[[3]]))[0]["features"].items()))}
        status, doc = s.json("POST", "/predict", one)
        assert status == 200 and np.float32(doc["predictions"][0]) == want[3]
        status, doc = s.json("GET", "/model")
        assert status == 200
        assert [f["name"] for f in doc["features"]] == b.feature_names
        assert doc["objective"] == "binary:logistic" and doc["task"] == "binary" and doc["rounds"] == 20
        assert doc["engine"] in ("native", "xgboost")
        status, hdrs, body = s.request("GET", "/healthz")
        assert status == 200 and body == b"ok\n"


def test_fast_and_general_paths_answer_alike(trained, tmp_path):
    """Bodies of the usual kind take the server's one-pass parser and plain names a directly written
    answer; an escaped key goes to the library's parser, and a model file name with a quote, a
    backslash and a non-ASCII letter to the jansson document. Every combination answers XGBoost's
    predictions, with the same bytes for them."""
    d, _, test, b = trained
    x = features(test, b)
    want = b.inplace_predict(x.to_numpy(dtype=np.float32))
    odd = tmp_path / 'm\u00e9"o\\del.json'
    odd.write_bytes((d / "model.json").read_bytes())
    plain_body = json.dumps(rows(x.iloc[:5]))
    name = b.feature_names[0]
    escaped_body = plain_body.replace('"%s"' % name, '"\\u%04x%s"' % (ord(name[0]), name[1:]))
    assert escaped_body != plain_body
    texts = []
    for path in (d / "model.json", odd):
        with serve(path, log_dir=tmp_path) as s:
            for body in (plain_body, escaped_body):
                status, _, text = s.request("POST", "/predict", body)
                doc = json.loads(text)
                assert status == 200 and doc["model"] == path.name, text
                np.testing.assert_array_equal(np.array(doc["predictions"], dtype=np.float32), want[:5])
                texts.append(text.split(b'"predictions":')[1].split(b"]")[0])
    assert len(set(texts)) == 1, texts


def test_multiclass_outputs_arrays(tmp_path):
    df = pd.read_csv(os.path.join(DATA, "iris.csv"))
    df.to_csv(tmp_path / "iris.csv", index=False)
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(tmp_path / "iris.csv"), "--label",
                        df.columns[-1], "--objective", "multi:softprob", "--rounds", "5", "--max-depth", "2",
                        "--out", str(tmp_path / "iris.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    b = xgb.Booster(model_file=str(tmp_path / "iris.json"))
    x = df[b.feature_names].iloc[::10]
    with serve(tmp_path / "iris.json", log_dir=tmp_path) as s:
        status, doc = s.json("POST", "/predict", rows(x))
        assert status == 200, doc
        np.testing.assert_array_equal(np.array(doc["predictions"], dtype=np.float32),
                                      b.inplace_predict(x.to_numpy(dtype=np.float32)))


def test_invalid_rows_get_422_with_every_violation(trained, tmp_path):
    d, _, test, b = trained
    x = features(test, b).iloc[:6]
    want = b.inplace_predict(x.to_numpy(dtype=np.float32))
    body = rows(x)
    body[1]["features"]["mean_texture"] = "abc"                     # wrong type
    del body[2]["features"]["mean_area"]                            # missing
    body[2]["features"]["bogus"] = 1                                # unknown feature
    body[4]["features"]["mean_radius"] = -5.0                       # out of range (schema.json only)
    body[5]["features"]["mean_area"] = None                         # null: nullable, predicted as missing
    x_nan = x.to_numpy(dtype=np.float32).copy()
    x_nan[5, b.feature_names.index("mean_area")] = np.nan
    want_nan = b.inplace_predict(x_nan, missing=np.nan)
    for schema_args, bad in (([], {1, 2}), (["--schema", d / "schema.json"], {1, 2, 4})):
        with serve(d / "model.json", *schema_args, log_dir=tmp_path) as s:
            status, doc = s.json("POST", "/predict", body)
            assert status == 422, doc
            assert doc["invalid_rows"] == len(bad)
            preds = doc["predictions"]
            assert [i for i, p in enumerate(preds) if p is None] == sorted(bad)
            for i in set(range(6)) - bad:
                assert np.float32(preds[i]) == (want_nan[i] if i == 5 else want[i])
            got = {(v["row"], v["feature"], v["kind"]) for v in doc["violations"]}
            expect = {(1, "mean_texture", "wrong_type"), (2, "mean_area", "missing"), (2, "bogus", "unknown_feature")}
            if 4 in bad:
                expect.add((4, "mean_radius", "out_of_range"))
            assert got == expect
            assert all(v["message"] for v in doc["violations"])
            _, _, prom = s.request("GET", "/metrics")
            assert ('ml_prediction_errors_total{reason="validation"} %d' % len(bad)).encode() in prom
            assert ("ml_prediction_rows_total %d" % (6 - len(bad))).encode() in prom


def test_error_statuses(trained, tmp_path):
    d, _, test, b = trained
    one = rows(features(test, b).iloc[:1])[0]
    with serve(d / "model.json", "--max-body", 4096, log_dir=tmp_path) as s:
        status, doc = s.json("POST", "/predict", '{"features": {"mean_radius": 1,,}}')
        assert status == 400 and "line 1" in doc["error"] and "column" in doc["error"]
        status, doc = s.json("POST", "/predict", '[{"features": {}}, 3]')
        assert status == 400
        status, doc = s.json("POST", "/predict", "")
        assert status == 400
        big = json.dumps([one] * 10)
        assert len(big) > 4096
        status, doc = s.json("POST", "/predict", big)
        assert status == 413 and "4096" in doc["error"]
        # the same without Content-Length (chunked upload)
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
        conn.request("POST", "/predict", body=iter([big[i:i + 1000].encode() for i in range(0, len(big), 1000)]),
                     encode_chunked=True, headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 413
        resp.read()
        conn.close()
        status, hdrs, _ = s.request("GET", "/predict")
        assert status == 405 and hdrs["Allow"] == "POST"
        status, hdrs, _ = s.request("POST", "/metrics", "x")
        assert status == 405 and "GET" in hdrs["Allow"]
        assert s.request("DELETE", "/healthz")[0] == 405
        assert s.request("GET", "/nope")[0] == 404
        assert s.request("GET", "/predict/extra")[0] == 404
        assert s.request("GET", "/drift")[0] == 404          # no --reference
        status, doc = s.json("POST", "/feedback", {"id": "never-seen", "label": 1})
        assert status == 404 and "never-seen" in doc["error"]
        assert s.json("POST", "/feedback", "{not json")[0] == 400
        assert s.json("POST", "/feedback", {"id": 3, "label": 1})[0] == 400
        assert s.json("POST", "/feedback", {"id": "x"})[0] == 400
        # X-Request-Id: only for one row, not empty, not twice while pending
        assert s.json("POST", "/predict", [one, one], {"X-Request-Id": "r1"})[0] == 400
        assert s.json("POST", "/predict", one, {"X-Request-Id": "r1"})[0] == 200
        status, doc = s.json("POST", "/predict", one, {"X-Request-Id": "r1"})
        assert status == 409 and "r1" in doc["error"]
        assert s.json("POST", "/feedback", {"id": "r1", "label": 7})[0] == 400  # not a binary label
        assert s.json("POST", "/feedback", {"id": "r1", "label": 1})[0] == 200
        assert s.json("POST", "/feedback", {"id": "r1", "label": 1})[0] == 404  # already labeled
        # nothing above brought the server down
        assert s.request("GET", "/healthz")[0] == 200
        assert s.proc.poll() is None


def test_hostile_requests_do_not_crash(trained, tmp_path):
    d, _, test, b = trained
    with serve(d / "model.json", "--max-body", 65536, log_dir=tmp_path) as s:
        payloads = [b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000, b'{"features": {"mean_radius": 1e999}}',
                    b'{"features": {"mean_radius": "\xc3\x28"}}', b"{" * 30000, b"null", b"[]", b'"str"',
                    b'{"features": []}', b'[{"features": {"mean_radius": 1, "mean_radius": 2}}]',
                    json.dumps({"features": {"k%d" % i: i for i in range(2000)}}).encode()]
        for p in payloads:
            status, _, _ = s.request("POST", "/predict", p)
            assert status in (200, 400, 413, 422), (p[:40], status)
        status, doc = s.json("POST", "/predict", "[]")
        assert status == 200 and doc["predictions"] == []
        # a request that stops half way (the client goes away), a request line the server cannot parse
        import socket
        for raw in (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"feat",
                    b"NONSENSE\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
                sock.sendall(raw)
        assert s.request("GET", "/healthz")[0] == 200 and s.proc.poll() is None


def test_feedback_feeds_the_monitor(trained, tmp_path):
    d, _, test, b = trained
    x = features(test, b)
    y = test[LABEL].to_numpy()
    with serve(d / "model.json", "--window", 50, log_dir=tmp_path) as s:
        preds = []
        for i, row in enumerate(rows(x)):
            status, doc = s.json("POST", "/predict", row, {"X-Request-Id": "req-%d" % i})
            assert status == 200
            preds.append(doc["predictions"][0])
        status, doc = s.json("GET", "/monitor")
        assert doc["stats"]["pending"] == len(x) and doc["window"]["count"] == 0
        for i in range(len(x)):
            assert s.json("POST", "/feedback", {"id": "req-%d" % i, "label": int(y[i])})[0] == 200
        status, doc = s.json("GET", "/monitor")
        assert status == 200 and doc["task"] == "binary"
        p, t = np.array(preds[-50:]), y[-50:]
        w = doc["window"]
        assert w["count"] == 50 and doc["lifetime"]["count"] == len(x) and doc["stats"]["matched"] == len(x)
        assert w["accuracy"] == pytest.approx(skm.accuracy_score(t, p >= 0.5), abs=1e-12)
        assert w["f1"] == pytest.approx(skm.f1_score(t, p >= 0.5, zero_division=0), abs=1e-12)
        assert w["log_loss"] == pytest.approx(skm.log_loss(t, p, labels=[0, 1]), rel=1e-9)
        if len(set(t)) == 2:
            assert w["roc_auc"] == pytest.approx(skm.roc_auc_score(t, p), rel=1e-12)
        assert doc["lifetime"]["accuracy"] == pytest.approx(skm.accuracy_score(y, np.array(preds) >= 0.5))
        _, _, prom = s.request("GET", "/metrics")
        line = [l for l in prom.decode().splitlines() if l.startswith("ml_model_accuracy ")][0]
        assert float(line.split()[1]) == pytest.approx(w["accuracy"], abs=1e-12)


def test_metrics_exposition(trained, tmp_path):
    d, _, test, b = trained
    with serve(d / "model.json", "--reference", d / "train.csv", log_dir=tmp_path) as s:
        assert s.json("POST", "/predict", rows(features(test, b).iloc[:7]))[0] == 200
        assert s.json("POST", "/predict", "{oops")[0] == 400
        status, hdrs, prom = s.request("GET", "/metrics")
        assert status == 200 and hdrs["Content-Type"].startswith("text/plain; version=0.0.4")
        r = subprocess.run(["promtool", "check", "metrics"], input=prom, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        text = prom.decode()
        for want in ("ml_prediction_requests_total 1", "ml_prediction_rows_total 7",
                     "ml_prediction_duration_seconds_count 1", 'ml_prediction_errors_total{reason="format"} 1',
                     'ml_model_info{model="model.json"', "ml_data_drift_score ",
                     "ml_data_drift_window_rows 7\n",  # the score's sample: the alerts require a minimum
                     'ml_feature_drift_statistic{feature="mean_radius"}',
                     'ml_http_requests_total{handler="predict",code="200"} 1'):
            assert want in text, want
        status, hdrs, om = s.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert status == 200 and hdrs["Content-Type"].startswith("application/openmetrics-text")
        assert om.decode().endswith("# EOF\n")
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
        fams = {f.name: f for f in text_string_to_metric_families(om.decode())}
        assert fams["ml_prediction_rows"].samples[0].value == 7
        assert fams["ml_prediction_duration_seconds"].type == "histogram"


def test_drift_report_against_scipy(trained, tmp_path):
    d, train, test, b = trained
    cur = features(test, b).iloc[:80]
    with serve(d / "model.json", "--reference", d / "train.csv", "--window", 1000, log_dir=tmp_path) as s:
        status, doc = s.json("GET", "/drift")
        assert status == 200 and all(f["n_current"] == 0 for f in doc["features"])
        assert s.json("POST", "/predict", rows(cur))[0] == 200
        status, doc = s.json("GET", "/drift")
        assert status == 200
        assert [f["name"] for f in doc["features"]] == b.feature_names
        for f in doc["features"]:
            ref = train[f["name"]].to_numpy(dtype=np.float32).astype(np.float64)
            now = cur[f["name"]].to_numpy(dtype=np.float32).astype(np.float64)
            want = stats.ks_2samp(ref, now)
            assert f["n_reference"] == len(ref) and f["n_current"] == len(now)
            assert f["statistic"] == pytest.approx(want.statistic, abs=1e-12)
            assert f["pvalue"] == pytest.approx(want.pvalue, rel=1e-6, abs=1e-300)
        # the predictions' distribution is tested against the model's predictions on the reference
        pref = b.inplace_predict(train[b.feature_names].to_numpy(dtype=np.float32)).astype(np.float64)
        pnow = b.inplace_predict(cur.to_numpy(dtype=np.float32)).astype(np.float64)
        assert doc["prediction"]["statistic"] == pytest.approx(stats.ks_2samp(pref, pnow).statistic, abs=1e-12)


def test_sigterm_saves_and_restart_restores_state(trained, tmp_path):
    d, _, test, b = trained
    x = rows(features(test, b).iloc[:20])
    y = test[LABEL].to_numpy()[:20]
    state = tmp_path / "state"
    args = ["--reference", d / "train.csv", "--state-dir", state]
    with serve(d / "model.json", *args, log_dir=tmp_path) as s:
        for i, row in enumerate(x):
            assert s.json("POST", "/predict", row, {"X-Request-Id": "q%d" % i})[0] == 200
        for i in range(15):                                   # 5 stay pending across the restart
            assert s.json("POST", "/feedback", {"id": "q%d" % i, "label": int(y[i])})[0] == 200
        before_monitor = s.json("GET", "/monitor")[1]
        before_drift = s.json("GET", "/drift")[1]
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=20) == 0
        log = open(s.log).read()
        assert "stopping" in log and "state saved" in log
    assert (state / "monitor.state").stat().st_size > 0 and (state / "drift.state").stat().st_size > 0
    assert sorted(os.listdir(state)) == ["drift.state", "monitor.state", "state.key"]  # no temp files left
    assert "task binary\nwidth 1\nfeatures 30 " in (state / "state.key").read_text()
    with serve(d / "model.json", *args, log_dir=tmp_path) as s:
        assert "restored" in open(s.log).read()
        after = s.json("GET", "/monitor")[1]
        assert after["window"] == before_monitor["window"] and after["stats"]["pending"] == 5
        assert s.json("GET", "/drift")[1] == before_drift
        for i in range(15, 20):                               # the pending predictions survived
            assert s.json("POST", "/feedback", {"id": "q%d" % i, "label": int(y[i])})[0] == 200
        assert s.json("GET", "/monitor")[1]["window"]["count"] == 20
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(timeout=20) == 0
    # a damaged state file is set aside (kept, renamed) and counted; the server starts afresh
    (state / "monitor.state").write_bytes(open(state / "monitor.state", "rb").read()[:50])
    with serve(d / "model.json", *args, log_dir=tmp_path) as s:
        assert s.json("GET", "/monitor")[1]["window"]["count"] == 0
        assert 'ml_state_set_aside_total{reason="unreadable"} 1' in s.request("GET", "/metrics")[2].decode()
        assert "cannot restore" in open(s.log).read() and "set aside" in open(s.log).read()
        assert s.json("GET", "/drift")[1] == before_drift  # the drift state was fine and is restored
    aside = [p for p in os.listdir(state) if p.startswith("monitor.state.set-aside.")]
    assert len(aside) == 1 and (state / aside[0]).stat().st_size == 50


def test_state_of_another_model_is_set_aside_not_a_crash_loop(trained, tmp_path):
    """A restart with another model (new version, other task or features) on the same --state-dir
    must start: the old model's monitor and drift state are set aside with a log line and a
    counter, never restored into the new model and never a refusal to start."""
    d, train, test, b = trained
    state = tmp_path / "state"
    args = ["--reference", d / "train.csv", "--state-dir", state]
    with serve(d / "model.json", *args, log_dir=tmp_path) as s:
        assert s.json("POST", "/predict", rows(features(test, b).iloc[:3]))[0] == 200
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=20) == 0
    # another model: regression on 5 of the features
    cols = b.feature_names[:5]
    train[cols + [LABEL]].to_csv(tmp_path / "small.csv", index=False)
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(tmp_path / "small.csv"), "--label", LABEL,
                        "--objective", "reg:squarederror", "--rounds", "5", "--out", str(tmp_path / "other.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    train[cols].to_csv(tmp_path / "small_ref.csv", index=False)
    args2 = ["--reference", tmp_path / "small_ref.csv", "--state-dir", state]
    for _ in range(2):  # and again: no loop, the second start has this model's own state
        with serve(tmp_path / "other.json", *args2, log_dir=tmp_path) as s:
            assert s.json("GET", "/ready")[0] == 200
            s.proc.send_signal(signal.SIGTERM)
            assert s.proc.wait(timeout=20) == 0
    aside = sorted(p for p in os.listdir(state) if ".set-aside." in p)
    assert [p.split(".set-aside.")[0] for p in aside] == ["drift.state", "monitor.state"], aside
    assert "task regression" in (state / "state.key").read_text()


def test_usage_errors(trained, tmp_path):
    d, _, _, _ = trained
    exe = os.path.join(BIN, "mlops-serve")

    def run(*a):
        return subprocess.run([exe, *map(str, a)], capture_output=True, text=True, timeout=30)

    assert run().returncode == 2
    assert run("--model", d / "model.json", "--port", "70000").returncode == 2
    assert run("--model", d / "model.json", "--threads", "0").returncode == 2
    assert run("--model", d / "model.json", "--bind", "localhost").returncode == 2
    r = run("--model", "/nonexistent.json")
    assert r.returncode == 2 and "nonexistent.json" in r.stderr
    (tmp_path / "s.json").write_text('{"features": [{"name": "x", "type": "float"}]}')
    assert run("--model", d / "model.json", "--schema", tmp_path / "s.json").returncode == 2
    (tmp_path / "r.csv").write_text("a,b\n1,2\n")
    r = run("--model", d / "model.json", "--reference", tmp_path / "r.csv")
    assert r.returncode == 2 and "mean_radius" in r.stderr


def test_concurrent_clients(trained, tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    d, _, test, b = trained
    x = features(test, b)
    want = b.inplace_predict(x.to_numpy(dtype=np.float32))
    body = rows(x)
    with serve(d / "model.json", "--reference", d / "train.csv", log_dir=tmp_path) as s:
        def one(i):
            k = i % len(body)
            status, doc = s.json("POST", "/predict", body[k], {"X-Request-Id": "c%d" % i})
            fb = s.json("POST", "/feedback", {"id": "c%d" % i, "label": 1})[0]
            return status, np.float32(doc["predictions"][0]) == want[k], fb
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(400)))
        assert all(r == (200, True, 200) for r in results)
        status, doc = s.json("GET", "/monitor")
        assert doc["lifetime"]["count"] == 400 and doc["stats"]["pending"] == 0
        _, _, prom = s.request("GET", "/metrics")
        assert b"ml_prediction_rows_total 400" in prom
        assert s.json("GET", "/drift")[1]["features"][0]["n_current"] == 400


def test_latency_histograms_fit_microsecond_predictions(trained, tmp_path):
    """http_request_duration_seconds{handler,code_class} and ml_predict_stage_duration_seconds{stage}
    use buckets from 1 us (doubling, 21 of them) or --latency-buckets; parsed by prometheus_client,
    checked by promtool."""
    from prometheus_client.parser import text_string_to_metric_families
    d, _, test, b = trained
    x = features(test, b)
    with serve(d / "model.json", log_dir=tmp_path) as s:
        for i in range(50):
            assert s.json("POST", "/predict", rows(x.iloc[[i]])[0])[0] == 200
        assert s.json("POST", "/predict", "{oops")[0] == 400
        _, _, text = s.request("GET", "/metrics")
        fams = {f.name: f for f in text_string_to_metric_families(text.decode())}
        http = fams["http_request_duration_seconds"].samples
        les = sorted({float(x.labels["le"]) for x in http if x.name.endswith("_bucket")})
        assert les[0] == 1e-6 and len(les) == 22 and les[-1] == float("inf")
        assert les[:-1] == pytest.approx([1e-6 * 2 ** i for i in range(21)], rel=1e-12)
        count = {(x.labels["handler"], x.labels["code_class"]): x.value for x in http if x.name.endswith("_count")}
        assert count[("predict", "2xx")] == 50 and count[("predict", "4xx")] == 1
        stages = {x.labels["stage"]: x.value for x in fams["ml_predict_stage_duration_seconds"].samples
                  if x.name.endswith("_count")}
        # a malformed body is parsed (and refused) but never validated
        assert stages == {"parse": 51, "validate": 50, "predict": 50, "monitor": 50, "respond": 50}
        # a prediction takes microseconds: most of them fall below 1 ms, in buckets Prometheus' default lacks
        below = [x.value for x in fams["ml_predict_stage_duration_seconds"].samples
                 if x.name.endswith("_bucket") and x.labels["stage"] == "predict" and float(x.labels["le"]) <= 1e-3]
        assert max(below) >= 25
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
    with serve(d / "model.json", "--latency-buckets", "1e-5,10,4", log_dir=tmp_path) as s:
        assert s.json("POST", "/predict", rows(x.iloc[[0]])[0])[0] == 200
        _, _, text = s.request("GET", "/metrics")
        les = sorted({float(x.labels["le"]) for f in text_string_to_metric_families(text.decode())
                      if f.name == "http_request_duration_seconds" for x in f.samples if "le" in x.labels})
        assert les == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, float("inf")], rel=1e-12)
    for bad in ("1e-6,1,5", "0,2,5", "1e-6,2,0", "1e-6,2,65", "1e-6,2", "a,b,c", "1e-6,2,5x"):
        r = subprocess.run([os.path.join(BIN, "mlops-serve"), "--model", str(d / "model.json"), "--port", "0",
                            "--latency-buckets", bad], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "--latency-buckets" in r.stderr, (bad, r.stderr)


def test_ready_is_503_while_the_model_loads(trained, tmp_path):
    """The listener starts before the model loads: liveness (/health, /healthz) answers at once,
    /ready and every model route answer 503 until the model is served (a load balancer or a
    Kubernetes readiness probe keeps traffic away meanwhile)."""
    d, train, test, booster = trained
    doc = json.load(open(d / "model.json"))
    gbm = doc["learner"]["gradient_booster"]["model"]
    trees = gbm["trees"]
    big = [dict(t, id=i) for i, t in enumerate(trees * 300)]  # 6,000 trees: a load that takes a while
    gbm["trees"], gbm["tree_info"] = big, [0] * len(big)
    gbm["gbtree_model_param"]["num_trees"] = str(len(big))
    if "iteration_indptr" in gbm:
        gbm["iteration_indptr"] = list(range(len(big) + 1))
    with open(tmp_path / "big.json", "w") as f:
        json.dump(doc, f)
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen([os.path.join(BIN, "mlops-serve"), "--bind", "127.0.0.1", "--port", "0", "--model",
                             str(tmp_path / "big.json")], stdout=log, stderr=log)
    try:
        port, deadline = None, time.monotonic() + 20
        while port is None:
            assert proc.poll() is None and time.monotonic() < deadline, open(log.name).read()
            for line in open(log.name):
                if "listening at 127.0.0.1 port " in line:
                    port = int(line.split(" port ")[1].split(";")[0])
            time.sleep(0.005)
        s = Server(proc, port, log.name)
        assert s.request("GET", "/ready")[0] == 503
        status, health = s.json("GET", "/health")
        assert status == 200 and health["model_loaded"] is False and health["status"] == "loading", health
        assert s.request("GET", "/healthz")[0] == 200
        status, err = s.json("POST", "/predict", rows(test.iloc[[0]]))
        assert status == 503 and "loading" in err["error"], err
        assert s.request("GET", "/metrics")[0] == 200
        while "serving " not in open(log.name).read():
            assert proc.poll() is None and time.monotonic() < deadline + 60, open(log.name).read()
            time.sleep(0.05)
        assert s.request("GET", "/ready")[0] == 200
        status, health = s.json("GET", "/health")
        assert health["model_loaded"] is True and health["status"] == "healthy"
        status, out = s.json("POST", "/predict", rows(features(test.iloc[[0]], booster)))
        want = xgb.Booster(model_file=str(tmp_path / "big.json")).inplace_predict(
            features(test.iloc[[0]], booster).to_numpy(dtype=np.float32))[0]
        assert status == 200 and np.float32(out["predictions"][0]) == want
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()
