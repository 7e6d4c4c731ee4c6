#!/usr/bin/python3
"""Metrics benchmark: libmlops vs Python's prometheus_client (Debian python3-prometheus-client), same run.

Usage: bench_metrics.py PATH/TO/bench_metrics
Prints ns/op for each operation and the ratio prometheus_client / libmlops (higher = we are faster).
Targets from the issue (<= 20 ns per increment/observation, <= 1 ms per 1,000-series render) are
reported, never asserted: the machine is shared and noisy.
"""
import subprocess
import sys
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


def per_op(fn, n, reps=3):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e9


def two_threads(fn, n, reps=2):
    best = float("inf")
    for _ in range(reps):
        ts = [threading.Thread(target=fn, args=(n // 2,)) for _ in range(2)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        best = min(best, (time.perf_counter() - t0) / (n // 2))
    return best * 1e9


def python_side():
    reg = CollectorRegistry()
    c = Counter("bench_total", "c", registry=reg)
    h = Histogram("bench_seconds", "h", registry=reg,
                  buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))

    def inc(n):
        f = c.inc
        for _ in range(n):
            f(1.0)

    def obs(n):
        f = h.observe
        for i in range(n):
            f((i & 1023) * 0.01)

    hl = Histogram("ml_prediction_duration_seconds", "h", registry=reg, buckets=[1e-6 * 2 ** i for i in range(21)])

    def obs_latency(n):
        f = hl.observe
        for i in range(n):
            f((i & 1023) * 1e-6)

    out = {"counter_inc": per_op(inc, 300000), "histogram_observe": per_op(obs, 300000),
           "histogram_observe_latency": per_op(obs_latency, 300000),
           "counter_inc_2threads": two_threads(inc, 300000), "histogram_observe_2threads": two_threads(obs, 300000)}
    r2 = CollectorRegistry()
    c2 = Counter("render_total", "Rendering bench.", ["key"], registry=r2)
    for i in range(1000):
        c2.labels("series-%d" % i).inc(i * 1.5)
    out["render_1000_counter_series"] = min(per_op(lambda n: [generate_latest(r2) for _ in range(n)], 20, 3)
                                            for _ in range(1))
    r3 = CollectorRegistry()
    h3 = Histogram("render_seconds", "Rendering bench.", ["key"], registry=r3,
                   buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
    for i in range(1000):
        h3.labels("series-%d" % i).observe(i * 0.003)
    out["render_1000_histogram_series"] = per_op(lambda n: [generate_latest(r3) for _ in range(n)], 5, 3)
    return out


def main():
    r = subprocess.run([sys.argv[1]], capture_output=True, text=True, check=True)
    ours = {k: float(v) for k, v in (line.split() for line in r.stdout.splitlines())}
    ref = python_side()
    print("%-30s %14s %18s %10s" % ("operation", "libmlops ns", "prometheus_client", "ratio"))
    for k, v in ours.items():
        print("%-30s %14.1f %18.1f %9.0fx" % (k, v, ref[k], ref[k] / v))
    print("targets: counter_inc %.1f ns, histogram_observe %.1f ns, latency histogram (21 buckets) %.1f ns (<= 20 ns);"
          " render 1,000 series %.3f ms (<= 1 ms)" % (ours["counter_inc"], ours["histogram_observe"],
                                                      ours["histogram_observe_latency"],
                                                      ours["render_1000_counter_series"] / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
