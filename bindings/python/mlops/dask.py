"""mlops.dask: score, validate, test drift and measure quality over Dask collections.

Datasets larger than one machine are processed partition by partition on the Dask workers
(a distributed.LocalCluster or any scheduler a Client is connected to); only small mergeable
results travel back to the client::

    import mlops.dask
    ddf = mlops.dask.read_csv("traffic-*.csv")                  # or any Dask DataFrame/Array
    scores = mlops.dask.predict(ddf, "model.json")             # lazy Dask Series
    checked = mlops.dask.validate(ddf, mlops.Schema("schema.json"))
    checked.totals()                                           # {"n_rows", "n_invalid", ...}
    report = mlops.dask.drift(reference_df, ddf)               # as DriftDetector.report(), exact
    quality = mlops.dask.monitor(scores, ddf["label"])         # accuracy, log_loss, roc_auc...

- read_csv: numeric CSV files as a Dask DataFrame whose partitions cost a worker their values
  only (the library's CSV parser, mlops_schema_parse_csv, a block of text at a time into one
  array); predict and drift over it never build a partition, they score or count each block as
  it is parsed. A line with another number of fields than the header, or a cell that is not a
  number, is refused with its line number.
- predict: the model travels to the workers as bytes (one graph key, sent once to each worker)
  and is loaded once per worker process, then kept in a cache keyed by its SHA-256 digest.
- validate: each partition is validated by mlops.Schema; the result gives row verdicts, the
  violations as a Dask DataFrame and per-partition totals (only the totals are brought back).
- drift: exact. Each partition reduces every numeric feature to counts over the 2K+1 slots its
  reference's K distinct sorted values define (the reference itself, NaN counted apart; _Slots:
  about K bytes per feature and partition);
  counts are summed tree-wise, and the KS statistic is computed once from the summed counts,
  bit-equal to scipy.stats.ks_2samp(reference, all current values); the p-value comes from the
  library (mlops.ks_pvalue, SciPy's exact/asymptotic choice). Categorical features are
  reduced to counts per category (chi-square test, as DriftDetector).
- monitor: window-free totals. Count-weighted means of mlops.Monitor's per-row metrics
  (accuracy, log_loss, brier, mse, mae, ...) summed over partitions; ROC AUC is exact (counts of
  positives and negatives per distinct score, merged, then the Mann-Whitney formula), not a
  histogram approximation.

Worker-side state: only the model/schema cache (_CACHE), keyed by digest. The module imports
dask lazily, so `import mlops` never needs it.
"""
from __future__ import annotations

import hashlib
import os
import stat
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._lib import FormatError, InvalidArgumentError, ShapeError, _io_error, last_error
from .drift import CORRECTIONS, METHODS, ks_pvalue
from .model import Model
from .monitor import Monitor
from .schema import Schema, parse_csv_into

# Models and schemas already loaded in this (worker) process, keyed by (kind, digest, options).
# The one piece of global state on workers: loading a model per partition would cost more than
# scoring it. Guarded by _CACHE_LOCK so two worker threads never load the same model twice.
_CACHE: Dict[Tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()
_LOADS: Dict[str, int] = {}  # digest -> loads in this process (for cache_info())
CACHE_SIZE = 16  # models and schemas kept per worker process

SPLIT_EVERY = 8  # fan-in of the tree reductions
# glibc's malloc_trim once looked up (False: not available); a cache of a constant, not state.
_LIBC: Any = None


def _digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def _cached(kind: str, digest: str, blob: bytes, opts: Tuple[Tuple[str, Any], ...]) -> Any:
    key = (kind, digest, opts)
    obj = _CACHE.get(key)
    if obj is None:
        with _CACHE_LOCK:
            obj = _CACHE.get(key)
            if obj is None:
                obj = Model(blob, **dict(opts)) if kind == "model" else Schema.from_json(blob)
                if len(_CACHE) >= CACHE_SIZE:  # forget the oldest; a task still using it keeps its reference
                    del _CACHE[next(iter(_CACHE))]
                _CACHE[key] = obj
                _LOADS[digest] = _LOADS.get(digest, 0) + 1
    return obj


def cache_info() -> Dict[str, int]:
    """{digest: times loaded} for the models and schemas loaded in this process (run it on the
    workers with Client.run(mlops.dask.cache_info)); each digest is loaded once per process."""
    return dict(_LOADS)


def _delayed(obj: Any, name: str) -> Any:
    import dask
    return dask.delayed(obj, pure=True, name=name)


def _collection_kind(data: Any, what: str) -> str:
    import dask.array as da
    import dask.dataframe as dd
    if isinstance(data, (dd.DataFrame, dd.Series)):
        return "frame"
    if isinstance(data, da.Array):
        return "array"
    raise InvalidArgumentError(-1, "%s: expected a Dask DataFrame, Series or Array, got %s"
                               % (what, type(data).__name__))


def _array_blocks(data: Any, what: str) -> List[Tuple[Any, int]]:
    """A 2-D Dask array's row blocks (all columns in one chunk) as (delayed block, rows)."""
    if data.ndim != 2:
        raise InvalidArgumentError(-1, "%s: expected a 2-D Dask array (rows x features), got %d dimensions"
                                   % (what, data.ndim))
    if any(np.isnan(c) for c in data.chunks[0]):
        raise InvalidArgumentError(-1, "%s: the array's chunk sizes are unknown; call compute_chunk_sizes()" % what)
    data = data.rechunk({1: -1})
    return list(zip(data.to_delayed().ravel(), data.chunks[0]))


# ---------------------------------------------------------------------------------------------
# read_csv: numeric CSV partitions parsed straight into one array each

BLOCKSIZE = 32 * 2**20  # bytes of CSV text per partition (a partition is whole lines of one file)
READ_BYTES = 4 * 2**20  # bytes of CSV text read and parsed at a time (whole lines; a longer line grows it)
# drift over read_csv holds a block's text and its float64 values (about as large) while it counts
# them: 4 instead of 8 MB per worker thread (1 MB blocks took ~20% longer to count, 2 MB ~5%)
DRIFT_READ_BYTES = 2 * 2**20


def _lines_before(path: str, pos: int) -> int:
    """Newlines in the file's first pos bytes (only called to number the line of an error)."""
    n = 0
    with open(path, "rb") as f:
        while pos > 0:
            piece = f.read(min(pos, 2**20))
            if not piece:
                break
            n += piece.count(b"\n")
            pos -= len(piece)
    return n


class _CsvPart:
    """Reads one partition of mlops.dask.read_csv on a worker: the lines of a file between two
    byte offsets, read READ_BYTES at a time, cut at the last newline and parsed by the library
    (mlops_schema_parse_csv: strict, values exactly as strtof/strtod) straight into one
    preallocated array (rows x columns); the DataFrame returned wraps that array without a
    copy. Satisfies dask's DataFrameIOFunction protocol, so selecting columns reads only those."""

    def __init__(self, names: List[str], usecols: List[str], dtype: Any) -> None:
        self.names = list(names)
        self.usecols = list(usecols)
        self.dtype = np.dtype(dtype)
        self.cols = np.array([self.names.index(c) for c in self.usecols], np.uintp)

    @property
    def columns(self) -> List[str]:
        return list(self.usecols)

    def project_columns(self, columns: Sequence[str]) -> "_CsvPart":
        return _CsvPart(self.names, [str(c) for c in columns], self.dtype)

    def meta(self) -> Any:
        import pandas as pd
        return pd.DataFrame({c: pd.Series([], dtype=self.dtype) for c in self.usecols})

    def _max_rows(self, n_bytes: int) -> int:
        # a row takes at least len(names) bytes (its commas and newline); the last may lack the newline
        return n_bytes // len(self.names) + 1

    def _blocks(self, spec: Tuple[str, int, int, int], read_bytes: int) -> Any:
        """(file offset, address, length, most rows) of the partition's text in blocks of whole
        lines (about read_bytes each), read into one buffer that the next block reuses. Most rows:
        its line ends + 1 (a row ends at LF; its fields hold none)."""
        import ctypes
        path, start, end, _ = spec
        _check_unchanged(spec)
        buf = bytearray(max(1, min(read_bytes, end - start)))
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        pos, held, left = start, 0, end - start  # pos: the file offset of buf[0]
        try:
            with open(path, "rb", buffering=0) as f:
                f.seek(start)
                while left > 0 or held:
                    if left > 0:
                        if held == len(buf):  # a line longer than the buffer: twice the room
                            buf = buf + bytearray(len(buf))
                            addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
                        got = f.readinto(memoryview(buf)[held:held + min(left, len(buf) - held)])
                        if not got:
                            raise FormatError(-4, "read_csv: %s changed while it was read" % path)
                        left -= got
                        held += got
                    cut = held if left == 0 else buf.rfind(b"\n", 0, held) + 1
                    if cut == 0:
                        continue  # no line end yet: read more
                    yield pos, addr, cut, buf.count(b"\n", 0, cut) + 1
                    buf[:held - cut] = buf[cut:held]
                    pos += cut
                    held -= cut
        except OSError as e:
            raise _io_error("%s: %s" % (path, e.strerror), "read_csv: %s: %s" % (path, e.strerror)) from None

    def _parse(self, path: str, pos: int, addr: int, n: int, out: np.ndarray, row: int) -> int:
        """The block's rows into out[row:]; their count. FormatError naming the file's line."""
        st, rows, _ = parse_csv_into(addr, n, len(self.names), self.cols, out, row)
        if st == 0:
            return rows
        if st == -4:  # parsed again up to the bad line, its number counted from the file's start
            parse_csv_into(addr, n, len(self.names), self.cols, out, row, _lines_before(path, pos) + 1)
            msg = last_error()
            raise FormatError(-4, "read_csv: %s, %s" % (path, msg[5:] if msg.startswith("csv: ") else msg))
        raise FormatError(-4, "read_csv: %s changed while it was read (%s)" % (path, last_error()))

    def arrays(self, spec: Tuple[str, int, int, int], read_bytes: Optional[int] = None) -> Any:
        """The partition's rows as arrays (rows x usecols), one per block of text (read_bytes,
        default READ_BYTES). Each is a view of one buffer, valid until the next is asked for."""
        out = np.empty((0, len(self.usecols)), self.dtype)
        for pos, addr, n, rows in self._blocks(spec, read_bytes or READ_BYTES):
            # sized by the block's lines, not _max_rows (8x more for 30 numbers a row): untouched
            # pages cost nothing, but glibc fills all of it when MALLOC_PERTURB_ is set (meson test)
            if out.shape[0] < rows:
                del out
                out = np.empty((rows + rows // 8, len(self.usecols)), self.dtype)
            yield out[:self._parse(spec[0], pos, addr, n, out, 0)]

    def chunks(self, spec: Tuple[str, int, int, int]) -> Any:
        """arrays() as pandas DataFrames indexed on from the partition's first row (no copy)."""
        import pandas as pd
        done = 0
        for a in self.arrays(spec):
            yield pd.DataFrame(a, columns=self.usecols, index=pd.RangeIndex(done, done + len(a)), copy=False)
            done += len(a)

    def __call__(self, spec: Tuple[str, int, int, int]) -> Any:
        import mmap
        import pandas as pd
        # an array for the most rows the text could hold is reserved, not touched; only the
        # pages the rows fill become resident. Anonymous mmap, not malloc: with MALLOC_PERTURB_
        # set (meson test) glibc would fill all of it (8x the partition for 30 numbers a row)
        shape = (self._max_rows(spec[2] - spec[1]), len(self.usecols))
        out = np.frombuffer(mmap.mmap(-1, shape[0] * shape[1] * self.dtype.itemsize), self.dtype).reshape(shape)
        filled = 0
        for pos, addr, n, _ in self._blocks(spec, READ_BYTES):
            filled += self._parse(spec[0], pos, addr, n, out, filled)
        return pd.DataFrame(out[:filled], columns=self.usecols, copy=False)


def _check_unchanged(spec: Tuple[str, int, int, int]) -> None:
    """FormatError when the file's size is no longer the one its partitions were planned on
    (rows would be lost or cut); IOError_ when it cannot be read."""
    path, size = spec[0], spec[3]
    try:
        now = os.stat(path).st_size
    except OSError as e:
        raise _io_error("%s: %s" % (path, e.strerror), "read_csv: %s: %s" % (path, e.strerror)) from None
    if now != size:
        raise FormatError(-4, "read_csv: %s changed since its partitions were planned (%d bytes, now %d)"
                          % (path, size, now))


def _header(path: str) -> Tuple[List[str], int]:
    """The column names of a CSV file's first line (RFC 4180 quoting, a UTF-8 BOM ignored) and
    the offset where its rows start."""
    import csv
    with open(path, "rb") as f:
        line = f.readline(2**20)
    if not line.endswith(b"\n"):
        raise FormatError(-4, "read_csv: %s: no header line (or one longer than 1 MB)" % path)
    text = line.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    names = next(csv.reader([text]))
    if not names or len(set(names)) != len(names):
        raise FormatError(-4, "read_csv: %s: the header's column names must be unique and non-empty" % path)
    return names, len(line)


def _line_start(f: Any, pos: int, size: int) -> int:
    """The offset of the first line that starts at or after pos (size at the end of the file)."""
    f.seek(pos - 1)
    while True:
        piece = f.read(2**16)
        if not piece:
            return size
        at = piece.find(b"\n")
        if at >= 0:
            return f.tell() - len(piece) + at + 1


def _plan(files: List[str], body: List[int], blocksize: int) -> List[Tuple[str, int, int, int]]:
    """(path, start, end, file size) per partition: whole lines, cut at the first line starting after each
    multiple of blocksize; every row in exactly one partition."""
    specs = []
    for path, first in zip(files, body):
        size = os.path.getsize(path)
        cuts = [first]
        with open(path, "rb") as f:
            for pos in range(first + blocksize, size, blocksize):
                cut = _line_start(f, pos, size)
                if cut > cuts[-1]:
                    cuts.append(cut)
        cuts.append(size)
        specs += [(path, a, b, size) for a, b in zip(cuts, cuts[1:]) if b > a]
    return specs


def read_csv(paths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]], *,
             columns: Optional[Sequence[str]] = None, dtype: Any = np.float64,
             blocksize: int = BLOCKSIZE) -> Any:
    """Numeric CSV files as a Dask DataFrame whose partitions cost a worker their values only.

    Each partition is whole lines of one file (about blocksize bytes of text); a worker reads
    it READ_BYTES at a time and the library parses each block of whole lines
    (mlops_schema_parse_csv, values exactly as strtof/strtod read them) into one rows x columns
    array that the partition's DataFrame wraps: no copy of the values, no concatenation of
    pieces. dd.read_csv holds the text, a copy of it and the parser's pieces besides the frame.
    drift() on a frame straight from here does not even build the partition: it counts each
    block as it is parsed; predict() parses only the model's columns and scores each block as
    it is parsed. A line with another number of fields than the header (a trailing comma, a
    missing field) or a cell that is not a number fails the task with FormatError naming the
    file, line (and field).

    Args:
        paths: a file, a glob pattern or a list of files; every file starts with the same
            header line (the column names). Local files; fields hold no newlines.
        columns: the columns to read (default all); selecting columns later reads only those.
        dtype: numpy.float64 (values as pandas and SciPy read them) or numpy.float32.
        blocksize: bytes of CSV text per partition.

    Returns a lazy Dask DataFrame (a RangeIndex per partition, as dd.read_csv). Empty fields
    are NaN; a cell is a decimal number, "nan" or "inf"/"infinity" (any case, spaces around
    it allowed, quoted or not); anything else in a selected column (hex, "NA", a number beyond
    the dtype's range) fails the partition's task with FormatError naming file, line and field.
    Raises InvalidArgumentError (no files, bad dtype/blocksize), FormatError (no header,
    headers that differ, unknown columns), IOError_ (a file cannot be read).
    """
    import glob
    import dask.dataframe as dd
    from dask.base import tokenize
    if isinstance(paths, (str, os.PathLike)):
        files = sorted(glob.glob(os.fspath(paths))) or [os.fspath(paths)]
    else:
        files = [os.fspath(p) for p in paths]
    if not files:
        raise InvalidArgumentError(-1, "read_csv: no files")
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InvalidArgumentError(-1, "read_csv: dtype must be float32 or float64, not %s" % np.dtype(dtype))
    if int(blocksize) < 1:
        raise InvalidArgumentError(-1, "read_csv: blocksize must be a positive number of bytes")
    try:
        for p in files:  # a FIFO or a device would block the reader or never end
            if not stat.S_ISREG(os.stat(p).st_mode):
                raise InvalidArgumentError(-1, "read_csv: %s is not a regular file" % p)
        heads = [_header(p) for p in files]
        stamps = [(os.path.getsize(p), os.path.getmtime(p)) for p in files]
        specs = _plan(files, [h[1] for h in heads], int(blocksize))
    except OSError as e:
        raise _io_error("%s: %s" % (e.filename, e.strerror), "read_csv: %s: %s" % (e.filename, e.strerror)) from None
    names = heads[0][0]
    for p, (n, _) in zip(files, heads):
        if n != names:
            raise FormatError(-4, "read_csv: %s has the header %s, %s has %s" % (files[0], names, p, n))
    usecols = names if columns is None else [str(c) for c in columns]
    absent = [c for c in usecols if c not in names]
    if absent:
        raise FormatError(-4, "read_csv: no column(s) %s in %s" % (", ".join(map(repr, absent)), files[0]))
    specs = specs or [(files[0], heads[0][1], heads[0][1], stamps[0][0])]  # no rows: one empty partition
    part = _CsvPart(names, usecols, dtype)
    return dd.from_map(part, specs, meta=part.meta(), enforce_metadata=False, label="mlops-read-csv",
                       token=tokenize(files, stamps, usecols, str(np.dtype(dtype)), int(blocksize)))


def _csv_source(data: Any) -> Optional[Tuple[_CsvPart, List[Tuple[str, int, int, int]]]]:
    """(reader, partition specs) when data is a DataFrame straight from read_csv, else None."""
    from dask.layers import DataFrameIOLayer
    layer = getattr(data, "dask", None) and data.dask.layers.get(data._name)
    if isinstance(layer, DataFrameIOLayer) and isinstance(layer.io_func, _CsvPart):
        return layer.io_func, list(layer.inputs)
    return None


# ---------------------------------------------------------------------------------------------
# predict

def _model_bytes(model: Any) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            return f.read()
    if hasattr(model, "save_raw"):  # an xgboost.Booster
        return bytes(model.save_raw("json"))
    raise InvalidArgumentError(-1, "predict: model must be a path, the model's bytes or an xgboost.Booster, "
                               "not %s (an mlops.Model holds a C pointer that cannot travel)"
                               % type(model).__name__)


def _predict_part(part: Any, blob: bytes, digest: str, opts: Tuple[Tuple[str, Any], ...], margin: bool,
                  columns: Optional[List[str]], names: Optional[List[str]]) -> Any:
    """Score one partition (a pandas DataFrame, or a numpy block of an Array) on a worker."""
    m = _cached("model", digest, blob, opts)
    x = part
    if columns is not None:  # the frame itself when its columns are these (read_csv's wraps one array)
        x = part if [str(c) for c in part.columns] == columns else part[columns]
        x = x.to_numpy(dtype=np.float32) if all(dt.kind == "f" for dt in x.dtypes) else \
            x.to_numpy(dtype=np.float32, na_value=np.nan)
    if len(x):
        out = m.predict(x, margin=margin)
    else:
        out = np.empty((0,) if names is None else (0, len(names)), np.float32)
    if isinstance(part, np.ndarray):
        return out
    import pandas as pd
    if names is None:
        return pd.Series(out, index=part.index, name="prediction")
    return pd.DataFrame(out, index=part.index, columns=names)


def _known(features: List[str], columns: Any) -> Optional[List[str]]:
    """The model's feature names when the frame has them all (the columns to parse), else None."""
    have = set(str(c) for c in columns)
    return list(features) if features and all(f in have for f in features) else None


def _score_csv_part(reader: "_CsvPart", spec: Tuple[str, int, int, int], blob: bytes, digest: str,
                    opts: Tuple[Tuple[str, Any], ...], margin: bool, columns: Optional[List[str]],
                    names: Optional[List[str]]) -> Any:
    """One read_csv partition parsed and scored block by block (READ_BYTES of text): the
    partition's values are never held whole; its predictions (float32) are."""
    import pandas as pd
    outs = [_predict_part(chunk, blob, digest, opts, margin, columns, names)
            for chunk in reader.chunks(spec)]
    if not outs:
        return _predict_part(reader.meta(), blob, digest, opts, margin, columns, names)
    return pd.concat(outs) if len(outs) > 1 else outs[0]


def _score_csv(source: Tuple["_CsvPart", List[Tuple[str, int, int, int]]], columns: Optional[List[str]],
               ref: Any, digest: str, opts: Tuple[Tuple[str, Any], ...], margin: bool,
               names: Optional[List[str]], meta: Any) -> Any:
    """predict() over a frame straight from read_csv: a task per partition parses (only the
    model's columns, when the frame has them by name) and scores each chunk as it comes."""
    import dask
    import dask.dataframe as dd
    reader = source[0] if columns is None else source[0].project_columns(columns)
    parts = [dask.delayed(_score_csv_part, pure=True)(reader, spec, ref, digest, opts, margin, columns, names)
             for spec in source[1]]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def predict(data: Any, model: Any, *, output_margin: bool = False, columns: Optional[Sequence[str]] = None,
            **model_opts: Any) -> Any:
    """Score a Dask DataFrame or 2-D Dask Array with the native engine, partition by partition.

    Args:
        data: a Dask DataFrame (columns matched to the model's feature names, any order, extra
            columns ignored) or a 2-D Dask Array (columns in model order).
        model: a path, the model's bytes or an xgboost.Booster. It travels as bytes (one graph
            key) and is loaded once per worker process (cache keyed by its SHA-256 digest).
        output_margin: the raw margin instead of the transformed output.
        columns: DataFrame columns to use, in model feature order (for models without feature
            names, e.g. CSV columns that are named otherwise).
        model_opts: mlops.Model options (engine, n_threads, missing, iteration_range...).

    Returns (lazy): for a DataFrame, a float32 Series "prediction" with the input's index, or a
    DataFrame "prediction_0".. for multi-output models; for an Array, a float32 Array (n,) or (n, k).
    On a DataFrame straight from read_csv (before any other operation), one task per partition
    parses only the model's columns (`columns`, or the model's feature names when the frame has
    them all) and scores each chunk as it is parsed; the partition is never built.
    The model is loaded once on the client too, so a malformed model fails here (FormatError).
    """
    import dask.array as da
    import pandas as pd
    kind = _collection_kind(data, "predict")
    if kind == "frame" and not hasattr(data, "columns"):
        raise InvalidArgumentError(-1, "predict: expected a Dask DataFrame or a 2-D Dask Array, got a Series")
    blob = _model_bytes(model)
    opts = tuple(sorted(model_opts.items()))
    with Model(blob, **model_opts) as m:  # fail early, and learn the output shape
        width = m.output_width(margin=output_margin)
        multi = m.predict(np.zeros((1, m.n_features), np.float32), margin=output_margin).ndim == 2
        features = m.feature_names
    digest = _digest(blob)
    ref = _delayed(blob, "mlops-model-" + digest)
    names = ["prediction_%d" % i for i in range(width)] if multi else None
    cols = None if columns is None else [str(c) for c in columns]
    if kind == "frame":
        if cols is not None:
            absent = [c for c in cols if c not in [str(c2) for c2 in data.columns]]
            if absent:
                raise InvalidArgumentError(-1, "predict: no column(s) %s in the DataFrame" % ", ".join(map(repr, absent)))
        meta = pd.Series([], dtype=np.float32, name="prediction") if names is None else \
            pd.DataFrame({n: pd.Series([], dtype=np.float32) for n in names})
        source = _csv_source(data)
        if source is not None:  # straight from read_csv: each chunk scored as it is parsed
            return _score_csv(source, cols or _known(features, data.columns), ref, digest, opts, output_margin,
                              names, meta)
        return data.map_partitions(_predict_part, ref, digest, opts, output_margin, cols, names, meta=meta,
                                   enforce_metadata=False, align_dataframes=False)
    import dask
    outs = []
    for block, rows in _array_blocks(data, "predict"):
        d = dask.delayed(_predict_part, pure=True)(block, ref, digest, opts, output_margin, None, names)
        outs.append(da.from_delayed(d, shape=(rows, width) if multi else (rows,), dtype=np.float32))
    return da.concatenate(outs) if outs else da.zeros((0,), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# validate

_VIOLATION_COLUMNS = ["partition", "row", "index", "feature_index", "feature", "kind", "message"]
_SUMMARY_COLUMNS = ["partition", "n_rows", "n_invalid", "n_violations", "n_omitted"]


def _validate_part(part: Any, text: bytes, digest: str, i: int, max_violations: int) -> Tuple[Any, Any, Any]:
    import pandas as pd
    schema = _cached("schema", digest, text, ())
    names = schema.names
    cols = [str(c) for c in part.columns]
    dense = sorted(cols) == sorted(names) and len(set(cols)) == len(cols) and \
        all(dt.kind in "biuf" for dt in part.dtypes)
    if dense:  # the fast path: columns are the schema's features, numeric
        rep = schema.validate(part.rename(columns=str)[names].to_numpy(dtype=np.float32, na_value=np.nan),
                              max_violations=max_violations)
    else:  # extra, missing or non-numeric columns: named rows, reported by name
        rep = schema.validate(part, max_violations=max_violations)
    index = part.index.to_numpy()
    viol = pd.DataFrame({
        "partition": np.full(len(rep.violations), i, np.int64),
        "row": np.array([v.row for v in rep.violations], np.int64),
        "index": [index[v.row] if 0 <= v.row < len(index) else None for v in rep.violations],
        "feature_index": np.array([v.feature_index for v in rep.violations], np.int64),
        "feature": [v.feature for v in rep.violations],
        "kind": [v.kind for v in rep.violations],
        "message": [v.message for v in rep.violations]}, columns=_VIOLATION_COLUMNS)
    verdict = pd.Series(rep.row_ok, index=part.index, name="valid")
    summary = pd.DataFrame([[i, rep.n_rows, rep.n_invalid, len(rep.violations), rep.n_omitted]],
                           columns=_SUMMARY_COLUMNS, dtype=np.int64)
    return verdict, viol, summary


class Validation:
    """The result of validate(): lazy Dask collections, computed on demand.

    Attributes:
        verdicts: Dask Series of bool ("valid"), one per row, with the input's index.
        violations: Dask DataFrame (partition, row within the partition, index label,
            feature_index, feature, kind, message).
        partitions: Dask DataFrame with one row per partition (partition, n_rows, n_invalid,
            n_violations, n_omitted).
    The three share their per-partition validation: compute them together (dask.compute) or
    persist() them to validate each partition once.
    """

    def __init__(self, verdicts: Any, violations: Any, partitions: Any) -> None:
        self.verdicts = verdicts
        self.violations = violations
        self.partitions = partitions

    def totals(self) -> Dict[str, int]:
        """{"n_rows", "n_invalid", "n_violations", "n_omitted", "n_partitions", "n_invalid_partitions"},
        computed from the per-partition totals (the rows are never brought to the client)."""
        per = self.partitions.compute()
        out = {c: int(per[c].sum()) for c in _SUMMARY_COLUMNS[1:]}
        out["n_partitions"] = int(len(per))
        out["n_invalid_partitions"] = int((per["n_invalid"] > 0).sum())
        return out

    def __repr__(self) -> str:
        return "<mlops.dask.Validation %d partitions>" % self.partitions.npartitions


def validate(data: Any, schema: Schema, *, max_violations: int = 10000) -> Validation:
    """Validate every row of a Dask DataFrame against an mlops.Schema, partition by partition.

    The schema travels as its JSON text and is loaded once per worker process. A partition whose
    columns are exactly the schema's numeric features is validated as a dense float32 matrix;
    otherwise rows are matched by name (extra, missing and duplicate columns are reported).
    max_violations: kept per partition (the rest are counted in n_omitted). Returns a Validation.
    """
    import dask.dataframe as dd
    import pandas as pd
    if _collection_kind(data, "validate") != "frame" or not isinstance(data, dd.DataFrame):
        raise InvalidArgumentError(-1, "validate: expected a Dask DataFrame, got %s" % type(data).__name__)
    if not isinstance(schema, Schema):
        raise InvalidArgumentError(-1, "validate: schema must be an mlops.Schema, not %s" % type(schema).__name__)
    text = schema.to_json().encode()
    digest = _digest(text)
    ref = _delayed(text, "mlops-schema-" + digest)
    import dask
    parts = [dask.delayed(_validate_part, pure=True, nout=3)(p, ref, digest, i, int(max_violations))
             for i, p in enumerate(data.to_delayed())]
    meta_v = pd.Series([], dtype=bool, name="valid")
    meta_x = pd.DataFrame({"partition": pd.Series([], dtype=np.int64), "row": pd.Series([], dtype=np.int64),
                           "index": pd.Series([], dtype=object),
                           "feature_index": pd.Series([], dtype=np.int64), "feature": pd.Series([], dtype=object),
                           "kind": pd.Series([], dtype=object), "message": pd.Series([], dtype=object)})
    meta_s = pd.DataFrame({c: pd.Series([], dtype=np.int64) for c in _SUMMARY_COLUMNS})
    verdicts = dd.from_delayed([p[0] for p in parts], meta=meta_v, verify_meta=False,
                               divisions=data.divisions if data.known_divisions else None)
    violations = dd.from_delayed([p[1] for p in parts], meta=meta_x, verify_meta=False)
    partitions = dd.from_delayed([p[2] for p in parts], meta=meta_s, verify_meta=False)
    return Validation(verdicts, violations, partitions)


# ---------------------------------------------------------------------------------------------
# drift

class _Reference:
    """Per feature: sorted distinct reference values and the cumulative count through each
    (numeric), or categories and their counts (categorical); plus missing counts."""

    def __init__(self, ref: np.ndarray, categorical: Sequence[int]) -> None:
        self.n_features = ref.shape[1]
        self.categorical = set(categorical)
        self.values: List[np.ndarray] = []
        self.cum: List[np.ndarray] = []
        self.missing: List[int] = []
        for j in range(self.n_features):
            col = ref[:, j]
            ok = col[~np.isnan(col)]
            if ok.size == 0:
                raise InvalidArgumentError(-1, "drift: feature %d of the reference has no non-missing value" % j)
            if j in self.categorical and np.any(ok != np.round(ok)):
                raise InvalidArgumentError(-1, "drift: categorical feature %d has a non-integer reference value" % j)
            u, c = np.unique(ok, return_counts=True)
            self.values.append(u)
            self.cum.append(np.cumsum(c) if j not in self.categorical else c)
            self.missing.append(int(col.size - ok.size))


def _column_values(part: Any, j: int, names: Optional[List[str]]) -> np.ndarray:
    if names is None:
        return np.asarray(part[:, j], dtype=np.float64)
    return part[names[j]].to_numpy(dtype=np.float64, na_value=np.nan)


def _narrow(c: np.ndarray) -> np.ndarray:
    """Counts in the smallest unsigned type that holds them: a partition's slots hold mostly 0 or 1,
    so this keeps what a worker holds and sends per partition at a quarter of uint32 or less."""
    top = int(c.max()) if c.size else 0
    return c.astype(_count_type(top), copy=False)


def _count_type(top: int) -> Any:
    return np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32 if top < 2**32 else np.int64


def _add_dense(acc: np.ndarray, idx: Optional[np.ndarray], add: np.ndarray) -> np.ndarray:
    """acc + add (dense, or at the distinct positions idx), in place when acc's type holds the sum,
    else in the next type that does (the bound is the two maxima, so nothing can overflow)."""
    base = acc if idx is None else acc[idx]  # only the slots that grow (O(len(idx)) for a chunk's runs)
    top = (int(base.max()) if base.size else 0) + (int(add.max()) if add.size else 0)
    if np.iinfo(acc.dtype).max < top:
        acc = acc.astype(_count_type(top))
    if idx is None:
        np.add(acc, add, out=acc, casting="unsafe")
    else:
        acc[idx] += add.astype(acc.dtype)
    return acc


class _Slots:
    """One numeric feature of one partition (or of merged partitions), counted over the slots of
    the reference's K sorted distinct values: `gaps[k]` current values strictly between values
    k-1 and k (K+1 slots, dense), `ties` the values equal to value k, either dense (K) or sparse
    (distinct positions, counts) while few values tie (continuous data ties almost never), so a
    partition's counts take about K bytes instead of 2K+1."""
    __slots__ = ("gaps", "ties")

    def __init__(self, gaps: np.ndarray, ties: Any) -> None:
        self.gaps = gaps
        self.ties = ties

    @classmethod
    def count(cls, u: np.ndarray, v: np.ndarray) -> "_Slots":
        v = np.sort(v)  # sorted needles: the binary searches walk the reference in order (~1.5x faster)
        left = np.searchsorted(u, v, side="left")
        tie = u[np.minimum(left, u.size - 1)] == v  # left < K here, or v above every value
        if tie.any():
            at = left[tie]
            gaps = np.bincount(left[~tie], minlength=u.size + 1)
            idx, cnt = np.unique(at, return_counts=True)
            ties = _sparse_or_dense(idx, cnt, u.size)
        else:
            gaps = np.bincount(left, minlength=u.size + 1)
            ties = (np.empty(0, np.uint32), np.empty(0, np.uint8))
        return cls(_narrow(gaps), ties)

    def add(self, other: "_Slots") -> "_Slots":
        """Adds other's counts into these (in place where the types allow); returns self."""
        self.gaps = _add_dense(self.gaps, None, other.gaps)
        a, b = self.ties, other.ties
        if isinstance(a, tuple) and isinstance(b, tuple):
            idx, inv = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
            cnt = np.bincount(inv, weights=np.concatenate([a[1], b[1]]), minlength=idx.size)
            self.ties = _sparse_or_dense(idx, cnt.astype(np.int64), self.gaps.size - 1)
        elif isinstance(a, tuple):
            self.ties = _add_dense(b, a[0], a[1])  # other is consumed: add into it
        else:
            self.ties = _add_dense(a, *(b if isinstance(b, tuple) else (None, b)))
        return self

    def add_values(self, u: np.ndarray, v: np.ndarray) -> "_Slots":
        """Counts the values v (no NaN) over the slots of u straight into these counts, in time
        proportional to len(v): runs of equal slots of the sorted values are added where they
        fall, with no K-sized temporary (a chunk of a few thousand rows against K = 100,000
        reference values would otherwise pass over K slots several times). Returns self."""
        if v.size == 0:
            return self
        v = np.sort(v)
        left = np.searchsorted(u, v, side="left")
        tie = u[np.minimum(left, u.size - 1)] == v
        self.gaps = _add_dense(self.gaps, *_runs(left[~tie] if tie.any() else left))
        if tie.any():
            idx, cnt = _runs(left[tie])
            a = self.ties
            if isinstance(a, tuple):
                merged, inv = np.unique(np.concatenate([a[0], idx]), return_inverse=True)
                total = np.bincount(inv, weights=np.concatenate([a[1], cnt]), minlength=merged.size)
                self.ties = _sparse_or_dense(merged, total.astype(np.int64), self.gaps.size - 1)
            else:
                self.ties = _add_dense(a, idx, cnt)
        return self

    def plain(self) -> Dict[str, Any]:
        """These counts as a dict of numpy arrays (no copy), the form tasks return: see _to_plain."""
        return {"gaps": self.gaps, "ties": self.ties}

    @classmethod
    def of(cls, plain: Dict[str, Any]) -> "_Slots":
        return cls(plain["gaps"], plain["ties"])

    def interleaved(self) -> np.ndarray:
        """The 2K+1 slot counts in value order (gap 0, value 0, gap 1, value 1, ..., gap K)."""
        k = self.gaps.size - 1
        out = np.zeros(2 * k + 1, np.int64)
        out[0::2] = self.gaps
        if isinstance(self.ties, tuple):
            out[2 * self.ties[0].astype(np.int64) + 1] = self.ties[1]
        else:
            out[1::2] = self.ties
        return out


def _runs(a: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted integer array and how often each occurs."""
    if a.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    start = np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))
    return a[start], np.diff(np.append(start, a.size))


def _sparse_or_dense(idx: np.ndarray, cnt: np.ndarray, k: int) -> Any:
    """Tie counts at distinct positions idx: sparse (uint32 positions, narrow counts) while they fill
    under an eighth of the K slots, dense (narrow, K) beyond, whichever is smaller."""
    if idx.size * 8 > k:
        dense = np.zeros(k, _count_type(int(cnt.max())))
        dense[idx] = cnt
        return dense
    return idx.astype(np.uint32), _narrow(cnt)


def _to_plain(counts: Dict[str, Any]) -> Dict[str, Any]:
    """Counts as a task returns them: numpy arrays in dicts, lists and tuples only (each _Slots as
    its dict), which distributed serializes array by array without a copy. An object of our own
    is pickled whole, and results gathered through the scheduler are pickled with protocol 4
    (its common denominator), in band: the bytes of every array copied, and the pickle's buffer
    grown to about twice the counts (+6-12 MB per worker at the end of a 5M-row job)."""
    return {"rows": counts["rows"], "missing": counts["missing"],
            "counts": [c.plain() if isinstance(c, _Slots) else c for c in counts["counts"]]}


def _from_plain(counts: Dict[str, Any]) -> Dict[str, Any]:
    """_to_plain undone (no copy): numeric features back to _Slots; categorical ones stay tuples."""
    return {"rows": counts["rows"], "missing": counts["missing"],
            "counts": [_Slots.of(c) if isinstance(c, dict) else c for c in counts["counts"]]}


def _drift_part(part: Any, values: List[np.ndarray], categorical: Sequence[int],
                names: Optional[List[str]]) -> Dict[str, Any]:
    """One partition reduced to counts (_drift_counts), its freed memory given back (_trim)."""
    out = _drift_counts(part, values, categorical, names)
    del part
    _trim()
    return _to_plain(out)


def _drift_csv(reader: "_CsvPart", spec: Tuple[str, int, int, int], values: List[np.ndarray],
               categorical: Sequence[int], names: List[str], prev: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One read_csv partition counted block by block as it is parsed, into the running counts
    of the partitions before it in its chain (prev, the previous task's output, which only this
    task uses: added to in place). The partition is never built: a worker holds one block
    (DRIFT_READ_BYTES of text and its values) and its chain's counts."""
    acc = _from_plain(prev) if prev is not None else \
        _drift_counts(np.empty((0, len(values))), values, categorical, None)
    # numpy blocks in the reader's column order (names), not DataFrames: no pandas per column
    for block in reader.arrays(spec, DRIFT_READ_BYTES):
        _drift_counts(block, values, categorical, None, into=acc)
        del block
    _trim()
    return _to_plain(acc)


def _worker_threads() -> int:
    """Threads of the workers of the default distributed client (this machine's cores without one)."""
    try:
        from distributed import get_client
        return max(1, sum(get_client().nthreads().values()))
    except (ImportError, ValueError):  # no distributed, or no client: dask's local scheduler
        return os.cpu_count() or 1


def _csv_chains(reader: "_CsvPart", specs: List[Tuple[str, int, int, int]], rvals: Any, cats: List[int],
                names: List[str]) -> List[Any]:
    """Drift counts of read_csv partitions in chains, one per worker thread: each task counts a
    partition into the chain's counts so far, so a worker holds its chain's running counts
    (about K bytes per feature) instead of one result per partition waiting to be merged."""
    import dask
    n = min(len(specs), _worker_threads())
    tails = []
    for c in range(n):
        acc = None
        for spec in specs[c::n]:
            acc = dask.delayed(_drift_csv, pure=True)(reader, spec, rvals, cats, names, acc)
        tails.append(acc)
    return tails


def _drift_counts(part: Any, values: List[np.ndarray], categorical: Sequence[int],
                  names: Optional[List[str]], into: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Rows reduced to counts: numeric features as _Slots over the reference's distinct
    values, categorical ones as (categories, counts); NaN counted apart. With `into`, each
    feature's counts are added to it as soon as they are made (returns `into`). Memory: one
    column at a time plus the counts (about K bytes per numeric feature)."""
    counts: List[Any] = []
    missing = np.zeros(len(values), np.int64)
    for j in range(len(values)):
        x = _column_values(part, j, names)
        nan = np.isnan(x)
        missing[j] = int(nan.sum())
        v = x[~nan] if missing[j] else x
        if j in categorical:
            if np.any(v != np.round(v)):
                raise InvalidArgumentError(-1, "drift: categorical feature %d has a non-integer value" % j)
            c: Any = np.unique(v, return_counts=True)
        elif into is not None:  # counted straight into the running counts
            into["counts"][j].add_values(values[j], v)
            continue
        else:
            c = _Slots.count(values[j], v)
        del x, nan, v
        if into is None:
            counts.append(c)
        else:  # categorical
            into["counts"][j] = _merge_categories(into["counts"][j], c)
    if into is None:
        return {"rows": len(part), "missing": missing, "counts": counts}
    into["rows"] += len(part)
    into["missing"] += missing
    return into


def _trim() -> None:
    """Give the partition's freed pages back to the system (glibc malloc_trim): the block buffers and
    the column copies free tens of MB in the task thread's arena, which other threads (receiving
    counts from other workers) cannot reuse; without this a worker's peak RSS grows by them."""
    global _LIBC
    if _LIBC is None:
        import ctypes
        try:
            _LIBC = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc: nothing to trim
            _LIBC = False
    if _LIBC:
        _LIBC(0)


def _merge_categories(a: Tuple[np.ndarray, np.ndarray], b: Tuple[np.ndarray, np.ndarray]) -> Tuple[Any, Any]:
    cats, inv = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    return cats, np.bincount(inv, weights=np.concatenate([a[1], b[1]]), minlength=cats.size).astype(np.int64)


def _drift_merge(parts: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Sum plain partition counts (_to_plain; one node of the reduction tree), adding into the
    first one's arrays in place where their types hold the sums."""
    parts = [_from_plain(p) for p in parts]
    acc = parts[0]
    for p in parts[1:]:
        acc["rows"] += p["rows"]
        acc["missing"] = acc["missing"] + p["missing"]
        for j, c in enumerate(p["counts"]):
            if isinstance(c, tuple):
                acc["counts"][j] = _merge_categories(acc["counts"][j], c)
            else:
                acc["counts"][j] = acc["counts"][j].add(c)
    return _to_plain(acc)


def _tree(leaves: List[Any], merge: Any, split_every: int = SPLIT_EVERY) -> Any:
    """Reduce delayed leaves with `merge` (a list of results -> one result), split_every at a time."""
    import dask
    level = leaves
    while len(level) > 1:
        # pure: each node's key is a hash of its inputs' keys, so two reductions never share one
        level = [dask.delayed(merge, pure=True)(level[k:k + split_every])
                 for k in range(0, len(level), split_every)]
    return level[0]


def _reduce_here(leaves: List[Any], merge: Any, split_every: int) -> Any:
    """Reduce delayed leaves on the workers (_tree) until at most split_every remain, then bring
    those to the client and merge them here: no worker holds the last merge's inputs, copies of
    them in flight and the result waiting to be sent all at once."""
    import dask
    level = leaves
    while len(level) > split_every:
        level = [_tree(level[k:k + split_every], merge, split_every) for k in range(0, len(level), split_every)]
    return merge(list(dask.compute(*level)))


def _ks_from_counts(cum_ref: np.ndarray, slots: np.ndarray) -> Tuple[float, int]:
    """max |cdf_ref - cdf_cur| over the data points, as scipy.stats.ks_2samp computes it (same
    doubles). Candidates: each reference value k (ref count A_k, current count through slot 2k+1)
    and the largest current value below it (A_{k-1}, count through slot 2k); inside a slot the
    reference CDF is flat, so no other point can be more extreme."""
    n = int(cum_ref[-1])
    cur = np.cumsum(slots, dtype=np.int64)
    m = int(cur[-1])
    a = np.concatenate([[0], cum_ref])  # A_{k-1} for slot 2k, k = 0..K; A_k at value k
    at_values = a[1:] / n - cur[1::2] / m
    below = a / n - cur[0::2] / m
    diffs = np.concatenate([at_values, below])
    d_max = diffs.max()
    d_min = min(max(-diffs.min(), 0.0), 1.0)
    return float(d_min if d_min > d_max else d_max), m


def _chi2(ref_cats: np.ndarray, ref_counts: np.ndarray, cur: Tuple[np.ndarray, np.ndarray]) -> Tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x K table, as DriftDetector computes it."""
    from scipy.special import chdtrc
    cats = np.union1d(ref_cats, cur[0])
    r = np.zeros(cats.size)
    c = np.zeros(cats.size)
    r[np.searchsorted(cats, ref_cats)] = ref_counts
    c[np.searchsorted(cats, cur[0])] = cur[1]
    nr, nc = float(r.sum()), float(c.sum())
    if nr == 0 or nc == 0:
        return float("nan"), float("nan")
    s = 0.0
    for rk, ck in zip(r.tolist(), c.tolist()):  # in category order, as the detector sums
        col = rk + ck
        er, ec = nr * col / (nr + nc), nc * col / (nr + nc)
        s += (rk - er) ** 2 / er + (ck - ec) ** 2 / ec
    return s, (1.0 if cats.size < 2 else float(chdtrc(cats.size - 1, s)))


def _adjust(p: List[float], correction: str) -> List[float]:
    """Bonferroni or Benjamini-Hochberg adjusted p-values over the testable features (as DriftDetector)."""
    idx = [i for i, v in enumerate(p) if not np.isnan(v)]
    out = list(p)
    m = len(idx)
    if correction == "bonferroni":
        for i in idx:
            out[i] = min(1.0, p[i] * m)
    elif CORRECTIONS[correction] == CORRECTIONS["bh"] and m:
        run = 1.0
        for rank, i in reversed(list(enumerate(sorted(idx, key=lambda i: p[i])))):
            run = min(run, p[i] * m / (rank + 1))
            out[i] = run
    return out


def _none_if_nan(v: float) -> Optional[float]:
    return None if not np.isfinite(v) else float(v)


def drift(reference: Any, current: Any, *, p_value: float = 0.05, correction: str = "none",
          drift_share: float = 0.5, method: str = "auto", categorical: Sequence[Union[int, str]] = (),
          feature_names: Optional[Sequence[str]] = None, rule: str = "share") -> Dict[str, Any]:
    """Exact per-feature drift of a whole Dask dataset against an in-memory reference.

    Args:
        reference: 2-D numpy array or pandas DataFrame (its columns name the features), held on
            the client and sent once to each worker; NaN is missing.
        current: a Dask DataFrame (columns matched by name) or 2-D Dask Array (reference order).
        p_value, correction ("none", "bonferroni", "fdr"/"bh"), drift_share, method ("auto",
            "exact", "asymp"), categorical, rule ("share": drift_share of the features, or "any"
            feature): as mlops.DriftDetector.
        feature_names: names for an array reference (default the DataFrame's columns, else f0..).

    Returns the dict DriftDetector.report() gives for this reference and a window holding every
    current row (n_rows = n_seen = current rows). Computes now, on the active Dask scheduler.
    """
    import dask
    if correction not in CORRECTIONS:
        raise InvalidArgumentError(-1, "correction must be one of %s, got %r" % (sorted(CORRECTIONS), correction))
    if method not in METHODS:
        raise InvalidArgumentError(-1, "method must be one of %s, got %r" % (sorted(METHODS), method))
    if rule not in ("share", "any"):
        raise InvalidArgumentError(-1, "rule must be 'share' or 'any', got %r" % (rule,))
    kind = _collection_kind(current, "drift")
    if hasattr(reference, "columns") and hasattr(reference, "to_numpy"):
        if feature_names is None:
            feature_names = [str(c) for c in reference.columns]
        ref = reference.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] == 0:
        raise InvalidArgumentError(-1, "drift: reference must be a non-empty 2-D array (rows x features)")
    names = [str(n) for n in feature_names] if feature_names is not None else \
        ["f%d" % j for j in range(ref.shape[1])]
    if len(names) != ref.shape[1]:
        raise InvalidArgumentError(-1, "drift: %d feature names for %d reference columns" % (len(names), ref.shape[1]))
    cat_idx = [names.index(c) if isinstance(c, str) else int(c) for c in categorical]
    r = _Reference(ref, cat_idx)
    # workers get the sorted distinct values only (the cumulative counts stay here)
    rvals = _delayed(r.values, "mlops-drift-reference-" + dask.base.tokenize(ref, cat_idx))
    cats = sorted(r.categorical)
    if kind == "frame":
        absent = [n for n in names if n not in [str(c) for c in current.columns]]
        if absent:
            raise InvalidArgumentError(-1, "drift: no column(s) %s in the current DataFrame"
                                       % ", ".join(map(repr, absent)))
        source = _csv_source(current)
        if source is not None:  # straight from read_csv: count each chunk as it is parsed
            leaves = _csv_chains(source[0].project_columns(names), source[1], rvals, cats, names)
        else:
            leaves = [dask.delayed(_drift_part, pure=True)(p, rvals, cats, names) for p in current.to_delayed()]
    else:
        if current.ndim != 2 or current.shape[1] != ref.shape[1]:
            raise InvalidArgumentError(-1, "drift: current array must be 2-D with %d columns" % ref.shape[1])
        leaves = [dask.delayed(_drift_part, pure=True)(b, rvals, cats, None) for b, _ in _array_blocks(current, "drift")]
    if not leaves:
        raise InvalidArgumentError(-1, "drift: the current dataset has no partitions")
    # fan-in 4: a node holds its inputs' counts (each about the reference's size) at once; the
    # last merge (of the read_csv chains: one per worker thread) is done on the client
    total = _from_plain(_reduce_here(leaves, _drift_merge, 4))
    return _drift_report(r, total, names, p_value, correction, drift_share, method, rule)


def _drift_report(r: _Reference, total: Dict[str, Any], names: List[str], p_value: float, correction: str,
                  drift_share: float, method: str, rule: str = "share") -> Dict[str, Any]:
    rows = int(total["rows"])
    feats = []
    for j, name in enumerate(names):
        n_ref = int(r.cum[j][-1]) if j not in r.categorical else int(r.cum[j].sum())
        n_cur = rows - int(total["missing"][j])
        stat = pv = float("nan")
        if j in r.categorical:
            stat, pv = _chi2(r.values[j], r.cum[j], total["counts"][j])
        elif n_cur > 0:
            d, _ = _ks_from_counts(r.cum[j], total["counts"][j].interleaved())
            stat, pv = ks_pvalue(d, n_ref, n_cur, method=method)  # SciPy's reported statistic and p-value
        feats.append({"name": name, "kind": "categorical" if j in r.categorical else "numeric",
                      "test": "chi2" if j in r.categorical else "ks", "statistic": stat, "pvalue": pv,
                      "n_reference": n_ref, "n_current": n_cur, "n_missing": int(total["missing"][j]),
                      "missing_rate": int(total["missing"][j]) / rows if rows else 0.0})
    adjusted = _adjust([f["pvalue"] for f in feats], correction)
    tested = drifted = 0
    stats_num = []
    for f, pa in zip(feats, adjusted):
        f["pvalue_adjusted"] = pa
        f["drift"] = bool(not np.isnan(pa) and pa < p_value)
        if not np.isnan(f["pvalue"]):
            tested += 1
            drifted += f["drift"]
            if f["kind"] == "numeric":
                stats_num.append(f["statistic"])
        for k in ("statistic", "pvalue", "pvalue_adjusted", "missing_rate"):
            f[k] = _none_if_nan(f[k])
    share = drifted / tested if tested else 0.0
    return {"features": feats, "n_features": tested, "n_drifted": drifted, "drift_share": share,
            "dataset_drift": bool(drifted > 0 if rule == "any" else tested > 0 and share >= drift_share),
            "rule": rule,
            "mean_statistic": _none_if_nan(sum(stats_num) / len(stats_num)) if stats_num else None,
            "correction": {0: "none", 1: "bonferroni", 2: "fdr"}[CORRECTIONS[correction]], "p_value": p_value,
            "n_rows": rows, "n_seen": rows}


# ---------------------------------------------------------------------------------------------
# monitor

# Per-row means of mlops.Monitor that add up across partitions when weighted by their counts.
_ADDITIVE = ("mean_prediction", "mean_label", "accuracy", "log_loss", "brier", "mse", "mae", "tolerance_accuracy")


def _monitor_part(pred: Any, label: Any, opts: Tuple[Tuple[str, Any], ...]) -> Dict[str, Any]:
    o = dict(opts)
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(label, dtype=np.float64).reshape(-1)
    if p.shape[0] != y.shape[0]:
        raise ShapeError(-5, "monitor: a partition has %d predictions and %d labels" % (p.shape[0], y.shape[0]))
    sums: Dict[str, float] = {}
    if y.size:
        mon = Monitor(window=1, **o)
        try:
            mon.record(p, y)
            life = mon.lifetime()
        finally:
            mon.close()
        sums = {k: life[k] * y.size for k in _ADDITIVE if k in life}
    auc = None
    if o.get("task", "binary") == "binary":
        scores, inv = np.unique(p.reshape(-1), return_inverse=True)
        pos = np.bincount(inv, weights=(y == 1), minlength=scores.size).astype(np.int64)
        neg = np.bincount(inv, weights=(y != 1), minlength=scores.size).astype(np.int64)
        auc = (scores, pos, neg)
    return {"count": int(y.size), "sums": sums, "auc": auc}


def _monitor_merge(parts: List[Dict[str, Any]]) -> Dict[str, Any]:
    acc = parts[0]
    for q in parts[1:]:
        acc["count"] += q["count"]
        for k, v in q["sums"].items():
            acc["sums"][k] = acc["sums"].get(k, 0.0) + v
        if acc["auc"] is not None:
            s, inv = np.unique(np.concatenate([acc["auc"][0], q["auc"][0]]), return_inverse=True)
            acc["auc"] = (s,) + tuple(np.bincount(inv, weights=np.concatenate([acc["auc"][i], q["auc"][i]]),
                                                  minlength=s.size).astype(np.int64) for i in (1, 2))
    return acc


def _auc(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney with ties counted one half) from counts per distinct sorted score."""
    P, N = int(pos.sum()), int(neg.sum())
    if P == 0 or N == 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float((np.sum(pos * neg_below, dtype=np.float64) + 0.5 * np.sum(pos * neg, dtype=np.float64)) / P / N)


def monitor(predictions: Any, labels: Any, *, task: str = "binary", threshold: float = 0.5,
            tolerance: float = 0.1, n_classes: Optional[int] = None,
            log_loss_eps: Optional[float] = None) -> Dict[str, float]:
    """Window-free quality of a whole scored dataset: predictions and labels as Dask Series or
    Arrays with the same partitioning (e.g. predict()'s output and the label column).

    Each partition is recorded into an mlops.Monitor (task, threshold, tolerance, n_classes and
    log_loss_eps mean what they mean there); its per-row means are summed with their counts.
    Returns {"count", "accuracy", "log_loss", "brier", "mse", "rmse", "mae", "mean_prediction",
    "mean_label", "roc_auc"...} for the keys that apply to the task. roc_auc (binary only) is
    exact: counts of positives and negatives per distinct score are merged tree-wise. Precision,
    recall, F1 and R2 are not reported (not count-weighted means). Computes now.
    """
    import dask
    opts: Dict[str, Any] = {"task": task, "threshold": float(threshold), "tolerance": float(tolerance)}
    if n_classes is not None:
        opts["n_classes"] = int(n_classes)
    if log_loss_eps is not None:
        opts["log_loss_eps"] = float(log_loss_eps)
    Monitor(**dict(opts, window=1)).close()  # bad options fail here, on the client
    parts_p = _parts(predictions, "monitor: predictions")
    parts_y = _parts(labels, "monitor: labels")
    if len(parts_p) != len(parts_y):
        raise ShapeError(-5, "monitor: predictions have %d partitions, labels %d; repartition them alike"
                                   % (len(parts_p), len(parts_y)))
    if not parts_p:
        raise InvalidArgumentError(-1, "monitor: no partitions")
    o = tuple(sorted(opts.items()))
    leaves = [dask.delayed(_monitor_part, pure=True)(p, y, o) for p, y in zip(parts_p, parts_y)]
    total = _tree(leaves, _monitor_merge).compute()
    n = total["count"]
    out: Dict[str, float] = {"count": n}
    for k, v in total["sums"].items():
        out[k] = v / n
    if "accuracy" in out:  # a count of correct rows: exact after rounding
        out["accuracy"] = round(total["sums"]["accuracy"]) / n
    if "mse" in out or "brier" in out:  # binary: the Brier score is the mean squared error
        out["rmse"] = float(np.sqrt(out.get("mse", out.get("brier"))))
    if total["auc"] is not None:
        out["roc_auc"] = _auc(*total["auc"])
    return out


def _parts(data: Any, what: str) -> List[Any]:
    kind = _collection_kind(data, what)
    if kind == "frame":
        return list(data.to_delayed())
    if data.ndim == 1:
        return list(data.to_delayed().ravel())
    return [b for b, _ in _array_blocks(data, what)]


__all__ = ["read_csv", "predict", "validate", "Validation", "drift", "monitor", "cache_info"]
