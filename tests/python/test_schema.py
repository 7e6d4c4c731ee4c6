"""mlops.Schema: hand-checkable cases, pandas as the reference for bounds, codes and verdicts,
xgboost for the model's feature names and types (fixture from tests/schema/gen_fixtures.py)."""
import json
import math
import os
import threading

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import mlops

ROOT = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
TYPED_MODEL = os.path.join(ROOT, "tests", "schema", "fixtures", "typed_model.json")

EXAMPLE = {"features": [
    {"name": "mean_radius", "type": "float", "min": 0, "max": 60, "nullable": False},
    {"name": "n_visits", "type": "int", "min": 0},
    {"name": "plan", "type": "categorical", "categories": ["free", "pro", "team"]},
    {"name": "is_member", "type": "bool", "default": False}],
    "unknown_features": "reject"}


@pytest.fixture
def schema():
    with mlops.Schema.from_json(json.dumps(EXAMPLE)) as s:
        yield s


def test_load_save_round_trip(schema, tmp_path):
    assert schema.names == ["mean_radius", "n_visits", "plan", "is_member"]
    assert schema.n_features == 4
    assert schema.feature_index("plan") == 2
    assert schema.features == EXAMPLE["features"][:1] + [
        {"name": "n_visits", "type": "int", "min": 0},
        {"name": "plan", "type": "categorical", "categories": ["free", "pro", "team"]},
        {"name": "is_member", "type": "bool", "default": False}]
    p = tmp_path / "schema.json"
    schema.save(p)
    with mlops.Schema(p) as again:
        assert again.to_json() == schema.to_json()
    assert json.loads(p.read_text()) == EXAMPLE


@pytest.mark.parametrize("text, needle", [
    ('{"features": [\n{"name": "a", "type": "float",}]}', "line 2 column"),
    ('{"features": [{"name": "a", "type": "float", "min": 2, "max": 1}]}', "greater than max"),
    ('{"features": [{"name": "a", "type": "float"}, {"name": "a", "type": "int"}]}', "duplicate feature name"),
    ('{"features": [{"name": "c", "type": "categorical", "categories": []}]}', "categories"),
    ('{"features": [{"name": "a", "type": "float", "max": 1e999}]}', "overflow"),
    (b'{"features": [{"name": "\xff", "type": "float"}]}', "unable to decode"),
    ("[" * 5000 + "]" * 5000, "depth"),
])
def test_bad_schema(text, needle):
    with pytest.raises(mlops.FormatError) as e:
        mlops.Schema.from_json(text)
    assert needle in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(mlops.IOError_):
        mlops.Schema(tmp_path / "nope.json")


def test_validate_ndarray(schema):
    x = np.array([[10.5, 3, 1, 0],
                  [np.nan, 1, 0, np.nan],
                  [-1, 2.5, 3, 0.5],
                  [np.inf, 0, 0, 1]], dtype=np.float32)
    rep = schema.validate(x)
    assert list(rep.row_ok) == [True, False, False, False]
    assert rep.n_invalid == 3 and not rep.valid
    got = {(v.row, v.feature, v.kind) for v in rep}
    assert got == {(1, "mean_radius", "null_not_allowed"), (2, "mean_radius", "out_of_range"),
                   (2, "n_visits", "not_integer"), (2, "plan", "unknown_category"), (2, "is_member", "wrong_type"),
                   (3, "mean_radius", "not_finite")}
    # v.row is the 0-based index; messages number data rows from 1
    assert rep.violations[1].message == "row 3: feature 'mean_radius' (0): -1 is below min 0"
    np.testing.assert_array_equal(rep.valid_rows, x[:1])
    with pytest.raises(mlops.ShapeError):
        schema.validate(np.zeros((2, 3), dtype=np.float32))
    assert schema.validate(x[0]).valid


def test_validate_dict_and_list(schema):
    rep = schema.validate({"mean_radius": 12.5, "n_visits": 4, "plan": "team"})
    assert rep.valid
    np.testing.assert_array_equal(rep.x, np.array([[12.5, 4, 2, 0]], dtype=np.float32))
    rep = schema.validate([{}, {"mean_radius": "x", "n_visits": np.int64(2), "plan": "gold", "colour": 1,
                                "is_member": np.bool_(True)}])
    assert list(rep.row_ok) == [False, False]
    kinds = sorted((v.row, v.kind, v.feature) for v in rep)
    assert kinds == [(0, "missing", "mean_radius"), (0, "missing", "n_visits"), (0, "missing", "plan"),
                     (1, "unknown_category", "plan"), (1, "unknown_feature", "colour"),
                     (1, "wrong_type", "mean_radius")]
    assert rep.x[1, 1] == 2 and rep.x[1, 3] == 1
    # +-Inf cannot be JSON: still reported as not finite
    rep = schema.validate({"mean_radius": float("inf"), "n_visits": 1, "plan": "pro"})
    assert [(v.feature, v.kind) for v in rep] == [("mean_radius", "not_finite")]
    assert rep.violations[0].message.startswith("row 1: feature 'mean_radius'")  # rows from 1, as the library
    assert not rep.valid


def frame():
    return pd.DataFrame({
        "plan": pd.Categorical(["free", "team", "pro", None, "team"], categories=["free", "pro", "team"]),
        "mean_radius": [1.0, 59.5, 61.0, 3.0, np.nan],
        "n_visits": [0, 3, 7, 2, 1],
        "is_member": [True, False, True, True, False],
    })


def test_validate_dataframe_against_pandas(schema):
    df = frame()
    rep = schema.validate(df)
    # pandas computes the verdicts independently
    want = (df.mean_radius.between(0, 60) & df.mean_radius.notna()).to_numpy()
    np.testing.assert_array_equal(rep.row_ok, want)
    # columns come out in schema order; categorical codes are pandas' codes (NaN for missing)
    codes = df.plan.cat.codes.to_numpy().astype(np.float32)
    codes[codes < 0] = np.nan
    np.testing.assert_array_equal(rep.x[:, 2], codes)
    np.testing.assert_array_equal(rep.x[:, 1], df.n_visits.to_numpy(np.float32))
    np.testing.assert_array_equal(rep.x[:, 3], df.is_member.to_numpy(np.float32))
    assert rep.kinds() == {"out_of_range": 1, "null_not_allowed": 1}
    assert set(rep.to_frame().columns) == {"row", "feature_index", "feature", "kind", "message", "index"}
    # duplicate and extra columns: reported once each (row -1, no index label), every row invalid
    dup = pd.concat([df, df[["n_visits"]], pd.DataFrame({"extra": [1] * 5})], axis=1)
    rep = schema.validate(dup)
    assert not rep.row_ok.any()
    assert rep.kinds()["duplicate_feature"] == 1 and rep.kinds()["unknown_feature"] == 1
    once = [(v.row, v.feature, v.kind, v.index) for v in rep if v.row < 0]
    assert once == [(-1, "n_visits", "duplicate_feature", None), (-1, "extra", "unknown_feature", None)]


def test_validate_dataframe_index_labels_and_missing_column(schema):
    df = frame()
    df.index = ["a", "b", "c", "d", "e"]
    rep = schema.validate(df)
    # pandas says which labels are bad: out of range or null in a non-nullable column
    want = df.index[~(df.mean_radius.between(0, 60) & df.mean_radius.notna())]
    assert sorted(v.index for v in rep) == sorted(want)
    t = rep.to_frame()
    assert sorted(t["index"]) == sorted(want) and (t["row"] == [df.index.get_loc(i) for i in t["index"]]).all()
    # a column without a default missing: one violation, every row invalid; with a default: filled
    rep = schema.validate(df.drop(columns=["n_visits", "is_member"]))
    assert [(v.row, v.feature, v.kind, v.index) for v in rep if v.kind == "missing"] == [(-1, "n_visits", "missing",
                                                                                        None)]
    assert rep.kinds() == {"missing": 1, "out_of_range": 1, "null_not_allowed": 1}
    assert not rep.row_ok.any() and rep.n_invalid == len(df)
    assert np.isnan(rep.x[:, 1]).all() and (rep.x[:, 3] == 0).all()


def test_validate_dataframe_strings_and_wrong_types(schema):
    df = pd.DataFrame({"mean_radius": [1.0, "x", 2.0, None], "n_visits": [1, 2, 3, 4],
                       "plan": ["pro", "gold", None, "team"], "is_member": [True, 1, False, "no"]},
                      index=[10, 20, 30, 40])
    rep = schema.validate(df)
    got = sorted((v.index, v.feature, v.kind) for v in rep)
    assert got == [(20, "mean_radius", "wrong_type"), (20, "plan", "unknown_category"),
                   (40, "is_member", "wrong_type"), (40, "mean_radius", "null_not_allowed")]
    gold = [v for v in rep if v.kind == "unknown_category"][0]
    assert "'gold'" in gold.message and gold.message.startswith("row 2: feature 'plan' (2)")
    assert list(rep.row_ok) == [True, False, True, False]
    np.testing.assert_array_equal(rep.x[0], [1, 1, 1, 1])
    np.testing.assert_array_equal(rep.x[2], [2, 3, np.nan, 0])  # plan: nullable -> NaN
    assert np.isnan(rep.x[1, 0]) and np.isnan(rep.x[1, 2])  # invalid values are NaN, as for dicts
    # a number in a categorical column, a boolean in a numeric one: wrong_type, as for dicts
    rep = schema.validate(df.assign(plan=[0, 1, 2, np.nan], n_visits=[True, False, True, True]))
    kinds = {(v.index, v.feature): v.kind for v in rep}
    assert kinds[(10, "plan")] == "wrong_type" and (40, "plan") not in kinds
    assert all(kinds[(i, "n_visits")] == "wrong_type" for i in df.index)


def test_validate_dataframe_same_verdicts_as_dicts(schema):
    """The per-value checks are unchanged: the DataFrame path and the dict path agree row by row."""
    rng = np.random.default_rng(5)
    n = 300
    df = pd.DataFrame({"mean_radius": rng.choice([1.5, -2.0, 70.0, np.nan, np.inf, 30.0, 1e39], n),
                       "n_visits": rng.choice([0, 3, 2.5, -1, np.nan], n),
                       "plan": pd.Categorical(rng.choice(["free", "pro", "team", "gold"], n)),
                       "is_member": rng.choice([0.0, 1.0, 0.5, np.nan], n)}, index=np.arange(n) * 7)
    frame_rep = schema.validate(df)
    dict_rep = schema.validate([{k: v for k, v in r.items()} for r in df.to_dict("records")])
    np.testing.assert_array_equal(frame_rep.row_ok, dict_rep.row_ok)
    assert sorted((v.row, v.feature, v.kind) for v in frame_rep) == sorted((v.row, v.feature, v.kind)
                                                                             for v in dict_rep)
    np.testing.assert_array_equal(frame_rep.x, dict_rep.x)
    assert [v.index for v in frame_rep] == [v.row * 7 for v in frame_rep]
    capped = schema.validate(df, max_violations=5)
    assert len(capped) == 5 and capped.n_omitted == len(frame_rep) - 5


def test_infer_dataframe_against_pandas():
    df = frame()
    with mlops.Schema.infer(df, margin=0.1) as s:
        f = {d["name"]: d for d in s.features}
        assert s.names == list(df.columns)
        assert f["plan"] == {"name": "plan", "type": "categorical", "categories": ["free", "pro", "team"]}
        assert f["is_member"]["type"] == "bool"
        lo, hi = df.mean_radius.min(), df.mean_radius.max()
        w = 0.1 * (hi - lo)
        assert f["mean_radius"]["type"] == "float"
        assert f["mean_radius"]["min"] == pytest.approx(max(lo - w, 0))
        assert f["mean_radius"]["max"] == pytest.approx(hi + w)
        lo, hi = df.n_visits.min(), df.n_visits.max()
        # whole units of margin only (0.7 of 7 is none): the bounds stay the observed ones
        assert f["n_visits"] == {"name": "n_visits", "type": "int", "min": max(min(lo, math.ceil(lo - 0.1 * (hi - lo))), 0),
                                 "max": max(hi, math.floor(hi + 0.1 * (hi - lo)))} == \
            {"name": "n_visits", "type": "int", "min": 0, "max": 7}
        # the training frame passes its own schema
        assert s.validate(df).valid


def test_infer_keeps_a_0_1_column_at_0_1():
    """A binary indicator column (0/1) is inferred as int in [0, 1] with any margin below 1, and a
    wide integer column is widened by whole units (100 * 0.1 = 10)."""
    x = np.array([[0, 0], [1, 50], [1, 100], [0, 20]], dtype=np.float32)
    for margin in (0.1, 0.5, 0.99):
        with mlops.Schema.infer(x, names=["flag", "count"], margin=margin) as s:
            f = {d["name"]: d for d in s.features}
            assert (f["flag"]["min"], f["flag"]["max"]) == (0, 1), (margin, f["flag"])
            assert f["count"]["max"] == 100 + int(margin * 100), (margin, f["count"])
            assert s.validate(np.array([[1, 100]], dtype=np.float32)).valid
            assert not s.validate(np.array([[2, 0]], dtype=np.float32)).valid


def test_infer_ndarray():
    x = np.array([[0, -1.5], [10, 2.5], [4, 0.5]], dtype=np.float32)
    with mlops.Schema.infer(x, names=["count", "score"], margin=0) as s:
        assert s.features == [{"name": "count", "type": "int", "min": 0, "max": 10},
                              {"name": "score", "type": "float", "min": -1.5, "max": 2.5}]
    with mlops.Schema.infer(x) as s:
        assert s.names == ["f0", "f1"]
    with pytest.raises(mlops.InvalidArgumentError):
        mlops.Schema.infer(np.array([[np.inf]], dtype=np.float32))
    with pytest.raises(mlops.InvalidArgumentError):
        mlops.Schema.infer(x, names=["a", "a"])


def test_from_model_and_check():
    booster = xgb.Booster(model_file=TYPED_MODEL)
    with mlops.Model(TYPED_MODEL) as m, mlops.Schema.from_model(m) as s:
        assert s.names == booster.feature_names
        want = {"int": "int", "float": "float", "q": "float", "i": "bool", "c": "int"}
        assert [f["type"] for f in s.features] == [want[t] for t in booster.feature_types]
        s.check_model(m)
        doc = json.loads(s.to_json())
        doc["features"][0], doc["features"][1] = doc["features"][1], doc["features"][0]
        with mlops.Schema.from_json(json.dumps(doc)) as swapped:
            with pytest.raises(mlops.ValidationError) as e:
                swapped.check_model(m)
            assert "feature 0 is 'income' in the schema but 'age' in the model" in str(e.value)
        doc["features"].pop()
        with mlops.Schema.from_json(json.dumps(doc)) as short:
            with pytest.raises(mlops.ShapeError):
                short.check_model(m)


def test_impute_and_close(schema):
    x = np.array([[1, np.nan, np.nan, np.nan]], dtype=np.float32)
    schema.impute(x)
    assert x[0, 3] == 0 and math.isnan(x[0, 1])
    s = mlops.Schema.from_json(json.dumps(EXAMPLE))
    s.close()
    s.close()
    with pytest.raises(mlops.MlopsError):
        s.validate(x)


def test_threads(schema):
    x = np.tile(np.array([[1, 2, 0, 1], [-1, 2, 0, 1]], dtype=np.float32), (500, 1))
    errors = []

    def work():
        for _ in range(20):
            rep = schema.validate(x)
            if rep.n_invalid != 500:
                errors.append(rep.n_invalid)

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_validate_numeric_dataframe_fast_path_leaves_the_frame_alone():
    """An all-numeric schema takes the one-conversion path: defaults fill x, never the caller's frame;
    a float64 too large for float32 is out_of_range (as for dicts), +-Inf not_finite."""
    doc = {"features": [{"name": "a", "type": "float", "default": 7}, {"name": "b", "type": "float", "max": 5}]}
    with mlops.Schema.from_json(json.dumps(doc)) as s:
        f = pd.DataFrame({"b": np.array([1, 2, 9], np.float32), "a": np.array([np.nan, 1, 2], np.float32)})
        before = f.copy()
        rep = s.validate(f)
        pd.testing.assert_frame_equal(f, before)
        np.testing.assert_array_equal(rep.x[0], [7, 1])
        assert [(v.index, v.feature, v.kind) for v in rep] == [(2, "b", "out_of_range")]
        g = pd.DataFrame({"a": [1e39, 1.0, 2.0], "b": [1.0, -np.inf, 3.0]}, index=["x", "y", "z"])
        rep = s.validate(g)
        assert [(v.index, v.feature, v.kind) for v in rep] == [("x", "a", "out_of_range"), ("y", "b", "not_finite")]
        assert list(rep.row_ok) == [False, False, True]


def test_parse_csv_equals_strtof_strtod_and_names_bad_cells():
    """mlops.schema.parse_csv (mlops_schema_parse_csv): float64 values equal Python's float()
    (correctly rounded, as strtod), float32 values equal the C library's strtof; a bad cell is a
    FormatError naming its line (counted from first_line) and field."""
    import ctypes
    from mlops.schema import parse_csv
    libc = ctypes.CDLL(None)
    libc.strtof.restype, libc.strtof.argtypes = ctypes.c_float, [ctypes.c_char_p, ctypes.c_void_p]
    rng = np.random.default_rng(5)
    wide = rng.standard_normal(3000) * 10.0 ** rng.integers(-45, 35, 3000)  # float32's range and past its bottom
    cells = ["%.*e" % (int(rng.integers(0, 20)), v) for v in wide]
    cells += ["%.*f" % (int(rng.integers(0, 9)), v) for v in rng.uniform(-10, 10, 3000)]
    cells += ["3.4028235e38", "1.17549435e-38", "1.4e-45", "7e-46", "0.1", "-0", ".5", "5."]
    cells = cells[: len(cells) // 3 * 3]
    text = "\n".join(",".join(cells[i:i + 3]) for i in range(0, len(cells), 3)).encode()
    got64 = parse_csv(text, 3)
    assert got64.shape == (len(cells) // 3, 3) and got64.dtype == np.float64
    assert got64.ravel().tolist() == [float(c) for c in cells]
    got32 = parse_csv(text, 3, columns=[2, 0], dtype=np.float32)
    want32 = np.array([libc.strtof(c.encode(), None) for c in cells], np.float32).reshape(-1, 3)[:, [2, 0]]
    np.testing.assert_array_equal(got32.view(np.uint32), want32.view(np.uint32))  # bit for bit
    assert np.isnan(parse_csv(b"1,\n", 2)[0, 1])
    with pytest.raises(mlops.FormatError, match=r"csv: line 12, field 2: not a number: \"x\""):
        parse_csv(b"1,2\n\n3,x\n", 2, first_line=10)
    with pytest.raises(mlops.FormatError, match=r"line 1: 3 fields, the header has 2 \(a trailing comma\)"):
        parse_csv(b"1,2,\n", 2)
