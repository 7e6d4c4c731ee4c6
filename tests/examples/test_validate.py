"""mlops-validate: CSV rows against a feature schema (named-row path), and schema inference.

Expected violations are planted by the test itself, in rows of the very data the schema
was inferred from (so no other row can break it); bounds are checked with pandas/NumPy.
"""
import csv
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
DATA = os.path.join(ROOT, "examples", "data")
LABEL = "malignant0_benign1"


def run(*args, **kw):
    return subprocess.run([os.path.join(BIN, "mlops-validate"), *map(str, args)], capture_output=True, text=True,
                          timeout=60, **kw)


@pytest.fixture(scope="module")
def inferred(tmp_path_factory):
    d = tmp_path_factory.mktemp("validate")
    r = run("--infer", "--input", os.path.join(DATA, "breast_cancer.csv"), "--exclude", LABEL, "--out",
            d / "schema.json")
    assert r.returncode == 0, r.stderr
    return d, json.load(open(d / "schema.json"))


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def triples(doc):
    return sorted((v["row"], v["feature"], v["kind"]) for v in doc["violations"])


def test_infer_matches_pandas_ranges(inferred):
    _, schema = inferred
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv")).drop(columns=[LABEL])
    assert [f["name"] for f in schema["features"]] == list(df.columns)
    for f in schema["features"]:
        col = df[f["name"]].to_numpy(dtype=np.float32).astype(np.float64)
        lo, hi = col.min(), col.max()
        assert f["min"] <= lo and f["max"] >= hi
        if f["type"] == "float":
            width = hi - lo
            want_lo = max(lo - 0.1 * width, 0.0) if lo >= 0 else lo - 0.1 * width  # keep_sign
            assert f["min"] == pytest.approx(want_lo, rel=1e-6, abs=1e-9)
            assert f["max"] == pytest.approx(hi + 0.1 * width, rel=1e-6)


def test_infer_to_stdout_and_margin(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,10\n3,20\n")
    r = run("--infer", "--input", tmp_path / "a.csv", "--margin", "0")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert [(f["name"], f["type"], f["min"], f["max"]) for f in s["features"]] == [("x", "int", 1, 3),
                                                                                    ("y", "int", 10, 20)]


def test_all_training_rows_are_valid(inferred):
    d, _ = inferred
    r = run("--schema", d / "schema.json", "--input", os.path.join(DATA, "breast_cancer.csv"), "--exclude", LABEL,
            "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc == {"rows": 569, "invalid_rows": 0, "violations": [], "omitted": 0}


def test_every_violation_is_reported(inferred, tmp_path):
    d, schema = inferred
    rows = rows_of(os.path.join(DATA, "breast_cancer.csv"))
    h = rows[0]
    col = h.index
    lo = {f["name"]: f["min"] for f in schema["features"]}
    rows[2][col("mean_radius")] = "-5"                                    # row 2: out of range
    rows[3][col("mean_texture")] = "abc"                                  # row 3: string for a float
    rows[4][col("mean_perimeter")] = "inf"                                # row 4: not finite
    rows[5] = rows[5][:3]                                                 # row 5: malformed (3 fields)
    rows[6][col("mean_area")] = ""                                        # row 6: null, nullable: valid
    rows[7][col("mean_smoothness")] = "TRUE"                              # row 7: boolean for a float
    rows[8][col("mean_radius")] = "1e400"                                 # row 8: overflows a double
    rows[9][col("mean_radius")] = str(lo["mean_radius"] - 1)              # row 9: below min
    rows[9][col("worst_area")] = "1e9"                                    # ... and above max
    rows[10][col("mean_area")] = "NA"                                     # row 10: null again: valid
    write_rows(tmp_path / "bad.csv", rows)
    r = run("--schema", d / "schema.json", "--input", tmp_path / "bad.csv", "--exclude", LABEL, "--json")
    assert r.returncode == 3, r.stderr
    doc = json.loads(r.stdout)
    assert doc["rows"] == 569 and doc["invalid_rows"] == 7 and doc["omitted"] == 0
    assert triples(doc) == [(2, "mean_radius", "out_of_range"), (3, "mean_texture", "wrong_type"),
                            (4, "mean_perimeter", "not_finite"), (5, None, "malformed_row"),
                            (7, "mean_smoothness", "wrong_type"), (8, "mean_radius", "not_finite"),
                            (9, "mean_radius", "out_of_range"), (9, "worst_area", "out_of_range")]
    by_row = {v["row"]: v for v in doc["violations"]}
    assert by_row[2]["line"] == 3 and "-5" in by_row[2]["message"] and "min" in by_row[2]["message"]
    assert "3 fields" in by_row[5]["message"] or "got 3" in by_row[5]["message"]
    # the same report as lines on stderr, nothing on stdout
    r = run("--schema", d / "schema.json", "--input", tmp_path / "bad.csv", "--exclude", LABEL)
    assert r.returncode == 3 and r.stdout == ""
    assert "row 2 (line 3), feature mean_radius: out_of_range" in r.stderr
    assert "row 4 (line 5), feature mean_perimeter: not_finite" in r.stderr
    assert "569 row(s), 7 invalid" in r.stderr


def test_columns_and_schema_disagree(inferred, tmp_path):
    d, _ = inferred
    # the label is not in the schema (unknown features are rejected): every row says so
    r = run("--schema", d / "schema.json", "--input", os.path.join(DATA, "breast_cancer.csv"), "--json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["invalid_rows"] == 569
    assert {(v["feature"], v["kind"]) for v in doc["violations"]} == {(LABEL, "unknown_feature")}
    # a schema feature absent from the file is missing in every row
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv")).drop(columns=[LABEL, "worst_symmetry"]).head(5)
    df.to_csv(tmp_path / "less.csv", index=False)
    doc = json.loads(run("--schema", d / "schema.json", "--input", tmp_path / "less.csv", "--json").stdout)
    assert triples(doc) == [(i, "worst_symmetry", "missing") for i in range(1, 6)]


def test_types_categories_duplicates_and_chunks(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"features": [
        {"name": "n", "type": "int", "min": 0, "max": 10, "nullable": False},
        {"name": "plan", "type": "categorical", "categories": ["free", "pro"]},
        {"name": "member", "type": "bool", "default": False}]}))
    good = [["n", "plan", "member"], ["3", "free", "true"], ["10", "pro", "FALSE"], ["0", "", ""], ["7", "pro", "1"]]
    write_rows(tmp_path / "good.csv", good)
    r = run("--schema", tmp_path / "s.json", "--input", tmp_path / "good.csv", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    bad = [["n", "plan", "member"], ["2.5", "free", "true"], ["", "team", "x"], ["11", "pro", "0.5"]]
    write_rows(tmp_path / "bad.csv", bad)
    doc = json.loads(run("--schema", tmp_path / "s.json", "--input", tmp_path / "bad.csv", "--json").stdout)
    assert triples(doc) == [(1, "n", "not_integer"), (2, "member", "wrong_type"), (2, "n", "null_not_allowed"),
                            (2, "plan", "unknown_category"), (3, "member", "wrong_type"), (3, "n", "out_of_range")]
    # a column named twice is an error of the file, as in every program (finding 6)
    write_rows(tmp_path / "dup.csv", [["n", "plan", "n"], ["1", "pro", "2"]])
    r = run("--schema", tmp_path / "s.json", "--input", tmp_path / "dup.csv", "--json")
    assert r.returncode == 2 and r.stdout == ""
    assert 'column name "n" appears twice in the header (columns 1 and 3)' in r.stderr
    # rows are numbered through the whole file, across the program's internal batches of rows
    many = [["n", "plan", "member"]] + [["1", "free", "true"]] * 2500
    for i in (1, 1024, 1025, 2048, 2500):
        many[i] = ["99", "free", "true"]
    write_rows(tmp_path / "many.csv", many)
    doc = json.loads(run("--schema", tmp_path / "s.json", "--input", tmp_path / "many.csv", "--json").stdout)
    assert doc["rows"] == 2500 and doc["invalid_rows"] == 5
    assert [v["row"] for v in doc["violations"]] == [1, 1024, 1025, 2048, 2500]
    assert [v["line"] for v in doc["violations"]] == [2, 1025, 1026, 2049, 2501]


def test_usage_and_io_errors(inferred, tmp_path):
    d, _ = inferred
    data = os.path.join(DATA, "breast_cancer.csv")
    assert run().returncode == 2
    assert run("--schema", d / "schema.json").returncode == 2
    assert run("--bogus", "1").returncode == 2
    r = run("--schema", d / "schema.json", "--input", "/nonexistent.csv")
    assert r.returncode == 2 and "nonexistent.csv" in r.stderr
    r = run("--schema", "/nonexistent.json", "--input", data)
    assert r.returncode == 2 and "nonexistent.json" in r.stderr
    (tmp_path / "broken.json").write_text('{"features": [\n  {"name": "x", "type": "float"},\n]}')
    r = run("--schema", tmp_path / "broken.json", "--input", data)
    assert r.returncode == 2 and "line" in r.stderr and "column" in r.stderr
    (tmp_path / "contra.json").write_text('{"features": [{"name": "x", "type": "float", "min": 2, "max": 1}]}')
    r = run("--schema", tmp_path / "contra.json", "--input", data)
    assert r.returncode == 2 and "min" in r.stderr
    r = run("--schema", d / "schema.json", "--input", data, "--exclude", "nope")
    assert r.returncode == 2 and "nope" in r.stderr
    assert run("--infer", "--input", data, "--schema", d / "schema.json").returncode == 2
    assert run("--infer", "--input", data, "--margin", "-1").returncode == 2
    r = run("--infer", "--input", data, "--out", tmp_path / "no" / "such" / "dir" / "s.json")
    assert r.returncode == 2
    # a text column cannot be inferred: its rows are reported and left out
    (tmp_path / "txt.csv").write_text("a,b\n1,x\n2,y\n")
    r = run("--infer", "--input", tmp_path / "txt.csv")
    assert r.returncode == 2 and "column b" in r.stderr
