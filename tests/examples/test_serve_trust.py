"""mlops-serve with trusted models (issue 19): --trust refuses what the trust set did not sign,
--encrypt-key serves encrypted versions, and admin actions land in the registry's audit log under
the token's id (never the token), the chain verified by mlops-registry and hashlib.

Oracles: XGBoost's own predictions; hashlib's BLAKE2b for the token id and the hash chain.
"""
import hashlib
import json
import os
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from test_serve import BIN, DATA, LABEL, features, rows, serve  # noqa: F401

TOKEN = "admin-token-0123456789abcdef"


def reg(*args):
    return subprocess.run([os.path.join(BIN, "mlops-registry"), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    df.iloc[:400].to_csv(d / "train.csv", index=False)
    df.iloc[400:].to_csv(d / "test.csv", index=False)
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(d / "train.csv"), "--label", LABEL,
                        "--objective", "binary:logistic", "--rounds", "10", "--max-depth", "3", "--out",
                        str(d / "model.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for args in (("keygen", "--out", d / "ci"), ("keygen", "--symmetric", "--out", d / "data.key")):
        assert reg(*args).returncode == 0
    sign = ("--registry", d / "reg", "--sign", d / "ci.key", "--encrypt-key", d / "data.key")
    assert reg(*sign, "put", "bc", d / "model.json", "--create").stdout == "1\n"
    assert reg(*sign, "put", "bc", d / "model.json").stdout == "2\n"
    assert reg("--registry", d / "reg", "put", "bc", d / "model.json").stdout == "3\n"  # unsigned, plain
    assert reg("--registry", d / "reg", "alias", "set", "bc", "production", "1").returncode == 0
    assert reg("--registry", d / "reg", "alias", "set", "bc", "canary3", "3").returncode == 0
    (d / "token").write_text(TOKEN + "\n")
    return d, xgb.Booster(model_file=str(d / "model.json")), pd.read_csv(d / "test.csv")


def start(d, *extra, log_dir):
    return serve("--registry", d / "reg", "--name", "bc", "--admin-token-file", d / "token", *extra,
                 log_dir=log_dir, model=None)


def admin(s, op, body):
    status, _, data = s.request("POST", "/admin/" + op, body, {"Authorization": "Bearer " + TOKEN})
    return status, json.loads(data)


def test_trusted_server_serves_signed_encrypted_and_audits_admin_actions(trusted, tmp_path):
    d, booster, test = trusted
    x = features(test, booster)
    with start(d, "--trust", d / "ci.pub", "--encrypt-key", d / "data.key", log_dir=tmp_path) as s:
        status, doc = s.json("POST", "/predict", rows(x.iloc[[0]])[0])
        assert status == 200 and doc["model_version"] == 1
        assert np.float32(doc["predictions"][0]) == booster.inplace_predict(x.iloc[[0]].to_numpy(np.float32))[0]
        assert admin(s, "stage", {"version": 2})[0] == 200
        status, err = admin(s, "stage", {"version": 3})  # unsigned: refused, and the refusal is audited
        assert status != 200 and "'bc' version 3 is unsigned" in err["error"], err
        assert admin(s, "canary", {"fraction": 0.25})[0] == 200
        log = open(s.log).read()
        assert "without signature checks" not in log
    lines = (d / "reg" / ".audit.jsonl").read_bytes().split(b"\n")[:-1]
    entries = [json.loads(x) for x in lines]
    tail = entries[-3:]
    token_id = "admin-token:" + hashlib.blake2b(TOKEN.encode(), digest_size=32).hexdigest()[:16]
    assert [(e["action"], e["actor"]) for e in tail] == [("stage", token_id)] * 2 + [("canary", token_id)]
    assert tail[0]["request"] == {"version": 2} and tail[0]["result"] == "ok"
    assert tail[0]["slots"]["green"] == 2 and tail[0]["name"] == "bc"
    assert tail[1]["result"].startswith("4") and "version 3 is unsigned" in tail[1]["result"]
    assert TOKEN.encode() not in (d / "reg" / ".audit.jsonl").read_bytes()
    for prev, e in zip([b""] + lines, entries):
        assert e["prev"] == "blake2b-256:" + hashlib.blake2b(prev, digest_size=32).hexdigest()
    r = reg("--registry", d / "reg", "audit", "verify")
    assert r.returncode == 0 and r.stdout == "audit log: %d entries, chain intact\n" % len(entries), r.stderr


def test_trusted_server_refuses_to_start_on_an_unsigned_production(trusted, tmp_path):
    d, _, _ = trusted
    r = subprocess.run([os.path.join(BIN, "mlops-serve"), "--registry", d / "reg", "--name", "bc", "--alias",
                        "canary3", "--trust", d / "ci.pub", "--port", "0"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert ("registry: 'bc' version 3 is unsigned, and this registry trusts only versions signed by its trusted "
            "keys") in r.stderr


def test_server_without_trust_says_so(trusted, tmp_path):
    d, _, _ = trusted
    with start(d, "--alias", "canary3", log_dir=tmp_path) as s:
        time.sleep(0.1)
        assert "without signature checks" in open(s.log).read()
