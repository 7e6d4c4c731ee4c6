#!/usr/bin/python3
"""Generate the random XGBoost models used by the native engine's differential test.

Regenerate (from the repository root, with Debian's python3-xgboost 1.7.4):

    /usr/bin/python3 tests/engine/gen_models.py tests/engine/models

Every model is trained by XGBoost itself on random data and saved as UBJSON
(compact; the test loads it with XGBoosterLoadModel and exports JSON with
XGBoosterSaveModelToBuffer, exactly like lib/model does). The test compares the
native engine against XGBoosterPredictFromDense on random rows, so no expected
values are stored here. The list covers every objective of XGBoost 1.7, gbtree
and dart, num_parallel_tree > 1, depths 1-12, 1-1000 trees, missing values in
training (both default directions), categorical splits (one-hot and
partition-based) and multi-target regression.
"""
import os
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "models")


def data(rng, n, f, nan_frac=0.05):
    x = rng.normal(size=(n, f)).astype(np.float32)
    # a few coarse columns so thresholds repeat and equal-to-threshold inputs are common
    for j in range(0, f, 3):
        x[:, j] = np.round(x[:, j] * 4) / 4
    mask = rng.random(size=x.shape) < nan_frac
    x[mask] = np.nan
    return x


def target(rng, x, kind, n_class=3):
    z = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) ** 2 - np.nan_to_num(x[:, 2 % x.shape[1]])
    z = z + 0.3 * rng.normal(size=len(z))
    if kind == "binary":
        return (z > 0).astype(np.float32)
    if kind == "prob":
        return (1 / (1 + np.exp(-z))).astype(np.float32)
    if kind == "positive":
        return np.exp(0.5 * z).astype(np.float32) + 0.01
    if kind == "count":
        return rng.poisson(np.exp(0.3 * z)).astype(np.float32)
    if kind == "class":
        return np.digitize(z, np.quantile(z, np.linspace(0, 1, n_class + 1)[1:-1])).astype(np.float32)
    if kind == "cox":
        t = np.exp(0.3 * z) + 0.1
        return np.where(rng.random(len(z)) < 0.3, -t, t).astype(np.float32)
    if kind == "rank":
        return np.clip(np.round(z + 1.5), 0, 4).astype(np.float32)
    return z.astype(np.float32)


OBJ = {
    "reg:squarederror": "reg",
    "reg:squaredlogerror": "positive",
    "reg:logistic": "prob",
    "reg:pseudohubererror": "reg",
    "reg:absoluteerror": "reg",
    "reg:gamma": "positive",
    "reg:tweedie": "positive",
    "binary:logistic": "binary",
    "binary:logitraw": "binary",
    "binary:hinge": "binary",
    "count:poisson": "count",
    "survival:cox": "cox",
    "survival:aft": "aft",
    "multi:softmax": "class",
    "multi:softprob": "class",
    "rank:pairwise": "rank",
    "rank:ndcg": "rank",
    "rank:map": "rank",
}


def train(name, rng, objective, depth, rounds, n=600, f=8, booster="gbtree", extra=None, n_class=3,
          categorical=False, n_target=1):
    params = {"objective": objective, "max_depth": depth, "eta": 0.3, "seed": int(rng.integers(1 << 30)),
              "min_child_weight": 0.0 if depth >= 8 else 1.0, "nthread": 1}
    if booster == "dart":
        params.update(booster="dart", rate_drop=0.3, skip_drop=0.2, sample_type="weighted")
    if extra:
        params.update(extra)
    x = data(rng, n, f)
    kind = OBJ[objective]
    if categorical:
        df = pd.DataFrame(x, columns=[f"f{i}" for i in range(f)])
        for j in (1, 4):
            cats = rng.integers(0, 12 if j == 1 else 40, size=n)
            df[f"f{j}"] = pd.Categorical(cats, categories=list(range(12 if j == 1 else 40)))
            x[:, j] = cats
        params["tree_method"] = "hist"
        dm = xgb.DMatrix(df, enable_categorical=True)
    else:
        dm = xgb.DMatrix(x)
    if kind == "aft":
        t = np.exp(0.3 * np.nan_to_num(x[:, 0])) + 0.1
        upper = np.where(rng.random(n) < 0.3, np.inf, t)
        dm.set_float_info("label_lower_bound", t)
        dm.set_float_info("label_upper_bound", upper)
        params.update(aft_loss_distribution=["normal", "logistic", "extreme"][int(rng.integers(3))])
    elif n_target > 1:
        y = np.stack([target(rng, x, "reg") * (k + 1) for k in range(n_target)], axis=1)
        dm.set_label(y)
        params["tree_method"] = "hist"
    else:
        y = target(rng, x, kind, n_class)
        dm.set_label(y)
        if kind == "class":
            params["num_class"] = n_class
        if kind == "rank":
            dm.set_group([n // 20] * 20)
    bst = xgb.train(params, dm, rounds)
    path = os.path.join(OUT, name + ".ubj")
    bst.save_model(path)
    return os.path.getsize(path)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20240601)
    total = 0
    i = 0
    # every objective, gbtree and dart, random depth / rounds of moderate size
    for obj in OBJ:
        for booster in ("gbtree", "dart"):
            depth = int(rng.integers(1, 9))
            rounds = int(rng.integers(1, 40))
            extra = {}
            if obj == "reg:tweedie":
                extra["tweedie_variance_power"] = 1.3
            if obj in ("binary:logistic", "reg:logistic") and booster == "gbtree":
                extra["base_score"] = 0.3
            if obj == "reg:pseudohubererror":
                extra["huber_slope"] = 1.5
            f = int(rng.integers(3, 20))
            total += train(f"m{i:02d}_{obj.replace(':', '_')}_{booster}", rng, obj, depth, rounds,
                           f=f, booster=booster, extra=extra, n_class=int(rng.integers(2, 6)))
            i += 1
    # shape extremes
    total += train(f"m{i:02d}_stumps_1000", rng, "reg:squarederror", 1, 1000, n=300); i += 1
    total += train(f"m{i:02d}_depth2_400_logistic", rng, "binary:logistic", 2, 400, n=300); i += 1
    total += train(f"m{i:02d}_depth12", rng, "reg:squarederror", 12, 4, n=6000, f=12); i += 1
    total += train(f"m{i:02d}_depth12_lossguide", rng, "binary:logistic", 12, 3, n=6000, f=12,
                   extra={"tree_method": "hist", "grow_policy": "lossguide", "max_leaves": 300}); i += 1
    total += train(f"m{i:02d}_depth10_dart_softprob", rng, "multi:softprob", 10, 4, n=3000, f=10,
                   booster="dart", n_class=4); i += 1
    total += train(f"m{i:02d}_one_tree", rng, "reg:squarederror", 3, 1, n=100); i += 1
    # num_parallel_tree (random forest style and boosted forests)
    total += train(f"m{i:02d}_parallel3", rng, "reg:squarederror", 4, 10,
                   extra={"num_parallel_tree": 3, "subsample": 0.7, "colsample_bynode": 0.7}); i += 1
    total += train(f"m{i:02d}_parallel4_softprob", rng, "multi:softprob", 3, 6, n_class=5,
                   extra={"num_parallel_tree": 4, "subsample": 0.8}); i += 1
    total += train(f"m{i:02d}_parallel2_dart_logistic", rng, "binary:logistic", 5, 8, booster="dart",
                   extra={"num_parallel_tree": 2, "subsample": 0.8}); i += 1
    # categorical: partition splits, one-hot splits, with dart and multiclass
    total += train(f"m{i:02d}_cat_partition", rng, "reg:squarederror", 6, 20, categorical=True,
                   extra={"max_cat_to_onehot": 1}); i += 1
    total += train(f"m{i:02d}_cat_onehot", rng, "binary:logistic", 5, 20, categorical=True,
                   extra={"max_cat_to_onehot": 64}); i += 1
    total += train(f"m{i:02d}_cat_softmax_dart", rng, "multi:softmax", 4, 10, categorical=True,
                   booster="dart", n_class=3, extra={"max_cat_to_onehot": 1}); i += 1
    total += train(f"m{i:02d}_cat_deep", rng, "count:poisson", 10, 5, n=3000, categorical=True,
                   extra={"max_cat_to_onehot": 1}); i += 1
    # multi-target regression (one tree per target)
    total += train(f"m{i:02d}_multitarget", rng, "reg:squarederror", 4, 10, n_target=3); i += 1
    # exact splits: features with over 255 and over 510 distinct thresholds (the binned batch
    # kernel gives such a feature several bin columns)
    total += train(f"m{i:02d}_exact_many_thresholds", rng, "binary:logistic", 6, 60, n=5000, f=4,
                   extra={"tree_method": "exact", "min_child_weight": 0.0}); i += 1
    print(f"{i} models, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
