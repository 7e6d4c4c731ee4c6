#!/usr/bin/python3
"""Run a libFuzzer harness for a bounded time without touching the committed seed corpus.

Usage: run_fuzz.py HARNESS SEED_DIR WORK_DIR [libFuzzer flags...]
New inputs go to WORK_DIR (first corpus directory, in the build tree); crash
artifacts too. The committed SEED_DIR is only read.
"""
import os
import sys

harness, seeds, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
# libFuzzer exits 77 on a crash by default, which meson reports as a skipped test: a finding
# must fail the run.
exit_codes = ["-error_exitcode=1", "-timeout_exitcode=1"]
os.execv(harness, [harness, "-artifact_prefix=" + work + "/"] + exit_codes + sys.argv[4:] + [work, seeds])
