#!/usr/bin/python3
"""The shared library exports only mlops_* symbols and carries the right SONAME.

Usage: check_exports.py LIBRARY MAJOR
"""
import subprocess
import sys

lib, major = sys.argv[1], sys.argv[2]
out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
syms = [line.split()[-1] for line in out.splitlines() if line.strip()]
bad = [s for s in syms if not s.startswith("mlops_") and s not in ("_init", "_fini")]
internal = [s for s in syms if s.startswith("mlops__")]
dyn = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True, check=True).stdout
soname_ok = ("[libmlops.so.%s]" % major) in dyn
print("exported:", len([s for s in syms if s.startswith("mlops_")]), "mlops_* symbols")
for s in bad + internal:
    print("unexpected export:", s)
if not soname_ok:
    print("SONAME is not libmlops.so.%s" % major)
ok = not bad and not internal and soname_ok
print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
sys.exit(0 if ok else 1)
