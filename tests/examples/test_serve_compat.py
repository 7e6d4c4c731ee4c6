"""mlops-serve speaks like the usual Python model service: GET /health, /model/info, /ready, and the
same POST /predict body as the FastAPI app in ../shared/anchors/fastapi_service.

Oracles: XGBoost's own predict_proba on the anchor's model, and, when FastAPI and uvicorn are
installed (python3-fastapi, uvicorn), the FastAPI app itself answering the same request. The anchor
lives outside the repository (MLOPS_SHARED_DIR, default <source>/../shared); without it those
tests are skipped and say so.
"""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import xgboost as xgb

from test_serve import ROOT, features, rows, serve, trained  # noqa: F401  (trained is a fixture)

SHARED = os.environ.get("MLOPS_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
ANCHOR = os.path.join(SHARED, "anchors", "fastapi_service")


def test_health_ready_and_model_info(trained, tmp_path):
    d = trained[0]
    with serve(d / "model.json", "--drain-seconds", 3, log_dir=tmp_path) as s:
        status, doc = s.json("GET", "/health")
        assert status == 200 and doc["status"] == "healthy" and doc["model_loaded"] is True
        assert s.json("GET", "/ready") == (200, {"ready": True})
        assert s.json("GET", "/model/info") == s.json("GET", "/model")
        assert s.request("POST", "/health", "{}")[0] == 405
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # draining: not ready any more, but still answering
        assert s.json("GET", "/ready") == (503, {"ready": False})
        one = rows(features(trained[2], trained[3]).iloc[:1])[0]
        assert s.json("POST", "/predict", one)[0] == 200
        assert s.proc.wait(timeout=10) == 0


@pytest.fixture(scope="module")
def anchor(tmp_path_factory):
    if not os.path.isfile(os.path.join(ANCHOR, "make_model.py")):
        pytest.skip("no FastAPI anchor at %s (a clone without ../shared): comparison skipped" % ANCHOR)
    out = tmp_path_factory.mktemp("anchor")
    subprocess.run([sys.executable, os.path.join(ANCHOR, "make_model.py"), str(out)], check=True, timeout=300)
    return out


def test_the_fastapi_request_body_works_unchanged(anchor, tmp_path):
    body = json.loads((anchor / "request.json").read_text())
    booster = xgb.Booster(model_file=str(anchor / "model.json"))
    x = np.array([[body["features"][f] for f in booster.feature_names]], dtype=np.float32)
    want = booster.inplace_predict(x)[0]
    with serve(anchor / "model.json", log_dir=tmp_path) as s:
        for b in (body, dict(body, model_version="v1.0")):  # the FastAPI model's optional field too
            status, doc = s.json("POST", "/predict", b)
            assert status == 200, doc
            assert np.float32(doc["predictions"][0]) == want


def test_same_answer_as_the_fastapi_app(anchor, tmp_path):
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        pytest.skip("FastAPI or uvicorn is not installed (python3-fastapi, uvicorn)")
    env = dict(os.environ, MODEL_DIR=str(anchor))
    port = 18000 + os.getpid() % 1000
    log = open(tmp_path / "uvicorn.log", "w")
    app = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", ANCHOR, "app:app", "--port", str(port),
                            "--log-level", "warning"], env=env, stdout=log, stderr=log)
    try:
        body = (anchor / "request.json").read_bytes()
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request("http://127.0.0.1:%d/predict" % port, data=body,
                                             headers={"Content-Type": "application/json"})
                theirs = json.load(urllib.request.urlopen(req, timeout=10))
                break
            except OSError:
                assert app.poll() is None, open(tmp_path / "uvicorn.log").read()
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
        health = json.load(urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=10))
        with serve(anchor / "model.json", log_dir=tmp_path) as s:
            status, ours = s.json("POST", "/predict", json.loads(body))
            assert status == 200
            np.testing.assert_allclose(ours["predictions"][0], theirs["probability"][1], rtol=1e-6)
            status, our_health = s.json("GET", "/health")
            assert {k: our_health[k] for k in health} == health
    finally:
        app.terminate()
        app.wait(timeout=10)
        log.close()
