"""Benchmark (suite 'bench'): Schema.validate(DataFrame), vectorised per column, against the
previous row-wise path (one JSON object per row, Schema._validate_rowwise), same data, same run.

21,300 rows x 30 float columns (examples/data/breast_cancer.csv repeated, with 0.2% of the values
pushed out of range or set to NaN), schema inferred from the clean data. Prints both times (median
of rounds) and the ratio old / new (goal >= 100x). Never fails on time: it fails only if the two
paths disagree on the verdicts or the violations.

    meson test -C <builddir> --setup bench --suite bench py-bench-schema -v
"""
import os
import statistics
import time

import numpy as np
import pandas as pd

import mlops

SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
N_ROWS = 21300


def timed(fn, rounds):
    out, times = None, []
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main():
    df = pd.read_csv(os.path.join(SRC, "examples", "data", "breast_cancer.csv"))
    df.pop("malignant0_benign1")
    df = pd.concat([df] * (N_ROWS // len(df) + 1), ignore_index=True).iloc[:N_ROWS]
    schema = mlops.Schema.infer(df, nullable=False)
    rng = np.random.default_rng(1)
    bad = df.to_numpy(dtype=np.float64)
    cells = rng.random(bad.shape)
    bad[cells < 0.001] = 1e9
    bad[(cells >= 0.001) & (cells < 0.002)] = np.nan
    data = pd.DataFrame(bad, columns=df.columns, index=np.arange(N_ROWS) * 3)
    assert data.shape == (N_ROWS, 30)
    old, t_old = timed(lambda: schema._validate_rowwise(data, max_violations=1 << 30), 3)
    new, t_new = timed(lambda: schema.validate(data, max_violations=1 << 30), 15)
    np.testing.assert_array_equal(old.row_ok, new.row_ok)
    key = lambda v: (v.row, v.feature, v.kind)  # noqa: E731
    assert sorted(map(key, old)) == sorted(map(key, new)), "the two paths disagree"
    assert new.n_invalid > 0 and [v.index for v in new] == [v.row * 3 for v in new]
    print("Schema.validate(DataFrame %d x %d), %d invalid rows, %d violations" % (
        N_ROWS, data.shape[1], new.n_invalid, len(new)))
    print("  row-wise (previous path): %9.2f ms" % (t_old * 1e3))
    print("  per column (validate):    %9.2f ms" % (t_new * 1e3))
    print("  ratio row-wise / per column: %.0fx (goal >= 100x)" % (t_old / t_new))


if __name__ == "__main__":
    main()
