"""The command-line layer of mlops-train, -predict, -validate and -drift: option tables and --help
against the README's reference, value checks, progress on a terminal (and never on a pipe), and
the issue 22 contracts: accuracy on margins, mlops-drift --fail-on-drift."""
import io
import os
import re
import shlex
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy import stats
from sklearn.metrics import accuracy_score

BIN = os.environ.get("MLOPS_BIN_DIR", "build/examples")
ROOT = os.environ.get("MLOPS_SOURCE_ROOT", ".")
DATA = os.path.join(ROOT, "examples", "data")
PROGS = ["mlops-train", "mlops-predict", "mlops-validate", "mlops-drift"]
# Programs on the shared option tables (cli_opts): their --help is checked against the README too.
REF_PROGS = PROGS + ["mlops-gate", "mlops-registry"]
LABEL = "malignant0_benign1"


def run(prog, *args, **kw):
    """Output decoded as is: text mode would turn a progress line's \r into \n."""
    r = subprocess.run([os.path.join(BIN, prog), *map(str, args)], capture_output=True, **kw)
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    return r


def run_on_tty(prog, *args):
    """Run under a pseudo-terminal (util-linux script): what a user at a terminal sees, stdout and
    stderr together, with the terminal's \\r\\n line ends."""
    cmd = shlex.join([os.path.join(BIN, prog), *map(str, args)])
    t0 = time.monotonic()
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    r.stdout = r.stdout.decode()
    return r, time.monotonic() - t0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    df = pd.read_csv(os.path.join(DATA, "breast_cancer.csv"))
    df.iloc[:450].to_csv(d / "train.csv", index=False)
    df.iloc[450:].to_csv(d / "test.csv", index=False)
    r = run("mlops-train", "--data", d / "train.csv", "--label", LABEL, "--rounds", "20", "--max-depth", "3",
            "--out", d / "model.json")
    assert r.returncode == 0, r.stderr
    return d, df.iloc[450:]


# --- --help against the README ------------------------------------------------------------------

HELP_LINE = re.compile(r"^  (--[a-z0-9-]+(?: \S+)?)\s{2,}(.*?)(?: \(default: (.*)\))?$")
README_ROW = re.compile(r"^\| `(--[a-z0-9-]+(?: \S+)?)` \| ([^|]*) \|")


def help_options(prog):
    r = run(prog, "--help")
    assert r.returncode == 0 and r.stderr == ""
    opts = {}
    for line in r.stdout.splitlines():
        m = HELP_LINE.match(line)
        if m and m.group(1) != "--help":
            required = m.group(2).endswith("; required")
            opts[m.group(1)] = "required" if required else (m.group(3) or "—")
    exit_line = [ln for ln in r.stdout.splitlines() if ln.startswith("exit status: ")]
    assert len(exit_line) == 1
    return opts, exit_line[0][len("exit status: "):]


def readme_reference(prog, root=ROOT):
    text = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    start = text.index("#### `%s`" % prog)
    end = text.find("\n#", start + 1)
    section = text[start:end if end > 0 else len(text)]
    opts = {}
    for line in section.splitlines():
        m = README_ROW.match(line)
        if m:
            opts[m.group(1)] = m.group(2).strip().strip("`")
    exit_line = re.search(r"^Exit status: (.*)\.$", section, re.M)
    assert exit_line, "no 'Exit status:' line in the README section of " + prog
    return opts, exit_line.group(1)


@pytest.mark.parametrize("prog", REF_PROGS)
def test_help_and_readme_reference_agree(prog):
    """Issue 22: every option (with its argument and default) and the exit statuses, in both places."""
    h_opts, h_exit = help_options(prog)
    r_opts, r_exit = readme_reference(prog)
    assert h_opts, "no option parsed from --help"
    only_help = {k: v for k, v in h_opts.items() if r_opts.get(k) != v}
    only_readme = {k: v for k, v in r_opts.items() if h_opts.get(k) != v}
    assert (only_help, only_readme) == ({}, {})
    assert h_exit == r_exit


def test_readme_reference_check_sees_a_difference(tmp_path):
    """The comparison above can fail: a README whose default differs is caught."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "| `--batch N` | `4096` |" in text
    (tmp_path / "README.md").write_text(text.replace("| `--batch N` | `4096` |", "| `--batch N` | `1024` |"))
    assert readme_reference("mlops-predict", str(tmp_path))[0]["--batch N"] == "1024"
    assert help_options("mlops-predict")[0]["--batch N"] == "4096"


# --- values are checked, with the option named, before anything runs ----------------------------

@pytest.mark.parametrize("prog,args,word", [
    ("mlops-predict", ["--batch", "0"], "--batch"),
    ("mlops-predict", ["--batch", "12x"], "--batch"),
    ("mlops-predict", ["--threads", "0"], "--threads"),
    ("mlops-predict", ["--threads", "100000"], "--threads"),
    ("mlops-predict", ["--engine", "gpu"], "--engine"),
    ("mlops-train", ["--rounds", "-1"], "--rounds"),
    ("mlops-train", ["--max-depth", "65"], "--max-depth"),
    ("mlops-train", ["--num-class", "1"], "--num-class"),
    ("mlops-train", ["--seed", "99999999999999999999"], "--seed"),
    ("mlops-validate", ["--margin", "nan"], "--margin"),
    ("mlops-drift", ["--p-value", "1"], "--p-value"),
    ("mlops-drift", ["--p-value", "0"], "--p-value"),
    ("mlops-drift", ["--correction", "holm"], "--correction"),
    ("mlops-drift", ["--bogus"], "--bogus"),
    ("mlops-drift", ["--reference"], "--reference"),
    ("mlops-validate", ["stray.csv"], "stray.csv"),
    ("mlops-gate", ["--threshold", "1"], "--threshold"),
    ("mlops-gate", ["--max-p99-latency-us", "inf"], "--max-p99-latency-us"),
    ("mlops-registry", ["--trust"], "--trust"),
    ("mlops-registry", ["--registry", "reg", "--bogus", "list"], "--bogus"),
])
def test_bad_values_exit_2_naming_the_option(prog, args, word):
    r = run(prog, *args)
    assert r.returncode == 2 and r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert first.startswith(prog + ": ") and word in first, r.stderr
    assert "usage: " + prog in r.stderr


@pytest.mark.parametrize("prog", REF_PROGS)
def test_help_goes_to_stdout_and_exits_0(prog):
    for flag in ("--help", "-h"):
        r = run(prog, flag)
        assert r.returncode == 0 and r.stdout.startswith("usage: " + prog) and r.stderr == ""


def test_predict_threads_give_the_same_predictions_as_xgboost(trained):
    d, test = trained
    r = run("mlops-predict", "--model", d / "model.json", "--input", d / "test.csv", "--threads", "4",
            "--batch", "7")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(io.StringIO(r.stdout))["prediction"].to_numpy(dtype=np.float32)
    b = xgb.Booster(model_file=str(d / "model.json"))
    np.testing.assert_array_equal(got, b.inplace_predict(test[b.feature_names].to_numpy(dtype=np.float32)))


# --- issue 22: accuracy on margins, drift as a CI gate -------------------------------------------

def printed_accuracy(stderr):
    m = re.search(r"accuracy (\d\.\d{4}) on (\d+) labelled rows", stderr)
    assert m, stderr
    return float(m.group(1)), int(m.group(2))


def test_margin_accuracy_is_scored_at_threshold_zero(trained):
    """--margin --label scored margins against 0.5: the value must be sklearn's accuracy of
    margin > 0, on data where some margins lie in (0, 0.5] (so a 0.5 threshold gives another value)."""
    d, test = trained
    b = xgb.Booster(model_file=str(d / "model.json"))
    margins = b.inplace_predict(test[b.feature_names].to_numpy(dtype=np.float32), predict_type="margin")
    y = test[LABEL].to_numpy()
    assert accuracy_score(y, margins > 0) != accuracy_score(y, margins > 0.5), "data does not tell them apart"
    r = run("mlops-predict", "--model", d / "model.json", "--input", d / "test.csv", "--margin", "--label", LABEL)
    assert r.returncode == 0, r.stderr
    acc, n = printed_accuracy(r.stderr)
    assert n == len(test)
    assert acc == round(accuracy_score(y, margins > 0), 4)
    # and the probabilities give the same accuracy (p > 0.5 is margin > 0)
    r = run("mlops-predict", "--model", d / "model.json", "--input", d / "test.csv", "--label", LABEL)
    assert printed_accuracy(r.stderr)[0] == acc


@pytest.fixture(scope="module")
def drift_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    same = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    shifted = same.assign(b=same["b"] + 1.0)
    for name, df in [("ref", ref), ("same", same), ("shifted", shifted)]:
        df.to_csv(d / (name + ".csv"), index=False)
    # the reference verdicts: scipy's KS p-values at the default 0.05
    assert all(stats.ks_2samp(ref[c], same[c]).pvalue >= 0.05 for c in "ab")
    assert stats.ks_2samp(ref["b"], shifted["b"]).pvalue < 0.05
    return d


@pytest.mark.parametrize("current,flag,want", [
    ("same", True, 0), ("shifted", True, 3), ("shifted", False, 0), ("same", False, 0)])
def test_fail_on_drift_exits_3_only_when_a_column_drifted(drift_files, current, flag, want):
    d = drift_files
    args = ["--reference", d / "ref.csv", "--current", d / (current + ".csv")] + (["--fail-on-drift"] if flag else [])
    r = run("mlops-drift", *args)
    assert r.returncode == want, r.stderr
    drifted = {ln.split()[0] for ln in r.stdout.splitlines()[1:3] if ln.split()[5] == "yes"}
    assert drifted == ({"b"} if current == "shifted" else set())


def test_fail_on_drift_with_json_and_html(drift_files, tmp_path):
    d = drift_files
    r = run("mlops-drift", "--reference", d / "ref.csv", "--current", d / "shifted.csv", "--fail-on-drift",
            "--json", "--html", tmp_path / "r.html")
    assert r.returncode == 3 and '"drift": true' in r.stdout.replace('"drift":true', '"drift": true')
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_drift_in_chunks_matches_scipy(tmp_path):
    """The current rows go to the detector in chunks of 65,536 (between progress lines): the statistic
    over 150,000 rows is still scipy's."""
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"a": rng.normal(size=2000)})
    cur = pd.DataFrame({"a": rng.normal(0.02, 1, size=150_000)})
    ref.to_csv(tmp_path / "r.csv", index=False)
    cur.to_csv(tmp_path / "c.csv", index=False)
    r = run("mlops-drift", "--reference", tmp_path / "r.csv", "--current", tmp_path / "c.csv")
    assert r.returncode == 0, r.stderr
    stat = float(r.stdout.splitlines()[1].split()[2])
    assert stat == pytest.approx(stats.ks_2samp(ref["a"], cur["a"]).statistic, abs=1e-6)


# --- progress ------------------------------------------------------------------------------------

def progress_cases(d):
    return {
        "mlops-train": ["--data", d / "train.csv", "--label", LABEL, "--rounds", "30", "--max-depth", "2",
                        "--out", d / "p.json", "--force"],
        "mlops-predict": ["--model", d / "model.json", "--input", d / "test.csv", "--output", d / "pred.csv"],
        "mlops-validate": ["--schema", d / "schema.json", "--input", d / "train.csv", "--exclude", LABEL],
        "mlops-drift": ["--reference", d / "train.csv", "--current", d / "test.csv"],
    }


UNIT = {"mlops-train": "rounds", "mlops-predict": "rows", "mlops-validate": "rows", "mlops-drift": "rows"}


@pytest.mark.parametrize("prog", PROGS)
def test_progress_on_a_terminal(trained, prog):
    d, test = trained
    r, _ = run_on_tty(prog, *progress_cases(d)[prog])
    assert r.returncode == 0, r.stdout
    total = {"mlops-train": 30, "mlops-predict": len(test), "mlops-validate": 450, "mlops-drift": len(test)}[prog]
    final = re.search(r"\r%s: %d %s in \d+\.\d\d s \(\d+ %s/s\)\s*\r\n" % (prog, total, UNIT[prog], UNIT[prog]),
                      r.stdout)
    assert final, repr(r.stdout[-600:])


@pytest.mark.parametrize("prog", PROGS)
def test_no_progress_on_a_pipe_but_with_progress(trained, prog):
    d, _ = trained
    args = progress_cases(d)[prog]
    r = run(prog, *args)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "/s" not in r.stderr
    r = run(prog, *args, "--progress")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\r%s: [\d,]+ %s in .*\n" % (prog, UNIT[prog]), r.stderr), repr(r.stderr)


@pytest.mark.parametrize("prog", PROGS)
def test_quiet_silences_progress_on_a_terminal(trained, prog):
    d, _ = trained
    r, _ = run_on_tty(prog, *progress_cases(d)[prog], "--quiet")
    assert r.returncode == 0, r.stdout
    assert "\r%s:" % prog not in r.stdout and "/s)" not in r.stdout
    if prog == "mlops-train":
        assert "trained" not in r.stdout and "wrote" not in r.stdout


def test_quiet_keeps_errors(trained):
    d, _ = trained
    r, _ = run_on_tty("mlops-predict", "--model", d / "nope.json", "--input", d / "test.csv", "--quiet")
    assert r.returncode == 2 and "nope.json" in r.stdout


def test_progress_is_throttled_and_ends_with_a_newline(trained, tmp_path):
    """At most ~10 redraws a second: a run of many rounds draws no more lines than 10 per second of
    its duration (plus the first and the final one)."""
    d, _ = trained
    r, took = run_on_tty("mlops-train", "--data", d / "train.csv", "--label", LABEL, "--rounds", "150",
                         "--max-depth", "4", "--eta", "0.05", "--out", tmp_path / "m.json")
    assert r.returncode == 0, r.stdout
    draws = r.stdout.count("\rmlops-train: ")
    assert 1 <= draws <= 10 * took + 2, (draws, took)
    # running lines carry a total, a percentage and an ETA; the last ends its line
    for line in re.findall(r"\rmlops-train: ([^\r]*)", r.stdout)[:-1]:
        assert re.match(r"[\d,]+ / 150 rounds \(\d+%\), \d+ rounds/s(, ETA \d+ s)?\s*$", line), line
    assert re.search(r"\rmlops-train: 150 rounds in [^\r\n]*\r\n", r.stdout)


def test_messages_during_progress_start_on_a_line_of_their_own(tmp_path):
    """mlops-validate prints violations while its progress line is up: the line is erased first, so
    no message is glued to the end of a progress line."""
    rng = np.random.default_rng(0)
    n = 120_000
    df = pd.DataFrame({"a": rng.uniform(0, 1, n), "b": rng.uniform(0, 1, n)})
    df.iloc[:1000].to_csv(tmp_path / "small.csv", index=False)
    df = df.astype(object)
    for i in range(5000, n, 5000):
        df.iloc[i, 0] = 5
    df.to_csv(tmp_path / "big.csv", index=False)
    assert run("mlops-validate", "--infer", "--input", tmp_path / "small.csv", "--out", tmp_path / "s.json").returncode == 0
    r = run("mlops-validate", "--schema", tmp_path / "s.json", "--input", tmp_path / "big.csv", "--progress")
    assert r.returncode == 3
    violations = [ln for ln in r.stderr.split("\n") if "out_of_range" in ln]
    assert len(violations) == len(range(5000, n, 5000))
    prefix = "mlops-validate: %s row " % (tmp_path / "big.csv")
    for ln in violations:
        assert ln.split("\r")[-1].startswith(prefix), repr(ln)
    # the check saw progress lines between violations (else it proves nothing)
    last = r.stderr.rindex("out_of_range")
    assert re.search(r"\rmlops-validate: [\d,]+ / 120,000 rows", r.stderr[:last]), "no progress line was drawn"
