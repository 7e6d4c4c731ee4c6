"""Docs are tests, server part (issue 22; suite 'docs'): the shell blocks of the READMEs marked
`<!-- doc-test: fixture NAMES (what they make) -->` run for real, servers included.

Each block runs in a temporary directory holding the demo files (test_docs.workdir) after its
fixtures, in order: `above` runs the previous shell block of the same file, the one the block
continues (its fixtures, then its commands, servers included, output unchecked: its own test
checks it); NAME runs tests/docs/fixtures/NAME.sh (bash -e; it makes what the block needs with
mlops-train and mlops-registry); `replicas` starts three mlops-serve of the demo model (what the
block calls 10.0.0.1-3:8080) and sends each a few rows; `@NAME` runs where the block leaves
commands out with a `# ...` comment (`@abtraffic`: the A/B session's requests and labels). Then
the block's commands run in order in one bash session (variables carry over), stdout and stderr
together:

- A command running `mlops-serve` or `haproxy` (a daemon: `&` or not) is started by the harness in
  the background, on loopback, on a port picked free (bound to port 0 and closed: a program that
  takes it first fails the block; a mlops-serve without --port gets one: its default is 8080), and stopped (SIGTERM, then SIGKILL) after the block; the next command runs
  once it answers (mlops-serve: its serving line and /ready; haproxy: its port). `# each
  replica:` before a command starts it once per replica address of the block.
- What the block writes for one machine is mapped to this one, in the commands and back in the
  output: `localhost:8080` / `127.0.0.1:8080` / `--port 8080` (the server), `10.0.0.N:8080`
  (replica N), `MLOPS_LB_BIND=:8080` (HAProxy), `--bind 0.0.0.0` (loopback), `/shared/registry` and
  `/var/lib/mlops` (directories of the temporary directory, one state directory per replica).
- Expected output: in a `console` block the lines after a `$ ` command; in an `sh` block the lines
  indented under a command (a line indented deeper continues the one above, joined without the
  break). Compared exactly after these normalisations, applied to both sides: `...` in the
  documentation stands for any text (a line of only `...`, for any lines); a decimal number in the documentation stands for the numbers
  that round to it at the digits shown; runs of blanks are one blank; ISO times, BLAKE2b digests
  and admin-token ids (they change with every run) become placeholders; on a row of measurements
  (its first word ends in _us, _ms or _mb) the measured values, the numbers before the comparison
  operator, become placeholders (the threshold and the result are still compared). In an `sh` block
  a command with no output shown must exit 0; in a `console` block the output shown is the check.
- After the block, a fixture may check what the block set up (`fleet`: labels sent through HAProxy
  with the X-Request-Id of their prediction all find it).
"""
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import mdblocks  # noqa: E402
from test_docs import BIN, block_id, demo, workdir  # noqa: E402,F401  (demo is a fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
SHELL = {"sh", "console", "", "bash", "shell"}
SERVER_BLOCKS = [b for b in mdblocks.all_blocks(SHELL) if b["fixture"]]
DAEMON = re.compile(r"^(?:[A-Z0-9_]+=\S*\s+(?:\\\n\s*)?)*(mlops-serve|haproxy)\b")
REPLICA = re.compile(r"\b10\.0\.0\.(\d+):8080\b")
ELIDED = "# ..."     # a step standing for commands the block leaves out
START_SECONDS = 60   # a daemon that does not answer by then fails the block
STEP_SECONDS = 120   # one command of a block


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env():
    """The built programs and deploy/pipeline (deploy-model.sh) first on PATH."""
    path = os.pathsep.join([BIN, os.path.join(mdblocks.ROOT, "deploy", "pipeline"), os.environ.get("PATH", "")])
    return dict(os.environ, PATH=path, LC_ALL="C")


# --- the block: steps, expected output ------------------------------------------------------


def steps(block):
    """[(command, expected lines or None, replicated)] of a block. `replicated`: the command follows
    an `# each replica:` comment."""
    out, cmd, each, console = [], None, False, block["lang"] == "console"
    for line in block["text"].rstrip("\n").split("\n"):
        if cmd is not None:  # a continuation
            cmd += "\n" + line
        elif console and line.startswith("$ "):
            cmd = line[2:]
        elif console:
            if out and line.strip():
                out[-1][1].append(line.rstrip())
            continue
        elif line.startswith((" ", "\t")) and line.strip():
            if out and out[-1][1] is not None and len(line) - len(line.lstrip()) > 2 and out[-1][1]:
                out[-1][1][-1] += line.strip()
            elif out:
                out[-1][1] = (out[-1][1] or []) + [line.strip()]
            continue
        elif not line.strip():
            continue
        elif line.startswith("# ..."):
            out.append([ELIDED, None, False])
            continue
        elif line.startswith("#"):
            each = each or line.strip().rstrip(":") == "# each replica"
            continue
        else:
            cmd = line
        if not cmd.endswith("\\") and cmd.count("'") % 2 == 0:  # else continued: backslash, open quote
            out.append([cmd, [] if console else None, each])
            cmd, each = None, False
    return out


NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
MEASURED = re.compile(r"^(\w+_(?:us|ms|mb))\s+(%s|-)\s+(%s|-)(?=\s)" % (NUMBER, NUMBER))


def normalise(line):
    line = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z", "<time>", line)
    line = re.sub(r"blake2b-256:[0-9a-f]{64}", "blake2b-256:<digest>", line)
    line = re.sub(r"admin-token:[0-9a-f]{16}", "admin-token:<id>", line)
    line = MEASURED.sub(lambda m: "%s <measured> <measured>" % m.group(1), line)
    return re.sub(r"[ \t]+", " ", line.strip())


def line_matches(want, got):
    """`want` (documentation, normalised) matches `got` (output, normalised): `...` is any text, a
    decimal number any number that rounds to it."""
    pattern, numbers = "", []
    for tok in re.split(r"(\.\.\.|-?\d+\.\d+(?![\d.]))", want):
        if tok == "...":
            pattern += ".*?"
        elif re.fullmatch(r"-?\d+\.\d+", tok or "x"):
            numbers.append(tok)
            pattern += "(%s)" % NUMBER
        else:
            pattern += re.escape(tok)
    m = re.fullmatch(pattern, got)
    if not m:
        return False
    for doc, real in zip(numbers, m.groups()):
        digits = len(doc.split(".")[1])
        if abs(float(real) - float(doc)) > 0.5 * 10 ** -digits * (1 + 1e-9):
            return False
    return True


def outputs_match(want, got):
    """Line by line; a documentation line that is only `...` stands for any number of lines."""
    want = [normalise(w) for w in want]
    got = [normalise(g) for g in got]

    def match(i, j):
        if i == len(want):
            return j == len(got)
        if want[i] == "...":
            return any(match(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and line_matches(want[i], got[j]) and match(i + 1, j + 1)
    return match(0, 0)


# --- the machine: shell session, daemons, address mapping ---------------------------------------


class Shell:
    """One bash session: a command's output (stdout and stderr) ends at a marker line with its status."""

    MARK = "@@doc-test-step-done@@"

    def __init__(self, cwd):
        self.p = subprocess.Popen(["bash", "--norc", "--noprofile"], cwd=cwd, env=env(), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def run(self, cmd):
        # the status is set again after the marker: a next command may read $?
        self.p.stdin.write(("{\n%s\n} </dev/null\ndoc_test_status=$?\nprintf '\\n%s %%d\\n' $doc_test_status\n"
                            "(exit $doc_test_status)\n" % (cmd, self.MARK)).encode())
        self.p.stdin.flush()
        buf, deadline = b"", time.monotonic() + STEP_SECONDS
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        while (self.MARK.encode() + b" ") not in buf or not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            assert left > 0, "`%s` did not finish in %d s; printed:\n%s" % (cmd, STEP_SECONDS, buf.decode())
            if sel.select(left):
                chunk = os.read(self.p.stdout.fileno(), 65536)
                assert chunk, "the shell died running `%s`:\n%s" % (cmd, buf.decode())
                buf += chunk
        text, status = buf.decode().rsplit(self.MARK + " ", 1)
        lines = [ln.rstrip() for ln in text[:-1].rstrip("\n").split("\n")] if text.strip() else []
        return lines, int(status)

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=30)


class Machine:
    """The daemons of one block and the map from the block's addresses and paths to real ones."""

    def __init__(self, d, block):
        self.d, self.daemons = d, []
        self.replicas = sorted({int(n) for n in REPLICA.findall(block["text"])})
        self.port = free_port()  # the block's one server, or its load balancer
        self.map = {"localhost:8080": "localhost:%d" % self.port, "127.0.0.1:8080": "127.0.0.1:%d" % self.port,
                    "MLOPS_LB_BIND=:8080": "MLOPS_LB_BIND=127.0.0.1:%d" % self.port,
                    "/shared/registry": str(d / "shared" / "registry")}
        for n in self.replicas:
            self.map["10.0.0.%d:8080" % n] = "127.0.0.1:%d" % free_port()

    def real_port(self, replica):
        return int(self.map["10.0.0.%d:8080" % replica].split(":")[1])

    def to_real(self, text, replica=None):
        for doc, real in self.map.items():
            text = text.replace(doc, real)
        text = text.replace("--bind 0.0.0.0", "--bind 127.0.0.1")
        if replica is not None:
            text = text.replace("--port 8080", "--port %d" % self.real_port(replica))
            text = text.replace("/var/lib/mlops", str(self.d / "var-lib-mlops" / str(replica)))
        text = text.replace("--port 8080", "--port %d" % self.port)
        if DAEMON.match(text) and DAEMON.match(text).group(1) == "mlops-serve" and "--port" not in text:
            text = text.rstrip().rstrip("&").rstrip() + " --port %d" % self.port  # its default is 8080
        return text

    def to_doc(self, line):
        for doc, real in self.map.items():
            if ":" in doc and not doc.startswith("MLOPS"):
                line = re.sub(re.escape(real) + r"\b", doc, line)
        return re.sub(r"\bport %d\b" % self.port, "port 8080", line)

    def start(self, cmd, port):
        """Start one daemon command; return the lines it printed until it answered on `port`."""
        log = self.d / ("daemon-%d.log" % len(self.daemons))
        with open(log, "w") as f:
            p = subprocess.Popen(["bash", "-c", cmd.rstrip().rstrip("&")], cwd=self.d, env=env(),
                                 stdout=f, stderr=f, stdin=subprocess.DEVNULL, start_new_session=True)
        self.daemons.append(p)
        serve = "mlops-serve" in DAEMON.match(cmd).group(1)
        deadline = time.monotonic() + START_SECONDS
        while True:
            text = log.read_text()
            assert p.poll() is None, "`%s` exited %s:\n%s" % (cmd, p.returncode, text)
            assert time.monotonic() < deadline, "`%s` did not answer in %d s:\n%s" % (cmd, START_SECONDS, text)
            if serve and re.search(r" on http://127\.0\.0\.1:%d/" % port, text) and http(port, "/ready")[0] == 200:
                return text.rstrip("\n").split("\n")
            if not serve and tcp_open(port):
                return text.rstrip("\n").split("\n") if text.strip() else []
            time.sleep(0.05)

    def stop(self):
        for p in self.daemons:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.daemons:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=30)


def tcp_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def http(port, path, body=None, headers=None):
    rq = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(rq, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


# --- fixtures ------------------------------------------------------------------------------------


def previous_block(block):
    before = [b for b in mdblocks.blocks(block["file"]) if b["line"] < block["line"] and b["lang"] in SHELL]
    assert before, "%s: `above` but no shell block above it" % block_id(block)
    return before[-1]


def run_fixture(name, block, machine, shell):
    d = machine.d
    if name == "above":
        above = previous_block(block)
        for first in [n for n in (above["fixture"] or []) if not n.startswith("@")]:
            run_fixture(first, above, machine, shell)
        run_steps(above, machine, shell, check=False)
    elif name in PY_FIXTURES:
        PY_FIXTURES[name](machine)
    else:
        script = os.path.join(HERE, "fixtures", name + ".sh")
        r = subprocess.run(["bash", "-e", script], cwd=d, env=dict(env(), MLOPS_SOURCE_ROOT=mdblocks.ROOT),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, "fixture %s failed:\n%s%s" % (name, r.stdout, r.stderr)


def replicas(machine):
    """Three mlops-serve of the demo model, each with the demo's five rows predicted."""
    for n in machine.replicas:
        port = machine.real_port(n)
        machine.start("mlops-serve --model model.json --schema schema.json --reference train.csv "
                      "--admin-token-file admin.token --threads 2 --bind 127.0.0.1 --port %d" % port, port)
        for row in json.loads((machine.d / "rows.json").read_text()):
            assert http(port, "/predict", json.dumps(row).encode(), {"Content-Type": "application/json"})[0] == 200


def ab_traffic(machine):
    """The A/B session's elided part: every row of gate.csv predicted with X-User-Id user-I and
    X-Request-Id req-I, then its label posted to /feedback."""
    import csv
    J = {"Content-Type": "application/json"}
    with open(machine.d / "gate.csv") as f:
        for i, row in enumerate(csv.DictReader(f)):
            label = float(row.pop("malignant0_benign1"))
            body = json.dumps({"features": {k: float(v) for k, v in row.items()}}).encode()
            ids = {"X-User-Id": "user-%d" % i, "X-Request-Id": "req-%d" % i}
            status, out = http(machine.port, "/predict", body, dict(J, **ids))
            assert status == 200, out
            status, out = http(machine.port, "/feedback", json.dumps({"id": "req-%d" % i, "label": label}).encode(), J)
            assert status == 200, out


PY_FIXTURES = {"replicas": replicas, "@abtraffic": ab_traffic}


def check_fleet(machine):
    """Labels sent through HAProxy with their prediction's X-Request-Id all reach the replica that
    holds the prediction (consistent hash of the header), once HAProxy sees every replica up."""
    lb = machine.port
    row = json.dumps({"features": json.loads((machine.d / "rows.json").read_text())[0]["features"]}).encode()
    J = {"Content-Type": "application/json"}
    deadline = time.monotonic() + START_SECONDS
    answered = set()
    for i in range(60):
        rid = {"X-Request-Id": "doc-%d" % i}
        while True:
            status, body = http(lb, "/predict", row, dict(J, **rid))
            if status == 200:
                break
            assert time.monotonic() < deadline, "HAProxy did not forward /predict: %s %s" % (status, body)
            time.sleep(0.2)
        status, body = http(lb, "/feedback", json.dumps({"id": "doc-%d" % i, "label": 1}).encode(), dict(J, **rid))
        assert status == 200, "label doc-%d did not find its prediction: %s %s" % (i, status, body)
    for n in machine.replicas:
        status, text = http(machine.real_port(n), "/metrics")
        labelled = re.search(rb"^ml_model_labelled_total(?:\{[^}]*\})? (\d+)", text, re.M)
        if labelled and int(labelled.group(1)) > 0:
            answered.add(n)
    assert len(answered) >= 2, "HAProxy sent every id to one replica: %s" % sorted(answered)


CHECKS = {"fleet": check_fleet}


# --- the test ------------------------------------------------------------------------------------


def run_steps(block, machine, shell, check=True):
    """The block's commands in order; returns the mismatches (every command runs even after one)."""
    failures = []
    for cmd, want, each in steps(block):
        want = want if check else None
        if cmd == ELIDED:
            for name in [n for n in block["fixture"] if n.startswith("@")]:
                run_fixture(name, block, machine, shell)
        elif DAEMON.match(cmd):
            for replica in (machine.replicas if each else [None]):
                port = machine.port if replica is None else machine.real_port(replica)
                lines = machine.start(machine.to_real(cmd, replica), port)
                if want is not None:
                    failures += check_step(block, cmd, want, [machine.to_doc(ln) for ln in lines], 0)
        else:
            lines, status = shell.run(machine.to_real(cmd))
            failures += check_step(block, cmd, want, [machine.to_doc(ln) for ln in lines], status if check else 0)
    return failures


def run_block(block, d):
    machine, shell = Machine(d, block), Shell(d)
    try:
        for name in [n for n in block["fixture"] if not n.startswith("@")]:
            run_fixture(name, block, machine, shell)
        failures = run_steps(block, machine, shell)
        for name in block["fixture"]:
            if name in CHECKS:
                CHECKS[name](machine)
    finally:
        shell.close()
        machine.stop()
    assert not failures, "\n\n".join(failures)


def check_step(block, cmd, want, got, status):
    """[] when the command did what the block shows, else [the report]."""
    if want is None:
        ok = status == 0
        return [] if ok else ["%s: `%s` exited %d:\n%s" % (block_id(block), cmd, status, "\n".join(got))]
    if outputs_match(want, got):
        return []
    return ["%s: `%s` printed\n%s\ninstead of\n%s" % (block_id(block), cmd, "\n".join(got), "\n".join(want))]


@pytest.mark.parametrize("block", SERVER_BLOCKS, ids=block_id)
def test_server_block(block, demo, tmp_path):
    run_block(block, workdir(demo, tmp_path))


def test_server_blocks_found():
    """The marked blocks are seen: an extractor that found none would pass everything."""
    assert len(SERVER_BLOCKS) >= 5, [block_id(b) for b in SERVER_BLOCKS]


def test_harness_compares():
    """The comparison fails on what it must not accept (a test that cannot fail checks nothing)."""
    assert line_matches("accuracy 0.9467 ... pass", "accuracy 0.946746 x pass")
    assert not line_matches("accuracy 0.9467 ... pass", "accuracy 0.9475 x pass")
    assert not line_matches('{"version":1,...}', '{"version":2,"x":1}')
    assert outputs_match(["p99_latency_us   0.111   0.09 <=   50  pass"], ["p99_latency_us 7.5 3 <= 50 pass"])
    assert not outputs_match(["p99_latency_us   0.111   0.09 <=   50  pass"], ["p99_latency_us 7.5 3 <= 50 fail"])
    assert not outputs_match(["a", "b"], ["a"])
    assert outputs_match(["{", "...", "}", "end"], ["{", "x", "y", "}", "end"])
    assert not outputs_match(["{", "...", "}", "end"], ["{", "x", "}", "fin"])
