"""libmlops: serve and monitor XGBoost models from Python through a thin ctypes layer.

The library is looked up in $MLOPS_LIBRARY, then the source tree's build
directory, then the system. Every failure raises an MlopsError subclass that
carries the C status code and the library's message.
"""
from ._version import __version__
from ._lib import (MlopsError, InvalidArgumentError, FormatError, ShapeError, IOError_, NotSupportedError,
                   ValidationError, NotFoundError, LimitError, BackendError, RangeError, StateError, ExistsError,
                   VersionError, IntegrityError)
from .model import Model

# Modules add their public names below, one import line each.
from .metrics import Metrics, StandardMetrics
from .schema import Schema, Report, Violation
from .monitor import Monitor
from .drift import ks_2samp, KstestResult, DriftDetector

__all__ = [name for name in dir() if not name.startswith("_")]
