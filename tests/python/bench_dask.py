"""Benchmark (suite 'bench', not run by CI's .ci/run): mlops.dask on a distributed.LocalCluster of
2 worker processes x 1 thread, each section on a fresh cluster. 5-10 minutes on the 2-core VM
depending on its load (the CSV files are written once, ~1 min, and reused).

1. Scoring 5,000,000 rows x 30 features from 50 CSV files (one 100,000-row partition each), end to
   end (read, score, predictions gathered on the client): mlops.dask.predict against
   xgboost.dask.inplace_predict, same cluster, same model (200 trees of depth 6, binary:logistic),
   one thread each (XGBoost's nthread=1; BENCH_DASK_XGB_NTHREAD changes it). The anchor reads the
   same way: both sides get the same mlops.dask.read_csv(dtype=float32) frame (the library's CSV
   parser, mlops_schema_parse_csv, since issue 17; pandas' C parser before);
   on our side predict parses and scores each chunk in one task, on XGBoost's the partition is
   built whole and handed to inplace_predict. A third variant only reads the partitions and
   counts rows (the parse both share), which bounds the ratio at (read + xgboost) / read. First,
   one partition is profiled in this process (parse, mlops predict, xgboost predict, best of 3):
   the bound (parse + xgboost) / (parse + mlops) that no scheduling can beat with this reader.
   BENCH_DASK_DD=1 adds the same comparison on dd.read_csv(dtype=float32) partitions (both sides).
2. Exact drift of the 5,000,000 rows (float64) against a 100,000-row reference, read with
   mlops.dask.read_csv, twice on fresh clusters: with each worker's statistical profiler off
   (Dask config distributed.worker.profile.enabled: False; the memory the job itself takes) and
   with Dask's default config (the profiler keeps a history of sampled stacks that grows with
   the job's duration). Time, and each worker's peak memory during the job, measured without
   psutil: the kernel's peak-RSS mark (VmHWM in /proc/self/status) reset through
   /proc/self/clear_refs once the worker is idle with every library imported, read after the job;
   growth = VmHWM after - VmRSS at the reset. The goal, read strictly: growth <= one partition +
   the reference, where one partition is what its data occupies in a worker as float64 values
   (100,000 rows x 30 x 8 bytes = 24.0 MB, the same as its CSV text, 8 bytes a value) and the
   reference is its 100,000 x 30 float64 values (24.0 MB).
   BENCH_DASK_READ=1 adds the peak of only reading the partitions (mlops.dask.read_csv, each
   partition built whole) and BENCH_DASK_DD=1 the drift on dd.read_csv partitions (the old
   input); each takes another minute or more.
   BENCH_DASK_ROWS and BENCH_DASK_PARTITIONS change the size (e.g. 1000000 and 10 keep the full
   run's 100,000-row partitions); BENCH_DASK_ONLY=score or drift runs one half.

Prints figures; fails if the predictions differ from XGBoost's, if the drift report differs from
SciPy's ks_2samp on a whole column, or if the peak-RSS mark cannot be reset.

    MLOPS_SHARED_DIR=/work/shared meson test -C <builddir> --setup bench --suite bench py-bench-dask -v
    (or: MLOPS_LIBRARY=build/libmlops.so PYTHONPATH=bindings/python /usr/bin/python3 tests/python/bench_dask.py)
"""
import os
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
PARTITIONS = int(os.environ.get("BENCH_DASK_PARTITIONS", 50))  # files, one partition each
REF_ROWS = 100_000
ROUNDS = int(os.environ.get("BENCH_DASK_ROUNDS", 1))  # end-to-end rounds
NAMES = ["x%02d" % i for i in range(FEATURES)]
MB = 1e6


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


def _status():
    """(VmRSS, VmHWM) of this process in MB, from /proc/self/status."""
    got = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                got[line.split(":")[0]] = int(line.split()[1]) * 1024 / MB
    return got["VmRSS"], got["VmHWM"]


def _reset_peak():
    """Reset this process's peak-RSS mark to its current RSS (Linux >= 4.0: "5" > clear_refs)."""
    import gc
    import mlops.dask  # noqa: F401 (the libraries the job needs are part of the idle worker)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status()


def reset_peaks(client):
    """{worker: RSS at the reset}; fails when the mark did not move down to the RSS."""
    got = client.run(_reset_peak)
    for w, (rss, hwm) in got.items():
        if hwm > rss + 1:
            raise SystemExit("FAIL: the peak-RSS mark of %s was not reset (VmHWM %.0f MB, VmRSS %.0f MB)" % (w, hwm, rss))
    return {w: v[0] for w, v in got.items()}


def peaks(client, base):
    """{worker: peak RSS growth since reset_peaks} in MB."""
    return {w: v[1] - base[w] for w, v in client.run(_status).items()}


PROFILER = "distributed.worker.profile.enabled"


def cluster_client(profiler=True):
    """A fresh 2-worker LocalCluster; profiler=False turns off each worker's statistical profiler
    (Dask config distributed.worker.profile.enabled, checked on the workers)."""
    import dask
    with warnings.catch_warnings(), dask.config.set({PROFILER: profiler}):
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    got = set(client.run(lambda: bool(dask.config.get(PROFILER))).values())
    if got != {profiler}:
        raise SystemExit("FAIL: the workers' %s is %s, wanted %s" % (PROFILER, got, profiler))
    return cluster, client


def main():
    only = os.environ.get("BENCH_DASK_ONLY", "")  # "score" or "drift" runs one half
    sections = [("score", score), ("drift", drift_quiet), ("drift", drift)]
    if os.environ.get("BENCH_DASK_READ"):
        sections.append(("drift", read_peak))
    if os.environ.get("BENCH_DASK_DD"):
        sections.append(("drift", drift_dd))
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        t, (pattern, wrote) = timed(lambda: write_csv(os.environ.get("MLOPS_BUILD_ROOT", tmp)))
        folder = os.path.dirname(pattern)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        print("%s the CSV partitions (%.0f MB) in %.1f s: %s"
              % ("wrote" if wrote else "reused", size / MB, t, folder))
        print("cluster: 2 worker processes x 1 thread, a fresh cluster per section; %d rows x %d features "
              "in %d CSV files" % (ROWS, FEATURES, PARTITIONS))
        rc = 0
        seen = {}  # figures one section passes to the next
        for name, fn in sections:
            if only and only != name:
                continue
            cluster, client = cluster_client(profiler=fn is not drift_quiet)
            try:
                rc |= fn(client, pattern, seen)
            finally:
                client.close()
                cluster.close()
    print("bench time %.0f s" % (time.perf_counter() - t_all))
    return rc


def score(client, pattern, seen):
    booster = train()
    blob = bytes(booster.save_raw("json"))
    threads = int(os.environ.get("BENCH_DASK_XGB_NTHREAD", 1))
    booster.set_param({"nthread": threads})
    print("xgboost nthread %d per worker; mlops: 1 thread per task" % threads)
    bfut = client.scatter(booster, broadcast=True)

    def ours(ddf):
        return md.predict(ddf, blob).compute().to_numpy()

    def theirs(ddf):
        return xgbd.inplace_predict(client, bfut, ddf).compute().to_numpy()

    def read_only(ddf):  # the parse both sides share: read every partition, count its rows
        return ddf.map_partitions(len).compute().to_numpy()

    profile_partition(pattern, blob, booster)
    readers = [("mlops.dask.read_csv", lambda: md.read_csv(pattern, dtype=np.float32))]
    if os.environ.get("BENCH_DASK_DD"):
        readers.append(("dd.read_csv", lambda: dd.read_csv(pattern, dtype=np.float32)))
    rc = 0
    for label, reader in readers:
        e2e = {"mlops": [], "xgboost": [], "read": []}
        out = {}
        for _ in range(ROUNDS):
            for name, fn in (("mlops", ours), ("xgboost", theirs), ("read", read_only)):
                t, out[name] = timed(lambda: fn(reader()))
                e2e[name].append(t)
        err = float(np.max(np.abs(out["mlops"] - out["xgboost"])))
        med = {k: statistics.median(v) for k, v in e2e.items()}
        print("score end to end, both sides reading with %s(dtype=float32), median of %d: mlops %.2f s, "
              "xgboost.dask %.2f s, ratio %.2fx (goal >= 2x); predictions max |diff| %.2e"
              % (label, ROUNDS, med["mlops"], med["xgboost"], med["xgboost"] / med["mlops"], err))
        print("  read alone (same partitions, rows counted) %.2f s: ceiling (read + xgboost) / read = %.2fx; past the "
              "read: mlops %.2f s, xgboost.dask %.2f s (%.2fx)"
              % (med["read"], med["xgboost"] / med["read"], med["mlops"] - med["read"], med["xgboost"] - med["read"],
                 (med["xgboost"] - med["read"]) / max(med["mlops"] - med["read"], 1e-9)))
        if err > 1e-5 or out["mlops"].size != ROWS:
            print("FAIL: predictions differ from XGBoost's")
            rc = 1
    return rc


def profile_partition(pattern, blob, booster):
    """Where one partition's time goes, in this process (best of 3, one thread each): the
    parse as read_csv does it (float32, block by block), mlops predict, xgboost inplace_predict. These bound the
    end-to-end ratio with the same reader on both sides: (parse + xgboost) / (parse + mlops)."""
    import mlops
    reader, specs = md._csv_source(md.read_csv(sorted(__import__("glob").glob(pattern))[0], dtype=np.float32))
    x = reader(specs[0]).to_numpy()

    def best(fn):
        return min(timed(fn)[0] for _ in range(3))

    with mlops.Model(blob, n_threads=1) as m:
        t = {"parse": best(lambda: [len(c) for c in reader.chunks(specs[0])]),
             "mlops": best(lambda: m.predict(x)), "xgboost": best(lambda: booster.inplace_predict(x))}
    print("one partition (%d rows) in this process, best of 3: parse %.3f s, mlops predict %.3f s, xgboost "
          "inplace_predict %.3f s; bound (parse + xgboost) / (parse + mlops) = %.2fx"
          % (len(x), t["parse"], t["mlops"], t["xgboost"], (t["parse"] + t["xgboost"]) / (t["parse"] + t["mlops"])))


def _reference():
    rng = np.random.default_rng(11)
    ref = rng.normal(size=(REF_ROWS, FEATURES))
    ref[:, :3] += 0.01  # three features drift slightly
    return pd.DataFrame(ref, columns=NAMES)


def _budget():
    one_part = ROWS // PARTITIONS * FEATURES * 8 / MB
    ref = REF_ROWS * FEATURES * 8 / MB
    return one_part, ref, one_part + ref


def _print_peaks(what, grown, goal=True):
    one_part, ref, budget = _budget()
    for w in sorted(grown):
        print("  %s, worker %s: peak RSS growth +%.1f MB%s" % (
            what, w, grown[w], "; goal <= one partition %.1f MB + reference %.1f MB = %.1f MB: %.2fx (%s)"
            % (one_part, ref, budget, grown[w] / budget, "met" if grown[w] <= budget else "MISSED") if goal else
            " (%.2fx a partition)" % (grown[w] / one_part)))


def drift_quiet(client, pattern, seen):
    """drift() on workers whose statistical profiler is off: the memory the job itself takes."""
    return drift(client, pattern, seen, "worker profiler off")


def drift(client, pattern, seen, config="Dask's default config: worker profiler on"):
    """Exact drift of the CSV rows against a 100k-row reference, on fresh workers."""
    reference = _reference()
    base = reset_peaks(client)
    t, rep = timed(lambda: md.drift(reference, md.read_csv(pattern)))
    grown = peaks(client, base)
    print("drift (mlops.dask.read_csv, float64, %s): %d current rows vs %d reference rows, %d features: %.2f s; "
          "%d drifted" % (config, rep["n_rows"], REF_ROWS, FEATURES, t, rep["n_drifted"]))
    _print_peaks("drift", grown)
    if "col" not in seen:  # SciPy's input, read once
        seen["col"] = dd.read_csv(pattern, usecols=["x00"])["x00"].compute().to_numpy()
    col = seen["col"]
    want = stats.ks_2samp(reference["x00"].to_numpy(), col)
    got = rep["features"][0]
    print("  x00: statistic %r (SciPy on dd.read_csv's column %r), p-value %.17g (SciPy %.17g)"
          % (got["statistic"], want.statistic, got["pvalue"], want.pvalue))
    if rep["n_rows"] != ROWS or got["statistic"] != want.statistic or \
            abs(got["pvalue"] - want.pvalue) > 1e-10 * max(want.pvalue, 1e-300):
        print("FAIL: the drift report differs from SciPy's ks_2samp on the whole column")
        return 1
    return 0


def read_peak(client, pattern, seen):
    """Peak worker memory of building every partition whole (mlops.dask.read_csv, float64, rows
    counted): what predict or any map_partitions over these frames holds per task."""
    base = reset_peaks(client)
    t, _ = timed(lambda: md.read_csv(pattern).map_partitions(len).compute())
    grown = peaks(client, base)
    print("read only (mlops.dask.read_csv, float64, each partition built whole, rows counted): %.2f s" % t)
    _print_peaks("read", grown, goal=False)
    return 0


def drift_dd(client, pattern, seen):
    """The same drift on dd.read_csv partitions (float64), for comparison."""
    base = reset_peaks(client)
    t, rep = timed(lambda: md.drift(_reference(), dd.read_csv(pattern)))
    grown = peaks(client, base)
    print("drift on dd.read_csv partitions (float64): %.2f s, %d drifted" % (t, rep["n_drifted"]))
    _print_peaks("drift on dd.read_csv", grown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
