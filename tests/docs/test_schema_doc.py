"""The README's schema section holds for its own example schema (issue 22): an explicit null of a
nullable feature reaches the model as NaN, an absent key is a `missing` violation unless the
feature has a default, a null of a non-nullable feature is a violation."""
import math

import pytest

import mdblocks
import mlops


@pytest.fixture(scope="module")
def schema():
    blocks = [b for b in mdblocks.blocks("README.md") if b["lang"] == "json" and '"features"' in b["text"]]
    assert blocks, "no schema example in README.md"
    with mlops.Schema.from_json(blocks[0]["text"]) as s:
        yield s


ROW = {"mean_radius": 14.1, "n_visits": 3, "plan": "pro", "is_member": True}


def check(schema, row):
    r = schema.validate(row)
    return r, [(v.feature, v.kind) for v in r.violations]


def test_a_full_row_is_valid(schema):
    r, v = check(schema, ROW)
    assert r.valid and v == []


def test_explicit_null_of_a_nullable_feature_is_nan(schema):
    r, v = check(schema, dict(ROW, n_visits=None))
    assert r.valid and v == []
    assert math.isnan(r.x[0, schema.names.index("n_visits")])


def test_absent_key_is_missing_unless_a_default(schema):
    row = dict(ROW)
    del row["n_visits"]
    r, v = check(schema, row)
    assert not r.valid and v == [("n_visits", "missing")]
    row = dict(ROW)
    del row["is_member"]  # "default": false
    r, v = check(schema, row)
    assert r.valid and r.x[0, schema.names.index("is_member")] == 0


def test_null_of_a_non_nullable_feature_is_a_violation(schema):
    r, v = check(schema, dict(ROW, mean_radius=None))
    assert not r.valid and v == [("mean_radius", "null_not_allowed")]
