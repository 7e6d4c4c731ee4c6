#!/usr/bin/python3
"""Batch scoring from a CSV file (issue 26), suite 'bench', in one run:

1. A generated 1,000,000 x 30 CSV (numpy-formatted, 5 decimals; ~270 MB, page-cached) scored by mlops-predict with 1 thread and with --threads 2, and by
   the anchor: pandas.read_csv + xgboost inplace_predict (nthread=1) + to_csv, one thread. Median of
   3 runs each, wall and CPU time (the CPU ratio is the steadier one on a loaded machine); outputs
   compared (max |diff| <= 1e-6, same rows). Goals (wall): >= 10x the anchor with one thread, >= 15x
   with --threads 2.
2. Peak RSS of mlops-predict (getrusage of the child) on a larger generated file (BIG_MB, default
   2048 MB, written once into the build directory; skipped, saying so, when the disk is short).
   Goal: <= 64 MB.

Figures are printed; a wrong output makes the benchmark fail, speed and memory goals are reported
(this machine is shared, so the figures vary from run to run).

Run:  meson test -C build --suite bench bench-predict-csv -v
      (or: MLOPS_BIN_DIR=build/examples /usr/bin/python3 tests/examples/bench_predict_csv.py)
Knobs (environment): ROWS (default 1000000), BIG_MB (default 2048, 0 skips part 2), RUNS (default 3).
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MLOPS_BIN_DIR", os.path.join(ROOT, "build", "examples"))
BUILD = os.environ.get("MLOPS_BUILD_ROOT", os.path.join(ROOT, "build"))
ROWS = int(os.environ.get("ROWS", "1000000"))
BIG_MB = int(os.environ.get("BIG_MB", "2048"))
RUNS = int(os.environ.get("RUNS", "3"))
FEATURES = 30
NAMES = ["x%02d" % i for i in range(FEATURES)]

ANCHOR = """
import sys
import pandas as pd
import xgboost as xgb
booster = xgb.Booster(model_file=sys.argv[1])
booster.set_param({"nthread": 1})
df = pd.read_csv(sys.argv[2], dtype="float32")
pred = booster.inplace_predict(df[booster.feature_names].to_numpy())
pd.DataFrame({"row": range(1, len(pred) + 1), "prediction": pred}).to_csv(sys.argv[3], index=False)
"""

# The anchor's fixed cost (interpreter, imports, model load), timed apart so that the ratios can
# also be read without it (mlops-predict's own start-up, the model load, stays in its time).
STARTUP = """
import sys
import pandas as pd
import xgboost as xgb
xgb.Booster(model_file=sys.argv[1]).set_param({"nthread": 1})
"""


def train(path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50_000, FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=len(x)) > 0).astype(int)
    xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 1, "nthread": 1},
              xgb.DMatrix(x, y, feature_names=NAMES), num_boost_round=200).save_model(path)


def csv_bytes(x):
    """x as CSV text with 5 decimals and a sign ("+1.23456,-0.50000,..."), 9 bytes a cell, by numpy."""
    q = np.abs(np.rint(np.clip(x, -9.99999, 9.99999) * 1e5).astype(np.int64))
    digits = (q[..., None] // 10 ** np.arange(5, -1, -1) % 10 + ord("0")).astype(np.uint8)
    cells = np.empty(x.shape + (9,), np.uint8)
    cells[..., 0] = np.where(x < 0, ord("-"), ord("+"))
    cells[..., 1], cells[..., 2], cells[..., 3:8] = digits[..., 0], ord("."), digits[..., 1:]
    cells[..., 8] = ord(",")
    cells[:, -1, 8] = ord("\n")
    return cells.tobytes()


def write_csv(path, rows, seed):
    """rows x 30 into path (in blocks of 50,000 rows); kept for later runs once complete."""
    if os.path.exists(path + ".complete"):
        return False
    with open(path, "wb") as f:
        f.write((",".join(NAMES) + "\n").encode())
        for i, lo in enumerate(range(0, rows, 50_000)):
            n = min(50_000, rows - lo)
            f.write(csv_bytes(np.random.default_rng(seed + i).normal(size=(n, FEATURES))))
    open(path + ".complete", "w").close()
    return True


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_child(cmd):
    """(wall seconds, CPU seconds) of one child process."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, cpu_seconds() - c0


def peak_rss_mb(cmd):
    """Peak RSS of cmd in MB, from /usr/bin/time -f %M (the children's maxrss is the max over all)."""
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], check=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True).stderr.strip().splitlines()
    return int(out[-1]) / 1024.0


def median_time(cmd):
    """Median wall and CPU seconds of RUNS runs."""
    runs = [run_child(cmd) for _ in range(RUNS)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def read_pred(path):
    d = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    return d[:, 0].astype(np.int64), d[:, 1]


def main():
    predict = os.path.join(BIN, "mlops-predict")
    data_dir = os.path.join(BUILD, "bench-predict-csv")
    os.makedirs(data_dir, exist_ok=True)
    model = os.path.join(data_dir, "model.json")
    if not os.path.exists(model):
        train(model)
    csv = os.path.join(data_dir, "rows-%d.csv" % ROWS)
    write_csv(csv, ROWS, 2600)
    print("input: %s (%d rows x %d, %.0f MB)" % (csv, ROWS, FEATURES, os.path.getsize(csv) / 1e6))
    with tempfile.TemporaryDirectory() as tmp:
        anchor_py, startup_py = os.path.join(tmp, "anchor.py"), os.path.join(tmp, "startup.py")
        open(anchor_py, "w").write(ANCHOR)
        open(startup_py, "w").write(STARTUP)
        outs = {k: os.path.join(tmp, k + ".csv") for k in ("one", "two", "anchor")}
        cmds = {
            "one": [predict, "--model", model, "--input", csv, "--output", outs["one"], "--quiet"],
            "two": [predict, "--model", model, "--input", csv, "--output", outs["two"], "--threads", "2",
                    "--quiet"],
            "anchor": [sys.executable, anchor_py, model, csv, outs["anchor"]],
            "startup": [sys.executable, startup_py, model],
        }
        times = {k: median_time(c) for k, c in cmds.items()}
        ids_a, pa = read_pred(outs["anchor"])
        worst = 0.0
        for k in ("one", "two"):
            ids, p = read_pred(outs[k])
            if not np.array_equal(ids, ids_a):
                raise SystemExit("FAIL: mlops-predict (%s) wrote other rows than the anchor" % k)
            worst = max(worst, float(np.max(np.abs(p - pa))))
        print("max |mlops-predict - pandas+xgboost| = %.3g" % worst)
        if worst > 1e-6:
            raise SystemExit("FAIL: outputs differ by more than 1e-6")
    for i, what in enumerate(("wall", "CPU")):
        a, one, two = times["anchor"][i], times["one"][i], times["two"][i]
        print("%s time, median of %d: pandas.read_csv + xgboost inplace_predict(nthread=1) + to_csv %.2f s; "
              "mlops-predict %.3f s (%.1fx, goal >= 10x), --threads 2 %.3f s (%.1fx%s)"
              % (what, RUNS, a, one, a / one, two, a / two, ", goal >= 15x" if i == 0 else ""))
        s = times["startup"][i]
        print("  (%s) the anchor's start-up (interpreter, imports, model load) is %.2f s of it; without it: "
              "%.1fx, --threads 2 %.1fx" % (what, s, (a - s) / one, (a - s) / two))
    big_rss(predict, model, data_dir)


def big_rss(predict, model, data_dir):
    if BIG_MB <= 0:
        print("peak RSS: skipped (BIG_MB=0)")
        return
    rows = BIG_MB * 1024 * 1024 // (9 * FEATURES)
    big = os.path.join(data_dir, "rows-%d.csv" % rows)
    if not os.path.exists(big + ".complete") and shutil.disk_usage(data_dir).free < 2 * BIG_MB * 1024 * 1024 + (4 << 30):
        print("peak RSS: skipped: less than %d MB + 4 GB free for the %d MB file" % (2 * BIG_MB, BIG_MB))
        return
    write_csv(big, rows, 9000)
    with tempfile.TemporaryDirectory() as tmp:
        for threads in ("1", "2"):
            mb = peak_rss_mb([predict, "--model", model, "--input", big, "--output", os.path.join(tmp, "o.csv"),
                              "--threads", threads, "--quiet"])
            print("peak RSS of mlops-predict --threads %s on %.0f MB (%d rows): %.1f MB (goal <= 64 MB)"
                  % (threads, os.path.getsize(big) / 1e6, rows, mb))


if __name__ == "__main__":
    main()
