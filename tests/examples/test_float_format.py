"""cli_float_format (examples/cli_float.c) is as short as numpy's shortest
round-trip output (Dragon4, unique=True) and reads back to the same float32
(issue 26). The C side runs through tests/examples/float_exact.c's 'format' mode."""
import os
import subprocess

import numpy as np
import pytest

EXE = os.environ.get("MLOPS_FLOAT_EXACT")


def significant_digits(text):
    """Digits of a decimal without sign, point, exponent, leading or trailing zeros."""
    mant = text.lstrip("-").lower().split("e")[0].replace(".", "")
    return len(mant.strip("0")) or 1


def sample_bits():
    rng = np.random.default_rng(26)
    bits = rng.integers(0, 2**32, size=60000, dtype=np.uint64)
    sub = rng.integers(1, 2**23, size=5000, dtype=np.uint64)
    edges = np.array([0, 1, 0x7F7FFFFF, 0x00800000, 0x3F800000, 0x3DCCCCCD, 0x4B189680, 0x80000001,
                      0x729C9B40], dtype=np.uint64)
    powers = (np.arange(1, 255, dtype=np.uint64) << np.uint64(23))
    tens = np.array([1e-30, 1e-10, 1e-5, 1e-4, 0.1, 1, 10, 1e8, 1e9, 1e10, 1e30], dtype=np.float32)
    allb = np.concatenate([bits, sub, edges, powers, tens.view(np.uint32).astype(np.uint64)]).astype(np.uint32)
    f = allb.view(np.float32)
    return allb[np.isfinite(f)]


@pytest.mark.skipif(not EXE, reason="MLOPS_FLOAT_EXACT not set (run through meson)")
def test_as_short_as_numpy_and_round_trips():
    bits = sample_bits()
    out = subprocess.run([EXE, "format"], input="\n".join(str(int(b)) for b in bits) + "\n",
                         capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == len(bits)
    longer = shorter = wrong = 0
    for b, text in zip(bits, out):
        f = np.array([b], dtype=np.uint32).view(np.float32)[0]
        wrong += int(np.float32(text).view(np.uint32)) != int(b)
        ref = np.format_float_scientific(f, unique=True)
        pos = np.format_float_positional(f, unique=True)
        assert significant_digits(ref) == significant_digits(pos)
        d, r = significant_digits(text), significant_digits(ref)
        longer += d > r
        shorter += d < r
    print(f"{len(bits)} floats: {wrong} do not read back, {longer} longer than numpy, {shorter} shorter")
    assert wrong == 0 and longer == 0
    assert shorter == 0  # numpy's output is the shortest: a shorter one would not round-trip
