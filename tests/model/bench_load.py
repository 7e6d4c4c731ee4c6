#!/usr/bin/python3
"""Model-load benchmark (suite 'bench'): time and resident-memory growth of one load, libmlops
against XGBoost's own load of the same file, measured in the same run.

The models are trained here with the installed XGBoost (1.7.4 on Debian 12) and saved as UBJSON and
JSON. Every load runs in a fresh process (a cold start, as a server or CLI sees it): the child
imports its library, reads VmRSS and the clock, loads the model once, reads them again. Each figure
is the median over BENCH_LOAD_REPS processes (default 5); the ratios libmlops / XGBoost are printed.
"rss" is the resident growth once the load returned, "peak" the highest resident growth during it
(VmHWM, reset before the load).

Run: meson test -C build --setup bench --suite bench model-load-bench -v
     (or /usr/bin/python3 tests/model/bench_load.py with MLOPS_LIBRARY and PYTHONPATH set)
BENCH_LOAD_SHAPES picks shapes by name (default "100x6,800x10"; "2000x8" is the ~50 MB dense one).
BENCH_LOAD_MODEL_DIR keeps the trained models there and reuses them on the next run.
"""
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb

# name: (trees, depth, features, rows, min_child_weight) -- min_child_weight keeps 800x10 sparse.
SHAPES = {
    "100x6": (100, 6, 20, 5000, 1.0),
    "800x10": (800, 10, 50, 20000, 5.0),
    "2000x8": (2000, 8, 50, 12000, 0.0),
}

CHILD = r"""
import sys, time
def rss_kb(field="VmRSS:"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
kind, path = sys.argv[1], sys.argv[2]
if kind == "xgboost":
    import xgboost
    load = lambda: xgboost.Booster(model_file=path)
else:
    import mlops
    engine = kind.split(":", 1)[1]
    load = lambda: mlops.Model(path, engine=engine)
# libmlops hands freed heap pages back to the OS after a load (malloc_trim); trim first, for every
# loader, so that pages the imports freed are not counted as a negative growth of one of them.
import ctypes
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as f:  # "5": reset the peak (VmHWM) to the current RSS
    f.write("5")
r0 = rss_kb(); t0 = time.perf_counter()
m = load()
t1 = time.perf_counter(); r1 = rss_kb(); peak = rss_kb("VmHWM:")
print("%.6f %d %d" % (t1 - t0, r1 - r0, peak - r0))
"""


def train(name, out_dir):
    paths = {ext: os.path.join(out_dir, "%s.%s" % (name, ext)) for ext in ("ubj", "json")}
    if all(os.path.exists(p) for p in paths.values()):  # BENCH_LOAD_MODEL_DIR kept them
        return paths
    trees, depth, n_feat, rows, mcw = SHAPES[name]
    rng = np.random.default_rng(24)
    x = rng.normal(size=(rows, n_feat)).astype(np.float32)
    y = ((x[:, 0] + np.sin(3 * x[:, 1]) + x[:, 2] * x[:, 3] + rng.normal(scale=0.5, size=rows)) > 0)
    d = xgb.DMatrix(x, label=y.astype(np.float32))
    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1, "tree_method": "hist",
              "min_child_weight": mcw, "nthread": 2, "seed": 24}
    bst = xgb.train(params, d, num_boost_round=trees)
    paths = {}
    for ext in ("ubj", "json"):
        paths[ext] = os.path.join(out_dir, "%s.%s" % (name, ext))
        bst.save_model(paths[ext])
    return paths


def measure(kind, path, reps):
    times, rss, peaks = [], [], []
    for _ in range(reps):
        r = subprocess.run([sys.executable, "-c", CHILD, kind, path], capture_output=True, text=True,
                           timeout=300, env=os.environ)
        if r.returncode != 0:
            sys.exit("child %s %s failed:\n%s" % (kind, path, r.stderr))
        t, kb, peak_kb = r.stdout.split()
        times.append(float(t))
        rss.append(int(kb))
        peaks.append(int(peak_kb))
    return statistics.median(times), statistics.median(rss), statistics.median(peaks)


def main():
    reps = int(os.environ.get("BENCH_LOAD_REPS", "5"))
    shapes = os.environ.get("BENCH_LOAD_SHAPES", "100x6,800x10").split(",")
    print("model-load: median of %d fresh processes; ratio = libmlops / xgboost.Booster(model_file=...)" % reps)
    print("%-8s %-4s %-16s %10s %10s %8s %8s %10s" % ("shape", "fmt", "loader", "ms", "rss MB", "t ratio",
                                                       "rss ratio", "peak MB"))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.environ.get("BENCH_LOAD_MODEL_DIR", tmp)  # set: train once, reuse the models
        os.makedirs(model_dir, exist_ok=True)
        for name in shapes:
            paths = train(name, model_dir)
            for ext, path in paths.items():
                base_t, base_r, base_p = measure("xgboost", path, reps)
                print("%-8s %-4s %-16s %10.1f %10.1f %8s %8s %10.1f (%.1f MB file)" % (
                    name, ext, "xgboost", base_t * 1e3, base_r / 1024, "1.00", "1.00", base_p / 1024,
                    os.path.getsize(path) / 1e6))
                for kind in ("mlops:auto", "mlops:xgboost"):
                    t, r, p = measure(kind, path, reps)
                    print("%-8s %-4s %-16s %10.1f %10.1f %8.2f %8.2f %10.1f" % (
                        name, ext, kind, t * 1e3, r / 1024, t / base_t, r / max(base_r, 1), p / 1024))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
