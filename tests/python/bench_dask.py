"""Benchmark (suite 'bench'): mlops.dask on a distributed.LocalCluster of 2 worker processes.

1. Scoring 5,000,000 rows x 30 features read from 50 CSV partitions, end to end (read_csv, score,
   predictions gathered on the client): mlops.dask.predict against xgboost.dask.inplace_predict,
   same cluster, same model (200 trees of depth 6, binary:logistic), interleaved rounds, ratio of
   the medians; a third variant only reads the partitions and counts rows (the CSV parse both sides
   share), which bounds the end-to-end ratio at (read + xgboost) / read. Also the same two on the
   partitions already in worker memory (scoring alone).
2. Exact drift of the 5,000,000 CSV rows against a 100,000-row reference: time, and peak worker
   memory (ru_maxrss of freshly restarted workers) next to the size of one partition and the
   reference (the goal: never more than one partition plus the reference per worker), and next to
   the peak of only reading the same partitions on fresh workers (read_csv's own share).
   BENCH_DASK_ROWS and BENCH_DASK_PARTITIONS change the size (e.g. 1000000 and 10 keep the full
   run's 100,000-row partitions).

Prints figures; fails only if the predictions differ from XGBoost's or the drift report differs
from a direct computation.

    meson test -C <builddir> --setup bench --suite bench py-bench-dask -v
    (or: MLOPS_LIBRARY=build/libmlops.so PYTHONPATH=bindings/python /usr/bin/python3 tests/python/bench_dask.py)
"""
import os
import resource
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import stats
import dask.dataframe as dd
import xgboost.dask as xgbd
from distributed import Client, LocalCluster

import mlops.dask as md

ROWS = int(os.environ.get("BENCH_DASK_ROWS", 5_000_000))
FEATURES = 30
PARTITIONS = int(os.environ.get("BENCH_DASK_PARTITIONS", 50))  # e.g. ROWS/100000 for the full run's partition size
REF_ROWS = 100_000
ROUNDS = int(os.environ.get("BENCH_DASK_ROUNDS", 1))  # end-to-end rounds (each reads 5M CSV rows twice)
NAMES = ["x%02d" % i for i in range(FEATURES)]


def train():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50_000, FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=len(x)) > 0).astype(int)
    return xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 1},
                     xgb.DMatrix(x, y, feature_names=NAMES), num_boost_round=200)


def csv_bytes(x):
    """Rows of x (|x| < 10) as CSV text with 4 decimals ("+1.2345,-0.5000,..."), formatted with numpy
    (pandas' to_csv would take minutes for 5M x 30 on this machine)."""
    q = np.rint(np.clip(x, -9.9999, 9.9999) * 10000).astype(np.int64)
    a = np.abs(q)
    out = np.empty(x.shape + (8,), np.uint8)
    out[..., 0] = np.where(q < 0, ord("-"), ord("+"))
    out[..., 1] = ord("0") + a // 10000
    out[..., 2] = ord(".")
    for k, div in enumerate((1000, 100, 10, 1)):
        out[..., 3 + k] = ord("0") + a // div % 10
    out[..., 7] = ord(",")
    out[:, -1, 7] = ord("\n")
    return out.tobytes()


def write_csv(root):
    """The dataset as 50 CSV files under `root`, written once and reused by later runs."""
    folder = os.path.join(root, "bench-dask-%d-%d" % (ROWS, PARTITIONS))
    pattern = os.path.join(folder, "part-*.csv")
    if os.path.exists(os.path.join(folder, "complete")):
        return pattern, False
    os.makedirs(folder, exist_ok=True)
    per = ROWS // PARTITIONS
    for i in range(PARTITIONS):
        x = np.random.default_rng(1000 + i).normal(size=(per, FEATURES))
        with open(os.path.join(folder, "part-%02d.csv" % i), "wb") as f:
            f.write((",".join(NAMES) + "\n").encode())
            f.write(csv_bytes(x))
    open(os.path.join(folder, "complete"), "w").close()
    return pattern, True


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def worker_rss(client):
    """{worker: (current RSS, peak RSS)} in MB."""
    def probe():
        import psutil  # a dependency of python3-distributed
        return psutil.Process().memory_info().rss / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return client.run(probe)


def cluster_client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        return cluster, Client(cluster)


def main():
    only = os.environ.get("BENCH_DASK_ONLY", "")  # "score" or "drift" runs one half
    with tempfile.TemporaryDirectory() as tmp:
        t, (pattern, wrote) = timed(lambda: write_csv(os.environ.get("MLOPS_BUILD_ROOT", tmp)))
        folder = os.path.dirname(pattern)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        print("%s the CSV partitions (%.0f MB) in %.1f s: %s"
              % ("wrote" if wrote else "reused", size / 2**20, t, folder))
        rc = 0
        seen = {}  # figures one section passes to the next
        for name, fn in (("score", score), ("drift", read_peak), ("drift", drift)):
            if only and only != name:
                continue
            cluster, client = cluster_client()  # fresh workers: each peak RSS is its own section's
            try:
                rc |= fn(client, pattern, seen)
            finally:
                client.close()
                cluster.close()
        return rc


def score(client, pattern, seen):
    booster = train()
    blob = bytes(booster.save_raw("json"))
    print("cluster: 2 worker processes x 1 thread; %d rows x %d features in %d CSV partitions"
          % (ROWS, FEATURES, PARTITIONS))
    threads = os.environ.get("BENCH_DASK_XGB_NTHREAD")  # e.g. 1: XGBoost with mlops' one thread per task
    if threads:
        booster.set_param({"nthread": int(threads)})
    print("xgboost threads per worker: %s; mlops: 1 per task" % (threads or "default (all cores)"))
    bfut = client.scatter(booster, broadcast=True)

    def ours(ddf):
        return md.predict(ddf, blob).compute().to_numpy()

    def theirs(ddf):
        return xgbd.inplace_predict(client, bfut, ddf).compute().to_numpy()

    def read_only(ddf):  # the CSV parsing both sides share: read every partition, count its rows
        return ddf.map_partitions(len).compute().to_numpy()

    # 1. end to end from CSV
    e2e = {"mlops": [], "xgboost": [], "read": []}
    for _ in range(ROUNDS):
        for name, fn in (("mlops", ours), ("xgboost", theirs), ("read", read_only)):
            t, pred = timed(lambda: fn(dd.read_csv(pattern, dtype=np.float32)))
            e2e[name].append(t)
            if name == "mlops":
                p_ours = pred
            elif name == "xgboost":
                p_xgb = pred
    err = float(np.max(np.abs(p_ours - p_xgb)))
    print("end to end (read_csv + score + gather), median of %d: mlops %.2f s, xgboost.dask %.2f s, "
          "ratio %.2fx (goal >= 2x); max |diff| %.2e"
          % (ROUNDS, statistics.median(e2e["mlops"]), statistics.median(e2e["xgboost"]),
             statistics.median(e2e["xgboost"]) / statistics.median(e2e["mlops"]), err))
    med = {k: statistics.median(v) for k, v in e2e.items()}
    print("read_csv alone (same partitions, dtype float32, rows counted), median of %d: %.2f s; so the end-to-end "
          "ratio cannot exceed (read + xgboost scoring) / read = %.2f / %.2f = %.2fx; past the read: mlops %.2f s, "
          "xgboost.dask %.2f s (%.2fx)" % (ROUNDS, med["read"], med["xgboost"], med["read"], med["xgboost"] / med["read"],
                                          med["mlops"] - med["read"], med["xgboost"] - med["read"],
                                          (med["xgboost"] - med["read"]) / max(med["mlops"] - med["read"], 1e-9)))
    if err > 1e-5:
        print("FAIL: predictions differ from XGBoost's")
        return 1

    # scoring alone: the partitions parsed once and kept in worker memory
    ddf = dd.read_csv(pattern, dtype=np.float32).persist()
    alone = {"mlops": [], "xgboost": []}
    for _ in range(ROUNDS + 1):  # one more: these are cheap
        for name, fn in (("mlops", ours), ("xgboost", theirs)):
            alone[name].append(timed(lambda: fn(ddf))[0])
    print("scoring alone (partitions in worker memory), median of %d: mlops %.2f s, xgboost.dask %.2f s, "
          "ratio %.2fx" % (ROUNDS + 1, statistics.median(alone["mlops"]), statistics.median(alone["xgboost"]),
                            statistics.median(alone["xgboost"]) / statistics.median(alone["mlops"])))
    return 0


def read_peak(client, pattern, seen):
    """Peak worker memory of only reading the same CSV partitions (dd.read_csv, float64, rows
    counted) on fresh workers: what any Dask job reading them pays before the drift's own."""
    client.run(lambda: __import__("mlops.dask") and None)
    before = worker_rss(client)
    dd.read_csv(pattern).map_partitions(len).compute()
    after = worker_rss(client)
    seen["read_peak"] = {w: after[w][1] - before[w][0] for w in after}
    print("read_csv alone (float64, the drift's input), on fresh workers: peak RSS growth %s MB"
          % " / ".join("+%.0f" % v for _, v in sorted(seen["read_peak"].items())))
    return 0


def drift(client, pattern, seen):
    """Exact drift of the CSV rows against a 100k-row reference, on fresh workers."""
    rng = np.random.default_rng(11)
    ref = rng.normal(size=(REF_ROWS, FEATURES))
    ref[:, :3] += 0.01  # three features drift slightly
    reference = pd.DataFrame(ref, columns=NAMES)
    client.run(lambda: __import__("mlops.dask") and None)
    before = worker_rss(client)
    t, rep = timed(lambda: md.drift(reference, dd.read_csv(pattern)))
    after = worker_rss(client)
    one_part = ROWS // PARTITIONS * FEATURES * 8 / 2**20
    goal = one_part + ref.nbytes / 2**20
    reads = sorted(seen.get("read_peak", {}).values())
    print("drift: %d current rows vs %d reference rows, %d features: %.2f s; %d drifted"
          % (rep["n_rows"], REF_ROWS, FEATURES, t, rep["n_drifted"]))
    for w in sorted(after):
        print("  worker %s: RSS before %.0f MB, peak %.0f MB (+%.0f MB); one partition %.0f MB as float64 + "
              "reference %.0f MB = %.0f MB (goal: growth <= 1x that; %.2fx)"
              % (w, before[w][0], after[w][1], after[w][1] - before[w][0], one_part, ref.nbytes / 2**20, goal,
                 (after[w][1] - before[w][0]) / goal))
    if reads:
        print("  of which read_csv alone peaks at +%.0f MB (max of the workers, %.1fx a partition); drift's own "
              "growth beyond it: %s MB" % (reads[-1], reads[-1] / one_part, " / ".join(
                  "+%.0f" % (after[w][1] - before[w][0] - reads[-1]) for w in sorted(after))))
    col = dd.read_csv(pattern, usecols=["x00"])["x00"].compute().to_numpy()
    want = stats.ks_2samp(ref[:, 0], col)
    got = rep["features"][0]
    print("  x00: statistic %r (SciPy %r), p-value %.17g (SciPy %.17g)"
          % (got["statistic"], want.statistic, got["pvalue"], want.pvalue))
    if rep["n_rows"] != ROWS or got["statistic"] != want.statistic or \
            abs(got["pvalue"] - want.pvalue) > 1e-10 * max(want.pvalue, 1e-300):
        print("FAIL: the drift report differs from SciPy's ks_2samp on the whole column")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
