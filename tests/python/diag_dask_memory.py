"""Diagnostic (not a test, not run by meson): where a drift job's worker memory goes. Runs
mlops.dask.drift over the bench's CSV files (tests/python/bench_dask.py writes them into
build/bench-dask-5000000-50) on a 2-worker LocalCluster and prints each worker's peak-RSS growth
(as the bench measures it) and, with V=1, each task's VmRSS/VmHWM before and after, relative
to the idle worker (MB).

    MODE=full|empty|dask|refonly|orig NF=<files> V=1 TM=1 \
    MLOPS_LIBRARY=$PWD/build/libmlops.so PYTHONPATH=bindings/python:tests/python \
    /usr/bin/python3 tests/python/diag_dask_memory.py

MODE: full (the job, tasks wrapped to log memory), empty (the same graph, tasks count nothing),
dask (the same graph shape of no-op tasks, no reference: Dask's own bookkeeping), refonly (only
the reference sent to the workers), orig (the job, unwrapped). TM=1 compares tracemalloc
snapshots between the 3rd and the last task of each worker (tracemalloc itself inflates RSS).
DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False turns the workers' statistical profiler off.
"""
import os, sys, time, glob, warnings
sys.path.insert(0, "tests/python")
import bench_dask as b
import mlops.dask as md
from distributed import Client, LocalCluster

NF = int(os.environ.get("NF", 10))
MODE = os.environ.get("MODE", "full")
import mlops.dask as _m0
_m0._DIAG_LOG = []

def _wrap():
    import mlops.dask as m
    orig = m._drift_csv
    def w(reader, spec, values, cats, names, prev=None):
        r0, h0 = b._status()
        if MODE == "empty":
            out = prev if prev is not None else m._to_plain(m._drift_counts(__import__("numpy").empty((0, len(values))), values, cats, None))
        else:
            out = orig(reader, spec, values, cats, names, prev)
        r1, h1 = b._status()
        m._DIAG_LOG.append((os.path.basename(spec[0]), r0, h0, r1, h1))
        if os.environ.get("TM"):
            import tracemalloc, gc
            gc.collect()
            if len(m._DIAG_LOG) == 3:
                m._DIAG_SNAP = tracemalloc.take_snapshot()
            elif len(m._DIAG_LOG) > 3:
                snap = tracemalloc.take_snapshot()
                m._DIAG_DIFF = [str(x) for x in snap.compare_to(m._DIAG_SNAP, "lineno")[:12]]
        return out
    m._drift_csv = w
    if os.environ.get("TM"):
        import tracemalloc
        tracemalloc.start()

def _noop(spec, prev):
    return {"rows": 0}

def _noop_merge(parts):
    return parts[0]

def _log():
    import mlops.dask as m
    return list(m._DIAG_LOG)

if __name__ == "__main__":
    files = sorted(glob.glob("build/bench-dask-5000000-50/part-*.csv"))[:NF]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    if MODE != "orig":
        client.run(_wrap)
    base = b.reset_peaks(client)
    t = time.perf_counter()
    if MODE == "dask":  # the same graph shape, no reference, tasks that do nothing
        import dask
        specs = md._csv_source(md.read_csv(files))[1]
        n = 2
        tails = []
        for c in range(n):
            acc = None
            for spec in specs[c::n]:
                acc = dask.delayed(_noop, pure=True)(spec, acc)
            tails.append(acc)
        md._tree(tails, _noop_merge, 4).compute()
    elif MODE == "refonly":
        import dask
        ref = b._reference()
        r = md._Reference(ref.to_numpy(), [])
        v = md._delayed(r.values, "refonly")
        dask.compute([dask.delayed(len)(v) for _ in range(2)])
    else:
        rep = md.drift(b._reference(), md.read_csv(files))
    t = time.perf_counter() - t
    grown = b.peaks(client, base)
    print(MODE, NF, "files %.1f s" % t, {w[-5:]: round(g, 1) for w, g in grown.items()}, "base", {w[-5:]: round(v, 1) for w, v in base.items()})
    if MODE != "orig" and os.environ.get("V"):
        for w, log in client.run(_log).items():
            print(w[-5:], " ".join("%s:%.0f/%.0f->%.0f/%.0f" % (f[5:7], r0 - base[w], h0 - base[w], r1 - base[w], h1 - base[w]) for f, r0, h0, r1, h1 in log))
    if os.environ.get("TM"):
        for w, d in client.run(lambda: getattr(__import__("mlops.dask").dask, "_DIAG_DIFF", [])).items():
            print(w[-5:]); print("\n".join(d))
    client.close(); cluster.close()
