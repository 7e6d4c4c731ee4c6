"""mlops-serve runs the deployment strategies: registry-backed serving, the admin API (stage,
validate, promote, rollback, canary, shadow, status), --follow and SIGHUP, and the ml_deploy_*
metrics.

Oracles: XGBoost's own predictions of each registry version (every response names the version
that computed it, and must equal that version's prediction), scikit-learn for the gate's
accuracy and log loss, promtool for the exposition. The registry is written through the Python
bindings (mlops.Registry).
"""
import json
import math
import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest
import xgboost as xgb
from sklearn import metrics as skm

import mlops
from test_serve import BIN, DATA, LABEL, features, rows, serve  # noqa: F401

TOKEN = "admin-token-0123456789abcdef"


def train(d, name, rounds, depth, df, extra=()):
    df.to_csv(d / (name + ".csv"), index=False)
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(d / (name + ".csv")), "--label", LABEL,
                        "--objective", "binary:logistic", "--rounds", str(rounds), "--max-depth", str(depth),
                        "--out", str(d / (name + ".json")), "--force", *extra], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return d / (name + ".json")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    import pandas as pd
    d = tmp_path_factory.mktemp("registry")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    train_df, test = df.iloc[:400], df.iloc[400:].reset_index(drop=True)
    test.to_csv(d / "gate.csv", index=False)
    noisy = train_df.copy()
    noisy[LABEL] = np.random.default_rng(1).permutation(noisy[LABEL].to_numpy())  # labels shuffled: a bad model
    paths = [train(d, "v1", 10, 2, train_df), train(d, "v2", 30, 3, train_df), train(d, "v3", 30, 3, noisy)]
    iris = pd.read_csv(os.path.join(DATA, "iris.csv"))
    iris.to_csv(d / "iris.csv", index=False)
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(d / "iris.csv"), "--label",
                        iris.columns[-1], "--objective", "multi:softprob", "--rounds", "3", "--out",
                        str(d / "iris.json"), "--force"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    reg = mlops.Registry(d / "reg", create=True)
    versions = [reg.put("bc", p) for p in paths] + [reg.put("bc", d / "iris.json")]
    assert versions == [1, 2, 3, 4]
    reg.set_alias("bc", "production", 1)
    reg.set_alias("bc", "candidate", 2)
    (d / "token").write_text(TOKEN + "\n")
    boosters = {v: xgb.Booster(model_file=str(p)) for v, p in zip(versions, paths)}
    return d, reg, test, boosters


def start(registry, *extra, log_dir):
    d = registry[0]
    return serve("--registry", d / "reg", "--name", "bc", "--admin-token-file", d / "token", "--gate-data",
                 d / "gate.csv", "--gate-label", LABEL, *extra, log_dir=log_dir, model=None)


def admin(s, method, op, body=None, token=TOKEN):
    headers = {"Authorization": "Bearer " + token} if token else {}
    status, _, data = s.request(method, "/admin/" + op, body if body is not None else ({} if method == "POST"
                                                                                        else None), headers)
    return status, json.loads(data)


def check_predictions(s, boosters, x, n=20, key=None):
    """Every response equals the prediction of the version it names. Returns the versions seen."""
    seen = {}
    for i in range(n):
        row = rows(x.iloc[[i % len(x)]])[0]
        status, doc = s.json("POST", "/predict", row, {"X-User-Id": key or "user-%d" % i})
        assert status == 200, doc
        v = doc["model_version"]
        want = boosters[v].inplace_predict(x.iloc[[i % len(x)]].to_numpy(dtype=np.float32))[0]
        assert np.float32(doc["predictions"][0]) == want, (v, doc)
        seen[v] = seen.get(v, 0) + 1
        seen.setdefault(doc["slot"], 0)
        seen[doc["slot"]] += 1
    return seen


def metric_value(s, sample):
    _, _, text = s.request("GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_keyless_canary_is_random(registry, tmp_path):
    """Requests without the routing header are split at random: about the fraction, not sticky, and
    with no period (a shared counter would alternate blue, green, blue, ... at 0.5)."""
    d, reg, test, boosters = registry
    x = features(test, boosters[1])
    row = rows(x.iloc[[0]])[0]
    with start(registry, log_dir=tmp_path) as s:
        assert admin(s, "POST", "stage", {"version": 2})[0] == 200
        assert admin(s, "POST", "canary", {"fraction": 0.5})[0] == 200
        slots = []
        for _ in range(200):
            status, doc = s.json("POST", "/predict", row, {})
            assert status == 200, doc
            slots.append(doc["slot"])
        green = slots.count("green")
        assert 100 - 35 <= green <= 100 + 35, green  # 5 standard deviations of Binomial(200, 0.5)
        switches = sum(a != b for a, b in zip(slots, slots[1:]))
        assert switches < 160, switches  # random: about 100 of 199; strict alternation: 199


def test_blue_green_canary_promote_rollback(registry, tmp_path):
    d, reg, test, boosters = registry
    x = features(test, boosters[1])
    with start(registry, log_dir=tmp_path) as s:
        assert check_predictions(s, boosters, x) == {1: 20, "blue": 20}
        status, info = s.json("GET", "/model/info")
        assert info["model_version"] == 1 and info["alias"] == "production"
        # authentication
        assert admin(s, "GET", "status", token=None)[0] == 401
        assert admin(s, "GET", "status", token="wrong-token-0123456789")[0] == 403
        status, st = admin(s, "GET", "status")
        assert status == 200 and st["live_version"] == 1 and st["candidate_version"] is None
        # stage by alias, promote refused before the gate
        status, st = admin(s, "POST", "stage", {"alias": "candidate"})
        assert status == 200 and st["candidate_version"] == 2
        status, err = admin(s, "POST", "promote")
        assert status == 409 and "gate" in err["error"]
        # the gate's figures are scikit-learn's
        status, rep = admin(s, "POST", "validate", {"min_accuracy": 0.85, "max_logloss_increase": 1.0})
        assert status == 200 and rep["passed"] is True and rep["rows"] == len(test), rep
        y = test[LABEL].to_numpy()
        for v, key in ((1, "live"), (2, "candidate")):
            p = boosters[v].inplace_predict(x.to_numpy(dtype=np.float32))
            assert rep["metrics"]["accuracy"][key] == pytest.approx(skm.accuracy_score(y, p >= 0.5), abs=1e-9)
            assert rep["metrics"]["logloss"][key] == pytest.approx(skm.log_loss(y, p), rel=1e-5)
        # canary: all traffic, then sticky by X-User-Id
        assert admin(s, "POST", "canary", {"fraction": 1.0})[0] == 200
        assert check_predictions(s, boosters, x) == {2: 20, "green": 20}
        assert admin(s, "POST", "canary", {"fraction": 0.5})[0] == 200
        seen = check_predictions(s, boosters, x, n=60)
        assert seen.get(1, 0) > 5 and seen.get(2, 0) > 5
        for key in ("alice", "bob", "carol"):
            one = check_predictions(s, boosters, x, n=8, key=key)
            assert len([k for k in one if isinstance(k, int)]) == 1  # sticky
        assert metric_value(s, "ml_deploy_canary_fraction") == 0.5
        # promote, then the live version is 2 everywhere
        status, st = admin(s, "POST", "promote")
        assert status == 200 and st["live_version"] == 2 and st["rollback_version"] == 1
        assert check_predictions(s, boosters, x) == {2: 20, "blue": 20}
        assert s.json("GET", "/model/info")[1]["model_version"] == 2
        _, _, prom = s.request("GET", "/metrics")
        assert b'version="2"' in prom and metric_value(s, "ml_deploy_promotions_total") == 1
        assert metric_value(s, 'ml_model_version{slot="blue"}') == 2
        # rollback
        status, st = admin(s, "POST", "rollback")
        assert status == 200 and st["live_version"] == 1 and st["rollback_version"] is None
        assert check_predictions(s, boosters, x) == {1: 20, "blue": 20}
        assert metric_value(s, 'ml_deploy_rollbacks_total{reason="admin"}') == 1
        assert admin(s, "POST", "rollback")[0] == 409  # nothing left to roll back to
        # shadow: the candidate predicts beside the live model, never answers
        assert admin(s, "POST", "stage", {"version": 2})[0] == 200
        assert admin(s, "POST", "canary", {"fraction": 0})[0] == 200
        assert admin(s, "POST", "shadow", {"enabled": True})[0] == 200
        assert check_predictions(s, boosters, x) == {1: 20, "blue": 20}
        status, st = admin(s, "GET", "status")
        assert st["shadow"] is True and st["counters"]["shadow_rows"] == 20
        assert st["counters"]["shadow_disagreements"] == 20  # two different models, tolerance 0
        # a bad candidate fails the gate and cannot be promoted without force
        assert admin(s, "POST", "stage", {"version": 3})[0] == 200
        status, rep = admin(s, "POST", "validate", {"min_accuracy": 0.85})
        assert status == 200 and rep["passed"] is False and rep["why"]
        assert admin(s, "POST", "promote")[0] == 409
        assert metric_value(s, "ml_deploy_gate_failures_total") == 1
        status, st = admin(s, "GET", "status")
        assert st["last_gate"]["passed"] is False and st["candidate_version"] == 3
        # forced promote works, and is reported
        status, st = admin(s, "POST", "promote", {"force": True})
        assert status == 200 and st["live_version"] == 3
        # promtool accepts the exposition with every deploy family
        _, _, prom = s.request("GET", "/metrics")
        r = subprocess.run(["promtool", "check", "metrics"], input=prom, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr


def test_admin_bad_input(registry, tmp_path):
    d = registry[0]
    with start(registry, log_dir=tmp_path) as s:
        assert admin(s, "POST", "stage", {"version": 99})[0] == 404
        status, err = admin(s, "POST", "stage", {"version": 4})  # iris: other features and outputs
        assert status == 422 and err["error"]
        assert admin(s, "POST", "stage", {"nothing": 1})[0] == 400
        assert admin(s, "POST", "stage", "[1, 2]")[0] == 400
        assert admin(s, "POST", "validate")[0] == 409  # nothing staged
        assert admin(s, "POST", "promote")[0] == 409
        assert admin(s, "POST", "canary", {"fraction": 2})[0] == 422
        assert admin(s, "POST", "shadow", {"enabled": "yes"})[0] == 400
        assert admin(s, "POST", "nope")[0] == 404
        assert admin(s, "POST", "status")[0] == 405
        assert admin(s, "GET", "stage")[0] == 405
        assert s.request("DELETE", "/admin/status", None, {"Authorization": "Bearer " + TOKEN})[0] == 405
        assert s.request("PATCH", "/admin/status", None, {"Authorization": "Bearer " + TOKEN})[0] == 404
        status, st = admin(s, "GET", "status")
        assert st["live_version"] == 1 and st["candidate_version"] is None
    # without --admin-token-file there is no admin API
    with serve(d / "v1.json", log_dir=tmp_path) as s:
        assert s.request("GET", "/admin/status", None, {"Authorization": "Bearer " + TOKEN})[0] == 404
    # a registry without the alias, or a missing --name: start-up errors
    for args in (["--registry", str(d / "reg"), "--name", "bc", "--alias", "nope"], ["--registry", str(d / "reg")],
                 ["--registry", str(d / "reg"), "--name", "bc", "--model", str(d / "v1.json")]):
        r = subprocess.run([os.path.join(BIN, "mlops-serve"), "--port", "0", *args], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2, (args, r.stderr)


def wait_for(pred, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_follow_and_sighup_promote_what_passes_the_gate(registry, tmp_path):
    d, _, test, boosters = registry
    reg = mlops.Registry(d / "reg")
    reg.set_alias("bc", "follow", 1)
    x = features(test, boosters[1])
    with start(registry, "--alias", "follow", "--follow", 1, log_dir=tmp_path) as s:
        assert check_predictions(s, boosters, x, n=3) == {1: 3, "blue": 3}
        reg.set_alias("bc", "follow", 2)
        assert wait_for(lambda: admin(s, "GET", "status")[1]["live_version"] == 2, 10)
        assert check_predictions(s, boosters, x, n=5) == {2: 5, "blue": 5}
        reg.set_alias("bc", "follow", 3)  # the bad model: the gate refuses it
        assert wait_for(lambda: metric_value(s, "ml_deploy_gate_failures_total") == 1, 10)
        assert admin(s, "GET", "status")[1]["live_version"] == 2
    reg.set_alias("bc", "follow", 1)
    with start(registry, "--alias", "follow", log_dir=tmp_path) as s:
        reg.set_alias("bc", "follow", 2)
        time.sleep(0.5)
        assert admin(s, "GET", "status")[1]["live_version"] == 1  # no --follow: nothing moves by itself
        s.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: admin(s, "GET", "status")[1]["live_version"] == 2, 10)


def test_ab_experiment_reports_each_variant_and_the_z_test(registry, tmp_path):
    from scipy import stats
    d, _, test, boosters = registry
    x = features(test, boosters[1])
    y = test[LABEL].to_numpy()
    with start(registry, "--ab-alpha", 0.01, log_dir=tmp_path) as s:
        assert s.request("GET", "/ab")[0] == 404
        body = {"variants": [{"name": "control", "version": 1, "weight": 50},
                             {"name": "treatment", "version": 3, "weight": 50}]}
        status, _, data = s.request("PUT", "/admin/ab", body, {"Authorization": "Bearer " + TOKEN,
                                                              "Content-Type": "application/json"})
        assert status == 200, data
        served = {"control": [], "treatment": []}
        for i in range(len(x)):
            status, doc = s.json("POST", "/predict", rows(x.iloc[[i]])[0], {"X-User-Id": "u%d" % i,
                                                                           "X-Request-Id": "ab-%d" % i})
            assert status == 200, doc
            v = doc["model_version"]
            assert doc["variant"] == {1: "control", 3: "treatment"}[v]
            want = boosters[v].inplace_predict(x.iloc[[i]].to_numpy(dtype=np.float32))[0]
            assert np.float32(doc["predictions"][0]) == want
            served[doc["variant"]].append((i, want))
        for i in range(len(x)):  # every label joins the variant that served it
            assert s.json("POST", "/feedback", {"id": "ab-%d" % i, "label": int(y[i])})[0] == 200
        status, ab = s.json("GET", "/ab")
        assert status == 200 and ab["alpha"] == 0.01
        by = {v["name"]: v for v in ab["variants"]}
        correct = {}
        for name, got in served.items():
            idx = [i for i, _ in got]
            p = np.array([p for _, p in got])
            assert by[name]["requests"] == len(got) and by[name]["labelled"] == len(got)
            acc = skm.accuracy_score(y[idx], p >= 0.5)
            assert by[name]["accuracy"] == pytest.approx(acc, abs=1e-12)
            correct[name] = (int(round(acc * len(got))), len(got))
        (sa, na), (sb, nb) = correct["treatment"], correct["control"]
        p = (sa + sb) / (na + nb)
        z = (sa / na - sb / nb) / np.sqrt(p * (1 - p) * (1 / na + 1 / nb))
        _, pchi, _, _ = stats.chi2_contingency([[sa, na - sa], [sb, nb - sb]], correction=False)
        [t] = ab["tests"]
        assert t["control"] == "control" and t["treatment"] == "treatment" and t["metric"] == "accuracy"
        assert t["statistic"] == pytest.approx(z, rel=1e-10)
        assert t["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
        assert t["p_value"] == pytest.approx(pchi, rel=1e-9)
        assert t["significant"] == (t["p_value"] < 0.01) and t["significant"]  # the shuffled-label model is worse
        _, _, prom = s.request("GET", "/metrics")
        assert ('ml_ab_requests_total{variant="control"} %d' % len(served["control"])).encode() in prom
        assert ('ml_ab_request_duration_seconds_count{variant="treatment"} %d' % len(served["treatment"])).encode() in prom
        r = subprocess.run(["promtool", "check", "metrics"], input=prom, capture_output=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        for name in served:
            check_latency_percentiles(by[name], buckets_of(prom, name))
        # the experiment ends: the deployment serves again
        status, _, _ = s.request("DELETE", "/admin/ab", None, {"Authorization": "Bearer " + TOKEN})
        assert status == 200
        assert s.request("GET", "/ab")[0] == 404
        assert check_predictions(s, boosters, x, n=3) == {1: 3, "blue": 3}
        # bad experiments are refused and change nothing
        for bad, code in (({"variants": [{"name": "a", "version": 1, "weight": 1}]}, 400),
                          ({"variants": [{"name": "a", "version": 1, "weight": 1},
                                         {"name": "b", "version": 99, "weight": 1}]}, 404),
                          ({"variants": [{"name": "a", "version": 1, "weight": 1},
                                         {"name": "b", "version": 4, "weight": 1}]}, 422)):
            status, _, data = s.request("PUT", "/admin/ab", bad, {"Authorization": "Bearer " + TOKEN,
                                                                  "Content-Type": "application/json"})
            assert status == code, (bad, data)
        assert s.request("GET", "/ab")[0] == 404


def buckets_of(prom, variant):
    """{le: cumulative count} of ml_ab_request_duration_seconds for one variant."""
    out = {}
    for line in prom.decode().splitlines():
        if line.startswith("ml_ab_request_duration_seconds_bucket{") and 'variant="%s"' % variant in line:
            le = re.search(r'le="([^"]+)"', line).group(1)
            out[float(le)] = int(float(line.rsplit(" ", 1)[1]))
    return out


def check_latency_percentiles(variant, buckets):
    """/ab's p50/p95/p99 (numpy.percentile's linear definition over the same latencies the histogram
    counts, checked against numpy itself in the unit test abtest) must sit in the bucket where the
    histogram's cumulative count crosses that rank: x[floor(r)] <= estimate <= x[ceil(r)], r = q (n - 1)."""
    n = variant["requests"]
    assert n > 0 and n <= 4096 and max(buckets.values()) == n
    got = [variant["latency_p50_ms"], variant["latency_p95_ms"], variant["latency_p99_ms"]]
    assert 0 < got[0] <= got[1] <= got[2], variant
    for q, ms in zip((0.50, 0.95, 0.99), got):
        r = q * (n - 1)
        for le, cum in buckets.items():
            if cum >= math.ceil(r) + 1:
                assert ms / 1e3 <= le, (q, ms, le, cum, n)
            if cum <= math.floor(r):
                assert ms / 1e3 > le, (q, ms, le, cum, n)


def label_some(s, x, y, prefix, n):
    for i in range(n):
        status, doc = s.json("POST", "/predict", rows(x.iloc[[i]])[0], {"X-Request-Id": "%s-%d" % (prefix, i)})
        assert status == 200, doc
        assert s.json("POST", "/feedback", {"id": "%s-%d" % (prefix, i), "label": int(y[i])})[0] == 200


def test_automatic_rollback_after_a_bad_promotion(registry, tmp_path):
    d, _, test, boosters = registry
    x = features(test, boosters[1])
    y = test[LABEL].to_numpy()
    acc2 = skm.accuracy_score(y[:60], boosters[2].inplace_predict(x.iloc[:60].to_numpy(dtype=np.float32)) >= 0.5)
    acc3 = skm.accuracy_score(y[:60], boosters[3].inplace_predict(x.iloc[:60].to_numpy(dtype=np.float32)) >= 0.5)
    assert acc2 >= 0.85 > acc3  # the premise: version 2 is good, version 3 bad on these rows
    with start(registry, "--rollback-below", 0.85, "--rollback-min-labels", 60, log_dir=tmp_path) as s:
        assert admin(s, "POST", "stage", {"version": 2})[0] == 200
        assert admin(s, "POST", "promote", {"force": True})[0] == 200
        label_some(s, x, y, "good", 60)
        time.sleep(0.5)
        assert admin(s, "GET", "status")[1]["live_version"] == 2  # good enough: kept
        assert admin(s, "POST", "stage", {"version": 3})[0] == 200
        assert admin(s, "POST", "promote", {"force": True})[0] == 200
        label_some(s, x, y, "bad", 59)
        time.sleep(0.5)
        assert admin(s, "GET", "status")[1]["live_version"] == 3  # not enough labels yet
        label_some(s, x.iloc[59:], y[59:], "last", 1)
        assert wait_for(lambda: admin(s, "GET", "status")[1]["live_version"] == 2, 5)
        assert metric_value(s, 'ml_deploy_rollbacks_total{reason="auto"}') == 1
        assert "automatic rollback: 60 labels" in open(s.log).read()


def test_automatic_rollback_judges_the_window_not_every_label_since_the_promotion(registry, tmp_path):
    """A model right on its first 400 labels and wrong on the next ones: over all 400+ labels since the
    promotion it stays above 0.85, over its window of the last 40 it falls below — and is rolled back."""
    d, _, test, boosters = registry
    x = features(test, boosters[1])
    pred = boosters[2].inplace_predict(x.to_numpy(dtype=np.float32)) >= 0.5
    n_good = 400
    rows_x = x.iloc[np.arange(n_good) % len(x)]
    with start(registry, "--window", 40, "--rollback-below", 0.85, "--rollback-min-labels", 40,
               log_dir=tmp_path) as s:
        assert admin(s, "POST", "stage", {"version": 2})[0] == 200
        assert admin(s, "POST", "promote", {"force": True})[0] == 200
        right = pred[np.arange(n_good) % len(x)].astype(int)  # labels equal to its predictions: accuracy 1
        label_some(s, rows_x, right, "right", n_good)
        time.sleep(0.5)
        assert admin(s, "GET", "status")[1]["live_version"] == 2
        wrong = 1 - pred[:40].astype(int)
        for i in range(40):  # after 7 wrong labels the window's accuracy is 33/40 < 0.85; overall 400/407
            label_some(s, x.iloc[[i]], wrong[[i]], "wrong%d" % i, 1)
            # the server checks every 0.1 s: give it a few checks before the next label
            if wait_for(lambda: admin(s, "GET", "status")[1]["live_version"] != 2, 0.35):
                break
        assert wait_for(lambda: admin(s, "GET", "status")[1]["live_version"] == 1, 5)
        assert i < 39 and (n_good - 0) / (n_good + i + 1) > 0.85  # all labels since the promotion: still good
        assert metric_value(s, 'ml_deploy_rollbacks_total{reason="auto"}') == 1
        assert "automatic rollback: 40 labels of the live model in the window" in open(s.log).read()


REG_LABEL = "progression"


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    """A regression registry (diabetes): v1 underfit (5 rounds), v2 fitted, v3 fitted to shuffled targets."""
    import pandas as pd
    d = tmp_path_factory.mktemp("regression")
    df = pd.read_csv(os.path.join(DATA, "diabetes.csv"))
    train_df, gate = df.iloc[:350], df.iloc[350:].reset_index(drop=True)
    gate.to_csv(d / "gate.csv", index=False)
    noisy = train_df.copy()
    noisy[REG_LABEL] = np.random.default_rng(2).permutation(noisy[REG_LABEL].to_numpy())
    paths = []
    for name, rounds, frame in (("r1", 5, train_df), ("r2", 60, train_df), ("r3", 60, noisy)):
        frame.to_csv(d / (name + ".csv"), index=False)
        r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(d / (name + ".csv")), "--label",
                            REG_LABEL, "--objective", "reg:squarederror", "--rounds", str(rounds), "--max-depth",
                            "3", "--out", str(d / (name + ".json")), "--force"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        paths.append(d / (name + ".json"))
    reg = mlops.Registry(d / "reg", create=True)
    assert [reg.put("db", p) for p in paths] == [1, 2, 3]
    reg.set_alias("db", "production", 1)
    (d / "token").write_text(TOKEN + "\n")
    boosters = {v: xgb.Booster(model_file=str(p)) for v, p in zip((1, 2, 3), paths)}
    return d, df, gate, boosters


def start_regression(regression, *extra, log_dir):
    d = regression[0]
    return serve("--registry", d / "reg", "--name", "db", "--admin-token-file", d / "token", "--gate-data",
                 d / "gate.csv", "--gate-label", REG_LABEL, *extra, log_dir=log_dir, model=None)


def rmse_of(booster, frame):
    p = booster.inplace_predict(features(frame, booster).to_numpy(dtype=np.float32)).astype(np.float64)
    return math.sqrt(skm.mean_squared_error(frame[REG_LABEL].to_numpy(), p))


def test_regression_ab_welch_test_max_rmse_gate_and_rollback_above(regression, tmp_path):
    from scipy import stats
    d, df, gate, boosters = regression
    x = features(df, boosters[1])
    y = df[REG_LABEL].to_numpy(dtype=np.float64)
    gate_rmse = {v: rmse_of(b, gate) for v, b in boosters.items()}
    assert gate_rmse[2] < gate_rmse[1] and gate_rmse[2] < gate_rmse[3]  # the premise
    with start_regression(regression, "--rollback-above", (gate_rmse[2] + gate_rmse[3]) / 2,
                          "--rollback-min-labels", 40, log_dir=tmp_path) as s:
        # max_rmse gate: v2 is better than v1 (passes the RMSE-increase gate) but not below a too-low max_rmse
        assert admin(s, "POST", "stage", {"version": 2})[0] == 200
        status, rep = admin(s, "POST", "validate", {"max_rmse": gate_rmse[2] * 0.99})
        assert status == 200 and not rep["passed"] and "above max_rmse" in rep["why"], rep
        assert rep["metrics"]["rmse"]["candidate"] == pytest.approx(gate_rmse[2], rel=1e-6)
        assert rep["metrics"]["rmse"]["live"] == pytest.approx(gate_rmse[1], rel=1e-6)
        assert admin(s, "POST", "promote", {})[0] == 409
        status, rep = admin(s, "POST", "validate", {"max_rmse": gate_rmse[2] * 1.01})
        assert status == 200 and rep["passed"], rep
        assert admin(s, "POST", "promote", {})[0] == 200
        # A/B between v2 (control) and v3 (treatment): Welch's t-test on squared errors, as SciPy's
        body = {"variants": [{"name": "control", "version": 2, "weight": 50},
                             {"name": "treatment", "version": 3, "weight": 50}]}
        status, _, data = s.request("PUT", "/admin/ab", body, {"Authorization": "Bearer " + TOKEN,
                                                              "Content-Type": "application/json"})
        assert status == 200, data
        sq = {"control": [], "treatment": []}
        for i in range(len(x)):
            status, doc = s.json("POST", "/predict", rows(x.iloc[[i]])[0], {"X-User-Id": "u%d" % i,
                                                                           "X-Request-Id": "r-%d" % i})
            assert status == 200, doc
            want = boosters[doc["model_version"]].inplace_predict(x.iloc[[i]].to_numpy(dtype=np.float32))[0]
            assert np.float32(doc["predictions"][0]) == want
            assert s.json("POST", "/feedback", {"id": "r-%d" % i, "label": float(y[i])})[0] == 200
            sq[doc["variant"]].append((float(want) - y[i]) ** 2)
        status, ab = s.json("GET", "/ab")
        assert status == 200
        by = {v["name"]: v for v in ab["variants"]}
        for name, e in sq.items():
            assert by[name]["labelled"] == len(e) >= 2
            assert by[name]["rmse"] == pytest.approx(math.sqrt(np.mean(e)), rel=1e-9)
        want = stats.ttest_ind(sq["treatment"], sq["control"], equal_var=False)
        [t] = ab["tests"]
        assert t["metric"] == "rmse" and t["treatment"] == "treatment", t
        assert t["statistic"] == pytest.approx(want.statistic, rel=1e-9)
        assert t["p_value"] == pytest.approx(want.pvalue, rel=1e-9)
        assert t["significant"] == (want.pvalue < 0.05) and t["significant"]  # shuffled targets are worse
        assert s.request("DELETE", "/admin/ab", None, {"Authorization": "Bearer " + TOKEN})[0] == 200
        # --rollback-above: v3 promoted by force, its RMSE over 40 labels is above the limit: rolled back to v2
        assert admin(s, "POST", "stage", {"version": 3})[0] == 200
        assert admin(s, "POST", "promote", {"force": True})[0] == 200
        for i in range(40):
            status, doc = s.json("POST", "/predict", rows(x.iloc[[i]])[0], {"X-Request-Id": "rb-%d" % i})
            assert status == 200 and doc["model_version"] == 3
            assert s.json("POST", "/feedback", {"id": "rb-%d" % i, "label": float(y[i])})[0] == 200
        assert rmse_of(boosters[3], df.iloc[:40]) > (gate_rmse[2] + gate_rmse[3]) / 2
        assert wait_for(lambda: admin(s, "GET", "status")[1]["live_version"] == 2, 5)
        assert metric_value(s, 'ml_deploy_rollbacks_total{reason="auto"}') == 1
