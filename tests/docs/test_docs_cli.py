"""Docs are tests, command-line part (issue 22; suite 'examples'): every shell block of the
READMEs and docs/*.md that runs one of our programs (a line starting with `mlops-` or `$ mlops-`)
runs in a temporary directory holding the demo files, with the built programs first on PATH.

A `console` block is a transcript: its `$ ` lines (with their backslash continuations) run in one
bash session, in order, and the lines after each are its expected output, compared exactly (stdout
and stderr together). Other shell blocks run with `bash -e` and must exit 0. A block that needs a
server or state the documentation does not create is marked `<!-- doc-test: fixture NAMES (...) -->`
and runs in test_docs_server.py instead; a block marked `<!-- doc-test: skip (reason) -->` is
skipped, and the skips are counted and printed (pytest -rs)."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mdblocks  # noqa: E402
from test_docs import BIN, block_id, demo, workdir  # noqa: E402,F401  (demo is a fixture)

SHELL = {"sh", "console", "", "bash", "shell"}
CLI_BLOCKS = [b for b in mdblocks.all_blocks(SHELL) if mdblocks.cli_commands(b["text"]) and not b["fixture"]]


def transcript(text):
    """[(command, [expected output lines])] of a console block."""
    steps, cont = [], False
    for line in text.rstrip("\n").split("\n"):
        if cont:
            steps[-1][0] += "\n" + line
        elif line.startswith("$ "):
            steps.append([line[2:], []])
        elif steps:
            steps[-1][1].append(line.rstrip())
        cont = line.endswith("\\")
    return steps


def env():
    return dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))


@pytest.mark.parametrize("block", CLI_BLOCKS, ids=block_id)
def test_cli_block(block, demo, tmp_path):
    if block["skip"]:
        pytest.skip("%s: %s" % (block_id(block), block["skip"]))
    d = workdir(demo, tmp_path)
    if block["lang"] != "console":
        r = subprocess.run(["bash", "-e", "-c", block["text"]], cwd=d, env=env(), capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, "%s: exit %d\n%s%s" % (block_id(block), r.returncode, r.stdout, r.stderr)
        return
    for cmd, want in transcript(block["text"]):
        r = subprocess.run(["bash", "-c", cmd], cwd=d, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True,
                           timeout=300)
        got = [ln.rstrip() for ln in r.stdout.rstrip("\n").split("\n")] if r.stdout.strip() else []
        assert got == want, "%s: `%s` printed\n%s\ninstead of\n%s" % (block_id(block), cmd, "\n".join(got),
                                                                      "\n".join(want))


def test_cli_blocks_found():
    """The flagship transcript is seen, and not every CLI block is skipped."""
    assert any(b["lang"] == "console" and not b["skip"] for b in CLI_BLOCKS), [block_id(b) for b in CLI_BLOCKS]
    skipped = [block_id(b) for b in CLI_BLOCKS if b["skip"]]
    print("%d CLI blocks, %d skipped: %s" % (len(CLI_BLOCKS), len(skipped), ", ".join(skipped)))
