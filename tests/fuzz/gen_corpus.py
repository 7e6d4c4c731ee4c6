#!/usr/bin/python3
"""Write the seed corpora of the state/manifest/CSV harnesses with the library itself
(seeds only steer the fuzzer; nothing is checked against them).
Run: MLOPS_LIBRARY=build/libmlops.so PYTHONPATH=bindings/python /usr/bin/python3 tests/fuzz/gen_corpus.py"""
import os
import shutil
import tempfile

import numpy as np

import mlops

HERE = os.path.dirname(os.path.abspath(__file__))
C = os.path.join(HERE, "corpus")

rng = np.random.default_rng(1)
for i, (task, kw) in enumerate([("binary", {}), ("regression", {}), ("multiclass", {"n_classes": 3})]):
    m = mlops.Monitor(task, window=8, pending_capacity=4, **kw)
    for j in range(5 + i):
        if task == "multiclass":
            p = rng.dirichlet(np.ones(3))
            m.record([p], [j % 3])
        else:
            m.record([float(rng.random())], [float(j % 2)])
    if task == "binary":
        m.record_prediction("req-1", [0.7], now=1.0)
        m.set_alert("accuracy", 0.8)
    m.save(os.path.join(C, "monitor_state", "%s.state" % task))

ref = rng.normal(size=(40, 3))
ref[:, 2] = rng.integers(0, 4, size=40)
d = mlops.DriftDetector(ref, window=16, feature_names=["a", "b", "c"], categorical=["c"])
d.save(os.path.join(C, "drift_state", "empty_window.state"))
cur = rng.normal(size=(10, 3))
cur[:, 2] = rng.integers(0, 4, size=10)
d.update(cur)
d.save(os.path.join(C, "drift_state", "window.state"))
# drift snapshots without their 8-byte checksum (fuzz_drift_snapshot.c appends it)
os.makedirs(os.path.join(C, "drift_snapshot"), exist_ok=True)
with open(os.path.join(C, "drift_snapshot", "window.snap"), "wb") as f:
    f.write(d.snapshot().to_bytes()[:-8])
with open(os.path.join(C, "drift_snapshot", "numeric.snap"), "wb") as f:
    e = mlops.DriftDetector(np.round(ref[:, :2], 1), window=8)
    e.update(np.round(cur[:, :2], 1))
    f.write(e.snapshot().to_bytes()[:-8])

tmp = tempfile.mkdtemp()
with mlops.Registry(os.path.join(tmp, "reg"), create=True) as r:
    r.put("m", b"bytes", metadata={"auc": 0.97, "tags": ["a", "b"]})
    r.put("m", b"more bytes")
    r.set_alias("m", "prod", 1)
    # first byte 0: the input is a manifest; 1: an alias file (see fuzz_registry_manifest.c)
    for v in (1, 2):
        data = open(os.path.join(tmp, "reg", "m", str(v), "manifest.json"), "rb").read()
        open(os.path.join(C, "registry_manifest", "manifest%d" % v), "wb").write(b"\0" + data)
    data = open(os.path.join(tmp, "reg", "m", "aliases", "prod"), "rb").read()
    open(os.path.join(C, "registry_manifest", "alias"), "wb").write(b"\1" + data)
# first byte 2: version 2's manifest, signed and encrypted, with lineage; 4: the audit log
mlops.registry.keygen(os.path.join(tmp, "k"))
mlops.registry.keygen(os.path.join(tmp, "sym"), symmetric=True)
with mlops.Registry(os.path.join(tmp, "reg2"), create=True, sign_key=os.path.join(tmp, "k.key"),
                    encryption_key=os.path.join(tmp, "sym"), audit=True) as r:
    r.put("m", b"bytes")
    r.put("m", b"more bytes", metadata={"lineage": {"parent": 1, "params": {"eta": 0.3}, "data": [
        {"path": "train.csv", "digest": "blake2b-256:" + "0" * 64}]}})
    r.set_alias("m", "prod", 2)
    data = open(os.path.join(tmp, "reg2", "m", "2", "manifest.json"), "rb").read()
    open(os.path.join(C, "registry_manifest", "signed_encrypted"), "wb").write(b"\2" + data)
    data = open(os.path.join(tmp, "reg2", ".audit.jsonl"), "rb").read()
    open(os.path.join(C, "registry_manifest", "audit_log"), "wb").write(b"\4" + data)
shutil.rmtree(tmp)

csvs = {
    "plain.csv": "a,b,c\n1,2,3\n4.5,-6e2,.5\n",
    "quoted.csv": 'name,"x,y",z\n"a ""b""",1,2\n"multi\nline",3,4\n',
    "bom_crlf.csv": "\ufeffa,b\r\n1,2\r\n\r\n3,4\r\n",
    "missing.csv": "a,b,c\n,NA,nan\nnull,inf,-Infinity\n",
    "ragged.csv": "a,b,c\n1,2\n1,2,3,4\n",
    "bad.csv": 'a,a\n"1\n0x10,1e999\n"x"y,2\n',
}
for name, text in csvs.items():
    open(os.path.join(C, "csv", name), "w", encoding="utf-8", newline="").write(text)
