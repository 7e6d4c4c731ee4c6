"""libmlops: serve and monitor XGBoost models from Python through a thin ctypes layer.

Classes: Model (load, predict), Schema (validate), Monitor (live quality), DriftDetector
and ks_2samp (data drift), Metrics (Prometheus). Each holds a C handle: close() it or
use it as a context manager. numpy in, numpy out; C-contiguous float32 input is passed
to the C library without a copy; pandas DataFrames are matched by column name.

The library is looked up in $MLOPS_LIBRARY (only there, when set), then the source
tree's build directory, then the system; its version must equal __version__.
Every failure raises an MlopsError subclass carrying the C status code and the
library's message (read on the failing thread); each is also the matching built-in, so
`except ValueError` / `except FileNotFoundError` work as with any Python library:

    InvalidArgumentError, FormatError, ShapeError, RangeError, ValidationError, ExistsError,
    VersionError, IntegrityError -> ValueError;  NotFoundError -> KeyError;
    IOError_ -> OSError (FileNotFoundError_, PermissionError_, IsADirectoryError_ with errno);
    OutOfMemoryError -> MemoryError;  NotSupportedError -> NotImplementedError;
    StateError, LimitError, BackendError -> RuntimeError.

An unsupported argument type (None, str, scipy.sparse, xgboost.DMatrix...) is a TypeError
naming the type. The GIL is released during C calls.

Also: version() (the C library's), status_str(code), last_error(), set_log_callback(fn, level).
"""
from ._version import __version__
from ._lib import (MlopsError, InvalidArgumentError, OutOfMemoryError, FormatError, ShapeError, IOError_,
                   NotSupportedError, ValidationError, NotFoundError, LimitError, BackendError, RangeError,
                   StateError, ExistsError, VersionError, IntegrityError, FileNotFoundError_, PermissionError_,
                   IsADirectoryError_)
from ._lib import version, version_number, status_str, last_error, clear_error, set_log_callback, library_path
from .model import Model

# Modules add their public names below, one import line each.
from .deploy import Deployment
from .router import Router, proportions_ztest, welch_ttest
from .metrics import Metrics, StandardMetrics
from .schema import Schema, Report, Violation
from .monitor import Monitor
from .drift import ks_2samp, ks_pvalue, KstestResult, DriftDetector, DriftSnapshot
from .registry import Registry
from . import dask  # mlops.dask: batch scoring, validation, drift and quality on Dask (imports dask lazily)

__all__ = [name for name in dir() if not name.startswith("_")]
