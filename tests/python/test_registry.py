"""mlops.Registry: round trips checked against XGBoost itself, digests against hashlib,
aliases, deletes, tampering, bad input, threads and a second process.

Run by `meson test` (suite python) with MLOPS_LIBRARY, PYTHONPATH and MLOPS_FIXTURES set.
"""
import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import xgboost as xgb

import mlops
from mlops import registry as mregistry

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.normpath(os.path.join(HERE, "..", "..")))
BUILD = os.environ.get("MLOPS_BUILD_ROOT", os.path.join(SRC, "build"))
FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(SRC, "tests", "fixtures"))
FX = json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"][0]  # binary:logistic, 30 features
MODEL = os.path.join(FIX, FX["models"]["json"])
UBJ = os.path.join(FIX, FX["models"]["ubjson"])
X = np.fromfile(os.path.join(FIX, FX["x"]), dtype="<f4").reshape(FX["n_rows"], FX["n_features"])


@pytest.fixture
def reg(tmp_path):
    with mlops.Registry(tmp_path / "reg", create=True) as r:
        yield r


def test_put_load_predicts_like_xgboost(reg):
    assert reg.put("fraud", MODEL) == 1
    assert reg.put("fraud", open(UBJ, "rb").read(), metadata={"auc": 0.97, "tags": ["a"]}) == 2
    assert reg.versions("fraud") == [1, 2]
    booster = xgb.Booster(model_file=MODEL)
    want = booster.inplace_predict(X)
    for ref in (None, 1, 2, "latest"):
        with reg.load("fraud", ref) as m:
            np.testing.assert_allclose(m.predict(X), want, rtol=1e-6, atol=1e-7)
    info = reg.info("fraud", 2)
    assert info["metadata"] == {"auc": 0.97, "tags": ["a"]}
    assert info["size"] == os.path.getsize(UBJ) and info["name"] == "fraud" and info["version"] == 2
    assert info["digest"] == "blake2b-256:" + hashlib.blake2b(open(UBJ, "rb").read(), digest_size=32).hexdigest()
    assert "metadata" not in reg.info("fraud", 1)
    # the stored bytes are exactly the file's
    with open(os.path.join(reg.path, "fraud", "1", "model.bin"), "rb") as f:
        assert f.read() == open(MODEL, "rb").read()


def test_aliases_and_delete(reg):
    for _ in range(3):
        reg.put("m", MODEL)
    reg.set_alias("m", "production", 2)
    assert reg.resolve("m", "production") == 2
    assert reg.resolve("m") == 3 and reg.resolve("m", "latest") == 3
    assert reg.info("m", "production")["aliases"] == ["production"]
    with reg.load("m", "production") as m:
        assert m.n_features == 30
    with pytest.raises(mlops.StateError) as e:
        reg.delete("m", 2)
    assert "production" in e.value.message
    assert reg.versions("m") == [1, 2, 3]
    reg.set_alias("m", "production", 3)
    reg.delete("m", 2)
    assert reg.versions("m") == [1, 3]
    reg.remove_alias("m", "production")
    reg.delete("m", 3)
    assert reg.put("m", MODEL) == 4  # numbers are never reused
    with pytest.raises(mlops.NotFoundError):
        reg.remove_alias("m", "production")
    with pytest.raises(mlops.InvalidArgumentError, match="reserved"):
        reg.set_alias("m", "latest", 1)


def test_tampered_model_is_refused(reg):
    reg.put("m", MODEL)
    path = os.path.join(reg.path, "m", "1", "model.bin")
    data = bytearray(open(path, "rb").read())
    data[500] ^= 0x20
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(mlops.IntegrityError) as e:
        reg.load("m")
    assert path in e.value.message and "BLAKE2b-256" in e.value.message and e.value.status == -15


def test_truncated_manifest_is_a_format_error(reg):
    reg.put("m", MODEL)
    reg.put("m", MODEL)
    path = os.path.join(reg.path, "m", "2", "manifest.json")
    with open(path, "r+b") as f:
        f.truncate(30)
    with pytest.raises(mlops.FormatError) as e:
        reg.load("m", 2)
    assert "manifest.json" in e.value.message
    with reg.load("m", 1) as m:  # the other version is unaffected
        assert m.n_features == 30


def test_unknown_and_bad_input(reg, tmp_path):
    reg.put("m", MODEL)
    for call in (lambda: reg.load("nope"), lambda: reg.load("m", 7), lambda: reg.load("m", "prod"),
                 lambda: reg.versions("nope"), lambda: reg.delete("m", 9), lambda: reg.set_alias("m", "prod", 5)):
        with pytest.raises(mlops.NotFoundError) as e:
            call()
        assert e.value.status == -10 and e.value.message
    before = sorted(os.listdir(reg.path))
    for bad in ("", ".x", "../evil", "a/b", "a b", "x" * 129, "nul\0byte"):
        with pytest.raises(mlops.InvalidArgumentError):
            reg.put(bad, b"abc")
        with pytest.raises(mlops.InvalidArgumentError):
            reg.set_alias("m", bad, 1)
    assert sorted(os.listdir(reg.path)) == before
    assert not os.path.exists(tmp_path / "evil")
    with pytest.raises(mlops.FormatError, match="metadata"):
        reg.put("m", MODEL, metadata=["not", "an", "object"])
    with pytest.raises(mlops.InvalidArgumentError):
        reg.put("m", b"")
    with pytest.raises(mlops.InvalidArgumentError):
        reg.load("m", 0)
    with pytest.raises(TypeError):
        reg.put("m", 42)
    with pytest.raises(mlops.IOError_):
        reg.put("m", str(tmp_path / "missing.json"))
    assert reg.versions("m") == [1]
    with pytest.raises(mlops.NotFoundError):
        mlops.Registry(tmp_path / "absent")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file").write_text("x")
    with pytest.raises(mlops.FormatError, match="not a registry"):
        mlops.Registry(tmp_path / "junk", create=True)


def test_limits(tmp_path):
    with mlops.Registry(tmp_path / "r", create=True, max_model_bytes=1000) as r:
        with pytest.raises(mlops.LimitError):
            r.put("m", MODEL)
        assert r.put("m", b"x" * 1000) == 1


def test_close_and_context_manager(tmp_path):
    r = mlops.Registry(tmp_path / "r", create=True)
    r.put("m", MODEL)
    m = r.load("m")
    r.close()
    r.close()
    with pytest.raises(mlops.StateError):
        r.versions("m")
    assert m.predict(X[:2]).shape == (2,)  # a loaded model outlives the registry
    m.close()
    with mlops.Registry(tmp_path / "r") as r2:  # reopen without create
        assert r2.versions("m") == [1]
    assert "closed" in repr(r2)


def test_threads_and_another_process_get_distinct_versions(reg):
    code = ("import mlops, sys\n"
            "with mlops.Registry(sys.argv[1]) as r:\n"
            "    for _ in range(6): r.put('m', sys.argv[2])\n")
    child = subprocess.Popen([sys.executable, "-c", code, reg.path, UBJ])
    errors = []

    def work():
        try:
            for _ in range(6):
                v = reg.put("m", MODEL)
                reg.set_alias("m", "prod", v)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert child.wait(timeout=120) == 0
    assert not errors, errors
    assert reg.versions("m") == list(range(1, 19))
    assert 1 <= reg.resolve("m", "prod") <= 18
    for v in reg.versions("m"):
        reg.load("m", v).close()


def test_struct_mirror_matches_c(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    S = mregistry.RegistryOpts
    prog = ['#include <stdio.h>', '#include <stddef.h>', '#include "mlops/registry.h"', "int main(void) {",
            'printf("%zu\\n", sizeof(mlops_registry_opts));']
    prog += ['printf("%%zu\\n", offsetof(mlops_registry_opts, %s));' % f for f, _ in S._fields_]
    prog += ["return 0; }"]
    (tmp_path / "l.c").write_text("\n".join(prog))
    subprocess.run([cc, "-std=c11", "-I", os.path.join(SRC, "include"), "-I", os.path.join(BUILD, "include"),
                    str(tmp_path / "l.c"), "-o", str(tmp_path / "l")], check=True)
    got = [int(v) for v in subprocess.run([str(tmp_path / "l")], capture_output=True, text=True).stdout.split()]
    assert got == [ctypes.sizeof(S)] + [getattr(S, f).offset for f, _ in S._fields_]
    o = S()
    mregistry._opts_init(ctypes.byref(o))
    assert (o.version, o.create, o.max_model_bytes, o.max_metadata_bytes) == (2, 0, 0, 0)
    assert (o.n_trust_keys, o.sign_key, o.encryption_key, o.audit, o.actor) == (0, None, None, 0, None)


def test_gc_and_verify(reg):
    reg.put("m", MODEL)
    reg.put("m", UBJ)
    # a put killed before its manifest: bytes in version 3, which nothing lists
    os.mkdir(os.path.join(reg.path, "m", "3"))
    orphan = os.path.join(reg.path, "m", "3", "model.bin")
    shutil.copy(MODEL, orphan)
    blob = os.path.join(reg.path, "m", "2", "model.bin")
    data = bytearray(open(blob, "rb").read())
    data[100] ^= 0x01
    open(blob, "wb").write(data)
    rep = reg.verify()
    assert rep["checked"] == 2
    assert [(p["name"], p["version"]) for p in rep["problems"]] == [("m", 2)]
    assert "digest" in rep["problems"][0]["error"]
    assert [(o["name"], o["version"]) for o in rep["orphans"]] == [("m", 3)]
    assert reg.verify("m")["checked"] == 2
    with pytest.raises(mlops.NotFoundError):
        reg.verify("nope")
    assert reg.gc() == 0  # the orphan is younger than an hour: a put may still be writing it
    assert os.path.exists(orphan)
    assert reg.gc(0) == 1
    assert not os.path.exists(orphan)
    assert reg.versions("m") == [1, 2]
    assert reg.put("m", MODEL) == 4  # number 3 stays used
    with pytest.raises(TypeError):
        reg.gc("0")
    with pytest.raises(mlops.InvalidArgumentError):
        reg.gc(-1)
