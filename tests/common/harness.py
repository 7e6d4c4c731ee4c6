"""Helpers shared by the Python tests (the C tests' tests/common/harness.h, for Python).

Import with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
    import harness
"""
import json
import socket
import urllib.parse
import urllib.request


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus_query(port, expr, timeout=5):
    """The result vector of the instant query `expr` on the Prometheus server at `port`."""
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]
