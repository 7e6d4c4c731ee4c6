"""Fenced code blocks of the project's Markdown files, with their skip markers.

A block is skipped only when the last non-blank line before its opening fence is
`<!-- doc-test: skip (reason) -->`; the reason is kept so the tests can print it. A block that needs
servers or files the documentation does not create is marked `<!-- doc-test: fixture NAMES (what
they make) -->` instead: NAMES (comma-separated) are scripts of tests/docs/fixtures/ or `above` (the
previous shell block of the same file), and tests/docs/test_docs_server.py runs the block after them.
"""
import glob
import os
import re

ROOT = os.environ.get("MLOPS_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
SKIP = re.compile(r"^<!--\s*doc-test:\s*skip\s*\((.+)\)\s*-->$")
FIXTURE = re.compile(r"^<!--\s*doc-test:\s*fixture\s+([a-z0-9_,@-]+)\s*\((.+)\)\s*-->$")
FENCE = re.compile(r"^```\s*([A-Za-z0-9_+-]*)\s*$")


def markdown_files():
    """README.md, bindings/python/README.md, deploy/README.md and docs/*.md, relative to ROOT."""
    files = ["README.md", "bindings/python/README.md", "deploy/README.md"]
    files += sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return [f for f in files if os.path.isfile(os.path.join(ROOT, f))]


def blocks(relpath):
    """Every fenced block of one file: dicts with file, line (of the fence), lang, text, skip and
    fixture (the fixture names, or None)."""
    out, lines = [], open(os.path.join(ROOT, relpath), encoding="utf-8").read().split("\n")
    i, last = 0, ""
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                last = lines[i].strip()
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        skip, fixture = SKIP.match(last), FIXTURE.match(last)
        out.append({"file": relpath, "line": start + 1, "lang": m.group(1).lower(), "text": "\n".join(body) + "\n",
                    "skip": skip.group(1) if skip else None,
                    "fixture": fixture.group(1).split(",") if fixture else None})
        i, last = i + 1, ""
    return out


def all_blocks(langs):
    """Blocks of the given languages in every documentation file."""
    return [b for f in markdown_files() for b in blocks(f) if b["lang"] in langs]


def cli_commands(text):
    """The commands of a shell block that run one of our programs: lines starting with `$ mlops-`
    or `mlops-` (a `$ ` prompt is removed, backslash continuations are joined)."""
    cmds, cur = [], None
    for raw in text.split("\n"):
        line = raw[2:] if raw.startswith("$ ") else raw
        if cur is not None:
            cur += " " + line.strip()
        elif line.startswith("mlops-") or raw.startswith("$ mlops-"):
            cur = line
        else:
            continue
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
        else:
            cmds.append(cur)
            cur = None
    return cmds
