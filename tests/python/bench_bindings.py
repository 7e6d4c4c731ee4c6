"""Benchmark (suite 'bench'): single-row mlops.Model.predict from Python against xgboost's
Booster.inplace_predict from Python, same model, same run, same process.

The model: 100 trees of depth 6 (binary:logistic) trained here with Debian's python3-xgboost on
examples/data/breast_cancer.csv. Prints per-call microseconds (median of interleaved rounds), the
ratio xgboost / mlops (goal >= 10x once the native engine serves the model), the engine that
served the model, the floor of a bare ctypes call, and the cost of the ways to hand a numpy buffer
to ctypes (why Model.predict uses ctypes.c_float.from_buffer). Never fails on time: it fails only
if the predictions differ from XGBoost's.

    meson test -C <builddir> --setup bench --suite bench py-bench -v
"""
import ctypes
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import xgboost as xgb

import mlops
from mlops import model as mmodel

SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ROUNDS = 15
CALLS = 2000


def per_call_us(fn, calls=CALLS):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def interleaved(cases, rounds=ROUNDS, calls=CALLS):
    """{name: median per-call us}, each round running every case once (fair under shared-CPU noise)."""
    for fn in cases.values():
        per_call_us(fn, 200)  # warm up
    samples = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(per_call_us(fn, calls))
    return {name: statistics.median(v) for name, v in samples.items()}


def main():
    df = pd.read_csv(os.path.join(SRC, "examples", "data", "breast_cancer.csv"))
    y = df.pop("malignant0_benign1").to_numpy()
    x = df.to_numpy(dtype=np.float32)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 1},
                        xgb.DMatrix(x, y, feature_names=list(df.columns)), num_boost_round=100)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.json")
        booster.save_model(path)
        ref = xgb.Booster(model_file=path)
        ref1 = xgb.Booster(model_file=path)
        ref1.set_param({"nthread": 1})
        model = mlops.Model(path)

    print("model: 100 trees depth 6, binary:logistic, %d features, trained on breast_cancer.csv (%d rows)"
          % (x.shape[1], len(x)))
    print("engine serving the model: %s (native forest %d bytes); xgboost %s; python %s"
          % (model.engine, model.native_bytes, xgb.__version__, sys.version.split()[0]))

    # correctness first: the same numbers as XGBoost, row by row and in one batch
    want = ref.inplace_predict(x)
    got = model.predict(x)
    rows_equal = all(np.array_equal(model.predict(x[i]), ref.inplace_predict(x[i:i + 1])) for i in range(len(x)))
    max_diff = float(np.max(np.abs(got - want)))
    print("predictions vs inplace_predict: batch max |diff| = %g, single rows identical: %s" % (max_diff, rows_equal))
    if max_diff > 1e-6 or not rows_equal:
        print("FAIL: predictions differ from XGBoost")
        return 1

    row = np.ascontiguousarray(x[7:8])  # (1, 30) C-contiguous float32
    out = np.empty(1, np.float32)
    h = model.handle
    xp, op = row.ctypes.data_as(mmodel._PF), out.ctypes.data_as(mmodel._PF)
    raw = mmodel._predict_fast

    row_df = df.iloc[7:8].astype(np.float32)  # the same row as a one-row DataFrame (columns by name)
    row_df_shuffled = row_df[list(df.columns[::-1])]
    assert np.array_equal(model.predict(row_df), model.predict(row)) and \
        np.array_equal(model.predict(row_df_shuffled), model.predict(row))
    cases = {
        "mlops Model.predict(row)": lambda: model.predict(row),
        "mlops Model.predict(one-row DataFrame)": lambda: model.predict(row_df),
        "mlops Model.predict(DataFrame, reordered)": lambda: model.predict(row_df_shuffled),
        "mlops Model.predict(row, out=buf)": lambda: model.predict(row, out=out),
        "bare ctypes call, pointers prepared": lambda: raw(h, xp, 1, 30, 0, op, 1),
        "xgboost inplace_predict(row)": lambda: ref.inplace_predict(row),
        "xgboost inplace_predict(row), nthread=1": lambda: ref1.inplace_predict(row),
    }
    t = interleaved(cases)
    print()
    print("single-row call, median of %d interleaved rounds x %d calls:" % (ROUNDS, CALLS))
    for name, us in t.items():
        print("  %-42s %10.2f us/call" % (name, us))
    anchor = min(t["xgboost inplace_predict(row)"], t["xgboost inplace_predict(row), nthread=1"])
    ratio = anchor / t["mlops Model.predict(row)"]
    print("ratio xgboost (faster setting) / mlops Model.predict: %.1fx (goal >= 10x with the native engine: %s)"
          % (ratio, "met" if ratio >= 10 else "NOT met"))
    for name in ("mlops Model.predict(one-row DataFrame)", "mlops Model.predict(DataFrame, reordered)"):
        r = t[name] / t["mlops Model.predict(row)"]
        print("ratio %s / ndarray row: %.1fx (goal <= 3x: %s)" % (name[20:-1], r, "met" if r <= 3 else "NOT met"))
    print("binding overhead over the bare C call: %.2f us/call"
          % (t["mlops Model.predict(row)"] - t["bare ctypes call, pointers prepared"]))

    # how to hand a numpy buffer to ctypes: the choice made in Model.predict
    print()
    print("cost of getting a pointer from a numpy array (per call):")
    ptr = interleaved({
        "x.ctypes.data": lambda: row.ctypes.data,
        "x.__array_interface__['data'][0]": lambda: row.__array_interface__["data"][0],
        "ctypes.c_float.from_buffer(x) (used)": lambda: ctypes.c_float.from_buffer(row),
        "np.empty(1, float32) (output buffer)": lambda: np.empty(1, np.float32),
    }, rounds=7, calls=20000)
    for name, us in ptr.items():
        print("  %-42s %10.3f us" % (name, us))

    # batches, for scale
    batch = np.ascontiguousarray(np.tile(x, (2, 1))[:1000])
    tb = interleaved({"mlops": lambda: model.predict(batch), "xgboost": lambda: ref.inplace_predict(batch)},
                     rounds=5, calls=20)
    print()
    print("1000-row batch: mlops %.1f us, xgboost %.1f us, ratio %.1fx"
          % (tb["mlops"], tb["xgboost"], tb["xgboost"] / tb["mlops"]))
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
