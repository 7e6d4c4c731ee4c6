"""mlops-registry trusted models (issue 19): keygen, signed and encrypted put, check, lineage, audit verify.

Digests and the audit chain are checked against hashlib's BLAKE2b; every refusal with its exit status and
message."""
import hashlib
import json
import os
import stat
import subprocess

import pytest

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(os.environ.get("MLOPS_SOURCE_ROOT", "."), "tests", "fixtures"))
MODEL = os.path.join(FIX, "models", "binary_logistic.json")
OTHER = os.path.join(FIX, "models", "reg_squarederror.json")


def reg(*args, cwd=None):
    return subprocess.run([os.path.join(BIN, "mlops-registry"), *map(str, args)], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


@pytest.fixture
def keys(tmp_path):
    r = reg("keygen", "--out", tmp_path / "alice")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(tmp_path / "alice.key"), str(tmp_path / "alice.pub")]
    assert reg("keygen", "--out", tmp_path / "mallory").returncode == 0
    assert reg("keygen", "--symmetric", "--out", tmp_path / "data.key").returncode == 0
    return tmp_path


def test_keygen_files_and_refusals(keys):
    assert os.path.getsize(keys / "alice.key") == 64 and os.path.getsize(keys / "alice.pub") == 32
    assert stat.S_IMODE(os.stat(keys / "alice.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys / "data.key").st_mode) == 0o600
    assert os.path.getsize(keys / "data.key") == 32
    r = reg("keygen", "--out", keys / "alice")
    assert r.returncode == 2 and "exists; not replacing a key" in r.stderr
    os.chmod(keys / "alice.key", 0o644)
    r = reg("--registry", keys / "reg", "--sign", keys / "alice.key", "put", "m", MODEL, "--create")
    assert r.returncode == 2
    assert r.stderr == (f"mlops-registry: registry: signing key {keys / 'alice.key'} is readable by group or others "
                        "(mode 0644); a private key must be mode 0600 (chmod 600 it)\n")
    assert not (keys / "reg").exists()
    os.mkfifo(keys / "fifo.pub")
    r = reg("--registry", keys / "reg", "--trust", keys / "fifo.pub", "list")
    assert r.returncode == 2 and "not a regular file (it is a FIFO)" in r.stderr


def test_signed_encrypted_put_check_lineage_and_audit(keys):
    d = keys / "reg"
    sign = ["--sign", keys / "alice.key", "--encrypt-key", keys / "data.key"]
    trust = ["--trust", keys / "mallory.pub", "--trust", keys / "alice.pub", "--encrypt-key", keys / "data.key"]
    r = reg("--registry", d, *sign, "--actor", "ci", "put", "fraud", MODEL, "--create")
    assert (r.returncode, r.stdout) == (0, "1\n"), r.stderr
    r = reg("--registry", d, *sign, "put", "fraud", MODEL, "--metadata",
            json.dumps({"lineage": {"parent": 1, "params": {"eta": 0.3}}}))
    assert (r.returncode, r.stdout) == (0, "2\n"), r.stderr
    # the stored bytes are not the model; the manifest stays readable and says so
    plain = open(MODEL, "rb").read()
    stored = (d / "fraud" / "1" / "model.bin").read_bytes()
    assert plain[:64] not in stored and len(stored) == 24 + len(plain) + 17 * -(-len(plain) // 65536)
    info = json.loads(reg(d, "info", "fraud", "1").stdout)
    assert info["digest"] == "blake2b-256:" + hashlib.blake2b(stored, digest_size=32).hexdigest()
    assert info["encryption"]["plain_size"] == len(plain) and info["signature"]["algorithm"] == "ed25519"
    r = reg("--registry", d, *trust, "check", "fraud", "2")
    assert (r.returncode, r.stdout) == (0, "fraud\t2\tok\n"), r.stderr
    r = reg("--registry", d, *trust, "lineage", "fraud", "2")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["version"] for x in lines] == [2, 1] and lines[0]["lineage"] == {"parent": 1, "params": {"eta": 0.3}}
    assert reg("--registry", d, "alias", "set", "fraud", "production", "2").returncode == 0
    r = reg("--registry", d, "audit", "verify")
    assert (r.returncode, r.stdout) == (0, "audit log: 3 entries, chain intact\n"), r.stderr
    entries = [json.loads(x) for x in (d / ".audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in entries] == ["put", "put", "alias"]
    assert entries[0]["actor"] == "ci" and entries[0]["encrypted"] is True and entries[2]["version"] == 2
    # the chain: each prev is hashlib's BLAKE2b-256 of the previous line
    raw = (d / ".audit.jsonl").read_bytes().split(b"\n")[:-1]
    for prev, e in zip([b""] + raw, entries):
        assert e["prev"] == "blake2b-256:" + hashlib.blake2b(prev, digest_size=32).hexdigest()


def put_signed(keys, n=2):
    d = keys / "reg"
    for i in range(n):
        r = reg("--registry", d, "--sign", keys / "alice.key", "put", "m", MODEL, "--create")
        assert r.returncode == 0, r.stderr
    return d


def check(keys, d, version, *extra):
    return reg("--registry", d, "--trust", keys / "alice.pub", *extra, "check", "m", version)


def test_check_refuses_unsigned_and_unknown_key(keys):
    d = put_signed(keys, 1)
    assert reg(d, "put", "m", MODEL).returncode == 0  # version 2, unsigned
    r = check(keys, d, 2)
    assert r.returncode == 4
    assert r.stderr == ("mlops-registry: registry: 'm' version 2 is unsigned, and this registry trusts only versions "
                        "signed by its trusted keys\n")
    assert reg("--registry", d, "--sign", keys / "mallory.key", "put", "m", MODEL).stdout == "3\n"
    r = check(keys, d, 3)
    assert r.returncode == 4 and "'m' version 3 is signed by key " in r.stderr and "which is not trusted" in r.stderr
    assert check(keys, d, 1).returncode == 0


def test_check_refuses_swapped_model_edited_manifest_and_moved_signature(keys):
    d = put_signed(keys, 3)
    # swapped model, manifest size and digest rewritten to match: the signature no longer does
    other = open(OTHER, "rb").read()
    (d / "m" / "1" / "model.bin").write_bytes(other)
    man = json.loads((d / "m" / "1" / "manifest.json").read_text())
    man["size"], man["digest"] = len(other), "blake2b-256:" + hashlib.blake2b(other, digest_size=32).hexdigest()
    (d / "m" / "1" / "manifest.json").write_text(json.dumps(man))
    r = check(keys, d, 1)
    assert r.returncode == 4 and "'m' version 1: the signature by key " in r.stderr
    assert "does not match the manifest (it was edited, or the signature belongs to another version)" in r.stderr
    # edited manifest
    man = json.loads((d / "m" / "2" / "manifest.json").read_text())
    man["metadata"] = {"approved": True}
    (d / "m" / "2" / "manifest.json").write_text(json.dumps(man))
    r = check(keys, d, 2)
    assert r.returncode == 4 and "'m' version 2: the signature by key " in r.stderr
    # signature of version 2 moved onto version 3
    m3 = json.loads((d / "m" / "3" / "manifest.json").read_text())
    m3["signature"] = json.loads((d / "m" / "1" / "manifest.json").read_text())["signature"]
    (d / "m" / "3" / "manifest.json").write_text(json.dumps(m3))
    r = check(keys, d, 3)
    assert r.returncode == 4 and "'m' version 3: the signature by key " in r.stderr


def test_check_refuses_wrong_key_and_truncated_ciphertext(keys):
    d = keys / "reg"
    assert reg("--registry", d, "--encrypt-key", keys / "data.key", "put", "m", MODEL, "--create").returncode == 0
    assert reg("keygen", "--symmetric", "--out", keys / "other.key").returncode == 0
    r = reg("--registry", d, "--encrypt-key", keys / "other.key", "check", "m", "1")
    assert r.returncode == 4 and "'m' version 1 is encrypted with key " in r.stderr
    assert "(wrong decryption key)" in r.stderr
    r = reg("--registry", d, "check", "m", "1")
    assert r.returncode == 2 and "open the registry with its encryption key" in r.stderr
    blob = d / "m" / "1" / "model.bin"
    data = blob.read_bytes()
    blob.write_bytes(data[:-10])
    r = reg("--registry", d, "--encrypt-key", keys / "data.key", "check", "m", "1")
    assert r.returncode == 4
    assert r.stderr == f"mlops-registry: registry: 'm' version 1 is {len(data) - 10} bytes, its manifest records " \
                       f"{len(data)}\n"


def test_audit_verify_names_removed_edited_and_reordered_lines(keys):
    d = put_signed(keys, 3)
    assert reg(d, "alias", "set", "m", "production", "3").returncode == 0
    log = d / ".audit.jsonl"
    good = log.read_text().splitlines(keepends=True)
    assert len(good) == 4
    cases = [
        (good[:1] + good[2:], "registry: audit log line 2 holds entry 3: entries before it were removed or reordered"),
        ([good[0], good[1].replace('"result":"ok"', '"result":"no"'), good[2], good[3]],
         "registry: audit log line 2 was edited: its digest does not match the prev of line 3"),
        ([good[0], good[2], good[1], good[3]],
         "registry: audit log line 2 holds entry 3: entries before it were removed or reordered"),
        (good[:3], "registry: audit log has 3 lines, its head records 4: line 4 was removed"),
    ]
    for lines, msg in cases:
        log.write_text("".join(lines))
        r = reg(d, "audit", "verify")
        assert (r.returncode, r.stderr) == (4, f"mlops-registry: {msg}\n"), lines
    log.write_text("".join(good))
    assert reg(d, "audit", "verify").returncode == 0


def test_train_records_lineage(keys):
    data = os.path.join(os.environ.get("MLOPS_SOURCE_ROOT", "."), "examples", "data", "breast_cancer.csv")
    d = keys / "reg"
    for i, depth in enumerate((2, 3)):
        r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", data, "--label", "malignant0_benign1",
                            "--rounds", "5", "--max-depth", str(depth), "--out", str(keys / "m.json"), "--force",
                            "--registry", str(d), "--name", "bc", "--sign", str(keys / "alice.key")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert f"mlops-train: registered bc version {i + 1} in {d}\n" in r.stdout
    r = reg("--registry", d, "--trust", keys / "alice.pub", "lineage", "bc")
    assert r.returncode == 0, r.stderr
    chain = [json.loads(x) for x in r.stdout.splitlines()]
    assert [c["version"] for c in chain] == [2, 1]
    lin = chain[0]["lineage"]
    assert lin["parent"] == 1 and "parent" not in chain[1]["lineage"]
    assert lin["data"] == [{"path": data, "digest": "blake2b-256:" + hashlib.blake2b(
        open(data, "rb").read(), digest_size=32).hexdigest()}]
    assert lin["params"]["max_depth"] == 3 and lin["params"]["rounds"] == 5 and lin["params"]["eta"] == 0.3
    assert lin["params"]["objective"] == "binary:logistic" and lin["tools"]["trainer"] == "mlops-train"
    import xgboost
    assert lin["tools"]["xgboost"] == xgboost.__version__
    r = reg("--registry", d, "--trust", keys / "alice.pub", "check", "bc", "2")
    assert r.returncode == 0, r.stderr
    r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", data, "--label", "malignant0_benign1",
                        "--out", str(keys / "n.json"), "--force", "--registry", str(d)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "--registry needs --name NAME" in r.stderr
