"""Python binding of the router: assignment scheme, determinism across processes, predictions
against XGBoost's own, statistics, bad input, threads, and the ctypes mirrors' C layout."""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
import xgboost as xgb

import mlops
from mlops import router as mrouter

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MLOPS_SOURCE_ROOT", os.path.normpath(os.path.join(HERE, "..", "..")))
BUILD = os.environ.get("MLOPS_BUILD_ROOT", os.path.join(SRC, "build"))
FIX = os.environ.get("MLOPS_FIXTURES", os.path.join(SRC, "tests", "fixtures"))
MANIFEST = {f["name"]: f for f in json.load(open(os.path.join(FIX, "manifest.json")))["fixtures"]}


def model_path(name):
    return os.path.join(FIX, MANIFEST[name]["models"]["json"])


def fixture_x(name):
    fx = MANIFEST[name]
    return np.fromfile(os.path.join(FIX, fx["x"]), dtype="<f4").reshape(fx["n_rows"], fx["n_features"])


@pytest.fixture
def ab():
    with mlops.Model(model_path("binary_logistic")) as a, mlops.Model(model_path("dart_binary")) as b:
        r = mlops.Router(seed=7)
        r.add_variant("A", a, 1)
        r.add_variant("B", b, 3)
    yield r  # the models are closed: the router holds its own references
    r.close()


def expected(key, seed, weights):
    """The documented scheme, in Python integers."""
    h = mrouter.key_hash(key, seed)
    total = sum(weights)
    point = (h * total) >> 64
    c = 0
    for i, w in enumerate(weights):
        c += w
        if c > point:
            return i
    raise AssertionError


def test_key_hash_spec_vectors():
    # xxHash cli/xsum_sanity_check.c: XXH3_64bits_withSeed of the empty input
    assert mrouter.key_hash(b"", 0) == 0x2D06800538D394C2
    assert mrouter.key_hash(b"", 0x9E3779B185EBCA8D) == 0xA8A6B918B2F0364A
    assert mrouter.key_hash("abc") == mrouter.key_hash(b"abc")
    assert mrouter.key_hash(123) == mrouter.key_hash("123")


def test_assign_follows_the_scheme_and_the_weights(ab):
    names = ["A", "B"]
    counts = {"A": 0, "B": 0}
    for k in range(20000):
        got = ab.assign("user-%d" % k)
        assert got == names[expected("user-%d" % k, 7, [1, 3])]
        counts[got] += 1
    n, p = 20000, 0.25
    assert abs(counts["A"] - n * p) <= 5 * (n * p * (1 - p)) ** 0.5
    st = ab.stats()
    assert st["A"]["assignments"] == counts["A"] and st["B"]["assignments"] == counts["B"]
    assert ab.variants == ["A", "B"] and len(ab) == 2 and ab.index("B") == 1


def test_assignment_is_the_same_in_another_process(ab):
    keys = ["user-%d" % k for k in range(200)]
    here = [ab.assign(k) for k in keys]
    code = ("import mlops,sys,json\n"
            "m=[mlops.Model(p) for p in sys.argv[1:3]]\n"
            "r=mlops.Router(seed=7); r.add_variant('A',m[0],1); r.add_variant('B',m[1],3)\n"
            "print(json.dumps([r.assign('user-%d'%k) for k in range(200)]))\n")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code, model_path("binary_logistic"), model_path("dart_binary")],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == here


def test_predict_matches_xgboost_and_counts(ab):
    x = fixture_x("binary_logistic")
    want = {n: xgb.Booster(model_file=model_path(m)).inplace_predict(x, missing=np.nan)
            for n, m in (("A", "binary_logistic"), ("B", "dart_binary"))}
    rows = {"A": 0, "B": 0}
    for k in range(60):
        n = 1 + k % len(x)
        name, p = ab.predict(x[:n], key=k)
        assert name == ab.assign(k)
        np.testing.assert_allclose(p, want[name][:n], rtol=0, atol=1e-6)
        rows[name] += n
    name, p = ab.predict(x[0])  # one row, unkeyed
    assert p.shape == (1,)
    rows[name] += 1
    st = ab.stats()
    for n in ("A", "B"):
        assert st[n]["rows"] == rows[n] and st[n]["errors"] == 0 and st[n]["latency_ns"] > 0
    assert st["A"]["requests"] + st["B"]["requests"] == 61
    name, m = ab.predict(x[:3], key="k", output_margin=True)
    assert m.shape == (3,)


def test_weights_and_removal(ab):
    ab.set_weight("A", 0)
    assert {ab.assign("k%d" % i) for i in range(200)} == {"B"}
    ab.remove_variant("B")
    with pytest.raises(mlops.StateError, match="total weight is 0"):
        ab.assign("k")
    ab.set_weight("A", 5)
    assert ab.assign("k") == "A"
    assert ab.stats()["A"]["weight"] == 5


def test_bad_input_changes_nothing(ab):
    x = fixture_x("binary_logistic")
    before = ab.stats()
    with mlops.Model(model_path("binary_logistic")) as a, mlops.Model(model_path("multi_softprob")) as multi:
        with pytest.raises(mlops.ExistsError, match="'A' already exists"):
            ab.add_variant("A", a, 1)
        with pytest.raises(mlops.ShapeError, match="takes 4 features"):
            ab.add_variant("M", multi, 1)
        with pytest.raises(mlops.InvalidArgumentError, match="empty variant name"):
            ab.add_variant("", a, 1)
        with pytest.raises(mlops.LimitError, match="longer than 63"):
            ab.add_variant("n" * 64, a, 1)
        with pytest.raises(mlops.RangeError, match="exceeds"):
            ab.add_variant("C", a, 2**32 - 1)
        with pytest.raises(mlops.InvalidArgumentError, match="weight must be"):
            ab.add_variant("C", a, -1)
        with pytest.raises(TypeError):
            ab.add_variant("C", "not a model", 1)
    with pytest.raises(mlops.NotFoundError, match="no variant 'nope'"):
        ab.set_weight("nope", 1)
    with pytest.raises(mlops.NotFoundError, match="no variant 'nope'"):
        ab.remove_variant("nope")
    with pytest.raises(mlops.ShapeError, match="expected 30 features per row, got 29"):
        ab.predict(x[:, :29], key="k")
    with pytest.raises(TypeError):
        ab.assign(1.5)
    assert ab.stats() == before


def test_closed_and_context_manager():
    with mlops.Router() as r:
        assert len(r) == 0 and r.n_features == 0
        with pytest.raises(mlops.StateError, match="total weight is 0"):
            r.assign("k")
    with pytest.raises(mlops.StateError, match="router is closed"):
        r.assign("k")
    r.close()  # twice is harmless
    assert repr(r) == "<mlops.Router closed>"


def test_threads_share_a_router(ab):
    x = fixture_x("binary_logistic")
    errors = []

    def work(t):
        try:
            for k in range(300):
                key = "t%d-%d" % (t, k)
                name, _ = ab.predict(x[:4], key=key)
                assert name == ["A", "B"][expected(key, 7, [1, 3])]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    st = ab.stats()
    assert st["A"]["requests"] + st["B"]["requests"] == 8 * 300


def test_struct_mirrors_have_the_c_layout(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include \"mlops/router.h\"", "int main(void) {"]
    want = []
    for m in (mrouter.RouterOpts, mrouter.VariantStats):
        c = m._c_struct_
        lines.append('printf("%%zu\\n", sizeof(%s));' % c)
        want.append(ctypes.sizeof(m))
        for f, _ in m._fields_:
            lines.append('printf("%%zu\\n", offsetof(%s, %s));' % (c, f))
            want.append(getattr(m, f).offset)
    lines.append('printf("%d\\n", MLOPS_ROUTER_NAME_MAX); return 0; }')
    want.append(mrouter.NAME_MAX)
    (tmp_path / "l.c").write_text("\n".join(lines))
    subprocess.run([cc, "-std=c11", "-I", os.path.join(SRC, "include"), "-I", os.path.join(BUILD, "include"),
                    str(tmp_path / "l.c"), "-o", str(tmp_path / "l")], check=True)
    got = [int(v) for v in subprocess.run([str(tmp_path / "l")], capture_output=True, text=True,
                                          check=True).stdout.split()]
    assert got == want


def test_ab_tests_equal_scipy():
    """mlops.proportions_ztest and mlops.welch_ttest (the C library's A/B tests) against SciPy."""
    import numpy as np
    from scipy import stats
    import mlops
    z, p = mlops.proportions_ztest(45, 100, 30, 100)
    pooled = 75 / 200
    want = (0.45 - 0.30) / np.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert z == pytest.approx(want, rel=1e-12) and p == pytest.approx(2 * stats.norm.sf(want), rel=1e-10)
    _, pchi, _, _ = stats.chi2_contingency([[45, 55], [30, 70]], correction=False)
    assert p == pytest.approx(pchi, rel=1e-10)
    t, p, df = mlops.welch_ttest(1.0, 4.0, 12, 2.5, 1.0, 30)
    ref = stats.ttest_ind_from_stats(1.0, 2.0, 12, 2.5, 1.0, 30, equal_var=False)
    assert t == pytest.approx(ref.statistic, rel=1e-10) and p == pytest.approx(ref.pvalue, rel=1e-10)
    assert df > 0
    with pytest.raises(mlops.InvalidArgumentError, match="empty sample"):
        mlops.proportions_ztest(0, 0, 1, 2)
    with pytest.raises(mlops.StateError, match="undefined"):
        mlops.welch_ttest(1.0, 0.0, 3, 2.0, 0.0, 4)


def test_predict_has_models_shape_and_old_form_warns(ab):
    """predict(X, *, key=None, output_margin=False) as Model and Deployment; the old (key, X) warns."""
    import warnings
    x = fixture_x("binary_logistic")[:5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = ab.predict(x, key="user-9")
        new_m = ab.predict(x, key="user-9", output_margin=True)
    with pytest.warns(DeprecationWarning, match="predict\\(X, key="):
        old = ab.predict("user-9", x)
    with pytest.warns(DeprecationWarning):
        old_m = ab.predict("user-9", x, True)
    assert new[0] == old[0] == ab.assign("user-9")
    np.testing.assert_array_equal(new[1], old[1])
    np.testing.assert_array_equal(new_m[1], old_m[1])
    name = new[0]
    bst = xgb.Booster(model_file=model_path({"A": "binary_logistic", "B": "dart_binary"}[name]))
    np.testing.assert_allclose(new_m[1], bst.inplace_predict(x, missing=np.nan, predict_type="margin"), atol=1e-5)
    with pytest.raises(TypeError, match="keywords only"):
        ab.predict("user-9", x, True, 4)
    with pytest.raises(TypeError, match="keywords only"):
        ab.predict("user-9", x, key="user-9")
