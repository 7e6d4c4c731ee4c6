"""Build hooks for the libmlops Python package (metadata is in pyproject.toml).

1. The C library is bundled: build_py copies libmlops.so (the file $MLOPS_LIBRARY names, else the
   newest ../../build*/libmlops.so.<version> of the source tree) into the built package as
   mlops/libmlops.so.<version>; `import mlops` loads that copy first. With neither present the
   package is built without it and finds the system's library at import (loader, pkg-config).
   MLOPS_BUNDLE=0 never bundles.
2. Nothing is written into the source folder: build/ and the .egg-info go to a temporary
   directory (setuptools writes both beside setup.py by default).

    ninja -C build && /usr/bin/python3 -m pip install --no-build-isolation --no-index --no-deps bindings/python
"""
import atexit
import glob
import os
import re
import shutil
import tempfile

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = re.search(r'__version__ = "([^"]+)"', open(os.path.join(HERE, "mlops", "_version.py")).read()).group(1)
SCRATCH = tempfile.mkdtemp(prefix="libmlops-py-build-")
atexit.register(shutil.rmtree, SCRATCH, True)


def library() -> str:
    """The libmlops.so to bundle, or "" (MLOPS_BUNDLE=0, or none built)."""
    if os.environ.get("MLOPS_BUNDLE", "1") == "0":
        return ""
    env = os.environ.get("MLOPS_LIBRARY")
    if env:
        if not os.path.isfile(env):
            raise SystemExit("setup.py: MLOPS_LIBRARY=%s is not a file" % env)
        return os.path.realpath(env)
    root = os.path.normpath(os.path.join(HERE, "..", ".."))
    found = [p for p in glob.glob(os.path.join(root, "build*", "libmlops.so." + VERSION)) if os.path.isfile(p)]
    return max(found, key=os.path.getmtime) if found else ""


class BuildPy(build_py):
    """build_py that also copies the C library into the built package."""

    def run(self) -> None:
        super().run()
        lib = library()
        if lib:
            dest = os.path.join(self.build_lib, "mlops", "libmlops.so." + VERSION)
            self.mkpath(os.path.dirname(dest))
            shutil.copyfile(lib, dest)
            os.chmod(dest, 0o755)
            self.announce("bundled %s as %s" % (lib, dest), level=2)


class BinaryDistribution(Distribution):
    """A wheel with a shared library in it is platform-specific (linux_x86_64, not any)."""

    def has_ext_modules(self) -> bool:
        return bool(library())


setup(cmdclass={"build_py": BuildPy}, distclass=BinaryDistribution,
      options={"build": {"build_base": os.path.join(SCRATCH, "build")},
               "egg_info": {"egg_base": SCRATCH}})
