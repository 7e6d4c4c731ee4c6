#!/usr/bin/python3
"""Reference values for the monitor's sliding-window metrics, computed by scikit-learn.

Each scenario is a stream of (prediction, label) records and a set of
checkpoints; at each checkpoint the expected metrics are scikit-learn's on the
last `window` records. test_monitor.c replays the stream into an mlops_monitor
and compares to 1e-9.

Regenerate (Debian 12: python3-sklearn 1.2.1, python3-numpy 1.24):
    /usr/bin/python3 tests/monitor/gen_fixtures.py
which rewrites tests/monitor/fixtures/monitor_cases.json. The streams come from
a fixed numpy seed, so the output is reproducible.
"""
import json
import math
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, log_loss, mean_absolute_error,
                             mean_squared_error, precision_score, r2_score, recall_score, roc_auc_score)

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240605)


def num(x):
    x = float(x)
    return None if math.isnan(x) else x


def binary_metrics(p, y, thr, eps):
    yhat = (p >= thr).astype(int)
    out = {"count": len(y), "mean_prediction": num(np.mean(p)), "mean_label": num(np.mean(y)),
           "accuracy": num(accuracy_score(y, yhat)),
           "precision": num(precision_score(y, yhat, zero_division=0)),
           "recall": num(recall_score(y, yhat, zero_division=0)),
           "f1": num(f1_score(y, yhat, zero_division=0)),
           "log_loss": num(log_loss(y, p, labels=[0, 1]) if eps is None else log_loss(y, p, labels=[0, 1], eps=eps)),
           "brier": num(brier_score_loss(y, p))}
    try:
        out["roc_auc"] = num(roc_auc_score(y, p))
    except ValueError:  # only one class in the window: undefined
        out["roc_auc"] = None
    return out


def multiclass_metrics(P, y, k):
    yhat = np.argmax(P, axis=1)
    return {"count": len(y), "mean_prediction": num(np.mean(yhat)), "mean_label": num(np.mean(y)),
            "accuracy": num(accuracy_score(y, yhat)),
            "log_loss": num(log_loss(y, P, labels=list(range(k)))),
            "f1": num(f1_score(y, yhat, average="macro", zero_division=0))}


def regression_metrics(yhat, y, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # r2_score warns (and returns nan) for one sample
        r2 = r2_score(y, yhat)
    return {"count": len(y), "mean_prediction": num(np.mean(yhat)), "mean_label": num(np.mean(y)),
            "mse": num(mean_squared_error(y, yhat)), "rmse": num(mean_squared_error(y, yhat, squared=False)),
            "mae": num(mean_absolute_error(y, yhat)), "r2": num(r2),
            "tolerance_accuracy": num(np.mean(np.abs(y - yhat) < tol))}


def checkpoints(n, window, extra=()):
    pts = {1, 2, 3, 5, window - 1, window, window + 1, n // 2, n - 1, n} | set(extra)
    return sorted(p for p in pts if 1 <= p <= n)


def binary_case(name, n, window, thr, eps=None, extra=()):
    p = rng.beta(2, 2, n)
    p = np.where(rng.random(n) < 0.35, np.round(p, 1), p)  # many exact ties for ROC AUC
    p[rng.integers(0, n, 8)] = 0.0   # clipped by log_loss
    p[rng.integers(0, n, 8)] = 1.0
    p[rng.integers(0, n, 8)] = thr   # exactly at the threshold (predicted positive)
    logit = (p - 0.5) * 3 + rng.normal(0, 1, n)
    y = (logit > 0).astype(int)
    # A stretch of positives only: windows inside it have one class (ROC AUC undefined).
    s = n // 2
    y[s:s + window + 20] = 1
    # Drift at the end: labels flip more often, so accuracy falls.
    tail = n - window // 2
    flip = rng.random(n - tail) < 0.4
    y[tail:][flip] = 1 - y[tail:][flip]
    pts = checkpoints(n, window, (s + window, s + window + 10) + tuple(extra))
    cps = [{"n": c, "metrics": binary_metrics(p[max(0, c - window):c], y[max(0, c - window):c], thr, eps)}
           for c in pts]
    return {"name": name, "task": "binary", "window": window, "threshold": thr, "tolerance": 0.1, "n_classes": 2,
            "eps": eps, "preds": p.tolist(), "actuals": y.astype(float).tolist(), "checkpoints": cps}


def multiclass_case(name, n, window, k):
    alpha = np.ones(k)
    alpha[-1] = 0.2
    P = rng.dirichlet(alpha, n)
    P = np.where(rng.random((n, 1)) < 0.2, np.round(P, 1), P)  # ties for argmax, exact zeros
    P[rng.integers(0, n, 6)] = np.eye(k)[0]                    # probability 1 and 0: clipped
    y = np.array([rng.choice(k, p=row / row.sum()) if row.sum() > 0 else 0 for row in P])
    y[y == k - 1] = np.where(rng.random((y == k - 1).sum()) < 0.5, 0, k - 1)
    # A stretch where the last class never appears in labels or predictions: macro F1 skips it.
    s = n // 2
    P[s:s + window + 10, k - 1] = 0.0
    y[s:s + window + 10] = np.minimum(y[s:s + window + 10], k - 2)
    pts = checkpoints(n, window, (s + window, s + window + 5))
    cps = [{"n": c, "metrics": multiclass_metrics(P[max(0, c - window):c], y[max(0, c - window):c], k)}
           for c in pts]
    return {"name": name, "task": "multiclass", "window": window, "threshold": 0.5, "tolerance": 0.1,
            "n_classes": k, "eps": None, "preds": P.tolist(), "actuals": y.astype(float).tolist(),
            "checkpoints": cps}


def regression_case(name, n, window, tol, offset):
    y = offset + rng.normal(0, 3, n)
    yhat = y + rng.normal(0, 0.6, n)
    yhat[rng.integers(0, n, 10)] += 40.0  # outliers
    # Constant labels: first predicted exactly (r2 = 1), then not (r2 = 0), by force_finite.
    s = n // 2
    y[s:s + window + 20] = offset + 7.25
    yhat[s:s + window + 10] = offset + 7.25
    pts = checkpoints(n, window, (s + window, s + window + 10, s + window + 20))
    cps = [{"n": c, "metrics": regression_metrics(yhat[max(0, c - window):c], y[max(0, c - window):c], tol)}
           for c in pts]
    return {"name": name, "task": "regression", "window": window, "threshold": 0.5, "tolerance": tol,
            "n_classes": 0, "eps": None, "preds": yhat.tolist(), "actuals": y.tolist(), "checkpoints": cps}


def main():
    cases = [
        binary_case("binary_w100", 400, 100, 0.5),
        binary_case("binary_w37_thr03", 300, 37, 0.3),
        binary_case("binary_eps1e-15", 200, 60, 0.5, eps=1e-15),
        binary_case("binary_w1", 20, 1, 0.5),
        multiclass_case("multiclass_k4_w80", 400, 80, 4),
        multiclass_case("multiclass_k3_w25", 150, 25, 3),
        regression_case("regression_w100", 400, 100, 0.5, 0.0),
        regression_case("regression_offset1e4_w50", 250, 50, 1.0, 1.0e4),
    ]
    for c in cases:  # lifetime totals: every record of the stream (no ROC AUC over the lifetime)
        p, y = np.array(c["preds"]), np.array(c["actuals"])
        if c["task"] == "binary":
            m = binary_metrics(p, y.astype(int), c["threshold"], c["eps"])
            del m["roc_auc"]
        elif c["task"] == "multiclass":
            m = multiclass_metrics(p, y.astype(int), c["n_classes"])
        else:
            m = regression_metrics(p, y, c["tolerance"])
        c["lifetime"] = m
    out = {"generator": "tests/monitor/gen_fixtures.py", "sklearn": sklearn.__version__, "numpy": np.__version__,
           "cases": cases}
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "monitor_cases.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
