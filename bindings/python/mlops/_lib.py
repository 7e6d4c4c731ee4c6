"""Locate and load libmlops, declare C signatures, turn status codes into exceptions."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any, Callable, List, Optional

from ._version import __version__

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates() -> List[str]:
    """Where the library is looked for, in order: $MLOPS_LIBRARY, build trees, the system."""
    out: List[str] = []
    env = os.environ.get("MLOPS_LIBRARY")
    if env:
        out.append(env)
    root = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    for build in ("build", "build-release", "builddir"):
        out.append(os.path.join(root, build, "libmlops.so"))
    found = ctypes.util.find_library("mlops")
    if found:
        out.append(found)
    major = __version__.split(".")[0]
    out.append("libmlops.so.%s" % major)
    return out


def _load() -> ctypes.CDLL:
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (not found)" % path)
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        lib.mlops_version_string.restype = ctypes.c_char_p
        got = lib.mlops_version_string().decode()
        if got != __version__:
            tried.append("%s (version %s, the package is %s)" % (path, got, __version__))
            continue
        return lib
    raise ImportError("libmlops could not be loaded; tried: " + "; ".join(tried) +
                      ". Set MLOPS_LIBRARY to the path of libmlops.so.")


lib = _load()
lib.mlops_last_error.restype = ctypes.c_char_p
lib.mlops_status_str.restype = ctypes.c_char_p
lib.mlops_status_str.argtypes = [ctypes.c_int]


class MlopsError(Exception):
    """A libmlops call failed. `status` is the C status code, `message` the library's explanation."""

    status: int = 0

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class InvalidArgumentError(MlopsError, ValueError):
    """MLOPS_EINVAL: a bad argument (NULL, NaN, empty sample...)."""


class FormatError(MlopsError, ValueError):
    """MLOPS_EFORMAT: malformed model bytes, JSON or state file."""


class ShapeError(MlopsError, ValueError):
    """MLOPS_ESHAPE: wrong number of features, rows or output size."""


class IOError_(MlopsError, OSError):
    """MLOPS_EIO: a file could not be read or written."""


class NotSupportedError(MlopsError):
    """MLOPS_ENOTSUP: the model or request uses something not supported."""


class ValidationError(MlopsError, ValueError):
    """MLOPS_EVALIDATION: input failed schema validation."""


class NotFoundError(MlopsError, KeyError):
    """MLOPS_ENOTFOUND: an unknown id, name or key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class LimitError(MlopsError):
    """MLOPS_ELIMIT: a capacity or size limit was reached."""


class BackendError(MlopsError):
    """MLOPS_EBACKEND: XGBoost itself failed."""


class RangeError(MlopsError, ValueError):
    """MLOPS_ERANGE: a value outside its allowed range (a label not in {0, 1}, a class index...)."""


class StateError(MlopsError):
    """MLOPS_ESTATE: the object is not in a state that allows the call."""


class ExistsError(MlopsError, ValueError):
    """MLOPS_EEXIST: the id or name already exists."""


class VersionError(MlopsError):
    """MLOPS_EVERSION: an options struct or file of another version."""


class IntegrityError(MlopsError):
    """MLOPS_EINTEGRITY: a checksum or digest did not match."""


_BY_STATUS = {-1: InvalidArgumentError, -3: IOError_, -4: FormatError, -5: ShapeError, -6: NotSupportedError,
              -7: BackendError, -8: RangeError, -9: StateError, -10: NotFoundError, -11: ExistsError,
              -12: LimitError, -13: ValidationError, -14: VersionError, -15: IntegrityError}


def error_for(status: int) -> MlopsError:
    """Build the exception for `status` with the calling thread's mlops_last_error()."""
    msg = lib.mlops_last_error().decode("utf-8", "replace")
    name = lib.mlops_status_str(status).decode()
    cls = _BY_STATUS.get(status, MlopsError)
    return cls(status, "%s (%s)" % (msg, name) if msg else name)


def check(status: int) -> None:
    """Raise the matching MlopsError if `status` is a failure. Call right after the C call, same thread."""
    if status != 0:
        raise error_for(status)


def declare(name: str, restype: Any, argtypes: List[Any]) -> Callable[..., Any]:
    """Set the signature of lib.`name` and return the function."""
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


def to_bytes(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode()
