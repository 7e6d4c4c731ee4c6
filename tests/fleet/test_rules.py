"""deploy/prometheus/fleet_rules.yml: promtool accepts it, its unit tests (values computed by
Prometheus' engine) pass, and every counter the rules read is in a real scrape of mlops-serve."""
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from test_serve import ROOT, serve, trained  # noqa: E402,F401

RULES = os.path.join(ROOT, "deploy", "prometheus")


def _promtool(*args):
    return subprocess.run(["promtool", *args], cwd=RULES, capture_output=True, text=True, timeout=60)


def test_promtool_checks_and_unit_tests_pass():
    r = _promtool("check", "rules", "fleet_rules.yml")
    assert r.returncode == 0 and "18 rules found" in r.stdout, r.stdout + r.stderr
    r = _promtool("test", "rules", "fleet_rules_test.yml")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_the_rules_read_counters_the_server_exposes(trained, tmp_path):
    groups = yaml.safe_load(open(os.path.join(RULES, "fleet_rules.yml")))["groups"]
    wanted = {m for g in groups for r in g["rules"] for m in re.findall(r"\b(ml_[a-z_]+_total)\b", r["expr"])}
    d = trained[0]
    with serve(d / "model.json", log_dir=tmp_path) as s:
        assert s.request("GET", "/healthz")[0] == 200
        _, _, text = s.request("GET", "/metrics")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text.decode(), re.M))
    # the model is binary: no regression sums; the rest are counters
    regression = {"ml_model_squared_error_total", "ml_model_absolute_error_total"}
    for name in wanted - regression:
        assert types.get(name) == "counter", name
    assert not regression & set(types)


def test_haproxy_config_is_valid_and_hashes_the_request_id():
    env = dict(os.environ, MLOPS_LB_BIND="127.0.0.1:8080", MLOPS_REPLICA1="127.0.0.1:1", MLOPS_REPLICA2="127.0.0.1:2",
               MLOPS_REPLICA3="127.0.0.1:3")
    cfg = os.path.join(ROOT, "deploy", "haproxy.cfg")
    r = subprocess.run(["haproxy", "-c", "-f", cfg], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Configuration file is valid" in r.stdout + r.stderr, r.stdout + r.stderr
    text = open(cfg).read()
    assert re.search(r"^\s*balance hdr\(X-Request-Id\)$", text, re.M)
    assert re.search(r"^\s*hash-type consistent$", text, re.M)


def test_kubernetes_fleet_manifests_hash_the_request_id_and_share_the_registry():
    d = os.path.join(ROOT, "deploy", "k8s", "fleet")
    docs = {}
    for name in yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))["resources"]:
        for doc in yaml.safe_load_all(open(os.path.join(d, name))):
            docs[(doc["kind"], doc["metadata"]["name"])] = doc
    ing = docs[("Ingress", "mlops-serve")]
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$http_x_request_id"
    assert {p["path"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]} == {"/predict", "/feedback"}
    assert docs[("PersistentVolumeClaim", "mlops-registry")]["spec"]["accessModes"] == ["ReadWriteMany"]
    pod = docs[("StatefulSet", "mlops-serve")]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--registry") + 1] == "/registry" and int(args[args.index("--follow") + 1]) > 0
    assert {"name": "registry", "persistentVolumeClaim": {"claimName": "mlops-registry"}} in pod["volumes"]
