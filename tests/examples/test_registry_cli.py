"""mlops-registry: every command end to end; digests checked against hashlib, loads against XGBoost."""
import hashlib
import json
import os
import subprocess

import pytest

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(os.environ.get("MLOPS_SOURCE_ROOT", "."), "tests", "fixtures"))
FX = json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"][0]
MODEL = os.path.join(FIX, FX["models"]["json"])
UBJ = os.path.join(FIX, FX["models"]["ubjson"])


def reg(*args):
    return subprocess.run([os.path.join(BIN, "mlops-registry"), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def store(tmp_path):
    d = tmp_path / "reg"
    r = reg(d, "put", "fraud", MODEL, "--create", "--metadata", '{"auc": 0.97}')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"
    return d


def test_put_list_info_alias_delete(store):
    assert reg(store, "put", "fraud", UBJ).stdout == "2\n"
    assert reg(store, "put", "other", MODEL).stdout == "1\n"
    r = reg(store, "list")
    assert sorted(r.stdout.splitlines()) == ["fraud\t1", "fraud\t2", "other\t1"]
    assert reg(store, "list", "fraud").stdout == "fraud\t1\nfraud\t2\n"
    info = json.loads(reg(store, "info", "fraud", "1").stdout)
    assert info["digest"] == "blake2b-256:" + hashlib.blake2b(open(MODEL, "rb").read(), digest_size=32).hexdigest()
    assert info["metadata"] == {"auc": 0.97}
    assert json.loads(reg(store, "info", "fraud").stdout)["version"] == 2  # latest
    assert reg(store, "alias", "set", "fraud", "production", "1").returncode == 0
    info = json.loads(reg(store, "info", "fraud", "production").stdout)
    assert info["version"] == 1 and info["aliases"] == ["production"]
    r = reg(store, "delete", "fraud", "1")
    assert r.returncode == 2 and "alias 'production' points at it" in r.stderr
    assert reg(store, "alias", "rm", "fraud", "production").returncode == 0
    assert reg(store, "delete", "fraud", "1").returncode == 0
    assert reg(store, "list", "fraud").stdout == "fraud\t2\n"


def test_verify_and_gc(store):
    assert reg(store, "put", "fraud", UBJ).returncode == 0
    r = reg(store, "verify")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"checked": 2, "problems": [], "orphans": []}
    blob = store / "fraud" / "2" / "model.bin"
    data = bytearray(blob.read_bytes())
    data[7] ^= 1
    blob.write_bytes(bytes(data))
    os.mkdir(store / "fraud" / "3")
    (store / "fraud" / "3" / "model.bin").write_bytes(b"killed put")
    r = reg(store, "verify", "fraud")
    assert r.returncode == 1 and "damaged" in r.stderr
    rep = json.loads(r.stdout)
    assert [(p["version"], "digest" in p["error"]) for p in rep["problems"]] == [(2, True)]
    assert [o["version"] for o in rep["orphans"]] == [3]
    assert reg(store, "gc").stdout == "removed 0 files\n"  # young: a put may be running
    assert reg(store, "gc", "--min-age", "0").stdout == "removed 1 file\n"
    assert not (store / "fraud" / "3" / "model.bin").exists()


@pytest.mark.parametrize("args, needle", [
    (["list"], "does not exist"),
    (["info", "nope"], "no model named 'nope'"),
    (["info", "fraud", "9"], "has no version 9"),
    (["info", "fraud", "0x1"], "not a version number"),
    (["alias", "set", "fraud", "prod", "-1"], "not a version number"),
    (["alias", "rm", "fraud", "prod"], "has no alias 'prod'"),
    (["gc", "--min-age", "soon"], "number of seconds"),
    (["frobnicate"], "unknown command"),
    (["put", "fraud", "/nonexistent/model.json"], "/nonexistent/model.json"),
    (["put", "bad name", MODEL], "has character 0x20"),
    (["put", "fraud", MODEL, "--metadata", "[1]"], "metadata must be a JSON object"),
])
def test_errors_are_clear(store, tmp_path, args, needle):
    d = tmp_path / "missing" if args == ["list"] else store
    r = reg(d, *args)
    assert r.returncode == 2
    assert needle in r.stderr, r.stderr
    assert r.stdout == ""


def test_fifo_as_model_file_does_not_hang(store, tmp_path):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    r = reg(store, "put", "fraud", fifo)
    assert r.returncode == 2 and "FIFO" in r.stderr
