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
