"""deploy/grafana: the dashboard JSON is well formed for Grafana (unique panel ids, every target with
a query, grid inside 24 columns, the provisioned data source), every PromQL expression in it passes
`promtool check rules` (collected into a temporary rules file, the dashboard variable $job replaced by
the regex its "All" value stands for), every metric it reads is in a real scrape of mlops-serve or a
recording rule of deploy/, and promtool evaluates the fleet accuracy to the labelled-weighted mean.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

from test_serve import LABEL, features, rows  # noqa: E402
from test_serve_deploy import TOKEN, admin, registry, start  # noqa: E402,F401

ROOT = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
GRAFANA = os.path.join(ROOT, "deploy", "grafana")
DASHBOARD = os.path.join(GRAFANA, "dashboards", "mlops-serve.json")


def load():
    with open(DASHBOARD) as f:
        return json.load(f)


def queries(dash):
    """(where, expr) of every target and annotation, $job as its 'All' value."""
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append(("panel %d (%s) %s" % (p["id"], p["title"], t["refId"]), t["expr"]))
    for a in dash["annotations"]["list"]:
        out.append(("annotation " + a["name"], a["expr"]))
    job = next(v for v in dash["templating"]["list"] if v["name"] == "job")
    return [(w, e.replace("$job", job["allValue"])) for w, e in out]


def promtool(tmp_path, name, doc, command="check"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.run(["promtool", command, "rules", str(path)], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)


def test_dashboard_structure_and_provisioning():
    dash = load()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] == "mlops-serve"
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] != "row":
            assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]), p["title"]
            assert p["datasource"]["uid"] == "${datasource}"
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for wanted in ("fleet accuracy", "latency per variant", "accuracy per variant", "drift statistic per feature",
                   "promotions and rollbacks", "errors by reason"):
        assert wanted in titles, wanted
    ds = yaml.safe_load(open(os.path.join(GRAFANA, "provisioning", "datasources", "prometheus.yml")))
    assert ds["datasources"][0]["type"] == "prometheus"
    var = next(v for v in dash["templating"]["list"] if v["name"] == "datasource")
    assert var["query"] == ds["datasources"][0]["type"]
    prov = yaml.safe_load(open(os.path.join(GRAFANA, "provisioning", "dashboards", "mlops.yml")))
    assert prov["providers"][0]["type"] == "file" and prov["providers"][0]["options"]["path"]


def test_every_expression_passes_promtool(tmp_path):
    qs = queries(load())
    assert len(qs) >= 20
    rules = [{"record": "dashboard:query_%d:expr" % i, "expr": e} for i, (_, e) in enumerate(qs)]
    r = promtool(tmp_path, "dashboard_rules.yml", {"groups": [{"name": "dashboard", "rules": rules}]})
    assert r.returncode == 0 and "SUCCESS: %d rules found" % len(rules) in r.stdout, r.stdout + r.stderr
    # and the check can fail: one broken expression is reported
    rules[0]["expr"] = "sum(rate(ml_http_requests_total[5m])"
    r = promtool(tmp_path, "broken_rules.yml", {"groups": [{"name": "dashboard", "rules": rules}]})
    assert r.returncode != 0


def test_fleet_accuracy_is_weighted_by_labelled_predictions(tmp_path):
    """Two servers: accuracy 0.9 over 100 labels and 0.6 over 300: the fleet's is 270 / 400."""
    [(_, fleet)] = [(w, e) for w, e in queries(load()) if w.startswith("panel 2 ") and w.endswith(" A")]
    rules = {"groups": [{"name": "fleet", "rules": [{"record": "fleet:accuracy", "expr": fleet}]}]}
    (tmp_path / "fleet.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    series = [('ml_model_accuracy{job="mlops-serve", instance="a:8080"}', "0.9x10"),
              ('ml_model_accuracy{job="mlops-serve", instance="b:8080"}', "0.6x10"),
              ('ml_model_window_metric{job="mlops-serve", instance="a:8080", metric="count"}', "100x10"),
              ('ml_model_window_metric{job="mlops-serve", instance="b:8080", metric="count"}', "300x10"),
              # a server without labels yet has no accuracy: it must not dilute the fleet's
              ('ml_model_window_metric{job="mlops-serve", instance="c:8080", metric="count"}', "0x10")]
    test = {"rule_files": ["fleet.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
        "promql_expr_test": [{"expr": "fleet:accuracy", "eval_time": "5m",
                              "exp_samples": [{"labels": "fleet:accuracy", "value": 0.675}]}]}]}
    r = promtool(tmp_path, "fleet_test.yml", test, command="test")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def recorded_names():
    names = set()
    for f in os.listdir(os.path.join(ROOT, "deploy")):
        if f.endswith(".yml") and not f.endswith("_test.yml"):
            doc = yaml.safe_load(open(os.path.join(ROOT, "deploy", f))) or {}
            for g in doc.get("groups", []) if isinstance(doc, dict) else []:
                names.update(r["record"] for r in g.get("rules", []) if "record" in r)
    return names


def test_every_metric_read_is_exposed_or_recorded(registry, tmp_path):
    d, _, test, boosters = registry
    x = features(test, boosters[1])
    y = test[LABEL].to_numpy()
    with start(registry, "--reference", d / "v1.csv", "--window", 50, "--max-body-memory", 8192,
               "--header-timeout", 1, log_dir=tmp_path) as s:
        for i in range(60):  # labelled predictions: window metrics and drift
            status, doc = s.json("POST", "/predict", rows(x.iloc[[i]])[0], {"X-Request-Id": "p%d" % i})
            assert status == 200, doc
            assert s.json("POST", "/feedback", {"id": "p%d" % i, "label": int(y[i])})[0] == 200
        big = json.dumps(rows(x.iloc[:10]))  # more than the unfinished bodies may hold: refused
        assert len(big) > 8192 and s.request("POST", "/predict", big)[0] == 503
        assert admin(s, "POST", "stage", {"version": 2})[0] == 200
        assert admin(s, "POST", "canary", {"fraction": 0.1})[0] == 200
        assert admin(s, "POST", "shadow", {"enabled": True})[0] == 200
        assert admin(s, "POST", "promote", {"force": True})[0] == 200
        assert admin(s, "POST", "rollback")[0] == 200
        body = {"variants": [{"name": "control", "version": 1, "weight": 50},
                             {"name": "treatment", "version": 2, "weight": 50}]}
        assert s.request("PUT", "/admin/ab", body, {"Authorization": "Bearer " + TOKEN,
                                                    "Content-Type": "application/json"})[0] == 200
        for i in range(10):
            s.json("POST", "/predict", rows(x.iloc[[i]])[0], {"X-User-Id": "u%d" % i, "X-Request-Id": "ab%d" % i})
            s.json("POST", "/feedback", {"id": "ab%d" % i, "label": int(y[i])})
        s.request("POST", "/predict", "{")  # an error with a reason
        slow = socket.create_connection(("127.0.0.1", s.port))  # misses its header deadline
        slow.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(2.0)
        slow.close()
        _, _, prom = s.request("GET", "/metrics")
    exposed = set(re.findall(r"^# TYPE (\S+) ", prom.decode(), re.M))
    for m in list(exposed):
        exposed.update({m + "_bucket", m + "_count", m + "_sum"})
    known = exposed | recorded_names()
    used = set()
    for _, e in queries(load()):
        e = re.sub(r'"[^"]*"', '""', e)  # label values are not names
        e = re.sub(r"\[[^\]]*\]", "", e)
        for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{)\s]|$)", e):
            if name.startswith("ml_") or ":" in name or name.startswith("http_"):
                used.add(name)
    assert used and used <= known, sorted(used - known)
    for m in ("ml_http_limited_requests_total", "ml_http_dropped_connections_total", "ml_ab_accuracy",
              "ml_deploy_rollbacks_total", "ml_feature_drift_statistic"):
        assert m in used
