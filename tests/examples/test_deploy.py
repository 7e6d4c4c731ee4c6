"""deploy/: what can be checked without a container engine or a cluster.

- prometheus.yml with `promtool check config`, alerts.yml with `promtool check rules` and the
  rule unit tests in alerts_test.yml with `promtool test rules`;
- every ml_* metric the alerts use is in a real scrape of mlops-serve;
- the Kubernetes manifests parse (PyYAML) and have the expected kinds, probe paths, ports,
  resources, annotations and model volume, and their container arguments start a real server;
- the Dockerfile: Debian 12 slim stages, non-root user, HEALTHCHECK on /healthz, EXPOSE 8080,
  runtime packages that exist in Debian 12 and provide every shared library mlops-serve loads,
  meson options that configure, and a CMD that starts a real server.
Docker itself cannot run here, so the image is never built by this test.
"""
import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest
import yaml

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
DATA = os.path.join(ROOT, "examples", "data")

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def sh(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kw)


@contextlib.contextmanager
def serve(args, log_dir):
    """Start mlops-serve with `args` (loopback, port 0) and yield its base URL."""
    log_path = os.path.join(log_dir, "serve-%d.log" % time.monotonic_ns())
    with open(log_path, "w") as log:
        proc = subprocess.Popen([os.path.join(BIN, "mlops-serve"), *map(str, args)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            text = open(log_path).read()
            m = re.search(r"on http://127\.0\.0\.1:(\d+)/", text)
            if m:
                break
            assert proc.poll() is None, "server exited: " + text
            assert time.monotonic() < deadline, "server did not start: " + text
            time.sleep(0.05)
        yield "http://127.0.0.1:%s" % m.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("deploy")
    r = sh(os.path.join(BIN, "mlops-train"), "--data", os.path.join(DATA, "breast_cancer.csv"), "--label",
           "malignant0_benign1", "--objective", "binary:logistic", "--rounds", "5", "--max-depth", "2", "--out",
           d / "model.json")
    assert r.returncode == 0, r.stderr
    return d


def loopback(args, model_dir, state_dir):
    """Container arguments made local: the model and state paths, loopback, a free port."""
    subst = {"/models/model.json": model_dir / "model.json", "/models/schema.json": model_dir / "schema.json",
             "/var/lib/mlops": state_dir, "0.0.0.0": "127.0.0.1", "8080": "0"}
    return [str(subst.get(a, a)) for a in args]


# ---- Prometheus -------------------------------------------------------------------------------


@needs_promtool
def test_promtool_check_config():
    r = sh("promtool", "check", "config", os.path.join(DEPLOY, "prometheus.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout + r.stderr


@needs_promtool
def test_promtool_check_and_test_rules():
    r = sh("promtool", "check", "rules", os.path.join(DEPLOY, "alerts.yml"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = sh("promtool", "test", "rules", "alerts_test.yml", cwd=DEPLOY)
    assert r.returncode == 0, r.stdout + r.stderr


def alert_rules():
    doc = yaml.safe_load(open(os.path.join(DEPLOY, "alerts.yml")))
    return [r for g in doc["groups"] for r in g["rules"]]


def test_alerts_cover_accuracy_and_drift():
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    assert any("ml_model_accuracy" in e for e in exprs.values())
    assert any("ml_data_drift_score" in e for e in exprs.values())
    assert all(r.get("labels", {}).get("severity") in ("warning", "critical") for r in alert_rules())


def test_alert_metrics_exist_in_a_real_scrape(model_dir, tmp_path):
    names = set()
    for r in alert_rules():
        names |= set(re.findall(r"\b(ml_[a-z_]+)", r["expr"]))
    with serve(["--model", model_dir / "model.json", "--port", 0, "--reference",
                os.path.join(DATA, "breast_cancer.csv")], tmp_path) as url:
        text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    exposed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    exposed |= {n + "_bucket" for n in exposed}
    assert names and names <= exposed, names - exposed


def test_kubernetes_scrape_job_matches_annotations():
    doc = yaml.safe_load(open(os.path.join(DEPLOY, "prometheus-kubernetes.yml")))
    (job,) = doc["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    relabel = job["relabel_configs"]
    keep = [r for r in relabel if r.get("action") == "keep"]
    assert {"__meta_kubernetes_pod_annotation_prometheus_io_scrape"} <= {s for r in keep for s in r["source_labels"]}
    port_rule = [r for r in relabel if r.get("target_label") == "__address__"][0]
    rx = re.compile(port_rule["regex"])
    m = rx.fullmatch("10.1.2.3:9999;8080")
    assert m and m.expand(port_rule["replacement"].replace("$", "\\")) == "10.1.2.3:8080"


# ---- Kubernetes -------------------------------------------------------------------------------


def manifests():
    docs = []
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        with open(path) as f:
            docs += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d]
    return docs


def by_kind(kind):
    return [d for _, d in manifests() if d["kind"] == kind]


def test_k8s_kinds():
    kinds = sorted(d["kind"] for _, d in manifests())
    assert kinds == ["Deployment", "Kustomization", "PersistentVolumeClaim", "Service"]
    (kust,) = by_kind("Kustomization")
    assert sorted(kust["resources"]) == sorted(f for f, d in manifests() if d["kind"] != "Kustomization")


def test_k8s_deployment():
    (dep,) = by_kind("Deployment")
    assert dep["apiVersion"] == "apps/v1"
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (c,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8080}
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/healthz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path and ports.get(get["port"], get["port"]) == 8080
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/path"] == "/metrics"
    assert int(ann["prometheus.io/port"]) == 8080
    args = c["args"]
    opt = {args[i]: args[i + 1] for i in range(0, len(args) - 1, 2)}
    assert int(opt["--port"]) == 8080 and opt["--bind"] == "0.0.0.0"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    model_mount = [m for m in mounts.values() if opt["--model"].startswith(m["mountPath"] + "/")][0]
    cm = vols[model_mount["name"]]["configMap"]
    assert cm["name"] == "mlops-model" and model_mount["readOnly"] is True
    assert os.path.basename(opt["--model"]) in {i["path"] for i in cm["items"]}
    assert mounts["state"]["mountPath"] == opt["--state-dir"]
    (pvc,) = by_kind("PersistentVolumeClaim")
    assert vols["state"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    sec = pod["spec"]["securityContext"]
    assert sec["runAsNonRoot"] is True and sec["runAsUser"] != 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False


def test_k8s_service():
    (svc,) = by_kind("Service")
    (dep,) = by_kind("Deployment")
    pod = dep["spec"]["template"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    names = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert all(p["targetPort"] in names or p["targetPort"] == 8080 for p in svc["spec"]["ports"])
    assert svc["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def test_k8s_container_args_start_the_server(model_dir, tmp_path):
    (dep,) = by_kind("Deployment")
    args = loopback(dep["spec"]["template"]["spec"]["containers"][0]["args"], model_dir, tmp_path / "state")
    with serve(args, tmp_path) as url:
        assert urllib.request.urlopen(url + "/healthz", timeout=10).read() == b"ok\n"
        assert json.load(urllib.request.urlopen(url + "/ready", timeout=10)) == {"ready": True}
        meta = json.load(urllib.request.urlopen(url + "/model", timeout=10))
        assert meta["objective"] == "binary:logistic"


# ---- Dockerfile -------------------------------------------------------------------------------


def dockerfile():
    text = open(os.path.join(DEPLOY, "Dockerfile")).read()
    text = re.sub(r"\\\n", " ", text)  # join continued lines
    return [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]


def instr(name):
    return [l[len(name):].strip() for l in dockerfile() if l.upper().startswith(name + " ")]


def apt_packages(run_line):
    m = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", run_line)
    return m.group(1).split() if m else []


def test_dockerfile_shape():
    froms = instr("FROM")
    assert len(froms) == 2 and all(f.split()[0] == "debian:bookworm-slim" for f in froms)
    (user,) = instr("USER")
    assert user.split(":")[0] not in ("root", "0")
    (hc,) = instr("HEALTHCHECK")
    assert "/healthz" in hc
    assert instr("EXPOSE") == ["8080"]
    assert "meson setup" in " ".join(instr("RUN"))


def runtime_packages():
    stage = " ".join(dockerfile()).split("FROM debian:bookworm-slim")[-1]
    runs = [l for l in re.split(r"\s(?=RUN |COPY |USER )", stage) if l.startswith("RUN ")]
    return [p for r in runs for p in apt_packages(r)]


@pytest.mark.skipif(shutil.which("apt-cache") is None or shutil.which("dpkg") is None, reason="not Debian")
def test_runtime_packages_exist_and_cover_the_libraries():
    pkgs = runtime_packages()
    assert "libxgboost0" in pkgs
    for p in pkgs:
        assert sh("apt-cache", "show", p).returncode == 0, p
    # the closure of the runtime packages' dependencies (what apt-get install would bring)
    r = sh("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
           "--no-breaks", "--no-replaces", "--no-enhances", *pkgs)
    closure = {l.strip().split(":")[0] for l in r.stdout.splitlines() if not l.startswith(" ")}
    closure |= set(pkgs) | {"libc6", "libgcc-s1"}  # essential in every Debian image
    ldd = sh("ldd", os.path.join(BIN, "mlops-serve")).stdout
    libs = [m.group(1) for m in re.finditer(r"=> (/\S+)", ldd) if "libmlops" not in m.group(1)]
    assert libs
    for lib in libs:
        owner = sh("dpkg", "-S", os.path.realpath(lib))
        if owner.returncode != 0:
            owner = sh("dpkg", "-S", lib)
        if owner.returncode != 0:  # /lib vs /usr/lib (merged /usr)
            owner = sh("dpkg", "-S", lib.replace("/lib/", "/usr/lib/", 1))
        assert owner.returncode == 0, lib
        pkg = owner.stdout.split(":")[0]
        assert pkg in closure, "%s (from %s) is not installed by the runtime stage" % (pkg, lib)


def test_builder_meson_options_configure(tmp_path):
    run = [l for l in instr("RUN") if "meson setup" in l][0]
    setup = re.search(r"meson setup (.+?)(?: &&|$)", run).group(1).split()
    opts = [o for o in setup if o.startswith("-")]
    r = sh("meson", "setup", tmp_path / "build", ROOT, *opts)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_dockerfile_cmd_starts_the_server(model_dir, tmp_path):
    (entry,) = instr("ENTRYPOINT")
    assert json.loads(entry) == ["mlops-serve"]
    (cmd,) = instr("CMD")
    args = loopback(json.loads(cmd), model_dir, tmp_path / "state")
    with serve(args, tmp_path) as url:
        assert urllib.request.urlopen(url + "/healthz", timeout=10).read() == b"ok\n"


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed")
def test_real_prometheus_scrapes_the_server_with_this_config(model_dir, tmp_path):
    """deploy/prometheus.yml (target and interval made local) scrapes a live mlops-serve and loads alerts.yml."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        web_port = sock.getsockname()[1]
    with serve(["--model", model_dir / "model.json", "--port", 0, "--reference",
                os.path.join(DATA, "breast_cancer.csv")], tmp_path) as url:
        cfg = yaml.safe_load(open(os.path.join(DEPLOY, "prometheus.yml")))
        cfg["global"]["scrape_interval"] = "1s"
        cfg["global"]["evaluation_interval"] = "1s"
        cfg["global"]["scrape_timeout"] = "1s"
        (job,) = cfg["scrape_configs"]
        job["static_configs"][0]["targets"] = [url.split("//")[1]]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        shutil.copy(os.path.join(DEPLOY, "alerts.yml"), tmp_path / "alerts.yml")
        log = open(tmp_path / "prometheus.log", "w")
        prom = subprocess.Popen(["prometheus", "--config.file", str(tmp_path / "prometheus.yml"),
                                 "--storage.tsdb.path", str(tmp_path / "tsdb"),
                                 "--web.listen-address", "127.0.0.1:%d" % web_port], stdout=log, stderr=log)
        try:
            api = "http://127.0.0.1:%d/api/v1/" % web_port
            deadline, found, rules = time.monotonic() + 40, None, None
            while time.monotonic() < deadline and not (found and rules):
                time.sleep(0.5)
                assert prom.poll() is None, open(tmp_path / "prometheus.log").read()[-3000:]
                try:
                    q = json.load(urllib.request.urlopen(api + "query?query=ml_model_info", timeout=5))
                    found = q["data"]["result"] or None
                    r = json.load(urllib.request.urlopen(api + "rules", timeout=5))
                    rules = [x["name"] for g in r["data"]["groups"] for x in g["rules"]] or None
                except OSError:
                    continue
            assert found, "Prometheus did not scrape mlops-serve: " + open(tmp_path / "prometheus.log").read()[-3000:]
            assert found[0]["metric"]["job"] == "mlops-serve" and found[0]["metric"]["objective"] == "binary:logistic"
            assert sorted(rules) == sorted(r["alert"] for r in alert_rules())
            # the drift score is there too (the server runs with --reference)
            q = json.load(urllib.request.urlopen(api + "query?query=ml_data_drift_score", timeout=5))
            assert len(q["data"]["result"]) == 1
        finally:
            prom.terminate()
            try:
                prom.wait(timeout=15)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()
