#!/usr/bin/python3
"""Reference values for the deploy tests: validation sets, XGBoost's predictions and scikit-learn's metrics.

Regenerate from the repository root with Debian's interpreter (python3-xgboost 1.7.4, python3-sklearn):
    /usr/bin/python3 tests/deploy/gen_fixtures.py
It takes fixed rows of the bundled breast-cancer and diabetes datasets, predicts them with the
fixture models (tests/fixtures/models/*.json) through XGBoost itself, and writes:
  fixtures/<set>.x.f32, fixtures/<set>.y.f32  -- row-major little-endian float32 inputs and labels
  fixtures/expected.json                      -- per model: accuracy, log loss (eps 1e-15) or RMSE from
                                                 scikit-learn; per pair: max |p_a - p_b| from numpy.
"""
import json
import os

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(HERE, "fixtures")

SETS = {
    "bc": ("breast_cancer.csv", 150, ["binary_logistic", "dart_binary", "parallel_forest"], "binary"),
    "dia": ("diabetes.csv", 120, ["reg_squarederror", "gblinear_reg"], "regression"),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261201)
    expected = {}
    for name, (csv, n, models, task) in SETS.items():
        df = pd.read_csv(os.path.join(ROOT, "examples", "data", csv))
        idx = np.sort(rng.choice(len(df), n, replace=False))
        x = df.iloc[idx, :-1].to_numpy(dtype=np.float32)
        y = df.iloc[idx, -1].to_numpy(dtype=np.float32)
        x.astype("<f4").tofile(os.path.join(OUT, name + ".x.f32"))
        y.astype("<f4").tofile(os.path.join(OUT, name + ".y.f32"))
        preds = {}
        entry = {"n_rows": int(n), "n_cols": int(x.shape[1]), "task": task, "models": {}, "max_abs_diff": {}}
        for m in models:
            bst = xgb.Booster(model_file=os.path.join(MODELS, m + ".json"))
            p = bst.predict(xgb.DMatrix(x, missing=np.nan, feature_names=bst.feature_names)).astype(np.float32)
            preds[m] = p
            pd64 = p.astype(np.float64)
            if task == "binary":
                entry["models"][m] = {"accuracy": float(accuracy_score(y, (pd64 >= 0.5).astype(int))),
                                      "logloss": float(log_loss(y, pd64, eps=1e-15, labels=[0, 1]))}
            else:
                entry["models"][m] = {"rmse": float(mean_squared_error(y, pd64, squared=False))}
        for a in models:
            for b in models:
                if a < b:
                    diff = np.max(np.abs(preds[a].astype(np.float64) - preds[b].astype(np.float64)))
                    entry["max_abs_diff"][a + "|" + b] = float(diff)
        expected[name] = entry
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
