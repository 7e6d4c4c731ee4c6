"""The argument-conversion layer: every method that hands arrays, frames or strings to C goes
through these functions, so the checks are the same everywhere.

- arrays: the number of dimensions and the shape are checked against what the C call will read
  (a 3-D array is never taken as rows), dtypes are converted (byte order, strides and object
  arrays included) or refused with InvalidArgumentError naming the argument;
- arrays C writes into must be writable ndarrays of the exact dtype, C-contiguous;
- pandas DataFrames are matched to the expected names by column name (any order, extra columns
  ignored), the same way for every method;
- unsupported types (None, str, scipy.sparse, xgboost.DMatrix...) are a TypeError naming the type;
  sizes are checked before C sees them (a negative one is a ValueError quoting it, not 2^64 - 1);
- strings passed as C strings must not contain NUL (C would silently cut them there) and must be
  valid UTF-8: ValueError naming the argument.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence

import numpy as np

from ._lib import InvalidArgumentError, ShapeError, to_bytes


def is_frame(data: Any) -> bool:
    """A pandas DataFrame (duck-typed: the package does not import pandas)."""
    return hasattr(data, "columns") and hasattr(data, "to_numpy") and hasattr(data, "iloc")


def is_series(data: Any) -> bool:
    """A pandas Series."""
    return hasattr(data, "index") and hasattr(data, "to_frame") and hasattr(data, "dtype") and hasattr(data, "iloc")


def _unsupported(data: Any) -> Optional[str]:
    """Why `data` is not an array-like the bindings take (None if it may be one): None, strings,
    bytes, dicts, sets, scipy.sparse matrices and xgboost DMatrix are refused by type, before
    numpy turns them into a 0-d array."""
    t = type(data)
    mod = getattr(t, "__module__", "") or ""
    if data is None:
        return "None"
    if isinstance(data, (str, bytes, bytearray, dict, set, frozenset)):
        return t.__name__
    if mod.startswith("scipy.sparse"):
        return "scipy.sparse %s (densify it with .toarray(), per block for large data)" % t.__name__
    if mod.startswith("xgboost"):
        return "xgboost %s (pass the numpy array or DataFrame the DMatrix was built from)" % t.__name__
    return None


def refuse_type(data: Any, what: str, want: str) -> None:
    """TypeError naming the unsupported type of `data` (see _unsupported); nothing for other types."""
    why = _unsupported(data)
    if why is not None:
        raise TypeError("%s: unsupported type %s; expected %s" % (what, why, want))


def size(v: Any, what: str, minimum: int = 0) -> int:
    """`v` as a size for C (size_t): an integer (an integral float is accepted) >= `minimum`.
    TypeError for other types; ValueError (InvalidArgumentError) quoting the number as typed, rather
    than the wrapped-around value C would see."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("%s must be an integer, not bool" % what)
    try:
        n = int(v.__index__()) if hasattr(v, "__index__") else None
    except TypeError:
        n = None
    if n is None:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            n = int(v)
        else:
            raise TypeError("%s must be an integer, not %s %r" % (what, type(v).__name__, v))
    if n < minimum:
        raise InvalidArgumentError(-1, "%s must be >= %d, got %r" % (what, minimum, v))
    return n


def cstr(s: Any, what: str) -> bytes:
    """`s` (str or bytes) as the bytes of a C string; ValueError naming `what` for a NUL or non-UTF-8."""
    if isinstance(s, (bytearray, memoryview)):
        s = bytes(s)
    if not isinstance(s, (str, bytes)):
        raise TypeError("%s must be str, not %s" % (what, type(s).__name__))
    out = to_bytes(s, what)
    assert out is not None
    return out


def _numeric(x: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
    """`x` as a C-contiguous array of `dtype` (a view when it already is one)."""
    if x.dtype == dtype and x.dtype.isnative and x.flags.c_contiguous:
        return x
    if x.dtype.kind not in "biuf":
        try:
            return np.ascontiguousarray(x.astype(dtype))
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(-1, "%s: cannot convert %s values to %s: %s" % (what, x.dtype, dtype, e)) from None
    return np.ascontiguousarray(x, dtype=dtype)


def frame_rows(df: Any, names: Sequence[str], dtype: Any, what: str,
               encoders: Optional[Mapping[int, Callable[[str, Any], np.ndarray]]] = None) -> np.ndarray:
    """Columns `names` of DataFrame `df`, by name (any order, extra columns ignored), as a C-contiguous
    (rows x len(names)) array. Column j with an entry in `encoders` is converted by it (the model's
    stored category strings); columns of pandas category dtype become their codes (missing = NaN),
    as XGBoost's enable_categorical."""
    by_name: Dict[str, Any] = {}
    dup = set()
    for c in df.columns:
        k = str(c)
        if k in by_name:
            dup.add(k)
        by_name[k] = c
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InvalidArgumentError(-1, "%s: DataFrame has no column(s) %s" % (what, ", ".join(repr(n) for n in missing)))
    amb = [n for n in names if n in dup]
    if amb:
        raise InvalidArgumentError(-1, "%s: DataFrame has duplicate column(s) %s" % (what, ", ".join(repr(n) for n in amb)))
    x = np.empty((len(df), len(names)), dtype=dtype)
    for j, name in enumerate(names):
        col = df[by_name[name]]
        if encoders and j in encoders:
            x[:, j] = encoders[j](name, col)
            continue
        if str(col.dtype) == "category":
            codes = col.cat.codes.to_numpy()
            x[:, j] = np.where(codes < 0, np.nan, codes)
            continue
        try:
            x[:, j] = col.to_numpy(dtype=dtype, na_value=np.nan)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(-1, "%s: column %r (%s) cannot be converted to %s: %s"
                                       % (what, name, col.dtype, np.dtype(dtype), e)) from None
    return x


def _numeric_blocks(df: Any) -> bool:
    """True when every column of `df` is a plain numeric or bool dtype (no category, object or
    extension dtype), so to_numpy() converts values as frame_rows would. Reads pandas' block
    manager, one attribute per block instead of building df.dtypes (a Series, tens of us); False
    (the general path) when the internals are not what this expects."""
    try:
        return all(isinstance(b.dtype, np.dtype) and b.dtype.kind in "biuf" for b in df._mgr.blocks)
    except AttributeError:
        return False


class FrameOrder:
    """Where a model's (or schema's) columns are in the DataFrames passed to it, remembered for
    the last `columns` Index seen (held, so its identity cannot be reused): a stream of frames
    of the same layout costs one to_numpy() per call, the DataFrame path at ndarray speed.
    Thread-safe: the remembered (Index, positions) pair is replaced as one tuple."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.last: Any = (None, None)  # (columns Index, positions in model order or None = as they are)

    def matrix(self, df: Any, dtype: Any) -> Optional[np.ndarray]:
        """`df` as a C-contiguous (rows x names) array in one conversion, or None when the frame
        needs the general path (a missing, duplicate or non-numeric column)."""
        if not _numeric_blocks(df):
            return None
        cols = df.columns
        seen, take = self.last
        if cols is not seen:
            try:
                pos = cols.get_indexer(self.names)
            except Exception:  # duplicate labels: get_indexer refuses; the general path explains
                return None
            if (pos < 0).any():
                return None
            take = None if len(cols) == len(pos) and (pos == np.arange(len(pos))).all() else pos
            self.last = (cols, take)
        x = df.to_numpy(dtype=dtype)  # numpy dtypes only (checked above): NaN is already NaN, no na_value pass
        return np.ascontiguousarray(x if take is None else x[:, take])


def rows(data: Any, what: str, *, n_cols: Optional[int] = None, names: Optional[Sequence[str]] = None,
         dtype: Any = np.float32, one_row: bool = True,
         encoders: Optional[Mapping[int, Callable[[str, Any], np.ndarray]]] = None) -> np.ndarray:
    """`data` as a C-contiguous 2-D (rows x columns) array of `dtype`: what a C call reading
    n_rows * n_cols values takes.

    DataFrames are matched to `names` by column name (by position when `names` is None); a Series
    is one row by index name. A 1-D array is one row when `one_row` (else one column). 0-d and
    more than 2 dimensions are refused, and so are rows of another width than `n_cols` (if given).
    """
    dtype = np.dtype(dtype)
    refuse_type(data, what, "a 2-D array-like (numpy array, list of rows, pandas DataFrame)")
    if is_frame(data):
        if names is not None:
            return frame_rows(data, names, dtype, what, encoders)
        data = data.to_numpy(dtype=dtype, na_value=np.nan)
    elif is_series(data):
        if names is not None:
            return frame_rows(data.to_frame().T, names, dtype, what, encoders)
        data = data.to_numpy(dtype=dtype, na_value=np.nan)
    try:
        x = np.asarray(data)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(-1, "%s: not an array: %s" % (what, e)) from None
    if x.ndim == 1:
        x = x.reshape(1, -1) if one_row else x.reshape(-1, 1)
    if x.ndim != 2:
        raise InvalidArgumentError(-1, "%s: expected a 2-D array (rows x %s), got %d dimensions"
                                   % (what, n_cols if n_cols is not None else "columns", x.ndim))
    if n_cols is not None and x.shape[1] != n_cols and x.shape[0] > 0:
        raise ShapeError(-5, "%s: expected %d columns, got %d" % (what, n_cols, x.shape[1]))
    return _numeric(x, dtype, what)


def values(data: Any, what: str, dtype: Any = np.float64) -> np.ndarray:
    """`data` (a scalar or a 1-D array-like) as a C-contiguous 1-D array of `dtype`; more dimensions are
    refused (a column (n, 1) or row (1, n) is taken as its n values)."""
    dtype = np.dtype(dtype)
    refuse_type(data, what, "a number or a 1-D array-like")
    if is_series(data) or is_frame(data):
        data = data.to_numpy(dtype=dtype, na_value=np.nan)
    try:
        x = np.asarray(data)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(-1, "%s: not an array: %s" % (what, e)) from None
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim > 1:
        raise InvalidArgumentError(-1, "%s: expected a 1-D array, got shape %s" % (what, x.shape))
    return _numeric(x.reshape(-1), dtype, what)


def writable(x: Any, what: str, dtype: Any, shape: Optional[tuple] = None, ndim: Optional[int] = None) -> np.ndarray:
    """`x` itself, checked to be an ndarray C may write into: exact native `dtype`, C-contiguous,
    writable, and of `shape` / `ndim` when given. InvalidArgumentError naming `what` otherwise."""
    dtype = np.dtype(dtype)
    want = "a writable C-contiguous %s array%s" % (dtype, "" if shape is None else " of shape %s" % (shape,))
    if not isinstance(x, np.ndarray):
        raise InvalidArgumentError(-1, "%s must be %s, got %s" % (what, want, type(x).__name__))
    bad = None
    if x.dtype != dtype or not x.dtype.isnative:
        bad = "dtype %s" % x.dtype
    elif not x.flags.c_contiguous:
        bad = "a non-C-contiguous array"
    elif not x.flags.writeable:
        bad = "a read-only array"
    elif shape is not None and x.shape != tuple(shape):
        bad = "shape %s" % (x.shape,)
    elif ndim is not None and x.ndim != ndim:
        bad = "%d dimensions" % x.ndim
    if bad:
        raise InvalidArgumentError(-1, "%s must be %s, got %s" % (what, want, bad))
    return x


def byte_buffer(buf: Any, what: str) -> memoryview:
    """`buf` as a writable, contiguous memoryview of bytes (bytearray, or an array of uint8/int8/bytes)
    for C to write text into. Other item types are refused: C would overwrite e.g. object pointers."""
    try:
        mv = memoryview(buf)
    except TypeError:
        raise TypeError("%s must be a writable bytes-like buffer (bytearray), not %s" % (what, type(buf).__name__)) from None
    if mv.readonly or not mv.c_contiguous or mv.format not in ("B", "b", "c"):
        raise TypeError("%s must be a writable C-contiguous buffer of bytes (bytearray), got %s%s format %r"
                        % (what, "read-only " if mv.readonly else "",
                           "non-contiguous " if not mv.c_contiguous else "", mv.format))
    return mv.cast("B") if mv.ndim != 1 else mv


__all__ = ["byte_buffer", "cstr", "refuse_type", "rows", "size", "values", "writable", "frame_rows", "is_frame", "is_series"]
