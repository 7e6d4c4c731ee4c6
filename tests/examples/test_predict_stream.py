"""mlops-predict reads its input in chunks (4 MB reads, issue 26): on a file of several
chunks with malformed rows, quoted cells and CRLF spread through it, the output rows,
the predictions (against XGBoost's), the --label accuracy (against sklearn's) and the
row/line numbers of the messages are those of the whole file, with 1 or 2 threads."""
import os
import re
import subprocess

import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import accuracy_score

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
NAMES = ["f%d" % i for i in range(12)]
ROWS = 120_000  # ~ 13 MB: four reads of 4 MB


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(26)
    x = rng.normal(size=(ROWS, len(NAMES))).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 4, "nthread": 1},
                        xgb.DMatrix(x[:5000], y[:5000], feature_names=NAMES), num_boost_round=20)
    model = tmp / "m.json"
    booster.save_model(str(model))
    bad = {int(r): kind for r, kind in zip(rng.choice(ROWS, 12, replace=False), ["word", "ragged"] * 6)}
    lines, line_of = ["label," + ",".join(NAMES) + "\r\n"], {}
    line_no = 2
    for r in range(ROWS):
        cells = ["%d" % y[r]] + [np.format_float_positional(v, unique=True) for v in x[r]]
        if r % 997 == 0:
            cells[3] = '"%s"' % cells[3]  # quoted number
        if r in bad and bad[r] == "word":
            cells[5] = '"not\na number"'  # spans two lines
        if r in bad and bad[r] == "ragged":
            cells = cells[:-1]
        line_of[r + 1] = line_no
        lines.append(",".join(cells) + ("\r\n" if r % 2 else "\n"))
        line_no += 2 if r in bad and bad[r] == "word" else 1
    path = tmp / "in.csv"
    path.write_text("".join(lines))
    assert os.path.getsize(path) > 3 * 4 << 20
    keep = np.array([r for r in range(ROWS) if r not in bad])
    return dict(tmp=tmp, model=model, path=path, x=x, y=y, bad=bad, line_of=line_of, keep=keep,
                ref=booster.inplace_predict(x[keep]))


@pytest.mark.parametrize("threads", ["1", "2"])
def test_chunks_give_the_whole_file_results(case, threads):
    out = case["tmp"] / ("out%s.csv" % threads)
    r = subprocess.run([os.path.join(BIN, "mlops-predict"), "--model", case["model"], "--input", case["path"],
                        "--output", out, "--label", "label", "--threads", threads, "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 3, r.stderr  # rows were left out
    got = np.loadtxt(out, delimiter=",", skiprows=1)
    keep = case["keep"]
    np.testing.assert_array_equal(got[:, 0].astype(int), keep + 1)
    assert np.max(np.abs(got[:, 1] - case["ref"])) <= 1e-6
    skipped = sorted((int(m.group(1)), int(m.group(2)))
                     for m in re.finditer(r"row (\d+) \(line (\d+)\).*?row skipped", r.stderr, re.S))
    assert skipped == sorted((b + 1, case["line_of"][b + 1]) for b in case["bad"])
    acc = accuracy_score(case["y"][keep], got[:, 1] > 0.5)
    m = re.search(r"accuracy ([0-9.]+) on (\d+) labelled rows", r.stderr)
    assert m and int(m.group(2)) == len(keep) and abs(float(m.group(1)) - acc) < 1e-4, r.stderr
