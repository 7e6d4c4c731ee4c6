#!/usr/bin/python3
"""Print the executions of each libFuzzer run in a meson test log and their total.

Usage: fuzz_counts.py BUILD_DIR/meson-logs/testlog.json [MIN_TOTAL]
Exit 1 when a fuzz test did not report its count, or the total is below MIN_TOTAL."""
import json
import re
import sys

total, missing = 0, []
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        if not t["name"].split(" / ")[-1].startswith("fuzz-"):  # "libmlops:fuzz / fuzz-csv"
            continue
        counts = re.findall(r"stat::number_of_executed_units: *(\d+)", (t.get("stdout") or "") + (t.get("stderr") or ""))
        if not counts:
            missing.append(t["name"])
            continue
        n = int(counts[-1])
        total += n
        print("fuzz: %-40s %10d executions (%s)" % (t["name"], n, t["result"]))
print("fuzz: %-40s %10d executions" % ("total", total))
minimum = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if missing:
    sys.exit("fuzz: no execution count from " + ", ".join(missing))
if total < minimum:
    sys.exit("fuzz: %d executions in total, fewer than %d" % (total, minimum))
