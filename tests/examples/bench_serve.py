#!/usr/bin/python3
"""Serving benchmark of mlops-serve (suite 'bench'), in one run:

1. Zero failed requests across swaps: wrk at 16 connections against POST /predict for SWAP_SECONDS
   while this script cycles stage -> validate -> promote -> canary ramp -> rollback through the
   admin API, as many cycles as fit. Fails on any non-2xx response, any socket error, any sampled
   response that differs from XGBoost's prediction of the version it names, RSS growth over 5% or
   open descriptors that grow.
2. Speed against the FastAPI anchor (../shared/anchors/fastapi_service, or MLOPS_SHARED_DIR) on the
   same model, request and machine, with --reference drift monitoring on: wrk at 1 and at 16
   connections against each, requests/s ratio and mlops-serve's p99 latency. Goals: >= 50x the
   anchor's requests/s, p99 <= 1 ms at 1 connection and <= 2 ms at 16. mlops-serve runs with its
   defaults (a lone connection's worker spins up to 50 us for the next request, --spin-us); the
   1-connection figure without spinning (--spin-us 0) is printed too. Without the anchor (a clone
   without ../shared, or FastAPI/uvicorn not installed) that part is skipped and says so.

Figures are printed; correctness failures make the benchmark fail, speed goals are reported
(this machine is shared, so the figures vary from run to run).

Run:  meson test -C build --suite bench bench-serve -v
      (or: MLOPS_BIN_DIR=build/examples /usr/bin/python3 tests/examples/bench_serve.py)
Knobs (environment): SWAP_SECONDS (default 20), SPEED_SECONDS (default 5).
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MLOPS_BIN_DIR", os.path.join(ROOT, "build", "examples"))
SHARED = os.environ.get("MLOPS_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
ANCHOR = os.path.join(SHARED, "anchors", "fastapi_service")
SWAP_SECONDS = int(os.environ.get("SWAP_SECONDS", "20"))
SPEED_SECONDS = int(os.environ.get("SPEED_SECONDS", "5"))
TOKEN = "bench-admin-token-0123456789"
LABEL = "malignant0_benign1"
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))


def start_serve(args, log_path):
    log = open(log_path, "w+")
    proc = subprocess.Popen([os.path.join(BIN, "mlops-serve"), "--bind", "127.0.0.1", "--port", "0", "--threads",
                             "2", *map(str, args)], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while True:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)/", open(log_path).read())
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("mlops-serve did not start: " + open(log_path).read())
        time.sleep(0.05)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(url, body_path, conns, seconds, threads=None):
    """wrk POSTing the JSON body; returns (requests/s, p99 ms, non-2xx, socket errors, requests)."""
    lua = body_path + ".lua"
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                'local f = io.open("%s", "r")\nwrk.body = f:read("*a")\nf:close()\n' % body_path)
    threads = threads or min(conns, 2)
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency", "-s", lua, url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    non2xx = int((re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out) or [0, 0])[1])
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(g) for g in sock.groups()) if sock else 0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, p99_ms, non2xx, errors, total


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def n_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        h = dict(headers or {})
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def admin(port, op, body=None):
    status, doc = call(port, "POST", "/admin/" + op, body or {}, {"Authorization": "Bearer " + TOKEN})
    if status != 200:
        raise AssertionError("admin %s: %d %s" % (op, status, doc))
    return doc


def make_models(work):
    """Version 1: the anchor's model when present (else one trained here); version 2 another model."""
    import pandas as pd
    import mlops
    df = pd.read_csv(os.path.join(ROOT, "examples", "data", "breast_cancer.csv"))
    df.iloc[:400].to_csv(os.path.join(work, "train.csv"), index=False)
    df.iloc[400:].to_csv(os.path.join(work, "gate.csv"), index=False)
    for name, rounds in (("v1", 100), ("v2", 60)):
        subprocess.run([os.path.join(BIN, "mlops-train"), "--data", os.path.join(work, "train.csv"), "--label", LABEL,
                        "--objective", "binary:logistic", "--rounds", str(rounds), "--max-depth", "4", "--out",
                        os.path.join(work, name + ".json"), "--force"], check=True, capture_output=True, timeout=120)
    anchor_dir = None
    if os.path.isfile(os.path.join(ANCHOR, "make_model.py")):
        anchor_dir = os.path.join(work, "anchor")
        subprocess.run([sys.executable, os.path.join(ANCHOR, "make_model.py"), anchor_dir], check=True, timeout=300)
        shutil.copy(os.path.join(anchor_dir, "request.json"), os.path.join(work, "request.json"))
    else:
        row = df.drop(columns=[LABEL]).iloc[0]
        json.dump({"features": {k: float(v) for k, v in row.items()}}, open(os.path.join(work, "request.json"), "w"))
    reg = mlops.Registry(os.path.join(work, "reg"), create=True)
    reg.put("bc", os.path.join(work, "v1.json"))
    reg.put("bc", os.path.join(work, "v2.json"))
    reg.set_alias("bc", "production", 1)
    open(os.path.join(work, "token"), "w").write(TOKEN + "\n")
    return anchor_dir


def sampler(port, request, boosters, stop_flag, report):
    """Post the request on one keep-alive connection; every answer must equal its version's prediction."""
    x = np.array([[request["features"][f] for f in boosters[1].feature_names]], dtype=np.float32)
    want = {v: b.inplace_predict(x)[0] for v, b in boosters.items()}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps(request)
    while not stop_flag.is_set():
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json",
                                                              "X-User-Id": "u%d" % report["n"]})
        r = conn.getresponse()
        doc = json.loads(r.read())
        report["n"] += 1
        if r.status != 200 or np.float32(doc["predictions"][0]) != want[doc["model_version"]]:
            report["bad"].append((r.status, doc))
        report["versions"].add(doc.get("model_version"))
        time.sleep(0.005)
    conn.close()


def cycle(port):
    """stage 2 -> validate -> promote -> stage 1 -> canary ramp 0.1, 0.5, 1.0 -> canary 0 -> rollback to 1."""
    admin(port, "stage", {"version": 2})
    if not admin(port, "validate", {"max_logloss_increase": 10})["passed"]:
        raise AssertionError("the gate refused version 2")
    admin(port, "promote")
    admin(port, "stage", {"version": 1})
    for f in (0.1, 0.5, 1.0):  # canary ramp of version 1 as the candidate
        admin(port, "canary", {"fraction": f})
        time.sleep(0.05)
    admin(port, "canary", {"fraction": 0})
    admin(port, "rollback")


def bench_swaps(work):
    boosters = {v: xgb.Booster(model_file=os.path.join(work, "v%d.json" % v)) for v in (1, 2)}
    proc, port = start_serve(["--registry", os.path.join(work, "reg"), "--name", "bc", "--admin-token-file",
                              os.path.join(work, "token"), "--gate-data", os.path.join(work, "gate.csv"),
                              "--gate-label", LABEL, "--reference", os.path.join(work, "train.csv")],
                             os.path.join(work, "swap.log"))
    try:
        request = json.load(open(os.path.join(work, "request.json")))
        # warm up: load, predictions and a few cycles, so that the windows and the allocator's arenas are
        # at their working size before the baseline is taken
        warm = threading.Thread(target=wrk, args=("http://127.0.0.1:%d/predict" % port,
                                                  os.path.join(work, "request.json"), 16, 4))
        warm.start()
        for _ in range(5):
            cycle(port)
        warm.join()
        rss0, fds0 = rss_kb(proc.pid), n_fds(proc.pid)
        result = {}
        runner = threading.Thread(target=lambda: result.update(
            zip(("rps", "p99", "non2xx", "errors", "total"),
                wrk("http://127.0.0.1:%d/predict" % port, os.path.join(work, "request.json"), 16, SWAP_SECONDS))))
        stop_flag, report = threading.Event(), {"n": 0, "bad": [], "versions": set()}
        check = threading.Thread(target=sampler, args=(port, request, boosters, stop_flag, report))
        runner.start()
        check.start()
        cycles, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < SWAP_SECONDS - 2:
            cycle(port)
            cycles += 1
        runner.join()
        stop_flag.set()
        check.join()
        rss1, fds1 = rss_kb(proc.pid), n_fds(proc.pid)
    finally:
        stop(proc)
    print("swaps: wrk -c16 %ds POST /predict: %d requests, %.0f req/s, p99 %.3f ms, non-2xx %d, socket errors %d; "
          "%d cycles of stage -> validate -> promote -> canary 0.1/0.5/1.0 -> rollback; %d sampled responses "
          "(versions %s), %d wrong; RSS %d -> %d KiB (%+.1f%%), fds %d -> %d"
          % (SWAP_SECONDS, result["total"], result["rps"], result["p99"], result["non2xx"], result["errors"], cycles,
             report["n"], sorted(report["versions"]), len(report["bad"]), rss0, rss1, 100.0 * (rss1 - rss0) / rss0,
             fds0, fds1))
    ok = (result["non2xx"] == 0 and result["errors"] == 0 and not report["bad"] and cycles >= 3
          and report["versions"] == {1, 2} and rss1 <= rss0 * 1.05 and fds1 <= fds0)
    if report["bad"]:
        print("wrong responses:", report["bad"][:3])
    return ok


def stage_means(port):
    """Mean microseconds per /predict stage so far, from ml_predict_stage_duration_seconds (sum / count)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    got = {}
    for kind, stage, value in re.findall(r'ml_predict_stage_duration_seconds_(sum|count)\{stage="(\w+)"\} (\S+)', text):
        got.setdefault(stage, {})[kind] = float(value)
    return ", ".join("%s %.2f" % (st, 1e6 * got[st]["sum"] / got[st]["count"])
                     for st in ("parse", "validate", "predict", "monitor", "respond") if got.get(st, {}).get("count"))


def bench_speed(work, anchor_dir):
    if anchor_dir is None:
        print("speed ratio: SKIPPED (no FastAPI anchor at %s: a clone without ../shared)" % ANCHOR)
        return True
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print("speed ratio: SKIPPED (FastAPI or uvicorn not installed: python3-fastapi, uvicorn)")
        return True
    body = os.path.join(work, "request.json")
    ours, theirs = {}, {}
    proc, port = start_serve(["--model", os.path.join(anchor_dir, "model.json"), "--reference",
                              os.path.join(work, "train.csv")], os.path.join(work, "speed.log"))
    try:
        wrk("http://127.0.0.1:%d/predict" % port, body, 16, 1)
        for c in (1, 16):
            ours[c] = wrk("http://127.0.0.1:%d/predict" % port, body, c, SPEED_SECONDS)
        print("mlops-serve work per /predict, mean us by stage (ml_predict_stage_duration_seconds): "
              + stage_means(port))
    finally:
        stop(proc)
    # the same at 1 connection with a worker that sleeps as soon as it has answered (--spin-us 0)
    proc, port = start_serve(["--model", os.path.join(anchor_dir, "model.json"), "--reference",
                              os.path.join(work, "train.csv"), "--spin-us", 0], os.path.join(work, "speed0.log"))
    try:
        wrk("http://127.0.0.1:%d/predict" % port, body, 1, 1)
        no_spin = wrk("http://127.0.0.1:%d/predict" % port, body, 1, SPEED_SECONDS)
    finally:
        stop(proc)
    aport = 18000 + os.getpid() % 1000
    log = open(os.path.join(work, "uvicorn.log"), "w")
    app = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", ANCHOR, "app:app", "--port", str(aport),
                            "--log-level", "warning"], env=dict(os.environ, MODEL_DIR=anchor_dir), stdout=log,
                           stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call(aport, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("uvicorn did not start")
            time.sleep(0.2)
        for c in (1, 16):
            theirs[c] = wrk("http://127.0.0.1:%d/predict" % aport, body, c, SPEED_SECONDS)
    finally:
        app.terminate()
        app.wait(timeout=20)
    ok = True
    for c, p99_goal in ((1, 1.0), (16, 2.0)):
        ratio = ours[c][0] / theirs[c][0]
        print("speed at %2d connection(s), %ds each: mlops-serve %.0f req/s (p99 %.3f ms, goal <= %.0f ms: %s), "
              "FastAPI anchor %.0f req/s (p99 %.2f ms): ratio %.1fx (goal >= 50x: %s)"
              % (c, SPEED_SECONDS, ours[c][0], ours[c][1], p99_goal, "met" if ours[c][1] <= p99_goal else "NOT met",
                 theirs[c][0], theirs[c][1], ratio, "met" if ratio >= 50 else "NOT met"))
        ok = ok and ours[c][2] == 0 and ours[c][3] == 0 and theirs[c][2] == 0
    print("without spinning (--spin-us 0) at 1 connection: mlops-serve %.0f req/s (p99 %.3f ms): ratio %.1fx"
          % (no_spin[0], no_spin[1], no_spin[0] / theirs[1][0]))
    return ok and no_spin[2] == 0 and no_spin[3] == 0


def main():
    work = tempfile.mkdtemp(prefix="bench-serve-")
    try:
        anchor_dir = make_models(work)
        ok = bench_swaps(work)
        ok = bench_speed(work, anchor_dir) and ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("bench-serve:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
