"""Argument and lifetime checks at every boundary (issue 28): one test per numbered finding of the
crash hunt, and a property-style test feeding odd arrays to every public method that takes one.

Crash cases run in a child interpreter (tests/python/test_lifetime.py's run_child, with the ASan
runtime preloaded when the library is an ASan build), so a crash fails the test, not the run:
meson test -C build-asan py-arguments runs them under ASan (the in-process tests are skipped there).
"""
import os
import textwrap

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from test_lifetime import FIXTURES, _asan_runtime, fixture_x, model_path, run_child

# In-process tests load the library into pytest itself, which an ASan build refuses without the
# runtime preloaded: under ASan only the child-process tests run (they are the crash tests).
ASAN = bool(os.environ.get("MLOPS_LIBRARY")) and _asan_runtime(os.environ["MLOPS_LIBRARY"]) is not None
inproc = pytest.mark.skipif(ASAN, reason="loads the ASan-built library in the pytest process")
if not ASAN:
    import mlops

PRELUDE = FIXTURES + r'''
import sys, tempfile
import mlops
'''


def child(what, body, timeout=120):
    return run_child(what, PRELUDE + textwrap.dedent(body), timeout=timeout)


# ---- 1. Schema.impute must not write into read-only memory -------------------------------------

def test_impute_refuses_read_only_arrays():
    r = child("impute read-only", """
        m = mlops.Model(model_path("binary_logistic"))
        s = mlops.Schema.from_model(m)
        x = np.full((3, 30), np.nan, np.float32)
        path = os.path.join(tempfile.mkdtemp(), "x.npy")
        np.save(path, x)
        mm = np.load(path, mmap_mode="r")                     # read-only mapping: SIGSEGV before
        raw = x.tobytes()
        fb = np.frombuffer(raw, np.float32).reshape(3, 30)    # an immutable bytes object
        for a in (mm, fb):
            try:
                s.impute(a)
            except mlops.InvalidArgumentError as e:
                assert "read-only" in str(e), str(e)
            else:
                sys.exit("impute accepted a read-only array")
        assert raw == x.tobytes(), "the bytes object was rewritten"
        w = x.copy()
        assert s.impute(w) is w
        print("ok")
    """)
    assert r.stdout.strip().endswith("ok")


# ---- 2. DriftDetector takes 2-D rows only --------------------------------------------------------

def test_drift_refuses_3d_arrays():
    r = child("drift 3-D", """
        d = mlops.DriftDetector(np.random.default_rng(0).normal(size=(100, 3)), window=50)
        for bad in (np.empty((50, 3, 0)), np.ones((10, 3, 2))):
            for fn in (d.update, d.set_reference):
                try:
                    fn(bad)
                except mlops.InvalidArgumentError as e:
                    assert "3 dimensions" in str(e), str(e)
                else:
                    sys.exit("%s accepted shape %s" % (fn.__name__, bad.shape))
        assert d.results()["summary"]["n_seen"] == 0, "a refused update changed the detector"
        print("ok")
    """)
    assert r.stdout.strip().endswith("ok")


# ---- 3. Replacing the alert callback from inside the callback ------------------------------------

def test_alert_callback_replaced_inside_the_callback():
    r = child("on_alert(None) inside the callback", """
        seen = []
        for rnd in range(50):
            mon = mlops.Monitor("binary", window=10)
            mon.set_alert("accuracy", 0.9)
            mon.set_alert("f1", 0.9)
            def cb(metric, firing, value, count, mon=mon):
                seen.append(metric)
                mon.on_alert(None if rnd % 2 else (lambda *a: seen.append("new")))
            mon.on_alert(cb)
            mon.record([0.9, 0.1, 0.9, 0.1], [0, 1, 0, 1])  # both rules fire in one record
            mon.close()
        print("ok", len(seen))
    """)
    out = r.stdout.split()
    assert out[0] == "ok" and int(out[1]) >= 50


# ---- 4. Router.predict matches DataFrame columns by name -----------------------------------------

@inproc
def test_router_takes_dataframe_columns_by_name():
    x = fixture_x("binary_logistic")[:20]
    booster = xgb.Booster(model_file=model_path("binary_logistic"))
    with mlops.Model(model_path("binary_logistic")) as m:
        names = m.feature_names
        r = mlops.Router(seed=1)
        r.add_variant("A", m, 1)
    want = booster.inplace_predict(x)  # XGBoost's own answer, model column order
    df = pd.DataFrame(x, columns=names)
    reversed_df = df[names[::-1]]
    _, got = r.predict("k", reversed_df)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    _, got = r.predict("k", reversed_df.iloc[3])  # a Series: one row by index name
    np.testing.assert_allclose(got, want[3:4], rtol=1e-6, atol=1e-7)
    with pytest.raises(mlops.InvalidArgumentError, match=repr(names[0])):
        r.predict("k", df.drop(columns=[names[0]]))
    r.close()


# ---- 6. NUL and non-UTF-8 inside names and ids ----------------------------------------------------

@inproc
def test_nul_and_invalid_utf8_refused_naming_the_argument():
    with mlops.Monitor("binary") as mon:
        with pytest.raises(ValueError, match="id contains a NUL"):
            mon.record_prediction("req\0-1", 0.3)
        with pytest.raises(ValueError, match="id contains a NUL"):
            mon.record_label("req\0-2", 1)
        with pytest.raises(ValueError, match="id is not valid UTF-8"):
            mon.record_prediction(b"req\xff", 0.3)
        with pytest.raises(ValueError, match="id is not valid UTF-8"):
            mon.record_prediction("req\udcff", 0.3)
        assert mon.stats()["pending"] == 0  # nothing was recorded under a truncated id
    with mlops.Model(model_path("binary_logistic")) as m, mlops.Router() as r:
        r.add_variant("exp", m, 1)
        with pytest.raises(ValueError, match="variant name contains a NUL"):
            r.add_variant("exp\0B", m, 1)
        assert r.variants == ["exp"]
    with mlops.Metrics() as reg:
        fam = reg.counter("logins_total", "logins", labels=["user"])
        fam.labels("alice").inc()
        with pytest.raises(ValueError, match="label value 0 contains a NUL"):
            fam.labels("alice\0").inc()
        with pytest.raises(ValueError, match="name contains a NUL"):
            reg.counter("a\0b", "x")
        assert fam.labels("alice").value == 1.0
    with pytest.raises(ValueError, match=r"feature_names\[1\] contains a NUL"):
        mlops.DriftDetector(n_features=2, feature_names=["a", "b\0c"])


# ---- 7. Duplicate drift feature names --------------------------------------------------------------

@inproc
def test_drift_refuses_duplicate_feature_names():
    with pytest.raises(mlops.ExistsError, match='feature name "age" is given twice'):
        mlops.DriftDetector(np.ones((10, 2)), feature_names=["age", "age"])
    df = pd.DataFrame(np.ones((10, 2)), columns=["age", "age"])
    with pytest.raises(mlops.MlopsError):
        mlops.DriftDetector(df)


# ---- odd arrays into every public method that takes an array -------------------------------------

ODD = r'''
import warnings
warnings.simplefilter("ignore")
def odd_arrays(n):
    """0-d, 1-D, 3-D, empty, read-only, negative strides, Fortran order, big-endian, object arrays."""
    base = np.arange(4 * n, dtype=np.float64).reshape(4, n) / (4 * n)
    ro = base.astype(np.float32); ro.flags.writeable = False
    yield "0-d", np.array(0.5)
    yield "1-D", base[0].copy()
    yield "1-D short", base[0, :1].copy()
    yield "3-D", np.ones((2, n, 2))
    yield "3-D empty", np.empty((50, 3, 0))
    yield "empty", np.empty((0, n))
    yield "read-only f32", ro
    yield "negative strides", base[::-1, ::-1]
    yield "Fortran", np.asfortranarray(base)
    yield "big-endian f4", base.astype(">f4")
    yield "big-endian f8", base.astype(">f8")
    yield "object numbers", base.astype(object)
    yield "object strings", np.full((4, n), "x", dtype=object)
    yield "list", base.tolist()
    yield "None", None
    yield "str", "abc"

m = mlops.Model(model_path("binary_logistic"))
s = mlops.Schema.from_model(m)
mon = mlops.Monitor("binary", window=50)
d = mlops.DriftDetector(np.random.default_rng(0).normal(size=(60, 30)), window=20)
r = mlops.Router(); r.add_variant("A", m, 1)
dep = mlops.Deployment(m); dep.stage(m)
reg = mlops.Metrics(); std = reg.standard()
Y = np.array([0, 1, 0, 1], np.float64)
N = 30
calls = {
    "Model.predict": lambda a: m.predict(a),
    "Model.predict(out=)": lambda a: m.predict(np.ones((4, N), np.float32), out=a),
    "Model.predict(margin)": lambda a: m.predict(a, margin=True),
    "Schema.validate": lambda a: s.validate(a),
    "Schema.impute": lambda a: s.impute(a),
    "Schema.infer": lambda a: mlops.Schema.infer(a),
    "Monitor.record(p)": lambda a: mon.record(a, Y),
    "Monitor.record(y)": lambda a: mon.record(np.full(4, 0.5), a),
    "Monitor.record_prediction": lambda a: mon.record_prediction("x", a),
    "DriftDetector()": lambda a: mlops.DriftDetector(a, window=5),
    "DriftDetector.set_reference": lambda a: d.set_reference(a),
    "DriftDetector.update": lambda a: d.update(a),
    "DriftDetector.set_prediction_reference": lambda a: d.set_prediction_reference(a),
    "DriftDetector.update_predictions": lambda a: d.update_predictions(a),
    "ks_2samp": lambda a: mlops.ks_2samp(a, [0.1, 0.2, 0.3]),
    "Router.predict": lambda a: r.predict("k", a),
    "Deployment.predict": lambda a: dep.predict(a),
    "Deployment.validate(X)": lambda a: dep.validate(a),
    "Deployment.validate(y)": lambda a: dep.validate(np.ones((4, N), np.float32), a),
    "StandardMetrics.predict": lambda a: std.predict(m, a),
    "Metrics.render_into": lambda a: reg.render_into(a),
}
results = {"ok": 0, "refused": 0}
for name, fn in calls.items():
    for kind, a in odd_arrays(N):
        before = a.copy() if isinstance(a, np.ndarray) else None
        try:
            fn(a)
            results["ok"] += 1
        except (mlops.MlopsError, ValueError, TypeError) as e:
            results["refused"] += 1
        except Exception as e:
            sys.exit("%s(%s): unclean %s: %s" % (name, kind, type(e).__name__, e))
        if before is not None and not a.flags.writeable:
            assert np.array_equal(before, a, equal_nan=True), "%s wrote into a read-only array" % name
print("ok", results["ok"], results["refused"])
'''


def test_odd_arrays_never_crash():
    r = child("odd arrays", ODD, timeout=300)
    out = r.stdout.split()
    assert out[0] == "ok", r.stdout
    assert int(out[1]) > 0 and int(out[2]) > 0  # both paths were exercised


# ---- issue 12: one API shape ------------------------------------------------------------------------

@inproc
def test_unsupported_types_are_type_errors_naming_the_type():
    import scipy.sparse
    x = fixture_x("binary_logistic")[:4]
    m = mlops.Model(model_path("binary_logistic"))
    s = mlops.Schema.from_model(m)
    mon = mlops.Monitor("binary", window=10)
    cases = [(None, "None"), ("abc", "str"), (b"abc", "bytes"), ({"a": 1}, "dict"),
             (scipy.sparse.csr_matrix(x), "scipy.sparse csr_matrix"), (xgb.DMatrix(x), "xgboost DMatrix")]
    calls = {"Model.predict": m.predict, "Model.predict_proba": m.predict_proba, "Schema.validate": s.validate,
             "Schema.infer": mlops.Schema.infer, "Monitor.record": lambda a: mon.record(a, [0, 1, 0, 1])}
    for name, fn in calls.items():
        for bad, shown in cases:
            if name == "Schema.validate" and isinstance(bad, dict):
                continue  # a dict is one named row there
            with pytest.raises(TypeError) as e:
                fn(bad)
            assert "unsupported type " + shown in str(e.value), (name, str(e.value))
            assert "dimensions" not in str(e.value)
    # the same data as an array is fine (the refusal is about the type, not the values)
    np.testing.assert_allclose(m.predict(scipy.sparse.csr_matrix(x).toarray()), m.predict(x))
    mon.close()
    m.close()


@inproc
def test_negative_sizes_quote_the_number_typed():
    for kw in ({"window": -1}, {"pending_capacity": -7}, {"recompute_every": -2}):
        with pytest.raises(ValueError) as e:
            mlops.Monitor("binary", **kw)
        (name, v), = kw.items()
        assert str(e.value) == "%s must be >= 0, got %d" % (name, v)
        assert "18446744073709551615" not in str(e.value)
    with pytest.raises(ValueError, match=r"n_classes must be >= 0, got -3"):
        mlops.Monitor("multiclass", n_classes=-3)
    with pytest.raises(ValueError, match=r"max_bytes must be >= 0, got -1$"):
        mlops.Model(model_path("binary_logistic"), max_bytes=-1)
    with pytest.raises(ValueError, match=r"iteration_range\[1\] must be >= 0, got -5"):
        mlops.Model(model_path("binary_logistic"), iteration_range=(0, -5))
    with mlops.Model(model_path("binary_logistic")) as m, mlops.Schema.from_model(m) as s:
        with pytest.raises(ValueError, match=r"max_violations must be >= 0, got -10"):
            s.validate(fixture_x("binary_logistic")[:2], max_violations=-10)
    with pytest.raises(TypeError, match="window must be an integer, not float 2.5"):
        mlops.Monitor("binary", window=2.5)
    with mlops.Monitor("binary", window=np.int64(20)) as mon:  # numpy integers and integral floats are sizes
        assert mon.window == 20


BUILTIN = {"InvalidArgumentError": ValueError, "FormatError": ValueError, "ShapeError": ValueError,
           "RangeError": ValueError, "ValidationError": ValueError, "ExistsError": ValueError,
           "VersionError": ValueError, "IntegrityError": ValueError, "NotFoundError": KeyError,
           "IOError_": OSError, "FileNotFoundError_": FileNotFoundError, "PermissionError_": PermissionError,
           "IsADirectoryError_": IsADirectoryError, "OutOfMemoryError": MemoryError,
           "NotSupportedError": NotImplementedError, "StateError": RuntimeError, "LimitError": RuntimeError,
           "BackendError": RuntimeError}


@inproc
def test_every_error_is_also_the_matching_builtin(tmp_path):
    import errno
    import pickle
    subclasses = {c.__name__ for c in vars(mlops).values() if isinstance(c, type) and issubclass(c, mlops.MlopsError)
                  and c is not mlops.MlopsError}
    assert subclasses == set(BUILTIN), "a new MlopsError subclass needs its built-in here"
    for name, builtin in BUILTIN.items():
        assert issubclass(getattr(mlops, name), builtin), name
    # raised for real: a missing file is FileNotFoundError with errno and filename, as open() would say
    missing = str(tmp_path / "nope.json")
    with pytest.raises(OSError) as ref:
        open(missing, "rb")
    for load in (mlops.Model, mlops.Schema):
        with pytest.raises(FileNotFoundError) as e:
            load(missing)
        assert isinstance(e.value, mlops.IOError_)
        assert (e.value.errno, e.value.strerror, e.value.filename) == (ref.value.errno, ref.value.strerror, missing)
        assert e.value.errno == errno.ENOENT and "No such file" in str(e.value)
        again = pickle.loads(pickle.dumps(e.value))  # as a worker process would send it back
        assert type(again) is type(e.value) and (again.errno, again.filename, str(again)) == (
            e.value.errno, e.value.filename, str(e.value))
    m = mlops.Model(model_path("binary_logistic"))
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        m.predict(fixture_x("binary_logistic")[:1])
    with mlops.Model(model_path("reg_squarederror")) as m:
        assert m.task == "regression"
        with pytest.raises(NotImplementedError):  # NotSupportedError
            m.predict_proba(np.ones((1, m.n_features), np.float32))
        with pytest.raises(ValueError):  # ShapeError
            m.predict(np.ones((2, m.n_features + 1), np.float32))


def _tiny_model(fmt):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    b = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, x[:, 0] > 0,
                  feature_names=["abq", "cdq"]), 3)
    return bytes(b.save_raw(fmt)), b, x.astype(np.float32)


@inproc
@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_malformed_model_bytes_are_format_errors(fmt):
    raw, booster, x = _tiny_model(fmt)
    with mlops.Model(raw) as m:  # the intact bytes serve what xgboost serves
        np.testing.assert_allclose(m.predict(x), booster.inplace_predict(x), rtol=1e-6, atol=1e-7)
    bad_name = raw.replace(b"abq", b"a\xffq")  # a feature name that is not UTF-8
    with pytest.raises(mlops.FormatError) as e:
        mlops.Model(bad_name)
    assert "UTF-8" in str(e.value) or "decode" in str(e.value)
    for bad in (b"{not json", b"{", raw[: len(raw) // 2], raw[:-1] + b"\xff", b"\xff\xfe" * 8):
        with pytest.raises(mlops.FormatError):
            mlops.Model(bad)
    with pytest.raises(mlops.FormatError, match="text that is not JSON"):  # not only about UBJSON markers
        mlops.Model(b"{not json")


def test_truncated_and_corrupted_model_bytes_never_escape_as_other_errors():
    r = child("truncated models", """
        import xgboost as xgb
        rng = np.random.default_rng(0)
        x = rng.normal(size=(60, 2))
        b = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                      xgb.DMatrix(x, x[:, 0] > 0, feature_names=["abq", "cdq"]), 3)
        seen = set()
        for fmt in ("ubj", "json"):
            raw = bytes(b.save_raw(fmt))
            cases = [raw[:n] for n in range(0, len(raw), max(1, len(raw) // 300))]
            cases += [raw[:i] + bytes([raw[i] ^ 0x80]) + raw[i + 1:] for i in range(0, len(raw), max(1, len(raw) // 300))]
            for bad in cases:
                try:
                    mlops.Model(bad).predict(x[:2])
                except mlops.MlopsError as e:
                    seen.add(type(e).__name__)
                except Exception as e:
                    sys.exit("%s: %s escaped: %s" % (fmt, type(e).__name__, e))
        print("ok", sorted(seen))
    """, timeout=300)
    assert r.stdout.startswith("ok") and "FormatError" in r.stdout
