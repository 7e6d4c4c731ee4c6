"""docs/serve.md cannot drift from mlops-serve (issue 22; suite 'examples'): its option table lists
exactly the options of `mlops-serve --help`, its endpoint sections name exactly the paths of the
route table in examples/serve/http.c, and the responses it shows are what a real server answers."""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from mdblocks import ROOT
from test_docs import BIN, demo, workdir  # noqa: F401  (demo is a fixture)

DOC = open(os.path.join(ROOT, "docs", "serve.md"), encoding="utf-8").read()
SERVE = os.path.join(BIN, "mlops-serve")


def doc_options():
    table = DOC[DOC.index("## Options"):DOC.index("## Endpoints")]
    return {o for row in table.split("\n") if row.startswith("| `--")
            for o in re.findall(r"(--[a-z][a-z-]+)", row.split("|")[1])}


def test_option_table_is_the_help():
    h = subprocess.run([SERVE, "--help"], capture_output=True, text=True)
    helped = set(re.findall(r"(--[a-z][a-z-]+)", h.stdout + h.stderr)) - {"--help"}
    assert doc_options() == helped, ("only in docs/serve.md: %s; only in --help: %s"
                                     % (sorted(doc_options() - helped), sorted(helped - doc_options())))


def test_endpoints_are_the_route_table():
    src = open(os.path.join(ROOT, "examples", "serve", "http.c"), encoding="utf-8").read()
    routes = set(re.findall(r'\{"(/[a-z/_]*)", R_', src))
    documented = set(re.findall(r"`(/[a-z][a-z/_]*|/)`", DOC[DOC.index("## Endpoints"):DOC.index("## Metrics")]))
    documented |= set(re.findall(r"^### (?:POST|GET) (/[a-z/_]*)", DOC, re.M))
    missing = routes - documented
    assert not missing, "routes of http.c without a section in docs/serve.md: %s" % sorted(missing)


@pytest.fixture(scope="module")
def server(demo, tmp_path_factory):
    d = workdir(demo, tmp_path_factory.mktemp("serve"))
    (d / "admin.token").write_text("doc22-test-token\n")
    os.chmod(d / "admin.token", 0o600)
    p = subprocess.Popen([SERVE, "--model", "model.json", "--schema", "schema.json", "--reference", "train.csv",
                          "--admin-token-file", "admin.token", "--port", "0"], cwd=d, stderr=subprocess.PIPE,
                         text=True)
    port = None
    for line in p.stderr:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
        if m:
            port = int(m.group(1))
            break
    assert port, "mlops-serve did not print its serving line"
    yield "http://127.0.0.1:%d" % port
    p.terminate()
    p.wait(timeout=60)


def call(url, body=None, headers=None):
    rq = urllib.request.Request(url, data=body.encode() if body is not None else None, headers=headers or {})
    try:
        with urllib.request.urlopen(rq, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_documented_statuses_and_bodies(server, demo):
    import pandas as pd
    row = pd.read_csv(demo / "data.csv").iloc[0]
    body = json.dumps({"features": {k: float(v) for k, v in row.items()}})
    J = {"Content-Type": "application/json"}
    code, _, out = call(server + "/predict", body, dict(J, **{"X-Request-Id": "req-1"}))
    assert code == 200 and set(json.loads(out)) == {"predictions", "model", "slot", "engine"}, out
    assert call(server + "/predict", body, dict(J, **{"X-Request-Id": "req-1"}))[0] == 409
    assert call(server + "/predict", body)[0] == 415
    assert call(server + "/predict", '{"features": ', J)[0] == 400
    code, h, _ = call(server + "/predict")
    assert code == 405 and h["Allow"] == "POST"
    code, _, out = call(server + "/feedback", '{"id": "req-1", "label": 1}', J)
    assert code == 200 and json.loads(out) == {"ok": True, "id": "req-1"}
    assert call(server + "/feedback", '{"id": "req-404", "label": 1}', J)[0] == 404
    assert call(server + "/feedback", '{"id": "req-1"}', J)[0] == 400
    assert call(server + "/healthz")[2].strip() == b"ok"
    assert json.loads(call(server + "/ready")[2]) == {"ready": True}
    assert json.loads(call(server + "/ab")[2]) == {"error": "no A/B experiment is running"}
    assert call(server + "/nope")[0] == 404
    assert call(server + "/admin/status")[0] == 401
    assert call(server + "/admin/status", headers={"Authorization": "Bearer x"})[0] == 403
    code, _, out = call(server + "/admin/status", headers={"Authorization": "Bearer doc22-test-token"})
    assert code == 200 and {"live_version", "canary", "shadow", "counters"} <= set(json.loads(out))
    assert call(server + "/drift/window")[0] == 401


def test_documented_metrics_exist(server):
    text = call(server + "/metrics")[2].decode()
    exposed = set(re.findall(r"^(?:# TYPE )?([a-z_:]+)", text, re.M))
    section = DOC[DOC.index("## Metrics"):DOC.index("## Log lines")]
    named = set(re.findall(r"`([a-z_]+_[a-z_]+)(?:\{[^`]*\})?`", section))
    # Only the families every server with --reference has; the others need a registry, an A/B
    # experiment, a limit or --state-dir.
    always = {"ml_prediction_requests_total", "ml_prediction_rows_total", "ml_prediction_errors_total",
              "ml_model_labelled_total", "ml_feedback_unknown_total", "ml_data_drift_score",
              "ml_data_drift_window_rows", "ml_http_requests_total"}
    assert always <= named, sorted(always - named)
    assert always <= exposed, sorted(always - exposed)


def doc_block(after, lang):
    """The first ```lang block after the heading or text `after` in docs/serve.md, as lines."""
    start = DOC.index("```" + lang + "\n", DOC.index(after)) + len(lang) + 4
    return DOC[start:DOC.index("```", start)].rstrip("\n").split("\n")


def json_lines(lines):
    """A JSON example wrapped over lines, as one line (the server prints one)."""
    return "".join(ln.strip() for ln in lines)


def get_table():
    """{path: 200 body} of the GET endpoints table, for the rows whose body is shown literally."""
    section = DOC[DOC.index("### GET endpoints"):DOC.index("### /admin")]
    rows = {}
    for row in section.split("\n"):
        m = re.match(r"^\| `(/[a-z/]*)`(?:, `(/[a-z/]*)`)? \| `([^`]*)`", row)
        if m:
            for path in filter(None, m.group(1, 2)):
                rows[path] = m.group(3)
    return rows


def test_documented_examples(demo, tmp_path):
    """The examples of docs/serve.md are what a server of the demo model answers, in this order:
    the /predict exchange (the data's first row, X-Request-Id req-1), its label (1), the request
    with an invalid second row, the first row once more, /history's second point, every GET body of the table, /admin/status, then the log lines at
    SIGTERM. Compared as test_docs_server compares a README transcript (`...` any text, a decimal
    rounded at the digits shown, blanks collapsed; ports and times normalised)."""
    import csv
    from test_docs_server import line_matches, normalise, outputs_match
    d = workdir(demo, tmp_path)
    (d / "admin.token").write_text("doc22-test-token\n")
    os.chmod(d / "admin.token", 0o600)
    log = open(d / "serve.log", "w+")
    p = subprocess.Popen([SERVE, "--model", "model.json", "--schema", "schema.json", "--reference", "train.csv",
                          "--admin-token-file", "admin.token", "--state-dir", "state", "--port", "0"], cwd=d,
                         stderr=log, stdout=log)
    try:
        port = None
        for _ in range(600):
            m = re.search(r"on http://127\.0\.0\.1:(\d+)/", open(log.name).read())
            if m:
                port = int(m.group(1))
                break
            assert p.poll() is None, open(log.name).read()
            time.sleep(0.1)
        assert port, "mlops-serve did not print its serving line"
        url = "http://127.0.0.1:%d" % port
        row = next(csv.DictReader(open(os.path.join(ROOT, "examples", "data", "breast_cancer.csv"))))
        row.pop("malignant0_benign1")
        features = {k: float(v) for k, v in row.items()}
        J = {"Content-Type": "application/json"}
        failures = []

        def same(what, want, got):
            if not line_matches(normalise(want), normalise(got)):
                failures.append("%s: the server answers\n%s\ndocs/serve.md shows\n%s" % (what, got, want))

        code, _, out = call(url + "/predict", json.dumps({"features": features}), dict(J, **{"X-Request-Id": "req-1"}))
        same("POST /predict", doc_block("### POST /predict", "http")[-1], out.decode().strip())
        assert call(url + "/feedback", '{"id": "req-1", "label": 1}', J)[0] == 200
        bad = dict(features, mean_radius=-5.0)
        code, _, out = call(url + "/predict", json.dumps([{"features": features}, {"features": bad}]), J)
        assert code == 422
        same("POST /predict, an invalid row", json_lines(doc_block("Some rows invalid", "json")), out.decode().strip())
        assert call(url + "/predict", json.dumps({"features": features}), J)[0] == 200  # a third row for /drift
        for _ in range(100):  # /history samples once a second; the example shows two points or more
            if len(json.loads(call(url + "/history")[2])["points"]) >= 2:
                break
            time.sleep(0.1)
        for path, want in sorted(get_table().items()):
            code, _, out = call(url + path)
            same("GET " + path, want, out.decode().strip())
        code, _, out = call(url + "/admin/status", headers={"Authorization": "Bearer doc22-test-token"})
        same("GET /admin/status", json_lines(doc_block("### /admin", "json")), out.decode().strip())
    finally:
        p.terminate()
        p.wait(timeout=60)
    got = [re.sub(r"\b%d\b" % port, "37363", ln) for ln in open(log.name).read().rstrip("\n").split("\n")]
    want = doc_block("## Log lines", "text")
    if not outputs_match(want, got):
        failures.append("log lines:\n%s\ninstead of\n%s" % ("\n".join(got), "\n".join(want)))
    assert not failures, "\n\n".join(failures)
