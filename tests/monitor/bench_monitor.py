#!/usr/bin/python3
"""Run bench_monitor (C) and time scikit-learn on the same window in the same run; print ratios.

Usage: bench_monitor.py PATH/TO/bench_monitor   (meson: meson test -C BUILD --setup bench --suite bench -v)
Never fails on absolute time: it prints figures and ratios, and checks only that both sides agree.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, log_loss, precision_score, recall_score,
                             roc_auc_score)


def sk_all(p, y):
    yhat = (p >= 0.5).astype(int)
    return {"accuracy": accuracy_score(y, yhat), "precision": precision_score(y, yhat, zero_division=0),
            "recall": recall_score(y, yhat, zero_division=0), "f1": f1_score(y, yhat, zero_division=0),
            "log_loss": log_loss(y, p, labels=[0, 1]), "roc_auc": roc_auc_score(y, p),
            "brier": brier_score_loss(y, p), "mean": float(np.mean(p))}


def best_ms(fn, reps):
    """Median thread CPU time in ms (the C side measures CPU time too: the machine is shared)."""
    times = []
    for _ in range(reps):
        t0 = time.thread_time()
        fn()
        times.append((time.thread_time() - t0) * 1e3)
    return float(np.median(times))


def main():
    exe = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "window.bin")
        out = subprocess.run([exe, dump], check=True, capture_output=True, text=True).stdout
        c = dict(line.split("=", 1) for line in out.split())
        c = {k: float(v) for k, v in c.items()}
        raw = np.fromfile(dump, dtype=np.float64)
    w = raw.size // 2
    p, y = raw[:w], raw[w:].astype(int)
    ref = sk_all(p, y)
    for k in ("roc_auc", "accuracy", "log_loss"):
        assert abs(ref[k] - c[k]) <= 1e-9 * max(1, abs(ref[k])), (k, ref[k], c[k])
    sk_metrics = best_ms(lambda: sk_all(p, y), 30)
    p1, y1 = p[-1000:], y[-1000:]
    sk_w1000 = best_ms(lambda: sk_all(p1, y1), 30)
    print("record, W=1000, all incremental metrics, ns per pair (best of 5 x 1e6): CPU / wall")
    for k in ("record_binary", "record_binary_alert", "record_binary_batch", "record_regression",
              "record_multiclass4"):
        print("  %-22s %8.1f / %8.1f" % (k, c[k + "_ns"], c[k + "_wall_ns"]))
    print("  scikit-learn recomputing the binary metrics over W=1000 after each pair (the seed's way): %.0f ns"
          " -> monitor is %.0fx cheaper per pair" % (sk_w1000 * 1e6, sk_w1000 * 1e6 / c["record_binary_ns"]))
    print("metrics() incl. ROC AUC, W=10000 (cold AUC cache, median CPU): %.3f ms; cached: %.4f ms" %
          (c["metrics_w10000_ms"], c["metrics_w10000_cached_ms"]))
    print("scikit-learn, same window, same metrics (median CPU of 30): %.3f ms -> ratio sklearn/monitor = %.1fx" %
          (sk_metrics, sk_metrics / c["metrics_w10000_ms"]))
    print("values agree with scikit-learn to 1e-9 (roc_auc %.12f)" % ref["roc_auc"])


if __name__ == "__main__":
    main()
