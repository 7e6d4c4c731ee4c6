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
os.execv(harness, [harness, "-artifact_prefix=" + work + "/"] + sys.argv[4:] + [work, seeds])
