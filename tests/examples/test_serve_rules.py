"""deploy/latency_rules.yml: promtool accepts it and its unit tests (deploy/latency_rules_test.yml,
quantiles as Prometheus computes them) pass, and the HTTP histogram it reads is in a real scrape of
mlops-serve (the per-variant one appears once an A/B experiment runs: test_serve_deploy.py)."""
import os
import re
import subprocess

import pytest
import yaml

from test_serve import ROOT, serve, trained  # noqa: F401

DEPLOY = os.path.join(ROOT, "deploy")


def test_promtool_checks_and_unit_tests_pass():
    r = subprocess.run(["promtool", "check", "rules", "latency_rules.yml"], cwd=DEPLOY, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "7 rules found" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(["promtool", "test", "rules", "latency_rules_test.yml"], cwd=DEPLOY, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_the_rules_read_histograms_the_server_exposes(trained, tmp_path):
    rules = yaml.safe_load(open(os.path.join(DEPLOY, "latency_rules.yml")))["groups"][0]["rules"]
    wanted = {m for r in rules for m in re.findall(r"\b([a-z_]+_duration_seconds)_bucket\b", r["expr"])}
    assert wanted == {"http_request_duration_seconds", "ml_ab_request_duration_seconds"}
    d = trained[0]
    with serve(d / "model.json", log_dir=tmp_path) as s:
        assert s.request("GET", "/healthz")[0] == 200
        _, _, text = s.request("GET", "/metrics")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text.decode(), re.M))
    assert types.get("http_request_duration_seconds") == "histogram"
    assert 'http_request_duration_seconds_bucket{handler="healthz",code_class="2xx",le="1e-06"}' in text.decode()
