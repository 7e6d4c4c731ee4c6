#!/usr/bin/python3
"""Compile every public header alone as C99 and as C++11, warnings as errors.

Usage: check_headers.py SOURCE_ROOT BUILD_ROOT
"""
import glob
import os
import subprocess
import sys
import tempfile

src, build = sys.argv[1], sys.argv[2]
headers = [os.path.join(src, "include", "mlops.h")] + sorted(glob.glob(os.path.join(src, "include", "mlops", "*.h")))
incs = ["-I", os.path.join(src, "include"), "-I", os.path.join(build, "include")]
compilers = [
    (os.environ.get("CC", "cc"), ["-x", "c", "-std=c99"]),
    (os.environ.get("CXX", "c++"), ["-x", "c++", "-std=c++11"]),
]
failures = 0
with tempfile.TemporaryDirectory() as tmp:
    for h in headers:
        rel = os.path.relpath(h, os.path.join(src, "include"))
        tu = os.path.join(tmp, "tu.src")
        with open(tu, "w") as f:
            f.write('#include "%s"\n#include "%s"\nint main(void) { return 0; }\n' % (rel, rel))
        for comp, flags in compilers:
            cmd = [comp, *flags, "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", *incs, tu]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                failures += 1
                print("FAIL %s as %s\n%s" % (rel, flags[1], r.stderr))
            else:
                print("ok   %s as %s" % (rel, flags[1]))
print("%d passed, %d failed" % (len(headers) * 2 - failures, failures))
sys.exit(1 if failures else 0)
