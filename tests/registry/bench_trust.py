"""Benchmark (suite bench): loading a signed + encrypted 6 MB model from the registry against loading
the same model stored in plain, in the same run. Acceptance (issue 19): ratio <= 1.5.

The model is trained here with XGBoost (deterministic seed) until its JSON is about 6 MB. Loads are
interleaved (plain, trusted, plain, ...) so that machine noise hits both sides alike; medians are compared.
    meson test -C build --suite bench bench-registry-trust -v
"""
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb

import mlops
from mlops import registry as mregistry

TARGET = 6 << 20
REPS = 15


def train(path):
    """A regression on a noisy target: every tree grows to full depth, so size per round stays steady."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4000, 30)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=4000)).astype(np.float32)
    d = xgb.DMatrix(x, label=y)
    params = {"objective": "reg:squarederror", "max_depth": 8, "eta": 0.05, "nthread": 1, "seed": 7}
    rounds = 40
    for _ in range(4):  # the size per round is measured, not guessed
        booster = xgb.train(params, d, num_boost_round=rounds)
        booster.save_model(path)
        size = os.path.getsize(path)
        if size >= 0.95 * TARGET:
            return size
        rounds = int(rounds * TARGET / size) + 1
    return size


def timed_load(reg):
    t = time.perf_counter()
    m = reg.load("m", engine="native")
    dt = time.perf_counter() - t
    m.close()
    return dt


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.json")
        size = train(model)
        mregistry.keygen(os.path.join(tmp, "ci"))
        mregistry.keygen(os.path.join(tmp, "data.key"), symmetric=True)
        with mlops.Registry(os.path.join(tmp, "plain"), create=True) as w:
            w.put("m", model)
        with mlops.Registry(os.path.join(tmp, "trusted"), create=True, sign_key=os.path.join(tmp, "ci.key"),
                            encryption_key=os.path.join(tmp, "data.key")) as w:
            w.put("m", model)
        plain = mlops.Registry(os.path.join(tmp, "plain"))
        trusted = mlops.Registry(os.path.join(tmp, "trusted"), trust=[os.path.join(tmp, "ci.pub")],
                                 encryption_key=os.path.join(tmp, "data.key"))
        timed_load(plain), timed_load(trusted)  # warm the page cache and the allocator
        tp, tt = [], []
        for _ in range(REPS):
            tp.append(timed_load(plain))
            tt.append(timed_load(trusted))
        p, t = statistics.median(tp), statistics.median(tt)
        ratio = t / p
        print("bench-registry-trust: %.1f MB model, median of %d loads: plain %.1f ms, signed+encrypted %.1f ms, "
              "ratio %.3f (limit 1.5)" % (size / 1e6, REPS, p * 1e3, t * 1e3, ratio))
        plain.close()
        trusted.close()
        return 0 if ratio <= 1.5 and size >= 5_500_000 else 1


if __name__ == "__main__":
    sys.exit(main())
