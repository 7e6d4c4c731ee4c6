"""Issue 12 part 7: the package installs on its own. From a copy of bindings/python, pip (offline,
no build isolation) builds a wheel bundling the built libmlops.so; in a fresh venv, with no
MLOPS_LIBRARY and no PYTHONPATH, `import mlops` loads the bundled copy and predicts what xgboost
predicts. Also: the source folder is left clean (no build/, no *.egg-info), py.typed ships, the
distribution is named libmlops, and without any library the ImportError says what to do.

    meson test -C build py-install
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xgboost as xgb

from test_lifetime import _asan_runtime, fixture_x, model_path

SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LIB = os.environ.get("MLOPS_LIBRARY", os.path.join(SRC, "build", "libmlops.so"))
pytestmark = pytest.mark.skipif(_asan_runtime(LIB) is not None, reason="an ASan library needs its runtime preloaded")


def clean_env(**extra):
    """An environment with nothing pointing at the source tree or the build."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": "1"}
    env.update(extra)
    return env


def run(cmd, env, cwd, timeout=600):
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "%s: exit %d\nstdout: %s\nstderr: %s" % (cmd, r.returncode, r.stdout[-3000:],
                                                                       r.stderr[-3000:])
    return r


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(venv python, the source copy it was installed from) after pip install."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    shutil.copytree(os.path.join(SRC, "bindings", "python"), src,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "libmlops.so*"))
    before = sorted(os.listdir(src))
    # --system-site-packages: numpy, pandas, pip and setuptools come from Debian (no network)
    run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip", str(tmp / "venv")],
        clean_env(), str(tmp))
    py = str(tmp / "venv" / "bin" / "python")
    run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps", str(src)],
        clean_env(MLOPS_LIBRARY=os.path.realpath(LIB)), str(tmp))
    assert sorted(os.listdir(src)) == before, "pip install wrote into the source folder"
    return py, tmp


def test_import_and_predict_in_a_clean_env(venv):
    py, tmp = venv
    x = np.ascontiguousarray(fixture_x("binary_logistic")[:50])
    np.save(tmp / "x.npy", x)
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        import mlops
        with mlops.Model(sys.argv[1]) as m:
            p = m.predict(np.load(sys.argv[2]))
        print(json.dumps({"library": mlops.library_path, "module": mlops.__file__, "version": mlops.version(),
                          "p": p.tolist()}))
    """)
    r = run([py, "-c", code, model_path("binary_logistic"), str(tmp / "x.npy")], clean_env(), str(tmp))
    out = json.loads(r.stdout)
    site = str(tmp / "venv")
    assert out["module"].startswith(site) and out["library"].startswith(site), out
    assert os.path.basename(out["library"]) == "libmlops.so." + out["version"]
    want = xgb.Booster(model_file=model_path("binary_logistic")).inplace_predict(x)
    np.testing.assert_allclose(np.array(out["p"], np.float32), want, rtol=1e-6, atol=1e-7)


def test_distribution_metadata_and_py_typed(venv):
    py, tmp = venv
    code = ("import importlib.metadata as md, importlib.resources as r; d = md.distribution('libmlops'); "
            "print(d.metadata['Name'], d.version, r.files('mlops').joinpath('py.typed').is_file())")
    r = run([py, "-c", code], clean_env(), str(tmp))
    assert r.stdout.split() == ["libmlops", __import__("mlops").__version__, "True"]


@pytest.mark.skipif(bool(__import__("ctypes.util").util.find_library("mlops")), reason="libmlops is installed system-wide")
def test_without_a_library_the_error_says_what_to_do(venv):
    py, tmp = venv
    site = subprocess.run([py, "-c", "import mlops, os; print(os.path.dirname(mlops.__file__))"],
                          env=clean_env(), capture_output=True, text=True, cwd=str(tmp), timeout=120).stdout.strip()
    bare = tmp / "bare"
    shutil.copytree(site, bare / "mlops", ignore=shutil.ignore_patterns("libmlops.so*", "__pycache__"))
    r = subprocess.run([sys.executable, "-c", "import mlops"], env=clean_env(PYTHONPATH=str(bare)),
                       capture_output=True, text=True, cwd=str(tmp), timeout=120)
    assert r.returncode != 0
    assert "ImportError: libmlops could not be loaded" in r.stderr
    for hint in ("meson install", "pip install --no-build-isolation bindings/python", "MLOPS_LIBRARY="):
        assert hint in r.stderr, r.stderr[-2000:]
    assert "/build/libmlops.so" not in r.stderr  # build-tree paths mean nothing outside the source tree
