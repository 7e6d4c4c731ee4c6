"""The Python package as a whole: every public C function declared, struct mirrors equal to the C
layout, library lookup and version check, lifetimes, zero-copy arrays, threads, leaks, packaging.

Run by `meson test` (suite python) with MLOPS_LIBRARY, PYTHONPATH, MLOPS_FIXTURES,
MLOPS_SOURCE_ROOT and MLOPS_BUILD_ROOT set (tests/meson.build).
"""
import ctypes
import ctypes.util
import gc
import glob
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import mlops
from mlops import _lib
from mlops import drift as mdrift
from mlops import metrics as mmetrics
from mlops import model as mmodel
from mlops import monitor as mmonitor
from mlops import deploy as mdeploy
from mlops import registry as mregistry
from mlops import router as mrouter
from mlops import schema as mschema

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.normpath(os.path.join(HERE, "..", "..")))
BUILD = os.environ.get("MLOPS_BUILD_ROOT", os.path.join(SRC, "build"))
FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(SRC, "tests", "fixtures"))
MANIFEST = json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"]
PKG = os.path.join(SRC, "bindings", "python")
PY = sys.executable
BINARY = os.path.join(FIX, MANIFEST[0]["models"]["json"])  # binary:logistic, 30 features
MULTI = os.path.join(FIX, next(f for f in MANIFEST if f["objective"] == "multi:softprob")["models"]["json"])
MODULES = [_lib, mmodel, mschema, mmonitor, mdrift, mmetrics, mrouter, mdeploy, mregistry]


def fixture_x(path_or_fx=MANIFEST[0]):
    fx = path_or_fx
    return np.fromfile(os.path.join(FIX, fx["x"]), dtype="<f4").reshape(fx["n_rows"], fx["n_features"])


# ------------------------------------------------------------------------------------------------
# 1. Every public C function is declared with the right signature
# ------------------------------------------------------------------------------------------------

def _strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _headers():
    files = sorted(glob.glob(os.path.join(SRC, "include", "mlops", "*.h")))
    assert files, "no headers under %s" % SRC
    return {f: _strip_comments(open(f).read()) for f in files}


def _split_params(params):
    out, depth, cur = [], 0, ""
    for ch in params:
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return [] if out == ["void"] else out


def _api():
    """[(header, name, return type, [parameter types])] of every MLOPS_API function."""
    out = []
    for f, text in _headers().items():
        for m in re.finditer(r"MLOPS_API\s+([^;{}]*?)\b(mlops_\w+)\s*\(([^;{}]*)\)\s*;", text):
            out.append((os.path.basename(f), m.group(2), " ".join(m.group(1).split()), _split_params(m.group(3))))
    return out


def _type_names():
    text = " ".join(_headers().values())
    enums = set(re.findall(r"typedef\s+enum\s*\w*\s*\{[^}]*\}\s*(\w+)\s*;", text))
    fnptrs = set(re.findall(r"typedef\s+[\w\s\*]+\(\s*\*\s*(\w+)\s*\)", text))
    return enums, fnptrs


_SCALARS = {"int": ctypes.c_int, "unsigned": ctypes.c_uint, "long": ctypes.c_long, "size_t": ctypes.c_size_t,
            "double": ctypes.c_double, "float": ctypes.c_float, "uint32_t": ctypes.c_uint32,
            "uint64_t": ctypes.c_uint64, "int64_t": ctypes.c_int64}
_POINTEES = {"char": (ctypes.c_char_p, ctypes.c_char), "double": (ctypes.c_double,), "float": (ctypes.c_float,),
             "size_t": (ctypes.c_size_t,), "uint64_t": (ctypes.c_uint64,), "int": (ctypes.c_int,)}


def _param_type(decl, named=True):
    """Normalise a C parameter (`named`: ends with its name) or return type to (base type, pointer depth)."""
    decl = re.sub(r"\b(const|struct|volatile|restrict)\b", " ", decl)
    stars = decl.count("*")
    words = decl.replace("*", " ").split()
    if named:
        assert len(words) >= 2, "unnamed parameter %r" % decl
        words = words[:-1]
    if words == ["unsigned", "int"]:
        words = ["unsigned"]
    return " ".join(words), stars


def _ok_type(ct, base, stars, enums, fnptrs, what):
    """None if ctypes type `ct` fits the C type, else a complaint."""
    if stars == 0:
        if base == "void":
            return None if ct is None else "%s: void, declared %r" % (what, ct)
        if base in fnptrs:
            ok = isinstance(ct, type) and issubclass(ct, ctypes._CFuncPtr)
            return None if ok else "%s: function pointer %s, declared %r" % (what, base, ct)
        want = ctypes.c_int if base in enums or base == "mlops_status" else _SCALARS.get(base)
        if want is None:
            return "%s: unknown C type %r (teach the test)" % (what, base)
        return None if ct is want else "%s: %s needs %s, declared %r" % (what, base, want.__name__, ct)
    # pointers: void* (c_void_p) always fits; typed pointers must point at the right thing
    if ct is ctypes.c_void_p:
        return None
    if stars == 1 and base in ("char", "void") and ct is ctypes.c_char_p:
        return None  # NUL-terminated text, or bytes passed as const void *
    if stars == 2 and base == "char" and ct in (ctypes.POINTER(ctypes.c_char_p),):
        return None
    if isinstance(ct, type) and issubclass(ct, ctypes._Pointer):
        target = ct._type_
        if stars == 1 and base in _POINTEES and target in _POINTEES[base]:
            return None
        if stars == 1 and base in enums and target is ctypes.c_int:
            return None
        if stars == 1 and base.startswith("mlops_") and issubclass(target, ctypes.Structure):
            tag = getattr(target, "_c_struct_", None)
            return None if tag == base else "%s: %s* declared POINTER(%s) (a mirror of %s)" % (
                what, base, target.__name__, tag)
        if stars == 2 and base.startswith("mlops_") and target is ctypes.c_void_p:
            return None  # out-parameter of an opaque handle
        if stars == 2 and base == "char" and target in (ctypes.c_void_p, ctypes.c_char_p):
            return None  # char ** out-parameter
    return "%s: %s%s declared %r" % (what, base, "*" * stars, ct)


def test_every_public_c_function_is_declared_with_its_signature():
    api = _api()
    assert len(api) > 100, "header parse found only %d functions" % len(api)
    enums, fnptrs = _type_names()
    problems = []
    for header, name, ret, params in api:
        if not hasattr(_lib.lib, name):
            problems.append("%s: %s is not exported by %s" % (header, name, _lib.library_path))
            continue
        fn = _lib.lib.__dict__.get(name)  # set by declare(); getattr would create an undeclared one
        if fn is None or fn.argtypes is None:
            problems.append("%s: %s has no Python declaration (mlops._lib.declare)" % (header, name))
            continue
        if len(fn.argtypes) != len(params):
            problems.append("%s: %s takes %d parameters, declared %d" % (header, name, len(params),
                                                                        len(fn.argtypes)))
            continue
        base, stars = _param_type(ret, named=False)
        err = _ok_type(fn.restype, base, stars, enums, fnptrs, "%s return" % name)
        if err:
            problems.append(err)
        for i, (p, ct) in enumerate(zip(params, fn.argtypes)):
            base, stars = _param_type(p)
            err = _ok_type(ct, base, stars, enums, fnptrs, "%s parameter %d (%s)" % (name, i + 1, p))
            if err:
                problems.append(err)
    assert not problems, "\n".join(problems)


def test_the_parser_would_notice_a_missing_declaration():
    """The check above must be able to fail: an undeclared function is reported."""
    fake = _lib.lib["mlops_version_number"]  # a fresh function object, no argtypes
    assert fake.argtypes is None
    assert _param_type("const char *const *names") == ("char", 2)
    assert _param_type("size_t n") == ("size_t", 0)
    assert _param_type("mlops_model **out") == ("mlops_model", 2)
    assert _param_type("const struct mlops_model *model") == ("mlops_model", 1)
    assert _param_type("const char *", named=False) == ("char", 1)
    assert _ok_type(ctypes.c_int, "size_t", 0, set(), set(), "x") is not None
    assert _ok_type(ctypes.POINTER(mmodel.ModelOpts), "mlops_drift_opts", 1, set(), set(), "x") is not None


def _mirrors():
    out = []
    for mod in MODULES:
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, ctypes.Structure) and obj.__module__ == mod.__name__:
                out.append(obj)
    return out


def test_every_struct_mirror_has_the_c_layout(tmp_path):
    """sizeof and every field's offset, from a C program compiled against the headers."""
    mirrors = _mirrors()
    assert len(mirrors) >= 12
    untagged = [m.__name__ for m in mirrors if not getattr(m, "_c_struct_", None)]
    assert not untagged, "Structure mirrors without _c_struct_: %s" % untagged
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to read the C layout")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include \"mlops.h\"", "int main(void) {"]
    want = []
    for m in mirrors:
        c = m._c_struct_
        lines.append('printf("%%zu\\n", sizeof(%s));' % c)
        want.append(("sizeof %s" % c, ctypes.sizeof(m)))
        for fname, _ in m._fields_:
            lines.append('printf("%%zu\\n", offsetof(%s, %s));' % (c, fname))
            want.append(("offsetof(%s, %s)" % (c, fname), getattr(m, fname).offset))
            lines.append('printf("%%zu\\n", sizeof(((%s *)0)->%s));' % (c, fname))
            want.append(("sizeof %s.%s" % (c, fname), getattr(m, fname).size))
    lines += ["return 0; }"]
    (tmp_path / "layout.c").write_text("\n".join(lines))
    r = subprocess.run([cc, "-std=c11", "-I", os.path.join(SRC, "include"), "-I", os.path.join(BUILD, "include"),
                        str(tmp_path / "layout.c"), "-o", str(tmp_path / "layout")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # a Python field name that is not a C member fails here
    got = [int(v) for v in subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True,
                                          check=True).stdout.split()]
    bad = ["%s: C %d, Python %d" % (what, g, w) for (what, w), g in zip(want, got) if g != w]
    assert not bad, "\n".join(bad)


def test_python_tables_equal_the_c_names():
    assert mmonitor.metric_names() == mmonitor.METRICS
    assert {k: mschema._kind_name(k).decode() for k in mschema.KINDS} == mschema.KINDS
    assert {k: mschema._type_name(k).decode() for k in mschema.TYPES} == mschema.TYPES
    assert {v: mmodel._engine_name(v).decode() for k, v in mmodel.ENGINES.items() if k != "auto"} == {
        1: "native", 2: "xgboost"}
    assert {v: mmodel._task_name(v).decode() for v in mmodel.TASKS} == mmodel.TASKS
    # every status code has its exception class, named after the C description
    for code in range(-1, -16, -1):
        assert mlops.status_str(code) != "", code
        assert _lib._BY_STATUS[code].__doc__.startswith("MLOPS_E"), code
    assert mlops.status_str(0) == "ok"


def test_version_status_str_and_errors():
    assert mlops.version() == mlops.__version__
    major, minor, patch = (int(v) for v in mlops.__version__.split("."))
    assert mlops.version_number() == (major << 16) | (minor << 8) | patch
    meson = open(os.path.join(SRC, "meson.build")).read()
    assert re.search(r"version\s*:\s*'%s'" % re.escape(mlops.__version__), meson), "package != project version"
    assert mlops.status_str(-5) == "shape mismatch"
    assert mlops.status_str(-10) == "not found"
    with pytest.raises(mlops.IOError_) as e:
        mlops.Model("/nonexistent/x.json")
    assert e.value.status == -3 and "x.json" in e.value.message and isinstance(e.value, OSError)
    assert "x.json" in mlops.last_error()
    mlops.clear_error()
    assert mlops.last_error() == ""


def test_log_callback_receives_messages_and_keeps_its_reference():
    got = []
    mlops.set_log_callback(lambda level, msg: got.append((level, msg)), "debug")
    try:
        gc.collect()  # the ctypes callback must survive without a reference held by the caller
        with pytest.raises(mlops.IOError_):
            mlops.Model("/nonexistent/logged-model.json")
        assert any(level == "debug" and "logged-model.json" in msg for level, msg in got), got
        n = len(got)
        mlops.set_log_callback(lambda level, msg: got.append((level, msg)), "error")
        with pytest.raises(mlops.IOError_):
            mlops.Model("/nonexistent/logged-model.json")
        assert len(got) == n  # below the level: dropped
    finally:
        mlops.set_log_callback(None)
    with pytest.raises(mlops.IOError_):
        mlops.Model("/nonexistent/logged-model.json")
    with pytest.raises(mlops.InvalidArgumentError, match="log level"):
        mlops.set_log_callback(print, "loud")
    with pytest.raises(TypeError):
        mlops.set_log_callback(42, "info")


def test_log_callback_exception_does_not_unwind_through_c():
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u.exc_value)
    try:
        mlops.set_log_callback(lambda level, msg: 1 / 0, "debug")
        with pytest.raises(mlops.IOError_, match="boom.json"):
            mlops.Model("/nonexistent/boom.json")
    finally:
        mlops.set_log_callback(None)
        sys.unraisablehook = old
    assert seen and isinstance(seen[0], ZeroDivisionError)


def test_functions_declared_only_are_callable():
    """The functions that no class method uses are at least called once with their declaration."""
    with mlops.Metrics() as reg:
        fam = reg.counter("c_total", "c", labels=("a",))
        vals = mmetrics._strings(("x",))
        _lib.check(mmetrics._counter_inc_labels(fam._h, vals, 1, 2.0))
        g = reg.gauge("g", "g", labels=("a",))
        _lib.check(mmetrics._gauge_set_labels(g._h, vals, 1, 5.0))
        _lib.check(mmetrics._gauge_add_labels(g._h, vals, 1, -1.5))
        h = reg.histogram("h_seconds", "h", labels=("a",), buckets=(1, 2))
        _lib.check(mmetrics._observe_labels(h._h, vals, 1, 1.5))
        assert fam.labels("x").value == 2.0 and g.labels("x").value == 3.5
        assert h.labels("x").snapshot() == ([0, 1, 1], 1.5, 1)
        assert fam.n_series == 1
        assert reg.find("c_total") is fam and "g" in reg and "nope" not in reg
        with pytest.raises(mlops.NotFoundError):
            reg.find("nope")
        std = reg.standard()
        assert mmetrics._std_registry(std._h) == reg.handle
        found = reg.find("ml_prediction_requests_total")
        assert found.type == mmetrics.COUNTER and found.labelnames == ()
        std.observe_predict(rows=3, seconds=0.002)
        assert std.requests == 1.0 and std.rows == 3.0 and std.duration()[2] == 1
        assert found.value == 1.0
        text = reg.render()
        buf = bytearray(len(text) + 1)
        assert reg.render_into(buf) == len(text) and bytes(buf[:len(text)]).decode() == text
        with pytest.raises(mlops.ShapeError):
            reg.render_into(bytearray(10))
    with mlops.Schema.from_json('{"features": [{"name": "a", "type": "categorical", "categories": ["x", "y"],'
                                ' "default": "y"}, {"name": "b", "type": "float", "min": 0, "max": 2}]}') as s:
        assert s.feature("a") == {"name": "a", "type": "categorical", "min": 0.0, "max": 1.0, "nullable": True,
                                  "default": 1.0, "categories": ["x", "y"]}
        b = s.feature(1)
        assert (b["type"], b["min"], b["max"], b["default"], b["categories"]) == ("float", 0.0, 2.0, None, [])
        assert s.rejects_unknown in (True, False)
        with pytest.raises(KeyError):
            s.feature("zz")
        with pytest.raises(IndexError):
            s.feature(2)
        rep = ctypes.c_void_p()
        _lib.check(mschema._report_new(10, ctypes.byref(rep)))
        mschema._report_clear(rep.value)
        assert mschema._report_count(rep.value) == 0
        mschema._report_free(rep.value)
    m = mmonitor.MonitorMetrics()
    m.version, m.has, m.accuracy = 1, 1 << 3, 0.75
    assert mmonitor._metrics_value(ctypes.byref(m), 3) == 0.75
    assert np.isnan(mmonitor._metrics_value(ctypes.byref(m), 4))
    assert mdrift.ks_pvalue(0.5, 10, 10) == mlops.ks_2samp(np.arange(10.0), np.arange(10.0) + 5)
    with pytest.raises(mlops.InvalidArgumentError):
        mdrift.ks_pvalue(1.5, 10, 10)
    assert _lib._set_allocator(None) == 0  # NULL restores the C library's (a no-op here)


# ------------------------------------------------------------------------------------------------
# 2. Library lookup: $MLOPS_LIBRARY, the build tree, the system; errors name what was tried
# ------------------------------------------------------------------------------------------------

REAL_LIB = os.path.realpath(_lib.library_path)


def _import(env_update, pkg_root=PKG, code="import mlops; print(mlops.library_path)"):
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPS_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env.update({k: v for k, v in env_update.items() if v is not None})
    env["PYTHONPATH"] = pkg_root
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, cwd="/")


def _package_copy(root, version=None):
    """Copy the package to <root>/bindings/python/mlops (its build-tree guess is then <root>/build)."""
    dst = os.path.join(root, "bindings", "python")
    shutil.copytree(os.path.join(PKG, "mlops"), os.path.join(dst, "mlops"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    if version is not None:
        with open(os.path.join(dst, "mlops", "_version.py"), "w") as f:
            f.write('__version__ = "%s"\n' % version)
    return dst


def test_lookup_uses_mlops_library_first():
    r = _import({"MLOPS_LIBRARY": REAL_LIB})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == REAL_LIB


def test_lookup_bad_mlops_library_is_an_import_error_naming_it(tmp_path):
    r = _import({"MLOPS_LIBRARY": str(tmp_path / "nowhere" / "libmlops.so")})
    assert r.returncode != 0
    assert "ImportError" in r.stderr and str(tmp_path / "nowhere" / "libmlops.so") + " (not found)" in r.stderr
    # an explicit MLOPS_LIBRARY is never silently replaced by another library
    assert "build" + os.sep + "libmlops.so" not in r.stderr
    junk = tmp_path / "libjunk.so"
    junk.write_text("not an ELF file")
    r = _import({"MLOPS_LIBRARY": str(junk)})
    assert r.returncode != 0 and str(junk) in r.stderr and "ImportError" in r.stderr
    libm = ctypes.util.find_library("m")
    if libm:
        r = _import({"MLOPS_LIBRARY": libm})
        assert r.returncode != 0 and "not libmlops" in r.stderr, r.stderr


def test_lookup_finds_the_build_tree(tmp_path):
    pkg = _package_copy(str(tmp_path))
    os.makedirs(tmp_path / "build")
    os.symlink(REAL_LIB, tmp_path / "build" / "libmlops.so")
    r = _import({}, pkg_root=pkg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "build" / "libmlops.so")


def test_lookup_falls_back_to_the_system_and_names_everything_tried(tmp_path):
    pkg = _package_copy(str(tmp_path))
    # the system search (find_library, then the soname through the loader) sees LD_LIBRARY_PATH
    r = _import({"LD_LIBRARY_PATH": os.path.dirname(REAL_LIB)}, pkg_root=pkg)
    assert r.returncode == 0, r.stderr
    assert os.sep not in r.stdout.strip() and r.stdout.strip().startswith("libmlops.so")
    if ctypes.util.find_library("mlops"):
        pytest.skip("a libmlops is installed system-wide, so the lookup cannot fail here")
    r = _import({}, pkg_root=pkg)
    assert r.returncode != 0
    for d in ("build", "build-release", "builddir"):
        assert str(tmp_path / d / "libmlops.so") + " (not found)" in r.stderr
    assert "libmlops.so.%s" % mlops.__version__.split(".")[0] in r.stderr
    assert "Set MLOPS_LIBRARY" in r.stderr


def test_lookup_refuses_a_library_of_another_version(tmp_path):
    """The package copy claims version 9.9.9; the real library is of another version."""
    pkg = _package_copy(str(tmp_path), version="9.9.9")
    r = _import({"MLOPS_LIBRARY": REAL_LIB}, pkg_root=pkg)
    assert r.returncode != 0
    assert "%s (version %s, the package is 9.9.9)" % (REAL_LIB, mlops.version()) in r.stderr, r.stderr


def test_meson_install_installs_the_package():
    meson = shutil.which("meson")
    if meson is None or not os.path.isdir(os.path.join(BUILD, "meson-info")):
        pytest.skip("meson or its build directory is not available")
    r = subprocess.run([meson, "introspect", "--installed", BUILD], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    installed = json.loads(r.stdout)
    pkg_dir = os.path.join(PKG, "mlops")
    dest = [d for src, d in installed.items() if os.path.realpath(src) == os.path.realpath(pkg_dir)]
    assert dest and dest[0].endswith(os.path.join("dist-packages", "mlops")), installed


# ------------------------------------------------------------------------------------------------
# 3. Lifetimes (close, context manager, closed objects, __del__) and documentation
# ------------------------------------------------------------------------------------------------

SCHEMA_JSON = json.dumps({"features": [{"name": "a", "type": "float", "min": 0, "max": 10},
                                       {"name": "b", "type": "int", "nullable": False}]})


def _makers():
    """name -> (factory, [calls that need the C handle])."""
    x = fixture_x()
    return {
        "Model": (lambda: mlops.Model(BINARY),
                  [lambda o: o.predict(x), lambda o: o.n_features, lambda o: o.feature_names, lambda o: o.objective,
                   lambda o: o.engine, lambda o: o.attributes, lambda o: o.feature_index("a"), lambda o: o.handle,
                   lambda o: o.output_width(), lambda o: o(x)]),
        "Schema": (lambda: mlops.Schema.from_json(SCHEMA_JSON),
                   [lambda o: o.validate(np.zeros((1, 2))), lambda o: o.n_features, lambda o: o.names,
                    lambda o: o.to_json(), lambda o: o.feature(0), lambda o: o.impute(np.zeros((1, 2), np.float32)),
                    lambda o: o.handle]),
        "Monitor": (lambda: mlops.Monitor("binary", window=10),
                    [lambda o: o.record(0.5, 1), lambda o: o.metrics(), lambda o: o.stats(),
                     lambda o: o.record_prediction("r", 0.4), lambda o: o.set_alert("accuracy", 0.5),
                     lambda o: o.reset_window(), lambda o: o.handle]),
        "DriftDetector": (lambda: mlops.DriftDetector(np.arange(20.0).reshape(10, 2), window=5),
                          [lambda o: o.update(np.zeros((1, 2))), lambda o: o.report(), lambda o: o.results(),
                           lambda o: o.n_features, lambda o: o.feature_names, lambda o: o.statistic(0),
                           lambda o: o.handle]),
        "Metrics": (lambda: mlops.Metrics(),
                    [lambda o: o.counter("x_total"), lambda o: o.render(), lambda o: o.standard(),
                     lambda o: o.find("x_total"), lambda o: "x" in o, lambda o: o.add_collector(lambda w: None),
                     lambda o: o.handle]),
    }


@pytest.mark.parametrize("name", ["Model", "Schema", "Monitor", "DriftDetector", "Metrics"])
def test_close_context_manager_and_closed_errors(name):
    make, calls = _makers()[name]
    with make() as obj:
        assert type(obj).__name__ == name
        for call in calls:
            call(obj)  # all work while open
        assert "closed" not in repr(obj)
    assert "closed" in repr(obj)
    obj.close()  # idempotent
    for call in calls:
        with pytest.raises(mlops.StateError, match="closed") as e:
            call(obj)
        assert e.value.status == -9 and isinstance(e.value, mlops.MlopsError)
    obj.__del__()  # after close: harmless
    half = type(obj).__new__(type(obj))  # __init__ never ran
    half.__del__()
    assert "closed" in repr(half) or repr(half)


def test_objects_owned_by_a_closed_registry_raise_state_error():
    m = mlops.Metrics()
    c = m.counter("a_total", "a", labels=("x",))
    s = c.labels("1")
    std = m.standard()
    m.close()
    for call in (lambda: s.inc(), lambda: s.value, lambda: c.labels("2"), lambda: c.n_series,
                 lambda: std.observe_predict(1, 0.1), lambda: std.requests):
        with pytest.raises(mlops.StateError):
            call()


def test_closing_an_attached_monitor_or_detector_detaches_it_first():
    with mlops.Metrics() as reg:
        mon = mlops.Monitor("binary", window=10)
        mon.record([0.9, 0.2], [1, 0])
        det = mlops.DriftDetector(np.arange(40.0).reshape(20, 2), window=10)
        det.update(np.arange(40.0).reshape(20, 2))
        reg.attach(mon)
        reg.attach(det)
        text = reg.render()
        assert "ml_model_accuracy 1" in text and "ml_data_drift_score" in text
        mon.close()  # without detaching first this would leave the registry with a dangling monitor
        det.close()
        text = reg.render()
        assert "ml_model_accuracy" not in text and "ml_data_drift_score" not in text
        assert reg.standard()._attached == {}


def test_del_releases_unclosed_objects():
    for name, (make, _) in _makers().items():
        obj = make()
        h = obj.handle
        del obj
        gc.collect()
        assert h  # nothing to observe from Python beyond "no crash"; the leak test measures memory


def _public_members(cls):
    for k, v in vars(cls).items():
        if k.startswith("_") and k not in ("__init__", "__call__"):
            continue
        if isinstance(v, (staticmethod, classmethod)):
            v = v.__func__
        if callable(v) or isinstance(v, property):
            yield k, v


def test_every_public_name_has_a_docstring_and_type_hints():
    problems = []
    names = [(n, getattr(mlops, n)) for n in mlops.__all__]
    names += [("metrics." + c.__name__, c) for c in (mmetrics.Family, mmetrics.Series, mmetrics.CollectorWriter)]
    for name, obj in names:
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            problems.append("mlops.%s has no docstring" % name)
        funcs = []
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            for k, v in _public_members(obj):
                f = v.fget if isinstance(v, property) else v
                if k != "__init__" and not (f.__doc__ or "").strip():
                    problems.append("mlops.%s.%s has no docstring" % (name, k))
                if inspect.isfunction(f):
                    funcs.append(("%s.%s" % (name, k), f))
        elif inspect.isfunction(obj):
            funcs.append((name, obj))
        for qual, f in funcs:
            sig = inspect.signature(f)
            for p in sig.parameters.values():
                if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty:
                    problems.append("mlops.%s: parameter %s has no type hint" % (qual, p.name))
            if sig.return_annotation is inspect.Signature.empty:
                problems.append("mlops.%s: no return type hint" % qual)
    assert not problems, "\n".join(problems)


def test_help_reads_well():
    import pydoc
    text = pydoc.render_doc(mlops.Model, renderer=pydoc.plaintext)
    for needle in ("class Model", "predict(self, data", "DataFrame", "without a copy", "inplace_predict",
                   "close(self)", "Thread safety"):
        assert needle in text, needle
    top = pydoc.render_doc(mlops, renderer=pydoc.plaintext)
    for needle in ("version()", "set_log_callback", "MLOPS_LIBRARY", "without a copy"):
        assert needle in top, needle


# ------------------------------------------------------------------------------------------------
# 4. Arrays and DataFrames
# ------------------------------------------------------------------------------------------------

def _address(arg):
    """The address a ctypes argument passes to C (a c_float view of a buffer, or a pointer)."""
    if isinstance(arg, ctypes._Pointer):
        return ctypes.cast(arg, ctypes.c_void_p).value
    return ctypes.addressof(arg)


@pytest.fixture
def spy(monkeypatch):
    """Record the x and out addresses that Model.predict hands to mlops_model_predict."""
    seen = []
    real = mmodel._predict_fast

    def wrapper(h, x, n, c, flags, out, size):
        seen.append((_address(x), _address(out), n, c))
        return real(h, x, n, c, flags, out, size)

    monkeypatch.setattr(mmodel, "_predict_fast", wrapper)
    return seen


def _data_ptr(a):
    return a.__array_interface__["data"][0]


def test_c_contiguous_float32_is_passed_without_a_copy(spy):
    x = np.ascontiguousarray(fixture_x())
    with mlops.Model(BINARY) as m:
        p = m.predict(x)
        assert spy[-1][0] == _data_ptr(x) and spy[-1][1] == _data_ptr(p) and spy[-1][2:] == x.shape
        row = x[5]  # 1-D view into x: still no copy
        m.predict(row)
        assert spy[-1][0] == _data_ptr(x) + 5 * x.strides[0] and spy[-1][2:] == (1, 30)
        block = x[10:20]  # a C-contiguous slice
        m.predict(block)
        assert spy[-1][0] == _data_ptr(block)
        ro = x.copy()
        ro.setflags(write=False)  # read-only buffers too
        np.testing.assert_array_equal(m.predict(ro), p)
        assert spy[-1][0] == _data_ptr(ro)
        out = np.empty_like(p)
        got = m.predict(x, out=out)
        assert got is out and spy[-1][1] == _data_ptr(out) and np.shares_memory(got, out)
        # other dtypes and orders are converted: C sees a different buffer with the same values
        for other in (x.astype(np.float64), np.asfortranarray(x), np.repeat(x, 2, axis=0)[::2], x.astype(">f4")):
            np.testing.assert_array_equal(m.predict(other), p)
            assert spy[-1][0] != _data_ptr(other)


@pytest.mark.parametrize("fx", [f for f in MANIFEST if f["booster"] != "gblinear"], ids=lambda f: f["name"])
def test_output_shapes_equal_xgboost_inplace_predict(fx):
    path = os.path.join(FIX, fx["models"]["json"])
    x = fixture_x(fx)
    ref = xgb.Booster(model_file=path)
    with mlops.Model(path) as m:
        for margin in (False, True):
            pt = "margin" if margin else "value"
            for rows in (x, x[:1], x[:2]):
                want = ref.inplace_predict(rows, predict_type=pt)
                got = m.predict(rows, margin=margin)
                assert got.shape == want.shape and got.dtype == np.float32, (fx["name"], rows.shape, margin)
                np.testing.assert_array_equal(got, want)
            one = m.predict(x[0], margin=margin)  # a 1-D row is one row
            assert one.shape == ref.inplace_predict(x[:1], predict_type=pt).shape
            empty = m.predict(x[:0], margin=margin)
            assert empty.shape[0] == 0 and empty.shape[1:] == got.shape[1:]


def test_input_conversions_give_the_same_predictions():
    x = fixture_x()
    with mlops.Model(BINARY) as m:
        want = m.predict(x)
        xi = np.round(np.nan_to_num(x)).astype(np.int64)
        for conv in (x.tolist(), x.astype(np.float16).astype(np.float32), x[::1], np.asarray(x, order="F")):
            np.testing.assert_array_equal(m.predict(conv), m.predict(np.asarray(conv, dtype=np.float32)))
        np.testing.assert_array_equal(m.predict(xi), m.predict(xi.astype(np.float32)))
        np.testing.assert_array_equal(m.predict(xi.astype(bool)), m.predict(xi.astype(bool).astype(np.float32)))
        strided = np.repeat(x, 2, axis=0)[::2]  # not contiguous
        np.testing.assert_array_equal(m.predict(strided), want)
        with pytest.raises(mlops.InvalidArgumentError, match="convert"):
            m.predict(np.array([["a"] * 30]))
        with pytest.raises(mlops.InvalidArgumentError, match="2-D"):
            m.predict(np.zeros((1, 2, 30), np.float32))
        with pytest.raises(mlops.ShapeError, match="expects 30 features, got 31"):
            m.predict(np.zeros((1, 31), np.float32))
        for bad_out in (np.empty(len(x), np.float64), np.empty((len(x), 1), np.float32),
                        np.empty(len(x) + 1, np.float32), np.empty(2 * len(x), np.float32)[::2], [0.0] * len(x)):
            with pytest.raises(mlops.InvalidArgumentError, match="out must be"):
                m.predict(x, out=bad_out)
        ro = np.empty(len(x), np.float32)
        ro.setflags(write=False)
        with pytest.raises(mlops.InvalidArgumentError, match="writable"):
            m.predict(x, out=ro)


def test_dataframes_are_matched_by_column_name():
    fx = MANIFEST[0]
    names = fx["feature_names"]
    x = fixture_x(fx)
    ref = xgb.Booster(model_file=BINARY)
    want = ref.inplace_predict(x)
    df = pd.DataFrame(x, columns=names)
    rng = np.random.default_rng(3)
    with mlops.Model(BINARY) as m:
        np.testing.assert_array_equal(m.predict(df), want)
        shuffled = df[list(rng.permutation(names))].assign(extra=1.0, other="text")
        np.testing.assert_array_equal(m.predict(shuffled), want)
        np.testing.assert_array_equal(m.predict(df.astype(np.float64)), want)
        np.testing.assert_array_equal(m.predict(df.iloc[3]), want[3:4])  # a Series is one named row
        with_nan = df.copy()
        with_nan.iloc[0, 0] = np.nan
        want_nan = ref.inplace_predict(with_nan.to_numpy(np.float32), missing=np.nan)
        np.testing.assert_array_equal(m.predict(with_nan[list(reversed(names))]), want_nan)
        nullable = df.astype({names[1]: "Float32"})
        nullable.iloc[2, 1] = pd.NA
        np.testing.assert_array_equal(m.predict(nullable)[2], ref.inplace_predict(
            nullable.to_numpy(np.float32, na_value=np.nan)[2:3], missing=np.nan)[0])
        with pytest.raises(mlops.InvalidArgumentError, match="'%s', '%s'" % (names[2], names[7])):
            m.predict(df.drop(columns=[names[2], names[7]]))
        dup = pd.concat([df, df[[names[4]]]], axis=1)
        with pytest.raises(mlops.InvalidArgumentError, match="duplicate column.*%s" % names[4]):
            m.predict(dup)
        bad = df.astype({names[5]: object})
        bad.iloc[0, 5] = "abc"
        with pytest.raises(mlops.InvalidArgumentError, match=names[5]):
            m.predict(bad)


def test_dataframe_categorical_columns_use_their_codes(tmp_path):
    rng = np.random.default_rng(11)
    n = 400
    df = pd.DataFrame({"num": rng.normal(size=n),
                       "cat": pd.Categorical(rng.choice(["red", "green", "blue"], size=n),
                                             categories=["red", "green", "blue"])})
    y = (df["num"] + (df["cat"] == "green") * 2 > 0.5).astype(int)
    booster = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_cat_to_onehot": 1,
                         "max_depth": 3}, xgb.DMatrix(df, y, enable_categorical=True), num_boost_round=10)
    path = str(tmp_path / "cat.json")
    booster.save_model(path)
    test = df.iloc[:50].copy()
    test.loc[test.index[:3], "cat"] = np.nan  # missing category
    want = booster.inplace_predict(test)
    with mlops.Model(path) as m:
        assert m.feature_types == ["float", "c"]
        np.testing.assert_allclose(m.predict(test[["cat", "num"]]), want, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# 5. Threads: 8 threads, identical results; errors read on the failing thread
# ------------------------------------------------------------------------------------------------

N_THREADS = 8


def _in_threads(fn, n=N_THREADS):
    """Run fn(i) for i in range(n) on n threads released together; return the results in order."""
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_threads_model():
    x = fixture_x()
    with mlops.Model(BINARY) as m, mlops.Model(MULTI) as mm:
        xm = fixture_x(next(f for f in MANIFEST if f["objective"] == "multi:softprob"))
        want, want_m = m.predict(x), mm.predict(xm)
        got = _in_threads(lambda i: [(m.predict(x[j]), m.predict(x), mm.predict(xm, margin=i % 2 == 1))
                                     for j in range(len(x))])
        want_margin = mm.predict(xm, margin=True)
        for i, per_thread in enumerate(got):
            for j, (row, full, multi) in enumerate(per_thread):
                np.testing.assert_array_equal(row, want[j:j + 1])
                np.testing.assert_array_equal(full, want)
                np.testing.assert_array_equal(multi, want_margin if i % 2 else want_m)


def test_threads_schema():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 12, size=(200, 2))
    x[::7, 1] = np.nan
    rows = [{"a": float(v), "b": 3} for v in x[:50, 0]]
    with mlops.Schema.from_json(SCHEMA_JSON) as s:
        want = s.validate(x)
        want_rows = s.validate(rows)
        got = _in_threads(lambda i: [(s.validate(x), s.validate(rows)) for _ in range(20)])
        for per_thread in got:
            for rep, rep_rows in per_thread:
                assert rep.violations == want.violations and (rep.row_ok == want.row_ok).all()
                assert rep_rows.violations == want_rows.violations
        assert want.n_invalid > 0


def test_threads_monitor():
    rng = np.random.default_rng(4)
    n = 8 * 500
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(float)
    with mlops.Monitor("binary", window=n) as shared, mlops.Monitor("binary", window=n) as seq:
        seq.record(p, y)
        _in_threads(lambda i: [shared.record(p[k:k + 50], y[k:k + 50]) for k in range(i * 500, i * 500 + 500, 50)])
        want, got = seq.metrics(), shared.metrics()
        assert got.keys() == want.keys() and got["count"] == n
        for k in want:  # the window holds every record: order does not matter beyond float rounding
            assert got[k] == pytest.approx(want[k], rel=1e-12, abs=1e-15), k
        reads = _in_threads(lambda i: [shared.metrics() for _ in range(50)])
        assert all(r == got for per in reads for r in per)


def test_threads_drift_and_ks():
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(300, 3))
    cur = rng.normal(loc=[0, 0.3, 1], size=(8 * 40, 3))
    with mlops.DriftDetector(ref, window=len(cur)) as shared, mlops.DriftDetector(ref, window=len(cur)) as seq:
        seq.update(cur)
        _in_threads(lambda i: [shared.update(cur[k:k + 10]) for k in range(i * 40, i * 40 + 40, 10)])
        want = seq.report()
        assert shared.report() == want  # the window holds every row: the same set in any order
        reads = _in_threads(lambda i: [shared.report() for _ in range(20)])
        assert all(r == want for per in reads for r in per)
    a, b = ref[:, 0], cur[:, 2]
    want_ks = mlops.ks_2samp(a, b)
    got = _in_threads(lambda i: [mlops.ks_2samp(a, b) for _ in range(50)])
    assert all(r == want_ks for per in got for r in per)


def test_threads_metrics():
    with mlops.Metrics() as reg:
        c = reg.counter("t_total", "t", labels=("thread",))
        h = reg.histogram("t_seconds", "t", buckets=(0.5, 1.0))
        g = reg.gauge("t_gauge", "t")
        texts = _in_threads(lambda i: [(c.labels(str(i % 4)).inc(), h.observe(0.25 * (k % 5)), g.inc(),
                                        reg.render() if k % 100 == 0 else None)
                                       for k in range(1000)])
        assert all(t[3] is not None for per in texts for t in per[::100])
        assert sum(c.labels(str(i)).value for i in range(4)) == N_THREADS * 1000
        assert all(c.labels(str(i)).value == 2000 for i in range(4))
        cum, total, count = h.snapshot()
        assert count == N_THREADS * 1000 and cum == [N_THREADS * 600, N_THREADS * 1000, N_THREADS * 1000]
        assert g.value == N_THREADS * 1000


def test_error_message_is_read_on_the_failing_thread_right_after_the_call():
    """Each thread fails with its own input between other threads' failures and successes;
    every exception carries the message of its own failure."""
    x = fixture_x()

    def work(i):
        out = []
        with mlops.Model(BINARY) as m:
            for k in range(100):
                tag = "t%d-k%d" % (i, k)
                try:
                    mlops.Model("/nonexistent/%s.json" % tag)
                except mlops.IOError_ as e:
                    out.append(tag in e.message)
                m.predict(x[:2])  # a success in between leaves the message alone
                try:
                    m.predict(np.zeros((1, 30 + i + 1), np.float32))
                except mlops.ShapeError as e:
                    out.append("got %d" % (31 + i) in e.message)
        return all(out) and len(out) == 200

    assert all(_in_threads(work))


# ------------------------------------------------------------------------------------------------
# 6. No leak across 10,000 create/free cycles (RSS from /proc/self/statm stays flat)
# ------------------------------------------------------------------------------------------------

def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


SMALL_MODEL = open(os.path.join(FIX, next(f for f in MANIFEST if f["name"] == "count_poisson")["models"]["ubjson"]),
                   "rb").read()


def _cycle_model():
    with mlops.Model(SMALL_MODEL) as m:
        m.predict(np.zeros((2, 10), np.float32))


def _cycle_schema():
    with mlops.Schema.from_json(SCHEMA_JSON) as s:
        s.validate(np.array([[1.0, 2.0], [20.0, np.nan]]))


def _cycle_monitor():
    with mlops.Monitor("binary", window=16) as m:
        m.record([0.2, 0.9], [0, 1])
        m.on_alert(lambda *a: None)
        m.metrics()


_REF = np.arange(40.0).reshape(20, 2)


def _cycle_drift():
    with mlops.DriftDetector(_REF, window=8, feature_names=["a", "b"]) as d:
        d.update(_REF[:4])
        d.report()


def _cycle_metrics():
    with mlops.Metrics() as reg:
        reg.counter("a_total", "a", labels=("x",)).labels("1").inc()
        reg.standard().observe_predict(1, 0.001)
        reg.add_collector(lambda w: None)
        reg.render()


@pytest.mark.parametrize("cycle", [_cycle_model, _cycle_schema, _cycle_monitor, _cycle_drift, _cycle_metrics],
                         ids=["Model", "Schema", "Monitor", "DriftDetector", "Metrics"])
def test_no_leak_over_10000_cycles(cycle):
    for _ in range(1000):  # warm up: allocator pools, caches, lazily loaded code
        cycle()
    gc.collect()
    before = _rss()
    for _ in range(10000):
        cycle()
    gc.collect()
    grown = _rss() - before
    # 512 KiB over 10,000 cycles: a leak of 64 bytes per cycle or more cannot hide in it
    assert grown < 512 * 1024, "RSS grew by %d bytes over 10,000 cycles (%.1f per cycle)" % (grown, grown / 1e4)


def test_no_leak_over_pickles_and_copies():
    """Issue 12: pickle round trips and copies (each a save/load through a temporary file for a
    monitor and a detector, a reload for a model) free what they make. Fewer cycles than above (each
    one fsyncs), with objects large enough that leaking any of them shows: a monitor or detector of
    window 4096 holds tens of KiB, the model several KiB."""
    import copy
    import pickle
    ref = np.random.default_rng(0).normal(size=(4096, 2))
    with mlops.Model(SMALL_MODEL) as m, mlops.Monitor("binary", window=4096) as mon, \
            mlops.DriftDetector(ref, window=4096) as d:
        mon.record(np.linspace(0, 1, 4096), np.arange(4096) % 2)
        d.update(ref)

        def cycle():
            for obj in (m, mon, d):
                for c in (pickle.loads(pickle.dumps(obj)), copy.copy(obj)):
                    c.close()
        for _ in range(50):
            cycle()
        gc.collect()
        before = _rss()
        for _ in range(400):
            cycle()
        gc.collect()
        grown = _rss() - before
    assert grown < 512 * 1024, "RSS grew by %d bytes over 400 cycles (%.1f per cycle)" % (grown, grown / 400)


# ------------------------------------------------------------------------------------------------
# 7. Packaging: the pyproject builds and installs offline with Debian's setuptools
# ------------------------------------------------------------------------------------------------

def _has_pip():
    return subprocess.run([PY, "-m", "pip", "--version"], capture_output=True).returncode == 0


def test_pip_install_offline_into_a_directory(tmp_path):
    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    site = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    if _has_pip():
        r = subprocess.run([PY, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                            "--target", str(site), str(src)], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    else:  # no pip: build the wheel with setuptools' PEP 517 backend and unpack it
        code = "import os, sys; os.chdir(sys.argv[1]); from setuptools import build_meta as b; " \
               "print(b.build_wheel(sys.argv[2]))"
        r = subprocess.run([PY, "-c", code, str(src), str(tmp_path / "dist")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        import zipfile
        zipfile.ZipFile(tmp_path / "dist" / r.stdout.strip().splitlines()[-1]).extractall(site)
    dist = glob.glob(str(site / "libmlops-*.dist-info"))  # the distribution is libmlops (issue 12)
    assert len(dist) == 1 and os.path.basename(dist[0]) == "libmlops-%s.dist-info" % mlops.__version__
    for name in ("__init__.py", "_lib.py", "_version.py", "model.py", "schema.py", "monitor.py", "drift.py",
                 "metrics.py"):
        assert (site / "mlops" / name).is_file(), name
    r = _import({"MLOPS_LIBRARY": REAL_LIB}, pkg_root=str(site),
                code="import mlops; print(mlops.__file__); print(mlops.version())")
    assert r.returncode == 0, r.stderr
    where, ver = r.stdout.split()
    assert where.startswith(str(site)) and ver == mlops.__version__


def test_readme_shows_both_ways():
    text = open(os.path.join(PKG, "README.md")).read()
    assert "pip install --no-build-isolation bindings/python" in text
    assert "PYTHONPATH=bindings/python" in text
    assert "MLOPS_LIBRARY" in text and "meson install" in text


# ------------------------------------------------------------------------------------------------
# Methods added with the full API: collectors, StandardMetrics.predict, drift results and DataFrames
# ------------------------------------------------------------------------------------------------

def test_metrics_collectors():
    with mlops.Metrics() as reg:
        calls = []

        def collect(w):
            calls.append(threading.get_ident())
            w.family("gauge", "pulled_value", "pulled at render", labels=("k",))
            w.sample(1.5, "a")
            w.sample(2.5, "b")

        assert reg.add_collector(collect) is collect
        text = reg.render()
        assert 'pulled_value{k="a"} 1.5' in text and 'pulled_value{k="b"} 2.5' in text
        with pytest.raises(mlops.ExistsError):
            reg.add_collector(collect)
        kept = []

        def bad(w):
            kept.append(w)
            raise RuntimeError("collector broke")

        reg.add_collector(bad)
        with pytest.raises(RuntimeError, match="collector broke"):
            reg.render()
        with pytest.raises(mlops.StateError):
            kept[0].sample(1.0)  # a writer is only valid inside its callback
        reg.remove_collector(bad)

        def clash(w):
            w.family("counter", "bad name!", "")

        reg.add_collector(clash)
        with pytest.raises(mlops.InvalidArgumentError):
            reg.render()
        reg.remove_collector(clash)
        with pytest.raises(mlops.NotFoundError):
            reg.remove_collector(clash)
        assert "pulled_value" in reg.render()
        reg.remove_collector(collect)
        assert "pulled_value" not in reg.render()


def test_standard_metrics_predict_counts_and_times_in_c():
    x = fixture_x()
    with mlops.Metrics() as reg, mlops.Model(BINARY) as m:
        std = reg.standard()
        np.testing.assert_array_equal(std.predict(m, x), m.predict(x))
        np.testing.assert_array_equal(std.predict(m, pd.DataFrame(x, columns=m.feature_names)), m.predict(x))
        assert std.requests == 2 and std.rows == 2 * len(x) and std.duration()[2] == 2
        with pytest.raises(mlops.ShapeError):
            std.predict(m, np.zeros((1, 29), np.float32))
        assert std.requests == 3 and std.rows == 2 * len(x)
        assert 'ml_prediction_errors_total{reason="shape"} 1' in reg.render()


def test_drift_results_statistic_reference_and_dataframes():
    rng = np.random.default_rng(8)
    ref = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    cur = pd.DataFrame(rng.normal(loc=[0, 0, 2], size=(100, 3)), columns=["a", "b", "c"])
    with mlops.DriftDetector(ref, window=100) as det:
        assert det.feature_names == ["a", "b", "c"]
        det.update(cur[["c", "a", "b"]])  # matched by name
        res = det.results()
        rep = det.report()
        for f in rep["features"]:
            r = res["features"][f["name"]]
            assert r["statistic"] == f["statistic"] and r["pvalue"] == f["pvalue"] and r["drift"] == f["drift"]
        assert res["summary"]["dataset_drift"] == rep["dataset_drift"] and res["prediction"] is None
        assert res["features"]["c"]["drift"] and not res["features"]["a"]["drift"]
        want = mlops.ks_2samp(ref["c"], cur["c"]).statistic
        assert det.statistic("c") == pytest.approx(want, abs=1e-12)
        with pytest.raises(mlops.InvalidArgumentError, match="'b'"):
            det.update(cur.drop(columns=["b"]))
        with pytest.raises(mlops.InvalidArgumentError, match="no feature named"):
            det.statistic("zz")
        det.set_reference(cur)  # replaces the reference and empties the window
        after = det.results()
        assert after["summary"]["n_rows"] == 0 and after["features"]["a"]["n_reference"] == 100
        assert np.isnan(after["features"]["a"]["pvalue"])
    with mlops.DriftDetector(None, n_features=2, reference_size=50, window=10) as det:
        with pytest.raises(mlops.StateError, match="reference"):
            det.results()


def test_every_error_pickles_as_itself():
    """Issue 12: an MlopsError raised in another process (multiprocessing, joblib, dask) is rebuilt
    from its (status, message) as the same class, still an instance of the matching built-in."""
    import pickle
    for status, cls in sorted(_lib._BY_STATUS.items()):
        e = cls(status, "module: what went wrong")
        e.note = "kept"
        got = pickle.loads(pickle.dumps(e))
        assert type(got) is cls
        assert (got.status, got.message, str(got), got.note) == (status, "module: what went wrong",
                                                               "module: what went wrong", "kept")
        assert isinstance(got, tuple(b for b in cls.__mro__ if b.__module__ == "builtins" and b is not object))
    with pytest.raises(mlops.ShapeError) as info:
        mlops.Model(SMALL_MODEL).predict(np.zeros((1, 3), np.float32))
    got = pickle.loads(pickle.dumps(info.value))
    assert (got.status, got.message) == (info.value.status, info.value.message) and "feature" in got.message
