# The context a Python block of the documentation runs in (tests/docs/test_docs.py): the names a
# block uses without defining them, from the demo files in the working directory (model.json,
# schema.json, data.csv: the breast-cancer features, labels.csv).
import numpy as np
import pandas as pd

import mlops

df = pd.read_csv("data.csv")
X = df.to_numpy(dtype=np.float32)
names = list(df.columns)
reference = df.to_numpy(dtype=np.float64)
a, b = reference[:, 0], reference[:, 0] * 0.7
Xv, yv = X, pd.read_csv("labels.csv", header=None)[0].to_numpy(dtype=np.float32)
m1 = mlops.Model("model.json")
m2 = candidate = mlops.Model("model2.json")
