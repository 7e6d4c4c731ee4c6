"""docs/install.md holds (issue 22): a program builds against the build tree through the uninstalled
.pc, and `meson install` puts the Python package where /usr/bin/python3 looks for it."""
import os
import shutil
import subprocess

import pytest

from mdblocks import ROOT

BUILD = os.environ.get("MLOPS_BUILD_ROOT", os.path.join(ROOT, "build"))
PROGRAM = '#include <mlops.h>\n#include <stdio.h>\nint main(void) { printf("%s\\n", mlops_version_string()); return 0; }\n'


def test_uninstalled_pc_builds_a_program(tmp_path):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "meson-uninstalled"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmlops"], env=env, capture_output=True, text=True)
    assert flags.returncode == 0, flags.stderr
    version = subprocess.run(["pkg-config", "--modversion", "libmlops"], env=env, capture_output=True, text=True)
    (tmp_path / "app.c").write_text(PROGRAM)
    r = subprocess.run("cc app.c %s -o app" % flags.stdout.strip(), shell=True, cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["./app"], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, LD_LIBRARY_PATH=BUILD))
    assert r.returncode == 0 and r.stdout.strip() == version.stdout.strip(), (r.stdout, version.stdout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    meson = shutil.which("meson")
    if not meson:
        pytest.skip("meson is not on PATH")
    dest = tmp_path_factory.mktemp("destdir")
    r = subprocess.run([meson, "install", "-C", BUILD, "--destdir", str(dest), "--no-rebuild", "--quiet"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def test_python_package_is_installed_where_python_looks(installed):
    inits = [p for p in installed.rglob("mlops/__init__.py")]
    assert len(inits) == 1, inits
    where = "/" + os.path.relpath(inits[0].parent.parent, installed)
    searched = subprocess.run(["/usr/bin/python3", "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
                              capture_output=True, text=True).stdout.split()
    assert where in searched, (where, searched)
    libs = [p for p in installed.rglob("libmlops.so.*") if not p.is_symlink()]
    r = subprocess.run(["/usr/bin/python3", "-c", "import mlops; print(mlops.__file__, mlops.version())"],
                       capture_output=True, text=True, cwd=installed,
                       env={"PATH": os.environ["PATH"], "PYTHONPATH": str(inits[0].parent.parent),
                            "MLOPS_LIBRARY": str(libs[0])})
    assert r.returncode == 0 and str(inits[0]) in r.stdout, r.stderr


def test_pc_is_installed(installed):
    pcs = list(installed.rglob("pkgconfig/libmlops.pc"))
    assert len(pcs) == 1 and "-lmlops" in pcs[0].read_text()
