#!/usr/bin/python3
"""SciPy side of the drift benchmark (run by bench_drift.c in the same run).

    bench_scipy.py monitor R W F REPORTS   -> seconds per report: ks_2samp(method='asymp') per feature
    bench_scipy.py oneoff N M REPEAT [FILE] -> seconds per ks_2samp(N values, M values) call (method='auto');
                                           FILE holds the C side's samples (N then M doubles)
"""
import sys
import time

import numpy as np
from scipy import stats


def main():
    rng = np.random.default_rng(0)
    mode = sys.argv[1]
    if mode == "monitor":
        R, W, F, reports = map(int, sys.argv[2:6])
        ref = rng.normal(size=(R, F))
        stream = rng.normal(loc=0.05, size=(W + 100 * reports, F))
        t0 = time.perf_counter()
        for k in range(reports):
            win = stream[100 * k:100 * k + W]
            for f in range(F):
                stats.ks_2samp(ref[:, f], win[:, f], method="asymp")
        print((time.perf_counter() - t0) / reports)
    elif mode == "oneoff":
        n, m, rep = map(int, sys.argv[2:5])
        if len(sys.argv) > 5 and sys.argv[5] != "-":  # the C side's samples: n then m doubles
            data = np.fromfile(sys.argv[5], dtype=np.float64)
            a, b = data[:n].copy(), data[n:n + m].copy()
        else:
            a = rng.normal(size=n)
            b = rng.normal(loc=0.05, size=m)
        stats.ks_2samp(a, b)
        t0 = time.perf_counter()
        for _ in range(rep):
            stats.ks_2samp(a, b)
        print((time.perf_counter() - t0) / rep)


if __name__ == "__main__":
    main()
