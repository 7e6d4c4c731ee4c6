#!/usr/bin/python3
"""Fixture models and predictions from a real current XGBoost (3.5) for the compatibility tests.

CI does not have XGBoost 3.5: the tests read the files this script commits. To rebuild them
(about 20 minutes on a 2-core machine, once):

    git clone --recursive https://github.com/dmlc/xgboost /work/xgb35/src   # master of Aug 2026, 3.5.0-dev
    cmake -S /work/xgb35/src -B /work/xgb35/build -DUSE_OPENMP=ON -DCMAKE_BUILD_TYPE=Release
    cmake --build /work/xgb35/build -j2            # writes /work/xgb35/src/lib/libxgboost.so
    PYTHONPATH=/work/xgb35/src/python-package /usr/bin/python3 tests/compat/gen_xgb35_fixtures.py

(Debian 12's python3-numpy 1.24, python3-pandas 1.5 and python3-sklearn are enough; the script
refuses to run under any other XGBoost than 3.x.) It trains small models on the bundled datasets
(examples/data), saves each as JSON and UBJSON, and writes, per fixture, the input rows (float32,
with NaNs; categorical columns as codes), the category strings of those rows, and what XGBoost
3.5 itself predicts for them: the transformed output and the margin, as raw little-endian float32
files described by manifest.json.
"""
import json
import os
import warnings

import numpy as np
import pandas as pd
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "examples", "data")
OUT = os.path.join(HERE, "fixtures")
PLANS = ["free", "pro", "team", "enterprise"]


def load(name, n=None):
    df = pd.read_csv(os.path.join(DATA, name))
    if n:
        df = df.iloc[:n]
    return df.iloc[:, :-1].astype(np.float32), df.iloc[:, -1].to_numpy()


def with_nans(x, rng, share=0.05):
    x = x.copy()
    mask = rng.random(x.shape) < share
    x[mask] = np.nan
    return x


def save_f32(path, a):
    np.ascontiguousarray(a, dtype="<f4").tofile(path)


def main():
    assert xgb.__version__.startswith("3."), "run with XGBoost 3.x (see the header): " + xgb.__version__
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261202)
    bc_x, bc_y = load("breast_cancer.csv")
    iris_x, iris_y = load("iris.csv")
    wine_x, wine_y = load("wine.csv")
    dia_x, dia_y = load("diabetes.csv")
    qid = np.repeat(np.arange(len(dia_y) // 20 + 1), 20)[: len(dia_y)]

    # A DataFrame with a string category column, as a data scientist trains it.
    cat_x = dia_x.iloc[:, :4].copy()
    cat_x["plan"] = pd.Categorical(np.array(PLANS)[(dia_y.astype(int) // 90) % 4], categories=PLANS)
    cat_y = dia_y + 40.0 * cat_x["plan"].cat.codes.to_numpy()

    specs = [
        # name, X, y, params, rounds, extra
        ("binary_logistic", bc_x, bc_y, {"objective": "binary:logistic", "max_depth": 3}, 8, {}),
        ("multi_softprob", iris_x, iris_y, {"objective": "multi:softprob", "num_class": 3, "max_depth": 2}, 5, {}),
        ("multi_softmax", wine_x, wine_y, {"objective": "multi:softmax", "num_class": 3, "max_depth": 2}, 5, {}),
        ("reg_squarederror", dia_x, dia_y, {"objective": "reg:squarederror", "max_depth": 3}, 8, {}),
        ("count_poisson", dia_x, np.round(dia_y / 10), {"objective": "count:poisson", "max_depth": 3}, 6, {}),
        ("rank_ndcg", dia_x, np.minimum(np.round(dia_y / 80), 4), {"objective": "rank:ndcg", "max_depth": 3}, 6,
         {"qid": qid}),
        ("quantile", dia_x, dia_y, {"objective": "reg:quantileerror", "quantile_alpha": np.array([0.2, 0.8]),
                                    "max_depth": 2}, 5, {}),
        ("categorical", cat_x, cat_y, {"objective": "reg:squarederror", "max_depth": 3, "tree_method": "hist",
                                       "max_cat_to_onehot": 1}, 6, {"categorical": True}),
        ("dart", bc_x, bc_y, {"objective": "binary:logistic", "booster": "dart", "max_depth": 2, "rate_drop": 0.3,
                              "skip_drop": 0.2, "seed": 7}, 8, {}),
        ("survival_aft", dia_x, dia_y, {"objective": "survival:aft", "aft_loss_distribution": "normal",
                                        "max_depth": 2}, 5, {"aft": True}),
        ("random_forest", bc_x, bc_y, {"objective": "binary:logistic", "num_parallel_tree": 4, "subsample": 0.8,
                                       "colsample_bynode": 0.7, "learning_rate": 1.0, "max_depth": 3, "seed": 3},
         1, {}),
    ]
    manifest = {"xgboost_version": xgb.__version__, "fixtures": []}
    for name, x, y, params, rounds, extra in specs:
        params = dict(params, nthread=1, seed=params.get("seed", 1))
        cat = extra.get("categorical", False)
        dtrain = xgb.DMatrix(x, label=y, qid=extra.get("qid"), enable_categorical=cat)
        if extra.get("aft"):  # every third label right-censored
            upper = np.where(np.arange(len(y)) % 3 == 0, np.inf, y)
            dtrain.set_float_info("label_lower_bound", y)
            dtrain.set_float_info("label_upper_bound", upper)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bst = xgb.train(params, dtrain, num_boost_round=rounds)
        rows = x.iloc[:40]
        entry = fixture(name, bst, rows, rng, cat)
        manifest["fixtures"].append(entry)

    manifest["fixtures"].append(early_stopping(bc_x, bc_y, rng))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def fixture(name, bst, rows, rng, cat, iteration_range=(0, 0), extra=None):
    """Save the model twice, the rows (codes for categories) and 3.5's own outputs for them."""
    paths = {}
    for fmt, ext in (("json", "json"), ("ubjson", "ubj")):
        paths[fmt] = name + "." + ext
        bst.save_model(os.path.join(OUT, paths[fmt]))
    if cat:
        strings = rows["plan"].astype(str).tolist()
        numeric = rows.copy()
        numeric["plan"] = rows["plan"].cat.codes.astype(np.float32)
        x = with_nans(numeric.to_numpy(np.float32), rng)
        x[:, -1] = numeric["plan"].to_numpy(np.float32)  # categories always present
        feed = rows.copy()
        for j, c in enumerate(feed.columns[:-1]):
            feed[c] = x[:, j]
    else:
        strings = None
        x = with_nans(rows.to_numpy(np.float32), rng)
        feed = x
    pred = bst.inplace_predict(feed, iteration_range=iteration_range)
    margin = bst.inplace_predict(feed, iteration_range=iteration_range, predict_type="margin")
    save_f32(os.path.join(OUT, name + ".x.f32"), x)
    save_f32(os.path.join(OUT, name + ".pred.f32"), pred)
    save_f32(os.path.join(OUT, name + ".margin.f32"), margin)
    cfg = json.loads(bst.save_config())
    entry = {
        "name": name,
        "models": paths,
        "n_rows": int(x.shape[0]),
        "n_features": int(x.shape[1]),
        "width": int(pred.size // x.shape[0]),
        "margin_width": int(margin.size // x.shape[0]),
        "objective": cfg["learner"]["objective"]["name"],
        "base_score": cfg["learner"]["learner_model_param"]["base_score"],
        "n_rounds": int(bst.num_boosted_rounds()),
        "iteration_range": list(iteration_range),
        "x": name + ".x.f32",
        "pred": name + ".pred.f32",
        "margin": name + ".margin.f32",
    }
    if strings is not None:
        entry["categories"] = {"plan": list(rows["plan"].cat.categories)}
        entry["plan"] = strings
    entry.update(extra or {})
    return entry


def early_stopping(x, y, rng):
    """XGBClassifier with early stopping: its predict_proba stops at best_iteration."""
    n = len(y)
    train, valid = np.arange(n) % 4 != 0, np.arange(n) % 4 == 0
    clf = xgb.XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.5, early_stopping_rounds=3, n_jobs=1,
                            random_state=1)
    clf.fit(x[train], y[train], eval_set=[(x[valid], y[valid])], verbose=False)
    bst = clf.get_booster()
    rows = x.iloc[:40]
    entry = fixture("early_stopping", bst, rows, rng, False, iteration_range=(0, clf.best_iteration + 1))
    xs = np.fromfile(os.path.join(OUT, "early_stopping.x.f32"), dtype="<f4").reshape(entry["n_rows"], -1)
    proba = clf.predict_proba(xs)[:, 1]
    full = bst.inplace_predict(xs)
    save_f32(os.path.join(OUT, "early_stopping.proba.f32"), proba)
    save_f32(os.path.join(OUT, "early_stopping.all_rounds.f32"), full)
    entry.update({"best_iteration": int(clf.best_iteration), "proba": "early_stopping.proba.f32",
                  "all_rounds": "early_stopping.all_rounds.f32"})
    return entry


if __name__ == "__main__":
    main()
