#!/usr/bin/python3
"""libmlops as a Meson subproject: a parent project (tests/subproject/consumer) gets it through
dependency('libmlops') (meson.override_dependency), builds, links and runs against it; the KS
result it prints is checked against SciPy, the version against the project's.

Usage: test_subproject.py SOURCE_ROOT VERSION
"""
import os
import shutil
import subprocess
import sys
import tempfile

from scipy import stats

# What a parent project needs of libmlops: the build files, headers, sources, pkg-config template.
PARTS = ["meson.build", "meson_options.txt", "include", "lib", "pkgconfig"]
X = [0.1, 0.4, 0.7, 1.3, 2.2, 2.9, 3.1]
Y = [0.5, 1.1, 1.9, 2.5, 3.3, 4.0, 4.4, 5.2]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print("FAIL: %s\n%s%s" % (" ".join(cmd), r.stdout[-4000:], r.stderr[-4000:]))
        sys.exit(1)
    return r.stdout


def main():
    src, version = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        proj = os.path.join(tmp, "consumer")
        shutil.copytree(os.path.join(src, "tests", "subproject", "consumer"), proj)
        sub = os.path.join(proj, "subprojects", "libmlops")
        os.makedirs(sub)
        for part in PARTS:
            path = os.path.join(src, part)
            (shutil.copytree if os.path.isdir(path) else shutil.copy)(path, os.path.join(sub, part))
        build = os.path.join(tmp, "build")
        run(["meson", "setup", build, proj])
        run(["ninja", "-C", build, "-j", "2"])
        out = run([os.path.join(build, "consumer")]).split()
    want = stats.ks_2samp(X, Y, alternative="two-sided", method="auto")
    problems = []
    if out[:2] != [version, version]:
        problems.append("version %r, the project is %s" % (out[:2], version))
    if float(out[2]) != want.statistic:
        problems.append("KS statistic %s, SciPy %r" % (out[2], want.statistic))
    if abs(float(out[3]) - want.pvalue) > 1e-12 * max(1.0, want.pvalue):
        problems.append("KS p-value %s, SciPy %r" % (out[3], want.pvalue))
    for p in problems:
        print("FAIL", p)
    print("consumer printed %s; %d passed, %d failed" % (" ".join(out), 0 if problems else 1, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
