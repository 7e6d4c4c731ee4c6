"""Reference predictions for the router tests, computed by XGBoost itself.

The router sends the SAME feature rows to whichever variant a key is assigned to, so the test
needs every variant model's predictions on one set of rows: here dart_binary's predictions on
binary_logistic's rows (tests/fixtures/models/binary_logistic.x.f32; binary_logistic's own
predictions on them are already tests/fixtures/models/binary_logistic.pred.f32).

Regenerate (XGBoost 1.7.4, Debian 12's python3-xgboost):
    /usr/bin/python3 tests/router/gen_fixtures.py
"""
import os

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "fixtures", "models")


def main():
    x = np.fromfile(os.path.join(MODELS, "binary_logistic.x.f32"), dtype="<f4").reshape(48, 30)
    bst = xgb.Booster(model_file=os.path.join(MODELS, "dart_binary.json"))
    pred = np.asarray(bst.inplace_predict(x, missing=np.nan), dtype=np.float32)
    assert pred.shape == (48,)
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    pred.astype("<f4").tofile(os.path.join(HERE, "fixtures", "dart_binary.on_binary_logistic_x.pred.f32"))


if __name__ == "__main__":
    main()
