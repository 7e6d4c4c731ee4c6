#!/usr/bin/python3
"""`meson install` into a temporary DESTDIR, then build and run a client through pkg-config
against the installed files, and import the installed Python package.

Usage: check_install.py BUILD_ROOT
"""
import glob
import os
import subprocess
import sys
import tempfile

build = sys.argv[1]
CLIENT = r'''
#include <mlops.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    mlops_model *m = NULL;
    if (mlops_model_load("/nonexistent.json", NULL, &m) != MLOPS_EIO) return 1;
    printf("%s %s\n", mlops_version_string(), mlops_last_error());
    return strcmp(mlops_version_string(), MLOPS_VERSION_STRING) != 0;
}
'''
with tempfile.TemporaryDirectory() as dest:
    subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest], check=True)
    pcs = glob.glob(os.path.join(dest, "**", "libmlops.pc"), recursive=True)
    assert pcs, "libmlops.pc was not installed"
    for need in ("include/mlops.h", "include/mlops/common.h", "include/mlops/model.h", "include/mlops/version.h",
                 "bin/mlops-predict", "bin/mlops-train"):
        assert glob.glob(os.path.join(dest, "**", need), recursive=True), need + " was not installed"
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]), PKG_CONFIG_SYSROOT_DIR=dest)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmlops"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    src = os.path.join(dest, "client.c")
    open(src, "w").write(CLIENT)
    exe = os.path.join(dest, "client")
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", src, "-o", exe, *flags], check=True)
    libdir = [f[2:] for f in flags if f.startswith("-L")][0]
    r = subprocess.run([exe], env=dict(os.environ, LD_LIBRARY_PATH=libdir), capture_output=True, text=True)
    print(r.stdout.strip())
    assert r.returncode == 0, r.stderr
    pkg = glob.glob(os.path.join(dest, "**", "mlops", "__init__.py"), recursive=True)
    assert pkg, "the Python package was not installed"
    lib = glob.glob(os.path.join(libdir, "libmlops.so.*"))[0]
    r = subprocess.run(["/usr/bin/python3", "-c", "import mlops; print(mlops.__version__)"],
                       env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(pkg[0])), MLOPS_LIBRARY=lib),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
print("1 passed, 0 failed")
