"""Three mlops-serve replicas as one service (issue 14), on loopback: a real HAProxy running
deploy/haproxy.cfg in front, a real Prometheus (scrape interval 1 s) loading
deploy/prometheus/fleet_rules.yml behind, one registry directory shared by the three.

Oracles: scikit-learn's accuracy_score on the 3,000 (prediction, label) pairs, SciPy's ks_2samp on
the reference and the union of the rows sent, wrk's count of non-2xx responses, and the replicas'
own answers (the version they serve). Bounded: everything started here is killed at the end, each
wait has a deadline, the whole module takes about a minute.
"""
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.metrics import accuracy_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import mlops  # noqa: E402
from test_serve import BIN, DATA, LABEL, ROOT  # noqa: E402
from test_serve_deploy import train  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from harness import free_port, prometheus_query  # noqa: E402

TOKEN = "fleet-admin-token-0123456789"
FOLLOW = 2  # seconds between alias checks (--follow)
N = 3000


def wait_for(pred, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class Fleet:
    """The processes of the fleet; stop() kills every one that is still running."""

    def __init__(self, d):
        self.d, self.procs, self.ports, self.replicas = d, [], {}, {}

    def spawn(self, name, argv, env=None):
        log = open(self.d / ("%s-%d.log" % (name, time.monotonic_ns())), "w+")
        p = subprocess.Popen(argv, stdout=log, stderr=log, env=env)
        p.log = log.name
        self.procs.append(p)
        return p

    def replica(self, k, port=0):
        d = self.d
        p = self.spawn("replica%d" % k, [
            os.path.join(BIN, "mlops-serve"), "--registry", d / "reg", "--name", "bc", "--alias", "production",
            "--follow", str(FOLLOW), "--gate-data", d / "gate.csv", "--gate-label", LABEL,
            "--admin-token-file", d / "token", "--reference", d / "train.csv", "--window", str(N),
            "--state-dir", d / ("state%d" % k), "--checkpoint", "1", "--max-pending-per-client", "100000",
            "--bind", "127.0.0.1", "--port", str(port), "--threads", "2"])
        deadline = time.monotonic() + 30
        while True:
            assert p.poll() is None, "replica exited: " + open(p.log).read()
            assert time.monotonic() < deadline, "replica did not start: " + open(p.log).read()
            m = re.search(r"on http://127\.0\.0\.1:(\d+)", open(p.log).read())
            if m:
                break
            time.sleep(0.05)
        self.replicas[k] = p
        self.ports[k] = int(m.group(1))
        wait_for(lambda: call(self.ports[k], "GET", "/ready")[0] == 200, 20, "replica %d ready" % k)
        return p

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)


def start_with_free_port(fleet, name, make_argv, check, env_of=lambda port: None):
    """Start a program on a port picked free; try another port if it lost the race for it."""
    for _ in range(5):
        port = free_port()
        p = fleet.spawn(name, make_argv(port), env_of(port))
        try:
            wait_for(lambda: p.poll() is None and check(port), 20, name)
            return port
        except AssertionError:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
    raise AssertionError("%s did not start: %s" % (name, open(p.log).read()))


def prom_value(port, q):
    res = prometheus_query(port, q, timeout=10)
    return float(res[0]["value"][1]) if res else None


def metric(port, sample):
    text = call(port, "GET", "/metrics")[1].decode()
    m = re.search(r"^%s (\S+)$" % re.escape(sample), text, re.M)
    return float(m.group(1)) if m else None


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    d = tmp_path_factory.mktemp("fleet")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    train_df, gate = df.iloc[:400], df.iloc[400:].reset_index(drop=True)
    gate.to_csv(d / "gate.csv", index=False)
    train_df.to_csv(d / "train.csv", index=False)  # the drift reference
    paths = [train(d, "v1", 10, 2, train_df), train(d, "v2", 30, 3, train_df)]
    (d / "token").write_text(TOKEN + "\n")
    reg = mlops.Registry(d / "reg", create=True)
    assert [reg.put("bc", p) for p in paths] == [1, 2]
    reg.set_alias("bc", "production", 1)
    f = Fleet(d)
    try:
        for k in range(3):
            f.replica(k)
        env = dict(os.environ)

        def lb_env(port):
            e = dict(env, MLOPS_LB_BIND="127.0.0.1:%d" % port)
            e.update({"MLOPS_REPLICA%d" % (k + 1): "127.0.0.1:%d" % f.ports[k] for k in range(3)})
            return e
        f.lb = start_with_free_port(f, "haproxy", lambda port: ["haproxy", "-db", "-f", os.path.join(ROOT, "deploy",
                                                                                                       "haproxy.cfg")],
                                    lambda port: call(port, "GET", "/healthz")[0] == 200, lb_env)
        rules = os.path.join(ROOT, "deploy", "prometheus", "fleet_rules.yml")
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "rule_files": [rules],
               "scrape_configs": [{"job_name": "mlops", "static_configs": [
                   {"targets": ["127.0.0.1:%d" % f.ports[k] for k in range(3)]}]}]}
        (d / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        f.prom = start_with_free_port(
            f, "prometheus", lambda port: ["prometheus", "--config.file", str(d / "prometheus.yml"),
                                           "--storage.tsdb.path", str(d / ("tsdb%d" % port)),
                                           "--web.listen-address", "127.0.0.1:%d" % port],
            lambda port: call(port, "GET", "/-/ready")[0] == 200)
        # the counters' zeros are scraped before any traffic: increase() then sees all of it
        wait_for(lambda: prom_value(f.prom, "count(ml_model_labelled_total == 0)") == 3, 30, "a first scrape")
        f.train, f.reg = train_df, reg
        f.boosters = {v: __import__("xgboost").Booster(model_file=str(p)) for v, p in zip([1, 2], paths)}
        yield f
    finally:
        f.stop()


def rows_to_send(fleet):
    """3,000 rows: the data set cycled, each copy shifted a little (the data drifts)."""
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    names = fleet.boosters[1].feature_names
    rng = np.random.default_rng(14)
    idx = np.arange(N) % len(df)
    x = df[names].to_numpy()[idx] * (1 + rng.normal(0, 0.02, size=(N, len(names))))
    return names, x.astype(np.float32), df[LABEL].to_numpy()[idx]


def test_labels_find_their_prediction_and_prometheus_gives_exact_fleet_accuracy(fleet):
    names, x, y = rows_to_send(fleet)
    conn = http.client.HTTPConnection("127.0.0.1", fleet.lb, timeout=20)
    preds, codes = [], {}
    for i in range(N):
        body = json.dumps([{"features": dict(zip(names, map(float, x[i])))}])
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json",
                                                             "X-Request-Id": "fleet-%d" % i})
        r = conn.getresponse()
        doc = json.loads(r.read())
        assert r.status == 200, doc
        preds.append(doc["predictions"][0])
    for i in range(N):
        body = json.dumps({"id": "fleet-%d" % i, "label": int(y[i])})
        conn.request("POST", "/feedback", body=body, headers={"Content-Type": "application/json",
                                                              "X-Request-Id": "fleet-%d" % i})
        r = conn.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    conn.close()
    fleet.sent = (names, x)
    assert codes == {200: N}  # no 404: every label reached the replica that predicted
    per_replica = [metric(fleet.ports[k], "ml_model_labelled_total") for k in range(3)]
    assert sum(per_replica) == N and min(per_replica) > N / 6, per_replica  # all three took a share
    assert all(metric(fleet.ports[k], "ml_feedback_unknown_total") == 0 for k in range(3))
    # a label for an id no replica predicted: 404, counted by the replica the hash picked
    assert call(fleet.lb, "POST", "/feedback", {"id": "never-predicted", "label": 1},
                {"X-Request-Id": "never-predicted"})[0] == 404
    assert sum(metric(fleet.ports[k], "ml_feedback_unknown_total") for k in range(3)) == 1

    wait_for(lambda: prom_value(fleet.prom, "sum(ml_model_labelled_total)") == N and
             prom_value(fleet.prom, "count(ml_model_labelled_total)") == 3, 30, "Prometheus to scrape the labels")
    rules = {r["record"]: r["expr"] for g in yaml.safe_load(open(os.path.join(
        ROOT, "deploy", "prometheus", "fleet_rules.yml")))["groups"] for r in g["rules"] if "record" in r}
    want = accuracy_score(y, np.array(preds) >= 0.5)
    got = prometheus_query(fleet.prom, rules["ml:fleet_accuracy:lifetime"])
    assert len(got) == 1 and float(got[0]["value"][1]) == pytest.approx(want, abs=1e-9)
    # the windowed rule weighs each replica's exact ratio by its (extrapolated) labels: it lies
    # between the replicas' accuracies, and here every label is within the window
    each = [metric(fleet.ports[k], "ml_model_correct_total") / per_replica[k] for k in range(3)]
    five = prom_value(fleet.prom, rules["ml:fleet_accuracy:ratio_rate5m"])
    assert min(each) - 1e-12 <= five <= max(each) + 1e-12, (five, each)
    # Prometheus loaded the rule file without errors
    doc = json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/v1/rules" % fleet.prom, timeout=10))
    assert all(r["health"] != "err" for g in doc["data"]["groups"] for r in g["rules"])


def test_the_three_drift_windows_merge_to_scipy_on_all_rows_sent(fleet):
    names, x = fleet.sent
    auth = {"Authorization": "Bearer " + TOKEN}
    assert call(fleet.ports[0], "GET", "/drift/window")[0] == 401  # the admin token guards it
    blobs = []
    for k in range(3):
        status, blob = call(fleet.ports[k], "GET", "/drift/window", headers=auth)
        assert status == 200
        blobs.append(blob)
    merged = mlops.DriftSnapshot.from_bytes(blobs[0])
    for b in blobs[1:]:
        merged.merge(mlops.DriftSnapshot.from_bytes(b))
    rep = merged.report()
    assert rep["n_rows"] == N
    ref = fleet.train
    for f in rep["features"]:
        j = names.index(f["name"])
        want = stats.ks_2samp(ref[f["name"]].to_numpy(dtype=np.float32).astype(np.float64),
                              x[:, j].astype(np.float64))
        assert f["statistic"] == want.statistic, f["name"]
        assert f["pvalue"] == pytest.approx(want.pvalue, abs=1e-10, rel=0), f["name"]
    # the command line merges the same windows, from files and from the replicas' URLs
    cli = os.path.join(BIN, "mlops-drift")
    paths = []
    for k, b in enumerate(blobs):
        paths.append(str(fleet.d / ("window%d.snap" % k)))
        open(paths[-1], "wb").write(b)
    urls = ["http://127.0.0.1:%d/drift/window" % fleet.ports[k] for k in range(3)]
    for srcs in (paths, urls):
        r = subprocess.run([cli, "--merge", *srcs, "--json", "--token-file", str(fleet.d / "token"), "--html",
                            str(fleet.d / "fleet.html")], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["features"] == rep["features"]
    r = subprocess.run([cli, "--merge", *paths], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "%d rows in the merged window" % N in r.stdout, r.stdout + r.stderr
    # a window over another reference is refused
    other = mlops.DriftDetector(ref[names].iloc[:-1], window=10)
    other.update(ref[names].iloc[:5])
    (fleet.d / "other.snap").write_bytes(other.snapshot().to_bytes())
    r = subprocess.run([cli, "--merge", paths[0], str(fleet.d / "other.snap")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "different references" in r.stderr, r.stderr
    r = subprocess.run([cli, "--merge", urls[0]], capture_output=True, text=True, timeout=60)  # no token: 401
    assert r.returncode == 2 and "401" in r.stderr, r.stderr


def wrk(fleet, seconds, conns=4):
    """wrk POSTing one row through HAProxy, each connection pausing 5 ms between requests (about
    700 requests/s: traffic throughout, without starving the replicas of the 2 shared cores)."""
    names, x = fleet.sent
    body = fleet.d / "row.json"
    body.write_text(json.dumps([{"features": dict(zip(names, map(float, x[0])))}]))
    lua = fleet.d / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   'local f = io.open("%s", "r")\nwrk.body = f:read("*a")\nf:close()\n'
                   'function delay() return 5 end\n' % body)
    return subprocess.Popen(["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "-s", str(lua),
                             "http://127.0.0.1:%d/predict" % fleet.lb], stdout=subprocess.PIPE, text=True)


def wrk_result(p):
    out = p.communicate(timeout=60)[0]
    print("wrk:", out)  # shown when a test fails
    non2xx = int((re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out) or [0, 0])[1])
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return non2xx + (sum(int(g) for g in sock.groups()) if sock else 0), total


def version_of(port):
    return json.loads(call(port, "GET", "/model")[1])["model_version"]


def test_moving_the_alias_rolls_every_replica_under_load(fleet):
    assert [version_of(fleet.ports[k]) for k in range(3)] == [1, 1, 1]
    load = wrk(fleet, 8)
    time.sleep(2)
    fleet.reg.set_alias("bc", "production", 2)
    t0, done = time.monotonic(), {}
    while len(done) < 3 and time.monotonic() - t0 < 5 * FOLLOW:
        for k in range(3):
            if k not in done and version_of(fleet.ports[k]) == 2:
                done[k] = time.monotonic() - t0
        time.sleep(0.05)
    failed, total = wrk_result(load)
    print("figures: alias moved, each replica serving v2 after (s):", done, "wrk failed/total:", failed, total)
    assert len(done) == 3 and max(done.values()) <= 2 * FOLLOW, done  # each gated and promoted in time
    assert failed == 0 and total > 100, (failed, total)


def test_a_killed_replica_is_taken_out_restores_its_state_and_rejoins(fleet):
    k = 1
    port = fleet.ports[k]
    before = metric(port, "ml_model_labelled_total")
    time.sleep(1.5)  # a checkpoint (--checkpoint 1) after the last change of the counters
    conns = 4
    load = wrk(fleet, 6, conns)
    time.sleep(1.5)
    fleet.replicas[k].send_signal(signal.SIGKILL)
    fleet.replicas[k].wait(timeout=10)
    time.sleep(3)  # HAProxy's checks (inter 1 s, fall 2) take it out
    ok = [call(fleet.lb, "POST", "/predict", json.loads((fleet.d / "row.json").read_text()),
               {"X-Request-Id": "after-kill-%d" % i})[0] for i in range(100)]
    assert ok == [200] * 100  # ids that hashed to the dead replica went to the others
    failed, total = wrk_result(load)
    print("figures: kill -9 under load, wrk failed/total:", failed, total)
    assert failed <= conns and total > 100, (failed, total)  # at most the requests in flight on it
    fleet.replica(k, port)  # restart on the same address, same --state-dir
    assert metric(port, "ml_model_labelled_total") == before  # the monitor's state was restored
    assert version_of(port) == 2
    served = lambda: metric(port, 'ml_http_requests_total{handler="predict",code="200"}') or 0  # noqa: E731
    start = served()
    time.sleep(3)  # HAProxy's checks (rise 2) bring it back

    def rejoined():
        for i in range(30):
            call(fleet.lb, "POST", "/predict", json.loads((fleet.d / "row.json").read_text()),
                 {"X-Request-Id": "rejoin-%d-%d" % (time.monotonic_ns(), i)})
        return served() > start
    wait_for(rejoined, 15, "the restarted replica to get traffic from HAProxy")
