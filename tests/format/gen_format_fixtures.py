#!/usr/bin/python3
"""Write small real XGBoost models in all three serialization formats for the format checker tests.

Regenerate (from the repository root) with Debian's python3-xgboost 1.7.4:

    /usr/bin/python3 tests/format/gen_format_fixtures.py

Writes tests/format/fixtures/<name>.{json,ubj,bin} and fixtures/MANIFEST (one "file format" per
line, format being json, ubjson or binary). Models with categorical splits exist only as JSON and
UBJSON: XGBoost 1.7 refuses to save them in the legacy binary format.
"""
import os
import sys
import warnings

import numpy as np
import pandas as pd
import xgboost as xgb

assert xgb.__version__.startswith("1.7"), xgb.__version__
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def data(n=200, d=5, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[rng.random(size=x.shape) < 0.05] = np.nan  # some missing values, so default_left varies
    return x, rng


def train(params, dtrain, rounds=3):
    p = {"max_depth": 3, "eta": 0.5, "nthread": 1, "seed": 1}
    p.update(params)
    return xgb.train(p, dtrain, num_boost_round=rounds)


def models():
    x, rng = data()
    y_bin = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) > 0).astype(np.float32)
    y_reg = (2 * np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 2]) + rng.normal(scale=0.1, size=len(x))).astype(
        np.float32)
    y_multi = (np.digitize(np.nan_to_num(x[:, 0]), [-0.5, 0.5])).astype(np.float32)
    d_bin = xgb.DMatrix(x, label=y_bin, feature_names=[f"feat_{i}" for i in range(x.shape[1])])
    d_reg = xgb.DMatrix(x, label=y_reg)
    d_multi = xgb.DMatrix(x, label=y_multi)
    yield "gbtree_binary", train({"objective": "binary:logistic"}, d_bin), True
    yield "gbtree_regression", train({"objective": "reg:squarederror"}, d_reg), True
    yield "gbtree_multiclass", train({"objective": "multi:softprob", "num_class": 3}, d_multi), True
    yield "gbtree_softmax", train({"objective": "multi:softmax", "num_class": 3, "max_depth": 2}, d_multi, 2), True
    yield "dart_binary", train({"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.3}, d_bin), True
    yield "dart_regression", train({"booster": "dart", "objective": "reg:squarederror", "rate_drop": 0.3}, d_reg), True
    yield "gblinear_regression", train({"booster": "gblinear", "objective": "reg:squarederror"}, d_reg), True
    yield "gblinear_binary", train({"booster": "gblinear", "objective": "binary:logistic"}, d_bin), True
    yield "gblinear_multiclass", train({"booster": "gblinear", "objective": "multi:softprob", "num_class": 3},
                                       d_multi), True
    # Categorical splits (hist + enable_categorical): JSON and UBJSON only.
    cat = rng.integers(0, 6, size=len(x))
    df = pd.DataFrame({"num0": x[:, 0], "num1": x[:, 1], "colour": pd.Categorical(cat)})
    y_cat = ((cat % 2 == 0) ^ (np.nan_to_num(x[:, 1]) > 0.8)).astype(np.float32)
    d_cat = xgb.DMatrix(df, label=y_cat, enable_categorical=True)
    yield "gbtree_categorical", train({"objective": "binary:logistic", "tree_method": "hist",
                                       "max_cat_to_onehot": 1}, d_cat), False
    y_cat3 = (cat % 3).astype(np.float32)
    d_cat3 = xgb.DMatrix(df, label=y_cat3, enable_categorical=True)
    yield "gbtree_categorical_multiclass", train({"objective": "multi:softprob", "num_class": 3,
                                                  "tree_method": "hist", "max_cat_to_onehot": 1}, d_cat3, 2), False


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, booster, binary_ok in models():
        booster.set_attr(source="gen_format_fixtures.py")
        exts = [("json", "json"), ("ubj", "ubjson")] + ([("bin", "binary")] if binary_ok else [])
        for ext, fmt in exts:
            path = os.path.join(OUT, f"{name}.{ext}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                booster.save_model(path)
            # Round-trip through XGBoost itself so every fixture is known to load.
            xgb.Booster(model_file=path)
            manifest.append(f"{name}.{ext} {fmt}")
    with open(os.path.join(OUT, "MANIFEST"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    print(f"wrote {len(manifest)} fixtures to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
