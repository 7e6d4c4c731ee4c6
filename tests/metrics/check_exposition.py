#!/usr/bin/python3
"""The exposition passes `promtool check metrics` and parses back, in both formats, to the same samples
that Python's prometheus_client (Debian python3-prometheus-client) produces for the same operations.

Usage: check_exposition.py PATH/TO/metrics_sample

The reference is computed live in the same run: the spec below is fed both to our library (through
the metrics_sample test program) and to prometheus_client; nothing is hard-coded from our own output.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as om_generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as prom_parse

PROMTOOL = "/usr/bin/promtool"
GO_DEFAULT_BUCKETS = [.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10]

# Tricky content: escapes in help and label values, unicode, NaN and infinities, tiny and huge
# numbers, many series, custom and default buckets. Names are lint-clean for promtool.
SPEC = {"families": [
    {"type": "counter", "name": "http_requests_total",
     "help": "Requests with a backslash \\ a newline \n and \"quotes\" ☃.",
     "labels": ["method", "path"],
     "series": [{"labels": ["GET", "/a\"b\\c\nd"], "ops": [1, 2, 0.5]},
                {"labels": ["POST", "naïve ☃ \t tab"], "ops": [1e-9]},
                {"labels": ["PUT", ""], "ops": [1e18, 12345.678]}]},
    {"type": "gauge", "name": "temperature_celsius", "help": "A gauge.", "labels": ["k"],
     "series": [{"labels": ["nan"], "ops": ["NaN"]},
                {"labels": ["pinf"], "ops": ["+Inf"]},
                {"labels": ["ninf"], "ops": ["-Inf"]},
                {"labels": ["small"], "ops": [1e-05]},
                {"labels": ["tiny"], "ops": [5e-324]},
                {"labels": ["big"], "ops": [1.7976931348623157e308]},
                {"labels": ["neg"], "ops": [-2.5]},
                {"labels": ["third"], "ops": [1.0 / 3.0]},
                {"labels": ["int"], "ops": [3, 42]},
                {"labels": ["frac"], "ops": [0.1 + 0.2]}]},
    {"type": "gauge", "name": "build_info", "help": "No labels.", "labels": [], "series": [{"labels": [], "ops": [1]}]},
    {"type": "histogram", "name": "latency_seconds", "help": "Default buckets.", "labels": ["route"],
     "series": [{"labels": ["/predict"], "ops": [0.001, 0.005, 0.0051, 0.3, 0.3, 7, 11, 1e6, 0]},
                {"labels": ["/health"], "ops": []}]},
    {"type": "histogram", "name": "size_bytes", "help": "Custom buckets.", "labels": [],
     "buckets": [-1, 0, 0.5, 1e3, 1e9],
     "series": [{"labels": [], "ops": [-5, -1, 0, 0.25, 999, 1000, 1001, 5e9]}]},
]}
for i in range(40):  # many series in one family
    SPEC["families"][0]["series"].append({"labels": ["GET", "/item/%d" % i], "ops": [i]})


def ours(exe, spec_path, fmt):
    r = subprocess.run([exe, spec_path, "render", fmt], capture_output=True, text=True, encoding="utf-8")
    if r.returncode != 0:
        raise SystemExit("metrics_sample failed: %s" % r.stderr)
    return r.stdout


def reference():
    reg = CollectorRegistry()
    for fam in SPEC["families"]:
        labels = fam["labels"]
        if fam["type"] == "counter":
            m = Counter(fam["name"], fam["help"], labels, registry=reg)
        elif fam["type"] == "gauge":
            m = Gauge(fam["name"], fam["help"], labels, registry=reg)
        else:
            m = Histogram(fam["name"], fam["help"], labels, registry=reg,
                          buckets=fam.get("buckets") or GO_DEFAULT_BUCKETS)
        for s in fam["series"]:
            child = m.labels(*s["labels"]) if labels else m
            for op in s["ops"]:
                v = float(op) if not isinstance(op, str) else float(op.replace("NaN", "nan"))
                if fam["type"] == "counter":
                    child.inc(v)
                elif fam["type"] == "gauge":
                    child.set(v)
                else:
                    child.observe(v)
    return generate_latest(reg).decode("utf-8"), om_generate_latest(reg).decode("utf-8")


def samples(families):
    """{(sample name, sorted labels): value} without _created samples; le normalized to a float."""
    out = {}
    docs = {}
    for fam in families:
        if fam.name.endswith("_created"):
            continue
        docs[fam.name] = (fam.type, fam.documentation)
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            labels = dict(s.labels)
            if "le" in labels:
                labels["le"] = repr(float(labels["le"]))
            key = (s.name, tuple(sorted(labels.items())))
            assert key not in out, "duplicate sample %r" % (key,)
            out[key] = s.value
    return out, docs


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def compare(what, got, want):
    (gs, gd), (ws, wd) = got, want
    problems = []
    for k in sorted(set(gs) | set(ws), key=repr):
        if k not in gs:
            problems.append("missing %r" % (k,))
        elif k not in ws:
            problems.append("unexpected %r" % (k,))
        elif not same(gs[k], ws[k]):
            problems.append("%r: got %r, prometheus_client %r" % (k, gs[k], ws[k]))
    for name in sorted(set(gd) | set(wd)):
        if gd.get(name) != wd.get(name):
            problems.append("family %s: got %r, prometheus_client %r" % (name, gd.get(name), wd.get(name)))
    if problems:
        print("FAIL %s:\n  %s" % (what, "\n  ".join(problems)))
        return 1
    print("ok   %s: %d samples, %d families equal prometheus_client's" % (what, len(gs), len(gd)))
    return 0


def promtool(text):
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)


def main():
    exe = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(SPEC, f)
        prom = ours(exe, spec_path, "prometheus")
        om = ours(exe, spec_path, "openmetrics")
    ref_prom, ref_om = reference()

    if not os.path.exists(PROMTOOL):
        print("SKIP promtool part: %s not installed" % PROMTOOL)
    else:
        r = promtool(prom)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            print("FAIL promtool check metrics (rc %d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
            failures += 1
        else:
            print("ok   promtool check metrics accepts the 0.0.4 exposition (%d lines)" % prom.count("\n"))
        # The check can fail: promtool rejects an unescaped quote and a counter without help.
        bad = prom.replace('path="/a\\"b', 'path="/a"b', 1)
        assert bad != prom
        if promtool(bad).returncode == 0:
            print("FAIL promtool accepted a broken exposition")
            failures += 1
        if promtool("# TYPE x counter\nx 1\n").returncode == 0:
            print("FAIL promtool did not lint a bad counter")
            failures += 1

    # Known, deliberate difference: with a negative bucket bound, prometheus_client drops _sum in both
    # formats; we drop it only in OpenMetrics (where the spec forbids it) and keep it in 0.0.4 as the Go
    # client does. Check its value against the spec, then compare the rest.
    got = samples(prom_parse(prom))
    size_sum = got[0].pop(("size_bytes_sum", ()), None)
    want_sum = sum(float(x) for x in SPEC["families"][4]["series"][0]["ops"])
    if size_sum != want_sum:
        print("FAIL size_bytes_sum: got %r, want %r" % (size_sum, want_sum))
        failures += 1
    failures += compare("0.0.4 vs prometheus_client 0.0.4", got, samples(prom_parse(ref_prom)))
    # prometheus_client 0.16 writes size_bytes_count without _sum for negative buckets, which its own
    # OpenMetrics parser then refuses ("_sum/_gsum must be present if _count is present"); OpenMetrics
    # wants neither, as we write it. Drop that line from the reference before parsing it.
    ref_om = "".join(line for line in ref_om.splitlines(True) if not line.startswith("size_bytes_count"))
    failures += compare("OpenMetrics vs prometheus_client OpenMetrics", samples(om_parse(om)),
                        samples(om_parse(ref_om)))
    if not om.endswith("# EOF\n"):
        print("FAIL OpenMetrics output does not end with # EOF")
        failures += 1
    # OpenMetrics parser strictness: a truncated document must be refused.
    try:
        list(om_parse(om[:-len("# EOF\n")]))
        print("FAIL the OpenMetrics parser accepted a document without # EOF")
        failures += 1
    except ValueError:
        pass
    # +Inf bucket equals _count for every histogram series.
    for fam in prom_parse(prom):
        if fam.type != "histogram":
            continue
        by = {}
        for s in fam.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            if s.name.endswith("_bucket") and s.labels["le"] == "+Inf":
                by.setdefault(key, {})["inf"] = s.value
            elif s.name.endswith("_count"):
                by.setdefault(key, {})["count"] = s.value
        for key, d in by.items():
            if d.get("inf") != d.get("count"):
                print("FAIL %s%r: +Inf %r != _count %r" % (fam.name, key, d.get("inf"), d.get("count")))
                failures += 1
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
