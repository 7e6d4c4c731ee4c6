#!/usr/bin/python3
"""Generate the schema tests' fixture model with XGBoost itself.

Regenerate (from the repository root):
    /usr/bin/python3 tests/schema/gen_fixtures.py
Writes tests/schema/fixtures/typed_model.json: a tiny binary:logistic model whose
features carry names and the XGBoost types int, float, c (categorical) and i
(indicator), so mlops_schema_from_model() can be checked against what XGBoost
itself stored.
"""
import os

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    n = 200
    x = np.column_stack([
        rng.integers(18, 90, n),          # age: int
        rng.normal(50.0, 10.0, n),        # income: float
        rng.integers(0, 3, n),            # plan: categorical codes 0..2
        rng.integers(0, 2, n),            # member: indicator
    ]).astype(np.float32)
    y = ((x[:, 0] > 40) ^ (x[:, 3] > 0)).astype(np.float32)
    d = xgb.DMatrix(x, label=y, feature_names=["age", "income", "plan", "member"],
                    feature_types=["int", "float", "c", "i"], enable_categorical=True)
    b = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 2,
                   "max_cat_to_onehot": 1}, d, num_boost_round=3)
    b.save_model(os.path.join(OUT, "typed_model.json"))
    # The types XGBoost stored, for the test to compare against.
    with open(os.path.join(OUT, "typed_model.types"), "w") as f:
        for name, t in zip(b.feature_names, b.feature_types):
            f.write("%s %s\n" % (name, t))


if __name__ == "__main__":
    main()
