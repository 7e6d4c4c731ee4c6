"""mlops.Registry trusted models (issue 19): keys, signatures, encryption at rest, lineage, audit log.

Predictions are compared with XGBoost's own; digests and the audit hash chain with hashlib's BLAKE2b.
Every refusal raises mlops.IntegrityError (or the stated class) with the library's exact message.
Run by `meson test` (suite python) with MLOPS_LIBRARY, PYTHONPATH and MLOPS_FIXTURES set.
"""
import hashlib
import json
import os
import stat

import numpy as np
import pytest
import xgboost as xgb

import mlops
from mlops import registry as mregistry

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.normpath(os.path.join(HERE, "..", "..")))
FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(SRC, "tests", "fixtures"))
FX = json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"][0]  # binary:logistic, 30 features
MODEL = os.path.join(FIX, FX["models"]["json"])
X = np.fromfile(os.path.join(FIX, FX["x"]), dtype="<f4").reshape(FX["n_rows"], FX["n_features"])


@pytest.fixture
def keys(tmp_path):
    mregistry.keygen(tmp_path / "ci")
    mregistry.keygen(tmp_path / "other")
    mregistry.keygen(tmp_path / "data.key", symmetric=True)
    return tmp_path


def xgb_predict():
    b = xgb.Booster()
    b.load_model(MODEL)
    return b.predict(xgb.DMatrix(X), validate_features=False)


def test_keygen_modes_and_no_overwrite(keys):
    assert stat.S_IMODE(os.stat(keys / "ci.key").st_mode) == 0o600
    assert os.path.getsize(keys / "ci.key") == 64 and os.path.getsize(keys / "ci.pub") == 32
    with pytest.raises(mlops.ExistsError, match="exists; not replacing a key"):
        mregistry.keygen(keys / "data.key", symmetric=True)


def test_signed_encrypted_round_trip_predicts_like_xgboost(keys):
    d = keys / "reg"
    with mlops.Registry(d, create=True, sign_key=keys / "ci.key", encryption_key=keys / "data.key",
                        audit=True, actor="token:ci") as w:
        assert w.put("fraud", MODEL, metadata={"lineage": {"params": {"eta": 0.3}}}) == 1
        assert w.put("fraud", open(MODEL, "rb").read(), metadata={"lineage": {"parent": 1}}) == 2
    with mlops.Registry(d, trust=[keys / "other.pub", keys / "ci.pub"], encryption_key=keys / "data.key") as r:
        for v in (1, 2):
            m = r.load("fraud", v)
            np.testing.assert_allclose(m.predict(X).ravel(), xgb_predict(), rtol=0, atol=1e-6)
            m.close()
        info = r.info("fraud", 2)
        stored = (d / "fraud" / "2" / "model.bin").read_bytes()
        assert info["digest"] == "blake2b-256:" + hashlib.blake2b(stored, digest_size=32).hexdigest()
        assert info["encryption"]["cipher"] == "xchacha20poly1305-secretstream"
        assert [e["version"] for e in r.lineage("fraud")] == [2, 1]
        assert r.lineage("fraud", 1)[0]["lineage"] == {"params": {"eta": 0.3}}
        assert r.audit_verify() == 2
        r.audit_append("promote", {"from": 1, "to": 2}, actor="token:ops")
        assert r.audit_verify() == 3
    lines = (d / ".audit.jsonl").read_bytes().split(b"\n")[:-1]
    entries = [json.loads(x) for x in lines]
    assert [(e["actor"], e["action"]) for e in entries] == [("token:ci", "put"), ("token:ci", "put"),
                                                           ("token:ops", "promote")]
    for prev, e in zip([b""] + lines, entries):
        assert e["prev"] == "blake2b-256:" + hashlib.blake2b(prev, digest_size=32).hexdigest()


def test_refusals_raise_integrity_error(keys):
    d = keys / "reg"
    with mlops.Registry(d, create=True) as w:
        w.put("m", MODEL)
    with mlops.Registry(d, sign_key=keys / "other.key") as w:
        w.put("m", MODEL)
    with mlops.Registry(d, sign_key=keys / "ci.key") as w:
        w.put("m", MODEL)
    with mlops.Registry(d, trust=[keys / "ci.pub"]) as r:
        with pytest.raises(mlops.IntegrityError) as e:
            r.load("m", 1)
        assert ("registry: 'm' version 1 is unsigned, and this registry trusts only versions signed by its trusted "
                "keys") in str(e.value)
        assert e.value.status == -15
        with pytest.raises(mlops.IntegrityError, match=r"'m' version 2 is signed by key [0-9a-f]{16}, which is not "
                                                       r"trusted"):
            r.load("m", 2)
        r.load("m", 3).close()
        man = json.loads((d / "m" / "3" / "manifest.json").read_text())
        man["metadata"] = {"approved": True}
        (d / "m" / "3" / "manifest.json").write_text(json.dumps(man))
        with pytest.raises(mlops.IntegrityError, match=r"'m' version 3: the signature by key [0-9a-f]{16} does not "
                                                       r"match the manifest"):
            r.load("m", 3)


def test_wrong_key_and_bad_key_files(keys):
    d = keys / "reg"
    with mlops.Registry(d, create=True, encryption_key=keys / "data.key") as w:
        w.put("m", MODEL)
    mregistry.keygen(keys / "wrong.key", symmetric=True)
    with mlops.Registry(d, encryption_key=keys / "wrong.key") as r:
        with pytest.raises(mlops.IntegrityError, match=r"'m' version 1 is encrypted with key [0-9a-f]{16}, not with "
                                                       r"this registry's key [0-9a-f]{16} \(wrong decryption key\)"):
            r.load("m")
    with mlops.Registry(d) as r:
        with pytest.raises(mlops.StateError, match="open the registry with its encryption key"):
            r.load("m")
    os.chmod(keys / "data.key", 0o640)
    with pytest.raises(mlops.InvalidArgumentError, match=r"is readable by group or others \(mode 0640\)"):
        mlops.Registry(d, encryption_key=keys / "data.key")
    (keys / "short.pub").write_bytes(b"x" * 31)
    with pytest.raises(mlops.InvalidArgumentError, match="is 31 bytes, it must be exactly 32"):
        mlops.Registry(d, trust=[keys / "short.pub"])
    with pytest.raises(TypeError, match="list of public key files"):
        mlops.Registry(d, trust=str(keys / "ci.pub"))


def test_audit_verify_raises_on_an_edited_line(keys):
    d = keys / "reg"
    with mlops.Registry(d, create=True, audit=True) as r:
        r.put("m", MODEL)
        r.put("m", MODEL)
        r.set_alias("m", "production", 2)
        log = d / ".audit.jsonl"
        lines = log.read_text().splitlines(keepends=True)
        log.write_text(lines[0].replace('"put"', '"PUT"') + "".join(lines[1:]))
        with pytest.raises(mlops.IntegrityError, match="audit log line 1 was edited: its digest does not match the "
                                                       "prev of line 2"):
            r.audit_verify()
