#!/usr/bin/python3
"""The ABI is frozen: the shared library exports exactly the symbols listed in the committed
version script (lib/libmlops.map), nothing internal, and carries the right SONAME.

An exported symbol missing from the list fails (add it to the list: it is a new ABI promise);
a listed symbol the library no longer exports fails (a removal breaks every program linked to it).

Usage: check_exports.py LIBRARY MAJOR MAPFILE
       check_exports.py --update LIBRARY MAPFILE   (rewrite the list from the library; the lead's tool)
"""
import re
import subprocess
import sys

HEADER = """/* The frozen ABI of libmlops: every exported symbol, one per line, sorted.
 * Used as the linker version script (-Wl,--version-script) and diffed against
 * `nm -D --defined-only` by tests/headers/check_exports.py. A symbol is added here
 * on purpose (a new promise) and never removed before the next major version.
 * Regenerate after a deliberate change: check_exports.py --update LIBRARY lib/libmlops.map */
{
  global:
"""
FOOTER = """  local:
    *;
};
"""


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    syms = [line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()]
    return set(s for s in syms if s not in ("_init", "_fini"))


def listed(mapfile):
    text = re.sub(r"/\*.*?\*/", " ", open(mapfile).read(), flags=re.S)
    block = text.split("global:", 1)[1].split("local:", 1)[0]
    return set(s.strip() for s in block.split(";") if s.strip())


def diff(syms, promised):
    """Messages for every difference between the exported and the listed symbols."""
    out = ["exported but not in the ABI list: %s" % s for s in sorted(syms - promised)]
    out += ["in the ABI list but not exported (removed?): %s" % s for s in sorted(promised - syms)]
    out += ["internal symbol exported: %s" % s for s in sorted(syms) if not s.startswith("mlops_")
            or s.startswith("mlops__")]
    return out


def self_test():
    """The diff must be able to fail both ways."""
    a = {"mlops_a", "mlops_b"}
    ok = diff(a, a) == [] and len(diff(a | {"mlops_c"}, a)) == 1 and len(diff(a, a | {"mlops_c"})) == 1
    return [] if ok and len(diff({"mlops__x", "foo"}, {"mlops__x", "foo"})) == 2 else ["self-test of the diff failed"]


def main(argv):
    if argv[1] == "--update":
        with open(argv[3], "w") as f:
            f.write(HEADER + "".join("    %s;\n" % s for s in sorted(exported(argv[2]))) + FOOTER)
        return 0
    lib, major, mapfile = argv[1], argv[2], argv[3]
    syms = exported(lib)
    problems = self_test() + diff(syms, listed(mapfile))
    dyn = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True, check=True).stdout
    if ("[libmlops.so.%s]" % major) not in dyn:
        problems.append("SONAME is not libmlops.so.%s" % major)
    print("exported:", len(syms), "symbols;", len(listed(mapfile)), "listed in", mapfile)
    for p in problems:
        print("FAIL", p)
    print("%d passed, %d failed" % (0 if problems else 1, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
