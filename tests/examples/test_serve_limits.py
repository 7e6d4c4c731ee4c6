"""mlops-serve under attack: every limit of the server has a test that tries to break it.

Each test starts a real mlops-serve (helpers from test_serve.py) and attacks it over loopback.
Attackers connect from other loopback addresses (127.0.0.2, 127.0.0.3, ...: Linux routes all of
127/8 to lo) than the honest client (127.0.0.1), as distinct hosts would. Oracles: the HTTP status
and what the socket sees (closed or not), the server's /metrics counters, the kernel's view of the
server (/proc/PID/status for RSS, stat() for file modes), curl for TLS.
"""
import errno
import json
import os
import re
import resource
import select
import socket
import ssl
import stat
import subprocess
import time

import pytest

from test_serve import BIN, features, rows, serve, trained  # noqa: F401  (trained is a fixture)


def raw(port, data, source="127.0.0.1", timeout=10):
    """Send raw bytes, return everything the server answers before it closes (or `timeout`)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    break
        return out
    finally:
        s.close()


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else None


def one_row(trained_data):
    d, _, test, b = trained_data
    return json.dumps(rows(features(test, b).iloc[:1])[0]).encode()


def metric(s, name):
    """Sum of the samples of `name` (all label sets) in a /metrics scrape."""
    _, _, text = s.request("GET", "/metrics")
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_conflicting_content_length_is_400(trained, tmp_path):
    d = trained[0]
    body = one_row(trained)
    with serve(d / "model.json", log_dir=tmp_path) as s:
        head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        conflicting = head + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body
        assert status_of(raw(s.port, conflicting)) == 400
        both = head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body) + body
        assert status_of(raw(s.port, both)) == 400
        # the same length twice is not a conflict (RFC 9112 6.3)
        same = head + b"Content-Length: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (
            len(body), len(body)) + body
        assert status_of(raw(s.port, same)) == 200
        # a smuggled second request after a 400 is never answered: the connection is closed
        smuggle = conflicting + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        answer = raw(s.port, smuggle)
        assert status_of(answer) == 400 and b"ok\n" not in answer


def test_bodies_must_be_json(trained, tmp_path):
    d = trained[0]
    body = one_row(trained)
    with serve(d / "model.json", log_dir=tmp_path) as s:
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                      "application/jsonx", None):
            headers = {"Content-Type": ctype} if ctype else {}
            conn_headers = dict(headers)
            if ctype is None:  # http.client adds nothing; the helper would add application/json
                answer = raw(s.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body)
                assert status_of(answer) == 415 and b"application/json" in answer
                continue
            status, doc = s.json("POST", "/predict", body, conn_headers)
            assert status == 415 and "application/json" in doc["error"], (ctype, doc)
            status, doc = s.json("POST", "/feedback", {"id": "a", "label": 1}, conn_headers)
            assert status == 415, ctype
        status, doc = s.json("POST", "/predict", body, {"Content-Type": "application/json; charset=utf-8"})
        assert status == 200, doc


def test_feedback_needs_the_bearer_token(trained, tmp_path):
    d = trained[0]
    body = one_row(trained)
    token = "s3cret-token-0123456789"
    (tmp_path / "token").write_text(token + "\n")
    with serve(d / "model.json", "--feedback-token-file", tmp_path / "token", log_dir=tmp_path) as s:
        assert s.json("POST", "/predict", body, {"X-Request-Id": "r1"})[0] == 200
        fb = {"id": "r1", "label": 0}
        status, hdrs, _ = s.request("POST", "/feedback", fb)
        assert status == 401 and hdrs.get("WWW-Authenticate") == "Bearer"
        for wrong in ("Bearer nope", "Bearer " + token[:-1], "Bearer " + token + "x", "Basic " + token, token):
            status = s.request("POST", "/feedback", fb, {"Authorization": wrong})[0]
            assert status in (401, 403), wrong
        assert s.request("POST", "/feedback", fb, {"Authorization": "Bearer nope"})[0] == 403
        # nothing reached the monitor: the label is still pending, the window empty
        status, mon = s.json("GET", "/monitor")
        assert mon["stats"]["pending"] == 1 and mon["stats"]["matched"] == 0
        status, doc = s.json("POST", "/feedback", fb, {"Authorization": "Bearer " + token})
        assert status == 200 and doc["ok"]
        # /predict needs no token
        assert s.json("POST", "/predict", body)[0] == 200
    for bad in ("short\n", "two\nlines-of-a-token-that-is-long\n"):
        (tmp_path / "bad").write_text(bad)
        r = subprocess.run([os.path.join(BIN, "mlops-serve"), "--model", str(d / "model.json"), "--port", "0",
                            "--feedback-token-file", str(tmp_path / "bad")], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2 and "token" in r.stderr
    r = subprocess.run([os.path.join(BIN, "mlops-serve"), "--model", str(d / "model.json"), "--port", "0",
                        "--feedback-token-file", str(tmp_path / "missing")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "missing" in r.stderr


def test_pending_ids_are_capped_per_client(trained, tmp_path):
    d = trained[0]
    body = one_row(trained)
    with serve(d / "model.json", "--max-pending-per-client", 3, log_dir=tmp_path) as s:
        for i in range(3):
            assert s.json("POST", "/predict", body, {"X-Request-Id": "a%d" % i})[0] == 200
        status, doc = s.json("POST", "/predict", body, {"X-Request-Id": "a3"})
        assert status == 429 and "--max-pending-per-client" in doc["error"]
        # another client is not affected, and the first client's ids are all still pending
        answer = raw(s.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"X-Request-Id: b0\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
                     source="127.0.0.2")
        assert status_of(answer) == 200
        status, mon = s.json("GET", "/monitor")
        assert mon["stats"]["pending"] == 4 and mon["stats"]["evicted_capacity"] == 0
        for i in range(3):
            assert s.json("POST", "/feedback", {"id": "a%d" % i, "label": 1})[0] == 200
        # predictions without an id are never limited
        assert s.json("POST", "/predict", body)[0] == 200
        assert metric(s, "ml_http_limited_requests_total") == 1


def test_state_files_are_private_and_stale_temporaries_removed(trained, tmp_path):
    d, train = trained[0], trained[1]
    state = tmp_path / "state"
    state.mkdir()
    stale = state / ("monitor.state.tmp.%d.0" % 999999)
    stale.write_text("half a save")
    other = state / "keep.me"
    other.write_text("not ours")
    with serve(d / "model.json", "--reference", d / "train.csv", "--state-dir", state, log_dir=tmp_path) as s:
        assert s.json("POST", "/predict", one_row(trained), {"X-Request-Id": "x"})[0] == 200
        s.proc.send_signal(2)
        assert s.proc.wait(timeout=30) == 0
    assert not stale.exists() and other.exists()
    for name in ("monitor.state", "drift.state"):
        mode = stat.S_IMODE(os.stat(state / name).st_mode)
        assert mode == 0o600, (name, oct(mode))


def test_tls_with_a_self_signed_certificate(trained, tmp_path):
    d = trained[0]
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    body = one_row(trained)
    (tmp_path / "row.json").write_bytes(body)
    with serve(d / "model.json", "--tls-cert", cert, "--tls-key", key, log_dir=tmp_path) as s:
        assert "on https://127.0.0.1:" in open(s.log).read()
        url = "https://127.0.0.1:%d" % s.port
        r = subprocess.run(["curl", "-sS", "--cacert", str(cert), "-H", "Content-Type: application/json",
                            "--data-binary", "@" + str(tmp_path / "row.json"), url + "/predict"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["predictions"]) == 1
        r = subprocess.run(["curl", "-sS", "--cacert", str(cert), url + "/health"], capture_output=True, text=True,
                           timeout=30)
        assert json.loads(r.stdout)["status"] == "healthy"
        # curl refuses the certificate when it is not trusted, and plain HTTP gets no answer
        r = subprocess.run(["curl", "-sS", url + "/health"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 60, (r.returncode, r.stderr)
        r = subprocess.run(["curl", "-sS", "-m", "5", "http://127.0.0.1:%d/health" % s.port], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode != 0
    r = subprocess.run([os.path.join(BIN, "mlops-serve"), "--model", str(d / "model.json"), "--port", "0",
                        "--tls-cert", str(cert)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--tls-key" in r.stderr


def closed_within(sock, seconds):
    """True when the server closes `sock` within `seconds` (we keep it busy meanwhile)."""
    sock.setblocking(False)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.05)
        if r:
            try:
                if sock.recv(65536) == b"":
                    return True
            except OSError:
                return True
    return False


def test_slow_headers_and_slow_bodies_are_dropped(trained, tmp_path):
    d = trained[0]
    with serve(d / "model.json", "--header-timeout", 1, "--body-timeout", 2, log_dir=tmp_path) as s:
        # headers trickled one byte every 0.2 s: the idle timeout never fires, the deadline does
        slow = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.2", 0))
        start = time.monotonic()
        closed = False
        for ch in b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100:
            try:
                slow.send(bytes([ch]))
            except OSError:
                closed = True
                break
            if closed_within(slow, 0.2):
                closed = True
                break
        elapsed = time.monotonic() - start
        assert closed and 0.9 < elapsed < 3, elapsed
        slow.close()
        # a body trickled after complete headers: dropped at the body deadline
        slow = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.2", 0))
        slow.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        start = time.monotonic()
        closed = False
        while not closed and time.monotonic() - start < 6:
            try:
                slow.send(b" ")
            except OSError:
                break
            closed = closed_within(slow, 0.2)
        elapsed = time.monotonic() - start
        assert closed and 1.9 < elapsed < 4, elapsed
        slow.close()
        assert metric(s, "ml_http_dropped_connections_total") == 2
        # keep-alive clients that are quick are never dropped
        assert s.request("GET", "/health")[0] == 200


def still_open(socks, wait=0.3):
    time.sleep(wait)
    return [c for c in socks if not closed_within(c, 0.1)]


def test_connection_caps(trained, tmp_path):
    d = trained[0]
    with serve(d / "model.json", "--max-per-ip", 5, "--max-connections", 12, log_dir=tmp_path) as s:
        one = [socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.2", 0)) for _ in range(8)]
        assert len(still_open(one)) == 5  # the per-IP cap
        many = [socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.%d" % (3 + i // 4), 0))
                for i in range(12)]
        # past the server-wide cap libmicrohttpd stops accepting: those wait in the listen queue unanswered
        for c in many:
            c.setblocking(True)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        answered = [c for c in many if select.select([c], [], [], 0)[0]]
        assert len(answered) == 12 - 5, len(answered)
        for c in one + many:
            c.close()
        time.sleep(0.3)
        assert s.request("GET", "/health")[0] == 200  # the slots come back


def rss_bytes(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_slow_clients_and_half_sent_bodies_do_not_starve_health(trained, tmp_path):
    """1,100 connections that never finish their headers and 1,000 clients that send half of a
    1 MB body: /health answers within 100 ms and the server's RSS stays under 256 MB. The
    connection caps are raised so that every attacker gets in: the deadlines and the cap on the
    memory of unfinished bodies (default 64 MiB) are what protect the server here."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4500:
        pytest.skip("needs 4,500 file descriptors (RLIMIT_NOFILE hard limit is %d)" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4500), hard))  # the server inherits it
    d = trained[0]
    attackers = []
    try:
        with serve(d / "model.json", "--max-connections", 4000, "--max-per-ip", 4000, "--threads", 4,
                   log_dir=tmp_path) as s:
            for i in range(1100):  # slowloris: a request line and nothing more
                c = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.1.%d" % (1 + i % 200), 0))
                c.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
                attackers.append(c)
            half = b"x" * (512 * 1024)
            head = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1048576\r\n\r\n")
            for i in range(1000):  # half of a 1 MB body each, never the rest
                c = socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.2.%d" % (1 + i % 200), 0))
                c.setblocking(False)
                c.send(head)
                attackers.append((c, memoryview(half)))
            # push the halves as far as the server takes them (bounded in time)
            pending = {c.fileno(): (c, rest) for c, rest in (a for a in attackers if isinstance(a, tuple))}
            poller = select.poll()  # select() cannot watch descriptors above 1023
            for fd in pending:
                poller.register(fd, select.POLLOUT)
            deadline = time.monotonic() + 5
            while pending and time.monotonic() < deadline:
                for fd, ev in poller.poll(50):
                    c, rest = pending[fd]
                    try:
                        rest = rest[c.send(rest):] if ev & select.POLLOUT else rest
                    except OSError:
                        rest = b""  # refused (503) and closed by the server
                    if ev & (select.POLLERR | select.POLLHUP) or not len(rest):
                        poller.unregister(fd)
                        del pending[fd]
                    else:
                        pending[fd] = (c, rest)
            worst = 0.0
            for _ in range(20):
                t = time.monotonic()
                status, doc = s.json("GET", "/health")
                worst = max(worst, time.monotonic() - t)
                assert status == 200 and doc["status"] == "healthy"
            rss = rss_bytes(s.proc.pid)
            refused = metric(s, "ml_http_limited_requests_total")
            assert worst < 0.1, "GET /health took %.1f ms" % (worst * 1e3)
            assert rss < 256 << 20, "RSS %d MiB" % (rss >> 20)
            print("1,100 slow + 1,000 half-sent 1 MB bodies: GET /health worst %.1f ms, RSS %d MiB, %d refused"
                  % (worst * 1e3, rss >> 20, refused))
            assert refused >= 900  # at most 48 of the 1 MB bodies fit in 3/4 of --max-body-memory
            # the last quarter of the memory stays for small requests: predictions still work
            status, doc = s.json("POST", "/predict", one_row(trained))
            assert status == 200, doc
    finally:
        for a in attackers:
            (a[0] if isinstance(a, tuple) else a).close()


def cpu_seconds(pid):
    """User + system CPU time of a process so far (/proc/PID/stat, clock ticks)."""
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_spinning_is_bounded_for_slow_callers(trained, tmp_path):
    """--spin-us: after an answer, a worker with one connection polls it before sleeping. A caller
    that pauses between requests must not make the server burn a spin per request: with a 5 ms
    spin and 150 requests 10 ms apart, spinning every time would cost 0.75 s of CPU; the back-off
    (a connection whose spin ran out skips the next 16) keeps it to a few spins. Answers stay
    right, and a caller that closes after its answer ends its spin at once."""
    import http.client
    d, _, test, b = trained
    body = one_row(trained)
    with serve(d / "model.json", "--threads", 1, "--spin-us", 5000, log_dir=tmp_path) as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
        conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
        first = conn.getresponse().read()
        before = cpu_seconds(s.proc.pid)
        for _ in range(150):
            time.sleep(0.01)
            conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == first
        spent = cpu_seconds(s.proc.pid) - before
        conn.close()
        assert spent < 0.3, "server used %.3f s of CPU for 150 requests 10 ms apart" % spent
        # the polls that ran out are counted: at most one in 17 answers (151 answers here)
        _, _, text = s.request("GET", "/metrics")
        timed_out = re.search(r'^ml_http_spins_total\{result="timed_out"\} (\S+)$', text.decode(), re.M)
        assert timed_out and 1 <= float(timed_out.group(1)) <= 10, text.decode()[-2000:]
        # back-to-back callers, and callers that close after one answer, are answered at once
        t0 = time.monotonic()
        for _ in range(20):
            answer = raw(s.port, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            assert status_of(answer) == 200
        assert time.monotonic() - t0 < 2.0
    bad = subprocess.run([os.path.join(BIN, "mlops-serve"), "--model", str(d / "model.json"), "--spin-us", "10001"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "spin-us" in bad.stderr


def voluntary_switches(pid):
    """Voluntary context switches of all threads of a process (each is a sleep)."""
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        for line in open("/proc/%d/task/%s/status" % (pid, task)):
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def test_a_lone_back_to_back_caller_keeps_its_worker_awake(trained, tmp_path):
    """With --spin-us, a worker that answered a lone keep-alive connection waits for the next
    request awake: 50 back-to-back requests put it to sleep far fewer times than with --spin-us 0,
    where it sleeps after every answer. With a second (idle) connection open on the worker it
    does not spin."""
    import http.client
    d = trained[0]
    body = one_row(trained)
    sleeps, hits = {}, {}
    for spin, idle in ((0, False), (10000, False), (10000, True)):
        with serve(d / "model.json", "--threads", 1, "--spin-us", spin, log_dir=tmp_path) as s:
            other = socket.create_connection(("127.0.0.1", s.port)) if idle else None
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
            conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
            before = voluntary_switches(s.proc.pid)
            for _ in range(50):
                conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read()
            sleeps[spin, idle] = voluntary_switches(s.proc.pid) - before
            conn.close()
            _, _, text = s.request("GET", "/metrics")
            found = re.search(r'^ml_http_spins_total\{result="next_request"\} (\S+)$', text.decode(), re.M)
            hits[spin, idle] = float(found.group(1)) if found else 0.0
            if other:
                other.close()
    assert sleeps[0, False] >= 50 and sleeps[10000, False] < sleeps[0, False] / 2, sleeps
    assert sleeps[10000, True] >= 50, sleeps
    assert hits[0, False] == 0 and hits[10000, False] >= 40 and hits[10000, True] == 0, hits
