"""Docs are tests: every C and Python block of README.md, bindings/python/README.md,
deploy/README.md and docs/*.md runs against the demo model (issue 22).

C blocks are completed by doc_harness.h (includes, the data a fragment uses, a main) and compiled as
C11 and as C++; every call returning mlops_status is wrapped so that any status but MLOPS_OK fails
with the block's line and the library's message. Python blocks run after prelude.py in a temporary
directory holding the demo files. A block preceded by `<!-- doc-test: skip (reason) -->` is
skipped with that reason (pytest -rs prints them)."""
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mdblocks  # noqa: E402

ROOT = mdblocks.ROOT
BUILD = os.environ.get("MLOPS_BUILD_ROOT", os.path.join(ROOT, "build"))
BIN = os.environ.get("MLOPS_BIN_DIR", os.path.join(BUILD, "examples"))
LIB = os.environ.get("MLOPS_LIBRARY", os.path.join(BUILD, "libmlops.so"))
HERE = os.path.dirname(os.path.abspath(__file__))
LABEL = "malignant0_benign1"


def block_id(b):
    return "%s:%d" % (b["file"], b["line"])


def status_functions():
    """Names of the public functions that return mlops_status, from the headers."""
    names = set()
    for h in os.listdir(os.path.join(ROOT, "include", "mlops")):
        if h.endswith(".h"):
            text = open(os.path.join(ROOT, "include", "mlops", h), encoding="utf-8").read()
            names.update(re.findall(r"\bmlops_status\s+(mlops_\w+)\s*\(", text))
    return names


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The demo files, made by the real programs: mlops-train writes model.json and schema.json
    from the first 400 rows of the bundled breast-cancer data (model2.json: another model)."""
    d = tmp_path_factory.mktemp("demo")
    data = pd.read_csv(os.path.join(ROOT, "examples", "data", "breast_cancer.csv"))
    data.iloc[:400].to_csv(d / "train.csv", index=False)
    hold = data.iloc[400:600]
    hold.drop(columns=LABEL).to_csv(d / "data.csv", index=False)
    hold[LABEL].to_csv(d / "labels.csv", index=False, header=False)
    for out, rounds in (("model.json", "20"), ("model2.json", "30")):
        r = subprocess.run([os.path.join(BIN, "mlops-train"), "--data", str(d / "train.csv"), "--label", LABEL,
                            "--objective", "binary:logistic", "--rounds", rounds, "--max-depth", "3",
                            "--out", str(d / out), "--force"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    shutil.copy(d / "model.json", d / "keep.json")  # mlops-train wrote the schema of the first model
    feats = hold.drop(columns=LABEL).iloc[:5]
    rows = ",".join('{"features": {%s}}' % ", ".join('"%s": %r' % (k, float(v)) for k, v in r.items())
                    for _, r in feats.iterrows())
    (d / "rows.json").write_text("[" + rows + "]")
    return d


def workdir(demo, tmp_path):
    """A directory laid out as the source tree after scripts/demo (examples/data, build/demo/) that
    also holds the demo files at its top."""
    (tmp_path / "build" / "demo").mkdir(parents=True)
    for f in os.listdir(demo):
        shutil.copy(demo / f, tmp_path / f)
        shutil.copy(demo / f, tmp_path / "build" / "demo" / f)
    os.symlink(os.path.join(ROOT, "examples"), tmp_path / "examples")
    return tmp_path


def c_source(block):
    """The block completed into a program: its #include lines first, then a check macro for each
    status-returning function it calls, then the block inside main()."""
    body = ["" if ln.startswith("#include") else ln for ln in block["text"].split("\n")]
    used = sorted(set(re.findall(r"\b(mlops_\w+)\s*\(", block["text"])) & status_functions())
    src = ['#include "doc_harness.h"']
    src += [ln for ln in block["text"].split("\n") if ln.startswith("#include")]
    src += ["#define %s(...) doc_check(%s(__VA_ARGS__), \"%s\", __LINE__)" % (f, f, f) for f in used]
    src += ["int main(void)", "{", "doc_setup();"]
    src += ['#line %d "%s"' % (block["line"] + 1, block["file"])] + body + ["return 0;", "}"]
    return "\n".join(src) + "\n"


C_BLOCKS = mdblocks.all_blocks({"c", "cpp", "c++"})
PY_BLOCKS = mdblocks.all_blocks({"python", "py"})


def compile_and_run(block, cxx, tmp_path):
    src = tmp_path / ("doc.cc" if cxx else "doc.c")
    src.write_text(c_source(block))
    cc = os.environ.get("CXX", "c++") if cxx else os.environ.get("CC", "cc")
    std = "-std=c++17" if cxx else "-std=c11"
    cmd = [cc, std, "-Wall", "-Werror", "-Wno-unused-variable", "-Wno-unused-function", "-Wno-unused-but-set-variable", "-I" + HERE,
           "-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(BUILD, "include"), str(src), "-o",
           str(tmp_path / "doc"), LIB, "-Wl,-rpath," + os.path.dirname(LIB)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, "%s does not compile:\n%s" % (block_id(block), r.stderr)
    r = subprocess.run([str(tmp_path / "doc")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, "%s fails when run (%s):\n%s" % (block_id(block), "C++" if cxx else "C", r.stderr)


def maybe_skip(block):
    if block["skip"]:
        pytest.skip("%s: %s" % (block_id(block), block["skip"]))


@pytest.mark.parametrize("block", C_BLOCKS, ids=block_id)
@pytest.mark.parametrize("cxx", [False, True], ids=["c", "c++"])
def test_c_block(block, cxx, demo, tmp_path):
    maybe_skip(block)
    compile_and_run(block, cxx, workdir(demo, tmp_path))


@pytest.mark.parametrize("block", PY_BLOCKS, ids=block_id)
def test_python_block(block, demo, tmp_path):
    maybe_skip(block)
    d = workdir(demo, tmp_path)
    prelude = open(os.path.join(HERE, "prelude.py"), encoding="utf-8").read()
    script = prelude + "\n# --- %s\n" % block_id(block) + block["text"]
    (d / "block.py").write_text(script)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bindings", "python"), MLOPS_LIBRARY=LIB)
    r = subprocess.run([sys.executable, "block.py"], capture_output=True, text=True, cwd=d, env=env, timeout=600)
    assert r.returncode == 0, "%s fails (line numbers are of block.py: the prelude has %d lines):\n%s" % (
        block_id(block), prelude.count("\n") + 1, r.stderr)


def test_every_block_is_seen():
    """The extractor finds the flagship blocks: a parser that found nothing would pass everything."""
    ids = [block_id(b) for b in C_BLOCKS + PY_BLOCKS]
    assert any(i.startswith("README.md:") for i in ids) and len(C_BLOCKS) >= 1 and len(PY_BLOCKS) >= 2, ids
