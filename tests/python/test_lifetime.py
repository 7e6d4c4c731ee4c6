"""Handles closed while other threads use them (issue 25): never a crash, never a hang.

Each test runs the close-while-calling race in a child interpreter with a timeout, so a
segmentation fault, an ASan report or a hang fails the test instead of killing the run: per
round, 4 threads call the object in a loop while a fifth closes it after their first calls;
calls must succeed or raise StateError. >= 300 rounds per handle class.

Under a library built with AddressSanitizer (meson test -C build-asan py-lifetime), the
child is started with LD_PRELOAD set to the ASan runtime the library links (found with
ldd), so ASan reports use after free in the C objects. This file itself never loads
libmlops, so the pytest process needs no preload.
"""
import os
import re
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.normpath(os.path.join(HERE, "..", "..")))
FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(SRC, "tests", "fixtures"))
ROUNDS = 300
TIMEOUT = 240  # seconds for 300 rounds; a plain run takes a few seconds, ASan about 10x that

# Fixture helpers as code: run here (for test_arguments.py too) and at the top of every child.
FIXTURES = r'''
import json, os
import numpy as np
FIX = os.environ["MLOPS_FIXTURES"]
MAN = {f["name"]: f for f in json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"]}

def model_path(name):
    return os.path.join(FIX, MAN[name]["models"]["json"])

def fixture_x(name):
    fx = MAN[name]
    return np.fromfile(os.path.join(FIX, fx["x"]), dtype="<f4").reshape(fx["n_rows"], fx["n_features"])
'''
os.environ.setdefault("MLOPS_FIXTURES", FIX)
exec(FIXTURES)

# The child: setup code per case defines make() -> (objects, closer_targets), call(objects) and
# optionally finish(objects); the harness below runs the rounds.
HARNESS = FIXTURES + r'''
import random, sys, threading, time
import mlops

X = np.ascontiguousarray(fixture_x("binary_logistic")[:8])

def finish(objs):
    for o in objs:
        if hasattr(o, "close"):
            o.close()

SETUP

failures = []
calls = [0]

def run_round(rnd):
    objs, targets = make()
    go = threading.Event()
    stop = threading.Event()
    def caller():
        n = 0
        while not stop.is_set():
            try:
                call(objs)
            except mlops.StateError:
                pass
            except BaseException as e:  # anything else is a failure of the rule
                failures.append(repr(e))
                go.set()
                return
            n += 1
            if n == 2:
                go.set()
        calls[0] += n
    def closer():
        go.wait(10)
        time.sleep(random.random() * 0.002)
        for t in targets:
            t.close()
        time.sleep(0.001)  # callers keep calling the closed objects for a while
        stop.set()
    threads = [threading.Thread(target=caller) for _ in range(4)] + [threading.Thread(target=closer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for t in targets:  # a call after close raises StateError
        try:
            CHECK_CLOSED(t)
        except mlops.StateError:
            pass
        else:
            failures.append("round %d: a call on a closed %s did not raise StateError" % (rnd, type(t).__name__))
    finish(objs)

random.seed(1)
sys.setswitchinterval(1e-4)  # the closer gets the GIL quickly among 4 busy callers (and races more often)
for rnd in range(int(sys.argv[1])):
    run_round(rnd)
    if failures:
        break
print("calls", calls[0])
if failures:
    print("FAIL", failures[:3])
    sys.exit(1)
'''

CASES = {
    "model": """
        def make():
            m = mlops.Model(model_path("binary_logistic"))
            return [m], [m]
        def call(objs):
            objs[0].predict(X)
            objs[0].predict(X[0])
        CHECK_CLOSED = lambda m: m.predict(X)
    """,
    "schema": """
        def make():
            with mlops.Model(model_path("binary_logistic")) as m:
                s = mlops.Schema.from_model(m)
            return [s], [s]
        def call(objs):
            objs[0].validate(X)
            objs[0].impute(X.copy())
        CHECK_CLOSED = lambda s: s.validate(X)
    """,
    "monitor": """
        import itertools
        IDS = itertools.count()
        P = np.linspace(0.05, 0.95, 8)
        Y = np.array([0, 1, 0, 1, 1, 0, 1, 0], float)
        def make():
            mon = mlops.Monitor("binary", window=64)
            mon.set_alert("accuracy", 0.9)
            mon.on_alert(lambda *a: None)
            return [mon], [mon]
        def call(objs):
            objs[0].record(P, Y)
            objs[0].record_prediction("r%d" % next(IDS), 0.7)
            objs[0].metrics()
        CHECK_CLOSED = lambda mon: mon.record(0.5, 1)
    """,
    "drift": """
        REF = np.random.default_rng(0).normal(size=(200, 3))
        def make():
            d = mlops.DriftDetector(REF, window=50)
            return [d], [d]
        def call(objs):
            objs[0].update(REF[:20] + 0.5)
            objs[0].report()
        CHECK_CLOSED = lambda d: d.update(REF[:2])
    """,
    "metrics": """
        def make():
            reg = mlops.Metrics()
            fam = reg.counter("requests_total", "requests", labels=["route"])
            std = reg.standard()
            return [reg, fam, std], [reg]
        def call(objs):
            reg, fam, std = objs
            fam.labels("a").inc()
            std.observe_predict(1, 0.001)
            reg.render()
        CHECK_CLOSED = lambda reg: reg.render()
    """,
    "metrics_attached": """
        # Objects holding other handles: a registry rendering an attached monitor and drift detector
        # while the monitor and the detector (even rounds) or the registry (odd rounds) are closed.
        REF = np.random.default_rng(0).normal(size=(100, 2))
        rounds = [0]
        def make():
            reg = mlops.Metrics()
            mon = mlops.Monitor("binary", window=32)
            mon.record([0.2, 0.8], [0, 1])
            d = mlops.DriftDetector(REF, window=20)
            d.update(REF[:20])
            reg.attach(mon)
            reg.attach(d)
            rounds[0] += 1
            return [reg, mon, d], ([mon, d] if rounds[0] % 2 else [reg])
        def call(objs):
            reg, mon, d = objs
            reg.render()
            mon.record(0.6, 1)
            d.update(REF[:3])
        CHECK_CLOSED = lambda o: o.render() if isinstance(o, mlops.Metrics) else o.close() or o.handle
    """,
    "router": """
        def make():
            with mlops.Model(model_path("binary_logistic")) as a, mlops.Model(model_path("dart_binary")) as b:
                r = mlops.Router(seed=3)
                r.add_variant("A", a, 1)
                r.add_variant("B", b, 1)
            return [r], [r]
        def call(objs):
            objs[0].predict("user-%d" % threading.get_ident(), X)
            objs[0].stats()
        CHECK_CLOSED = lambda r: r.predict("k", X)
    """,
    "deployment": """
        # The deployment holds its models: closing the Model objects (even rounds) must not free
        # what the deployment serves; closing the deployment (odd rounds) must not crash callers.
        rounds = [0]
        def make():
            live = mlops.Model(model_path("binary_logistic"))
            cand = mlops.Model(model_path("binary_logistic"))
            d = mlops.Deployment(live, canary_fraction=0.5)
            d.stage(cand)
            rounds[0] += 1
            return [d, live, cand], ([live, cand] if rounds[0] % 2 else [d])
        def call(objs):
            d = objs[0]
            d.predict(X, key="k%d" % threading.get_ident())
            d.stats()
        CHECK_CLOSED = lambda o: o.predict(X)
    """,
    "registry": """
        import tempfile
        TMP = tempfile.mkdtemp()
        with mlops.Registry(TMP, create=True) as r0:
            r0.put("m", model_path("binary_logistic"))
        def make():
            r = mlops.Registry(TMP)
            return [r], [r]
        def call(objs):
            objs[0].resolve("m")
            objs[0].versions("m")
        CHECK_CLOSED = lambda r: r.resolve("m")
    """,
}


def _asan_runtime(library):
    """The ASan runtime `library` links, or None (a plain build)."""
    try:
        out = subprocess.run(["ldd", library], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"libasan\.so\S*\s+=>\s+(\S+)", out)
    return m.group(1) if m else None


def child_env():
    """Environment of a child interpreter: the test's, plus LD_PRELOAD of the ASan runtime when the
    library under test is an ASan build."""
    env = dict(os.environ, MLOPS_FIXTURES=FIX, OMP_NUM_THREADS="1")
    lib = env.get("MLOPS_LIBRARY")
    asan = _asan_runtime(lib) if lib else None
    if asan:
        env["LD_PRELOAD"] = asan
        # CPython's own allocations are not freed at exit: leaks are not this test's subject
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env


def run_child(what, code, args=(), timeout=TIMEOUT):
    """Run `code` in a child interpreter; fail (not crash the run) on a hang or a non-zero exit."""
    try:
        r = subprocess.run([sys.executable, "-c", code] + list(args), env=child_env(), capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s: hung (no exit within %d s); output: %s" % (what, timeout, e.stdout))
    assert r.returncode == 0, "%s: exit %d\nstdout: %s\nstderr: %s" % (
        what, r.returncode, r.stdout[-2000:], r.stderr[-6000:])
    return r


def run_race(case, rounds=ROUNDS):
    r = run_child("%s race" % case, HARNESS.replace("SETUP", textwrap.dedent(CASES[case])), [str(rounds)])
    n = int(r.stdout.split("calls", 1)[1].split()[0])
    assert n >= rounds, "%s: the callers made only %d calls in %d rounds" % (case, n, rounds)


@pytest.mark.parametrize("case", sorted(CASES))
def test_close_while_calling(case):
    run_race(case)


def test_harness_detects_a_crash():
    """The harness fails when the child dies of a signal mid-race (as the unpinned bindings did)."""
    CASES["_crash"] = """
        import signal
        class Crasher:
            def close(self):
                os.kill(os.getpid(), signal.SIGSEGV)
        def make():
            m = mlops.Model(model_path("binary_logistic"))
            return [m], [Crasher()]
        def call(objs):
            objs[0].predict(X)
        CHECK_CLOSED = lambda t: None
    """
    try:
        with pytest.raises(AssertionError, match="exit -"):  # SIGSEGV, or SIGABRT from ASan's handler
            run_race("_crash", rounds=5)
    finally:
        del CASES["_crash"]


COPIES = r'''
import copy, gc, pickle, tempfile
REF = np.random.default_rng(0).normal(size=(50, 3))
TMP = tempfile.mkdtemp()
with mlops.Registry(TMP, create=True) as r0:
    r0.put("m", model_path("binary_logistic"))
def make_all():
    m = mlops.Model(model_path("binary_logistic"))
    r = mlops.Router(); r.add_variant("A", m, 1)
    reg = mlops.Registry(TMP)
    return {
        "Model": (m, lambda o: o.predict(X)),
        "Schema": (mlops.Schema.from_model(m), lambda o: o.validate(X)),
        "Router": (r, lambda o: o.predict("k", X)),
        "Registry": (reg, lambda o: o.versions("m")),
        "Monitor": (mlops.Monitor(), lambda o: o.record(0.5, 1)),
        "DriftDetector": (mlops.DriftDetector(REF), lambda o: o.update(REF[:2])),
        "Metrics": (mlops.Metrics(), lambda o: o.render()),
        "Deployment": (mlops.Deployment(m), lambda o: o.predict(X)),
    }
shared = {"Model", "Schema", "Router", "Registry"}  # copy.copy is a new reference to the C object
by_value = {"Schema", "Model", "Monitor", "DriftDetector"}  # pickled (and deep-copied) by value
allowed = {"copy": shared | by_value, "deepcopy": shared | by_value, "pickle": by_value}
for how in ("copy", "deepcopy", "pickle"):
    objs = make_all()
    for name in list(objs):
        obj, use = objs.pop(name)
        try:
            if how == "copy":
                c = copy.copy(obj)
            elif how == "deepcopy":
                c = copy.deepcopy(obj)
            else:
                c = pickle.loads(pickle.dumps(obj))
        except TypeError as e:
            assert name not in allowed[how], "%s of %s refused: %s" % (how, name, e)
            obj.close()
            continue
        assert name in allowed[how], "%s of %s was allowed" % (how, name)
        if name in by_value and (how != "copy" or name not in shared):  # a real copy
            assert c.handle != obj.handle, "%s of %s shares the C object" % (how, name)
        obj.close()   # close and drop the original: the copy must still work
        del obj
        gc.collect()
        use(c)
        c.close()
        try:
            use(c)
        except mlops.StateError:
            pass
        else:
            raise AssertionError("%s: the closed copy still answers" % name)
print("calls 1")
'''


def test_copy_and_pickle_never_share_a_freed_pointer():
    """Issue 12 (lifetimes): copy.copy/deepcopy take a new reference or a real copy, pickle is by value
    or TypeError; using a copy after the original is closed and deleted works (child process)."""
    run_child("copies", HARNESS.split("failures = []")[0].replace("SETUP", COPIES))


# Pickled by value into other processes: a multiprocessing spawn pool and joblib (loky) workers get
# the objects by pickle and must answer exactly as the originals do here; an MlopsError raised in a
# worker comes back as itself (class, status, message).
ACROSS = r'''
import gc, multiprocessing, operator, pickle
import joblib
m = mlops.Model(model_path("binary_logistic"))
m_bytes = mlops.Model(open(model_path("binary_logistic"), "rb").read(), iteration_range=(0, 5))
mon = mlops.Monitor("binary", window=50)
mon.record(m.predict(X), [0, 1, 1, 0, 1, 0, 0, 1])
rng = np.random.default_rng(1)
det = mlops.DriftDetector(rng.normal(size=(200, 3)), window=40, feature_names=["a", "b", "c"])
det.update(rng.normal(0.5, 1.0, size=(40, 3)))
want = [m.predict(X), m_bytes.predict(X), mon.metrics(), det.report()]
assert not np.array_equal(want[0], want[1])  # so equal answers below show the options travelled
jobs = [(m, "predict", X), (m_bytes, "predict", X), (mon, "metrics"), (det, "report")]
calls = [operator.methodcaller(j[1], *j[2:]) for j in jobs]

def check(got, where):
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), where
    assert got[2] == want[2], "%s: %r != %r" % (where, got[2], want[2])
    assert json.dumps(got[3], sort_keys=True) == json.dumps(want[3], sort_keys=True), where

with multiprocessing.get_context("spawn").Pool(2) as pool:
    check([pool.apply_async(c, (j[0],)).get(120) for c, j in zip(calls, jobs)], "spawn pool")
    try:
        pool.apply_async(operator.methodcaller("predict", np.zeros((2, 3), np.float32)), (m,)).get(120)
    except mlops.ShapeError as e:
        assert e.status == -5 and "feature" in e.message and isinstance(e, ValueError), e
    else:
        raise AssertionError("the worker's ShapeError did not come back")
check(joblib.Parallel(n_jobs=2, backend="loky", timeout=120)(joblib.delayed(c)(j[0]) for c, j in zip(calls, jobs)),
      "joblib")
# a pickled copy outlives the closed and deleted originals
copies = pickle.loads(pickle.dumps([m, mon, det]))
for o in (m, m_bytes, mon, det):
    o.close()
del m, mon, det
gc.collect()
assert np.array_equal(copies[0].predict(X), want[0])
assert copies[1].metrics() == want[2]
assert json.dumps(copies[2].report(), sort_keys=True) == json.dumps(want[3], sort_keys=True)
print("calls 1")
'''


def test_pickle_across_spawn_pool_and_joblib():
    """Issue 12 (lifetimes): Model (from a file or bytes, with its options), Monitor and DriftDetector
    pickled into spawned worker processes answer exactly as the originals; errors come back as
    themselves."""
    run_child("across processes", HARNESS.split("failures = []")[0].replace("SETUP", ACROSS), timeout=300)


REFUSALS = r'''
import pickle, shutil, tempfile
d = tempfile.mkdtemp()
path = os.path.join(d, "m.json")
shutil.copy(model_path("binary_logistic"), path)
m = mlops.Model(path)
pickle.dumps(m)  # unchanged: fine
with open(path, "ab") as f:
    f.write(b" ")
try:
    pickle.dumps(m)
except TypeError as e:
    assert "changed since it was loaded" in str(e) and path in str(e), e
else:
    raise AssertionError("a model whose file changed was pickled")
os.remove(path)
try:
    pickle.dumps(m)
except TypeError as e:
    assert "cannot be read again" in str(e), e
else:
    raise AssertionError("a model whose file is gone was pickled")
with mlops.Registry(os.path.join(d, "reg"), create=True) as reg:
    reg.put("m", model_path("binary_logistic"))
    rm = reg.load("m")
    try:
        pickle.dumps(rm)
    except TypeError as e:
        assert "cannot pickle mlops.Model" in str(e), e
    else:
        raise AssertionError("a registry model (no bytes in the bindings) was pickled")
    rm.close()
m.close()
try:
    pickle.dumps(m)
except mlops.StateError:
    pass
else:
    raise AssertionError("a closed model was pickled")
print("calls 1")
'''


def test_pickle_refusals_are_clear():
    """A model whose file changed or vanished since the load, a model without bytes (one from a
    registry) and a closed model refuse to pickle with a message saying why."""
    run_child("refusals", HARNESS.split("failures = []")[0].replace("SETUP", REFUSALS))

