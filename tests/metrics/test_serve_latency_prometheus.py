#!/usr/bin/python3
"""Issue 27 acceptance: a real Prometheus scrapes a real mlops-serve, and histogram_quantile(0.99, ...)
over its latency histograms is within 25% of the p99 measured outside the histograms.

Usage: test_serve_latency_prometheus.py   (MLOPS_BIN_DIR names the directory of mlops-serve)

The mix: 4900 one-row /predict requests (microseconds of prediction) and 100 batches whose sizes grow
geometrically from 100 to 3200 rows (the slow path, 2% of the requests, log-uniform in time), sent one
at a time in a fixed shuffled order. The 99th percentile then lies in the middle of the slow batches,
where bucket interpolation is meaningful.
Truth:
  - HTTP: the client's wall time of each request (from its headers sent to the response read) against
    http_request_duration_seconds{handler="predict"}.
  - Prediction: a client cannot time the server's predict call, so after every request it reads the
    server's ml_prediction_duration_seconds_sum: the increase is the exact duration of that request's
    observation. The test thus checks what the buckets are for: that Prometheus' bucket-interpolated
    p99 is close to the p99 of the observed values. The buckets come from --latency-buckets through
    the registry's latency_buckets option.
Each p99 is numpy's (linear interpolation). The exposition is also checked with promtool.
Bounded to ~150 s; exits 77 (skip) if /usr/bin/prometheus is absent.
"""
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pandas as pd
import xgboost as xgb

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from harness import free_port, prometheus_query as query  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
N_FEAT = 20
N_FAST, SLOW_SIZES = 4900, [int(round(100 * 2 ** (5 * i / 99))) for i in range(100)]
TOLERANCE = 0.25
DEADLINE = 150.0


def scalar(port, expr):
    res = query(port, expr)
    return float(res[0]["value"][1]) if res else None


def start_server(model, log, start):
    proc = subprocess.Popen([os.path.join(BIN, "mlops-serve"), "--model", model, "--bind", "127.0.0.1", "--port",
                             "0", "--threads", "2", "--max-body", str(64 << 20), "--latency-buckets", "1e-6,2,21"],
                            stdout=log, stderr=log)
    while True:
        assert proc.poll() is None, "mlops-serve exited: " + open(log.name).read()
        assert time.monotonic() - start < 30, "mlops-serve did not start: " + open(log.name).read()
        for line in open(log.name):
            if "on http://127.0.0.1:" in line:
                return proc, int(line.split("on http://127.0.0.1:")[1].split("/")[0])
        time.sleep(0.05)


def post(conn, body):
    # Timed from the end of the headers, where the server's timer starts, to the response read.
    conn.putrequest("POST", "/predict")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    t0 = time.perf_counter()
    conn.send(body)
    resp = conn.getresponse()
    data = resp.read()
    elapsed = time.perf_counter() - t0
    assert resp.status == 200, (resp.status, data[:200])
    return elapsed


def pred_sum(conn):
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.status == 200, resp.status
    for line in text.splitlines():
        if line.startswith("ml_prediction_duration_seconds_sum "):
            return float(line.split()[1])
    raise AssertionError("no ml_prediction_duration_seconds_sum in /metrics")


def run_once():
    if not os.path.exists(PROMETHEUS):
        print("SKIP: %s is not installed (Debian package prometheus)" % PROMETHEUS)
        return 77
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        # A model whose per-row cost is a few microseconds (deep trees fitted to noise, by XGBoost), so
        # that the slow batches take milliseconds, well above the scheduling noise of a shared machine.
        # 4800 rounds: since mlops-serve parses /predict bodies in one pass (issue 11), parsing no longer
        # makes a slow batch slow, and at 600 rounds the slowest took ~3 ms, within that noise (errors
        # of 29-42% on a machine at load 15, where 4800 rounds gave 5-24%).
        rs = np.random.default_rng(27)
        x = rs.normal(size=(1500, N_FEAT))
        y = np.sin(3 * x[:, 0]) + x[:, 1] * x[:, 2] + rs.normal(size=1500)
        names = ["f%d" % i for i in range(N_FEAT)]
        model = os.path.join(tmp, "model.json")
        xgb.train({"max_depth": 10, "nthread": 1, "objective": "reg:squarederror", "tree_method": "hist"},
                  xgb.DMatrix(x, y, feature_names=names), 4800).save_model(model)
        feats = pd.DataFrame(rs.normal(size=(4000, N_FEAT)), columns=names)
        rng = random.Random(27)
        sizes = [1] * N_FAST + SLOW_SIZES
        rng.shuffle(sizes)
        batches = [feats.sample(n=n, replace=True, random_state=rng.randrange(1 << 30)) for n in sizes]
        bodies = [json.dumps([{"features": rec} for rec in b.to_dict("records")]).encode() for b in batches]

        log = open(os.path.join(tmp, "serve.log"), "w+")
        proc, port = start_server(model, log, start)
        prom = None
        try:
            pport = free_port()
            config = os.path.join(tmp, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "scrape_configs:\n  - job_name: serve\n    static_configs:\n"
                        "      - targets: ['127.0.0.1:%d']\n" % port)
            plog = open(os.path.join(tmp, "prometheus.log"), "w")
            prom = subprocess.Popen([PROMETHEUS, "--config.file=" + config,
                                     "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                                     "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
                                    stdout=plog, stderr=subprocess.STDOUT)

            # Each request, then the server's ml_prediction_duration_seconds_sum: its increase is the
            # exact duration the server observed for that request's prediction.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            client, exact, before = [], [], pred_sum(conn)
            for body in bodies:
                client.append(post(conn, body))
                after = pred_sum(conn)
                exact.append(after - before)
                before = after
            conn.close()

            n = len(bodies)
            done = 'sum(ml_prediction_duration_seconds_count{job="serve"})'
            while scalar(pport, done) != n:
                assert time.monotonic() - start < DEADLINE, "Prometheus did not scrape all %d requests: %s\n%s" % (
                    n, scalar(pport, done), open(os.path.join(tmp, "prometheus.log")).read())
                time.sleep(0.5)
            got = {
                "http": scalar(pport, 'histogram_quantile(0.99, sum by (le) '
                                      '(http_request_duration_seconds_bucket{handler="predict",code_class="2xx"}))'),
                "prediction": scalar(pport, "histogram_quantile(0.99, sum by (le) (ml_prediction_duration_seconds_bucket))"),
            }
            want = {"http": float(np.percentile(client, 99)), "prediction": float(np.percentile(exact, 99))}
            buckets = {k: sorted((float(r["metric"]["le"]), float(r["value"][1])) for r in query(pport, e))
                       for k, e in (("http", 'http_request_duration_seconds_bucket{handler="predict"}'),
                                    ("prediction", "ml_prediction_duration_seconds_bucket"))}
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read()
        finally:
            for p in (prom, proc):
                if p and p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            log.close()

        failures = []
        for k in ("http", "prediction"):
            err = abs(got[k] - want[k]) / want[k]
            print("%-10s p99 histogram_quantile %.6f s, measured %.6f s, error %.1f%%" % (k, got[k], want[k],
                                                                                        100 * err))
            if not err <= TOLERANCE:
                failures.append("%s: histogram_quantile %.6g vs measured p99 %.6g (%.0f%% > %.0f%%); buckets %s;"
                                " measured slowest %s" % (k, got[k], want[k], 100 * err, 100 * TOLERANCE, buckets[k],
                                                          sorted(client if k == "http" else exact)[-40:]))
        promtool = shutil.which("promtool")
        if promtool:
            r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
            if r.returncode != 0:
                failures.append("promtool check metrics: " + (r.stdout + r.stderr).decode())
        print("fast requests: client p50 %.1f us; %.1f s in all" % (1e6 * float(np.median(client)),
                                                                    time.monotonic() - start))
        for f in failures:
            print("FAIL:", f)
        if failures:
            print("slow batches (rows, client s, predict s):",
                  sorted((n, round(c, 5), round(e, 5)) for n, c, e in zip(sizes, client, exact) if n > 1))
        return 1 if failures else 0


def main():
    # The "true" p99 is measured on a shared machine: one retry keeps a load spike in another process
    # from failing the comparison, while a histogram whose buckets cannot resolve p99 fails both runs.
    for attempt in (1, 2):
        if run_once() == 0:
            return 0
        print("attempt %d failed%s" % (attempt, "; retrying once" if attempt == 1 else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main())
