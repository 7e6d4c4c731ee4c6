"""Headless Chromium driven over the DevTools protocol, with the standard library only.

    with Browser(tmp_path) as b:
        b.open("http://127.0.0.1:8080/")
        b.wait_for("document.body.dataset.rounds >= 1")
        doc = b.eval("JSON.stringify(...)")
        b.screenshot("page.png")
        b.errors()   # console errors, exceptions and CSP violations seen so far

The browser runs with its own profile in a temporary directory and is killed on exit. Nothing here
reaches beyond loopback.
"""
import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class WebSocket:
    """A client for one ws:// URL: text frames out (masked), text frames in."""

    def __init__(self, url, timeout=30):
        m = re.match(r"ws://([^/:]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (m.group(3), m.group(1), m.group(2), key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "websocket: connection closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk, "websocket: connection closed"
            buf += chunk
        return buf

    def send(self, text):
        data = text.encode()
        n = len(data)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise EOFError("websocket closed by the browser")
            if opcode in (0x9, 0xA):  # ping, pong: not sent by Chromium to clients in practice
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self):
        self.sock.close()


class Browser:
    def __init__(self, tmp_path, width=1280, height=1500):
        self.tmp = tmp_path
        self.size = (width, height)
        self.events = []
        self.next_id = 0

    def __enter__(self):
        log = open(os.path.join(self.tmp, "chromium-%d.log" % time.monotonic_ns()), "w+")
        self.log = log
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--user-data-dir=" + os.path.join(self.tmp, "chromium-profile"),
             "--window-size=%d,%d" % self.size, "about:blank"], stdout=log, stderr=log)
        try:
            port, deadline = None, time.monotonic() + 60
            while port is None:
                assert self.proc.poll() is None, "chromium exited: " + open(log.name).read()[-3000:]
                assert time.monotonic() < deadline, "chromium did not start: " + open(log.name).read()[-3000:]
                m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", open(log.name).read())
                port = int(m.group(1)) if m else None
                time.sleep(0.1)
            pages = []
            while not pages:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                assert time.monotonic() < deadline, "chromium shows no page"
                time.sleep(0.1)
            self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
            for domain in ("Page", "Runtime", "Log"):
                self.call(domain + ".enable")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if getattr(self, "ws", None):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
        self.log.close()

    def call(self, method, **params):
        """Send one command and wait for its answer (events seen meanwhile are kept)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, (method, msg["error"])
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expression):
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def open(self, url):
        self.call("Page.navigate", url=url)

    def wait_for(self, expression, seconds=30):
        """Poll until the expression is truthy in the page."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                if self.eval("!!(%s)" % expression):
                    return
            except AssertionError:  # the page is still loading: its names may not exist yet
                pass
            assert time.monotonic() < deadline, "timed out waiting for: " + expression
            time.sleep(0.1)

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def errors(self, ignore_network=True):
        """Console errors, uncaught exceptions and Content-Security-Policy reports seen so far."""
        self.call("Runtime.evaluate", expression="0")  # drain the events queued before now
        out = []
        for e in self.events:
            if e["method"] == "Runtime.exceptionThrown":
                out.append(e["params"]["exceptionDetails"].get("text", "exception"))
            elif e["method"] == "Log.entryAdded":
                entry = e["params"]["entry"]
                if entry["level"] == "error" and not (ignore_network and entry["source"] == "network"):
                    out.append(entry["source"] + ": " + entry["text"])
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
                out.append("console: " + json.dumps(e["params"]["args"]))
        return out
