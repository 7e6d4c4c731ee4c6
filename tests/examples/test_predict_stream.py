"""mlops-predict reads its input in chunks (4 MB reads, issue 26): on a file of several
chunks with malformed rows, quoted cells and CRLF spread through it, the output rows,
the predictions (against XGBoost's), the --label accuracy (against sklearn's) and the
row/line numbers of the messages are those of the whole file, with 1 or 2 threads.
The same on a file without quotes (the numeric fast path: rows parsed without being
split, cut between threads), with missing cells, spaces, words and ragged rows in it,
with and without --label (which takes the split path)."""
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


def cell_text(v, r, j, quotes):
    """A cell as a person or a program might write it; "" and NA are missing values."""
    text = np.format_float_positional(v, unique=True)
    if quotes and r % 997 == 0 and j == 2:
        return '"%s"' % text  # quoted number
    if not quotes and r % 991 == 0 and j == 4:
        return ["", "NA", " %s " % text, "%se0" % text][(r // 991) % 4]
    return text


@pytest.fixture(scope="module", params=["quotes", "no-quotes"])
def case(tmp_path_factory, request):
    quotes = request.param == "quotes"
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
        cells = ["%d" % y[r]] + [cell_text(v, r, j, quotes) for j, v in enumerate(x[r])]
        if cells[5] in ("", "NA"):
            x[r, 4] = np.nan
        if r in bad and bad[r] == "word":
            cells[5] = '"not\na number"' if quotes else "1.5x"  # (quoted: spans two lines)
        if r in bad and bad[r] == "ragged":
            cells = cells[:-1]
        line_of[r + 1] = line_no
        lines.append(",".join(cells) + ("\r\n" if r % 2 else "\n"))
        line_no += 2 if quotes and r in bad and bad[r] == "word" else 1
        if not quotes and r % 5003 == 0:
            lines.append("\n")  # a blank line
            line_no += 1
    path = tmp / "in.csv"
    path.write_text("".join(lines))
    assert os.path.getsize(path) > 3 * 4 << 20
    assert quotes == ('"' in path.read_text())
    keep = np.array([r for r in range(ROWS) if r not in bad])
    return dict(tmp=tmp, model=model, path=path, x=x, y=y, bad=bad, line_of=line_of, keep=keep,
                ref=booster.inplace_predict(x[keep]))


@pytest.mark.parametrize("threads", ["1", "2", "3"])
@pytest.mark.parametrize("label", [True, False])
def test_chunks_give_the_whole_file_results(case, threads, label):
    out = case["tmp"] / ("out%s.csv" % threads)
    r = subprocess.run([os.path.join(BIN, "mlops-predict"), "--model", case["model"], "--input", case["path"],
                        "--output", out, "--threads", threads, "--quiet"] + (["--label", "label"] if label else []),
                       capture_output=True, text=True)
    assert r.returncode == 3, r.stderr  # rows were left out
    got = np.loadtxt(out, delimiter=",", skiprows=1)
    keep = case["keep"]
    np.testing.assert_array_equal(got[:, 0].astype(int), keep + 1)
    assert np.max(np.abs(got[:, 1] - case["ref"])) <= 1e-6
    skipped = sorted((int(m.group(1)), int(m.group(2)))
                     for m in re.finditer(r"row (\d+) \(line (\d+)\).*?row skipped", r.stderr, re.S))
    assert skipped == sorted((b + 1, case["line_of"][b + 1]) for b in case["bad"])
    if label:
        acc = accuracy_score(case["y"][keep], got[:, 1] > 0.5)
        m = re.search(r"accuracy ([0-9.]+) on (\d+) labelled rows", r.stderr)
        assert m and int(m.group(2)) == len(keep) and abs(float(m.group(1)) - acc) < 1e-4, r.stderr
