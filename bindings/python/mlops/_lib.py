"""Locate and load libmlops, declare C signatures, turn status codes into exceptions."""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sys
import threading
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union, TypeVar

from ._version import __version__

_HERE = os.path.dirname(os.path.abspath(__file__))
_BUILD_DIRS = ("build", "build-release", "builddir")


def _pkg_config_libdir() -> Optional[str]:
    """`pkg-config --variable=libdir libmlops`, or None (no pkg-config, no libmlops.pc)."""
    import subprocess
    try:
        r = subprocess.run(["pkg-config", "--variable=libdir", "libmlops"], capture_output=True, text=True,
                           timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    d = r.stdout.strip()
    return d if r.returncode == 0 and d else None


def _candidates() -> Iterator[str]:
    """Where the library is looked for, in order (lazily: pkg-config runs only if needed).

    1. ``$MLOPS_LIBRARY`` -- when set it is the only candidate: a library the user named
       explicitly is never silently replaced by another one.
    2. The copy bundled into the installed package (``mlops/libmlops.so.<version>``, put there
       by ``pip install bindings/python`` from a built tree).
    3. The source tree's build directories (``build``, ``build-release``, ``builddir`` next
       to ``bindings/``), for in-place use with ``PYTHONPATH=bindings/python``.
    4. The system: ``ctypes.util.find_library("mlops")``, the soname ``libmlops.so.<major>``
       through the dynamic loader's search path, then pkg-config's libdir for libmlops.
    """
    env = os.environ.get("MLOPS_LIBRARY")
    if env:
        yield env
        return
    yield os.path.join(_HERE, "libmlops.so." + __version__)
    root = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    if os.path.basename(os.path.dirname(_HERE)) == "python" and \
            os.path.basename(os.path.dirname(os.path.dirname(_HERE))) == "bindings":  # in the source tree
        for build in _BUILD_DIRS:
            yield os.path.join(root, build, "libmlops.so")
    found = ctypes.util.find_library("mlops")
    if found:
        yield found
    soname = "libmlops.so.%s" % __version__.split(".")[0]
    yield soname
    libdir = _pkg_config_libdir()
    if libdir:
        yield os.path.join(libdir, soname)


_HOW_TO_FIX = (
    "To fix: install the C library %s (meson setup build && ninja -C build && meson install -C build, "
    "then ldconfig) so the loader finds it; or reinstall this package from a built source tree, which "
    "bundles it (ninja -C build && python3 -m pip install --no-build-isolation bindings/python). "
    "Set MLOPS_LIBRARY=/path/to/libmlops.so to use a given file." % __version__)


def _load() -> Tuple[ctypes.CDLL, str]:
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (not found)" % path)
            continue
        try:
            cdll = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        try:
            fn = cdll.mlops_version_string
        except AttributeError:
            tried.append("%s (not libmlops: no mlops_version_string)" % path)
            continue
        fn.restype = ctypes.c_char_p
        fn.argtypes = []
        got = fn().decode()
        if got != __version__:
            tried.append("%s (version %s, the package is %s)" % (path, got, __version__))
            continue
        return cdll, path
    if os.environ.get("MLOPS_LIBRARY"):
        raise ImportError("libmlops could not be loaded from MLOPS_LIBRARY: %s. Point MLOPS_LIBRARY at "
                          "libmlops.so %s, or unset it to search the package and the system."
                          % (tried[0], __version__))
    raise ImportError("libmlops could not be loaded; tried: " + "; ".join(tried) + ". " + _HOW_TO_FIX)


lib, library_path = _load()
"""The loaded ``ctypes.CDLL`` and the path (or soname) it was loaded from."""


def declare(name: str, restype: Any, argtypes: List[Any]) -> Any:
    """Set the signature of ``lib.<name>`` (restype and argtypes) and return the function.

    Every public C function of libmlops is declared through this (tests/python/test_bindings.py
    checks the headers against ``lib``), so calls are type-checked by ctypes.
    """
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


def declare_init(name: str, struct: Any, version: int = 1) -> Callable[[Any], None]:
    """Declare ``void name(struct *opts, unsigned version)`` and return a one-argument caller that
    passes `version`: the MLOPS_*_VERSION whose layout the Python mirror `struct` has."""
    fn = declare(name, None, [ctypes.POINTER(struct), ctypes.c_uint])
    return lambda ref: fn(ref, version)


def declare_view(name: str, restype: Any, argtypes: List[Any]) -> Any:
    """A second function object for C function `name` with other (compatible) argtypes, e.g.
    ``POINTER(c_float)`` instead of ``c_void_p`` for a hot path; ``lib.<name>`` keeps its own."""
    fn = lib[name]
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


# ---- mlops/common.h ----------------------------------------------------------------------------

class Allocator(ctypes.Structure):
    """Mirror of the C struct mlops_allocator (for mlops_set_allocator; rarely useful from Python)."""

    _c_struct_ = "mlops_allocator"
    _fields_ = [("malloc_fn", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_size_t)),
                ("realloc_fn", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)),
                ("free_fn", ctypes.CFUNCTYPE(None, ctypes.c_void_p))]


LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
"""ctypes type of the C mlops_log_fn callback."""

_status_str = declare("mlops_status_str", ctypes.c_char_p, [ctypes.c_int])
_last_error = declare("mlops_last_error", ctypes.c_char_p, [])
_clear_error = declare("mlops_clear_error", None, [])
_version_string = declare("mlops_version_string", ctypes.c_char_p, [])
_version_number = declare("mlops_version_number", ctypes.c_uint, [])
_set_log_callback = declare("mlops_set_log_callback", None, [LOG_FN, ctypes.c_void_p, ctypes.c_int])
_set_allocator = declare("mlops_set_allocator", ctypes.c_int, [ctypes.POINTER(Allocator)])
mlops_free = declare("mlops_free", None, [ctypes.c_void_p])
# The safe file writer, for C programs' output files (Python has no use for it; declared for completeness).
_write_file = declare("mlops_write_file", ctypes.c_int, [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t])

LOG_LEVELS = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3}
_LEVEL_NAMES = {0: "debug", 1: "info", 2: "warn", 3: "error"}
LogCallback = Callable[[str, str], None]


def version() -> str:
    """Version string of the loaded C library (equal to ``mlops.__version__``, checked at import)."""
    return _version_string().decode()


def version_number() -> int:
    """Version of the loaded C library as one integer, 0xMMmmpp."""
    return int(_version_number())


def status_str(status: int) -> str:
    """Static description of a C status code, e.g. ``status_str(-5) == "shape mismatch"``."""
    return _status_str(int(status)).decode()


def last_error() -> str:
    """The calling thread's last libmlops error message ("" if none). Exceptions already carry it."""
    return _last_error().decode("utf-8", "replace")


def clear_error() -> None:
    """Forget the calling thread's last error message."""
    _clear_error()


# Every callback ever installed stays referenced: the C library may still be delivering a message
# through the previous one while it is being replaced (mlops_set_log_callback's contract), so it must
# never be garbage-collected under it.
_log_refs: List[Any] = []
_log_lock = threading.Lock()


def set_log_callback(fn: Optional[LogCallback], level: Union[str, int] = "warn") -> None:
    """Send the library's diagnostics (and XGBoost's log output) to ``fn(level, message)``.

    ``level`` is the lowest severity delivered: "debug", "info", "warn" or "error" (or 0..3);
    ``fn`` receives the level name and the message as str. ``None`` turns logging off (the
    default: the library never prints). The callback may run on any thread that calls into
    libmlops; exceptions it raises are reported through ``sys.unraisablehook`` and otherwise
    ignored.
    """
    if isinstance(level, str):
        try:
            lvl = LOG_LEVELS[level.lower()]
        except KeyError:
            raise InvalidArgumentError(-1, "log level must be one of debug, info, warn, error; got %r"
                                       % level) from None
    else:
        lvl = int(level)
        if lvl not in _LEVEL_NAMES:
            raise InvalidArgumentError(-1, "log level must be 0..3, got %d" % lvl)
    if fn is None:
        _set_log_callback(LOG_FN(), None, lvl)
        return
    if not callable(fn):
        raise TypeError("set_log_callback: fn must be callable or None")

    def trampoline(level_: int, msg: bytes, _user: Any) -> None:
        try:
            fn(_LEVEL_NAMES.get(level_, str(level_)), msg.decode("utf-8", "replace"))
        except BaseException as e:  # never unwind through C
            sys.unraisablehook(_Unraisable(e, fn))  # type: ignore[arg-type]

    cb = LOG_FN(trampoline)
    with _log_lock:
        _log_refs.append(cb)
        _set_log_callback(cb, None, lvl)


class _Unraisable:
    """The argument sys.unraisablehook expects."""

    def __init__(self, exc: BaseException, obj: Any) -> None:
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = "Exception ignored in mlops log callback"
        self.object = obj


class MlopsError(Exception):
    """A libmlops call failed. `status` is the C status code (negative), `message` the library's
    explanation from mlops_last_error(), read on the failing thread right after the call."""

    status: int = 0

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> Any:
        # BaseException pickles self.args (the message only); __init__ needs (status, message), so
        # without this an error raised in a worker process cannot be rebuilt in the parent.
        return (type(self), (self.status, self.message), self.__dict__)


class InvalidArgumentError(MlopsError, ValueError):
    """MLOPS_EINVAL: a bad argument (NULL, NaN, empty sample...)."""


class FormatError(MlopsError, ValueError):
    """MLOPS_EFORMAT: malformed model bytes, JSON or state file."""


class ShapeError(MlopsError, ValueError):
    """MLOPS_ESHAPE: wrong number of features, rows or output size."""


class IOError_(MlopsError, OSError):
    """MLOPS_EIO: a file could not be read or written (a missing file: FileNotFoundError_, with errno)."""

    def __str__(self) -> str:  # the library's message, not OSError's "[Errno n] ..." rewrite
        return self.message

    def __reduce__(self) -> Any:  # errno, strerror and filename are not in __dict__: carry them along
        return (_rebuild_io, (type(self), self.status, self.message, self.errno, self.strerror, self.filename),
                self.__dict__)


def _rebuild_io(cls: Any, status: int, message: str, code: Any, reason: Any, filename: Any) -> "IOError_":
    e = cls(status, message)
    e.errno, e.strerror, e.filename = code, reason, filename
    return e


class FileNotFoundError_(IOError_, FileNotFoundError):
    """MLOPS_EIO for a file that does not exist: also FileNotFoundError, errno ENOENT."""


class PermissionError_(IOError_, PermissionError):
    """MLOPS_EIO for a file the process may not read or write: also PermissionError, errno EACCES."""


class IsADirectoryError_(IOError_, IsADirectoryError):
    """MLOPS_EIO for a path that is a directory: also IsADirectoryError, errno EISDIR."""


_IO_BY_ERRNO = {errno.ENOENT: FileNotFoundError_, errno.EACCES: PermissionError_, errno.EPERM: PermissionError_,
                errno.EISDIR: IsADirectoryError_}


def _io_error(msg: str, text: str) -> MlopsError:
    """The IOError_ for C message `msg`: the FileNotFoundError_/PermissionError_/IsADirectoryError_
    subclass (errno, strerror and filename set) when the message ends in that errno's strerror text
    ("<path>: No such file or directory", as the library formats it), else IOError_ itself."""
    for code, cls in _IO_BY_ERRNO.items():
        reason = os.strerror(code)
        at = msg.rfind(": " + reason)
        if at >= 0:
            e = cls(-3, text)
            e.errno, e.strerror, e.filename = code, reason, msg[:at]
            return e
    return IOError_(-3, text)


class NotSupportedError(MlopsError, NotImplementedError):
    """MLOPS_ENOTSUP: the model or request uses something not supported."""


class ValidationError(MlopsError, ValueError):
    """MLOPS_EVALIDATION: input failed schema validation."""


class NotFoundError(MlopsError, KeyError):
    """MLOPS_ENOTFOUND: an unknown id, name or key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class LimitError(MlopsError, RuntimeError):
    """MLOPS_ELIMIT: a capacity or size limit was reached."""


class BackendError(MlopsError, RuntimeError):
    """MLOPS_EBACKEND: XGBoost itself failed."""


class RangeError(MlopsError, ValueError):
    """MLOPS_ERANGE: a value outside its allowed range (a label not in {0, 1}, a class index...)."""


class StateError(MlopsError, RuntimeError):
    """MLOPS_ESTATE: the object is not in a state that allows the call."""


class ExistsError(MlopsError, ValueError):
    """MLOPS_EEXIST: the id or name already exists."""


class VersionError(MlopsError, ValueError):
    """MLOPS_EVERSION: an options struct or file of another version."""


class IntegrityError(MlopsError, ValueError):
    """MLOPS_EINTEGRITY: a checksum or digest did not match."""


class OutOfMemoryError(MlopsError, MemoryError):
    """MLOPS_ENOMEM: the library could not allocate memory."""


_BY_STATUS = {-1: InvalidArgumentError, -2: OutOfMemoryError, -3: IOError_, -4: FormatError, -5: ShapeError, -6: NotSupportedError,
              -7: BackendError, -8: RangeError, -9: StateError, -10: NotFoundError, -11: ExistsError,
              -12: LimitError, -13: ValidationError, -14: VersionError, -15: IntegrityError}


def error_for(status: int) -> MlopsError:
    """Build the exception for `status` with the calling thread's mlops_last_error()."""
    msg = _last_error().decode("utf-8", "replace")
    name = (_status_str(status) or b"unknown status %d" % status).decode()
    text = "%s (%s)" % (msg, name) if msg else name
    if status == -3:
        return _io_error(msg, text)
    cls = _BY_STATUS.get(status, MlopsError)
    return cls(status, text)


def check(status: int) -> None:
    """Raise the matching MlopsError if `status` is a failure. Call right after the C call, same thread."""
    if status != 0:
        raise error_for(status)


ENOTFOUND = -10


def lookup(fn: Callable[..., int], *args: Any, out: Any) -> bool:
    """Call a C lookup (``mlops_status f(..., T *out)``): True and ``out`` set when found, False
    on MLOPS_ENOTFOUND, the matching MlopsError otherwise."""
    st = fn(*args, ctypes.byref(out))
    if st == ENOTFOUND:
        return False
    check(st)
    return True


def closed(what: str) -> StateError:
    """The error raised by every method of a closed object (status MLOPS_ESTATE)."""
    return StateError(-9, "%s is closed" % what)


_H = TypeVar("_H", bound="Handle")


class CRef(int):
    """A pinned C pointer: an int (ctypes passes it as the pointer) that keeps the C object alive.

    Lifetime rule of the bindings: a handle object owns one CRef; every method takes its own
    reference to it (a local variable, or the argument tuple of the ctypes call) *before* the
    C call releases the GIL, and the C object is freed by ``free`` when the last reference goes
    -- so close() from another thread never frees an object a call is still inside. CPython's
    reference counts are atomic under the GIL, so no extra lock is taken on the hot path.
    ``keep`` holds what the C object uses and must outlive it (callback thunks, the handles
    of attached objects); ``parent`` pins the owner of a pointer that is not freed on its own
    (a series of a registry).
    """

    free: Optional[Callable[[int], None]] = None
    parent: Any = None

    def __new__(cls, h: int, free: Optional[Callable[[int], None]] = None, parent: Any = None) -> "CRef":
        self = super().__new__(cls, h)
        self.free = free
        self.parent = parent
        self.keep: dict = {}
        return self

    def __del__(self) -> None:
        f = self.free
        if f is not None:
            self.free = None
            f(int(self))
        # self.keep and self.parent are released after the C object is gone


class Handle:
    """Base of every class that owns a C handle.

    close() releases the handle (twice is harmless, from any thread), `with` closes it on exit
    and so does garbage collection; afterwards every method raises StateError. Calls already
    in flight on other threads finish: the C object is freed when the last of them returns
    (see CRef). Subclasses set `_what` (named in that error) and `_c_free` (the C function
    freeing the object), adopt a new C pointer with `_adopt(h)` and may override `_closing(c)`
    for work done at close (detaching from other objects).
    """

    _h: Optional[CRef] = None
    _what = "object"
    _c_free: Any = None

    def _adopt(self, h: int) -> CRef:
        """Take ownership of C pointer `h` (freed with `_c_free` once closed and unused)."""
        c = CRef(h, type(self)._c_free)
        self._h = c
        return c

    def _handle(self) -> CRef:
        """The pinned C pointer: hold it (a local, or an argument of the C call) for the call's
        duration. Raises StateError if closed."""
        c = self._h
        if c is None:
            raise closed(self._what)
        return c

    @property
    def handle(self) -> CRef:
        """The C pointer (an int) for passing to other libmlops calls; holding it keeps the C
        object alive even across close(). Raises StateError if closed."""
        return self._handle()

    def _closing(self, c: CRef) -> None:
        """Hook run once by the close() that closed the handle, before dropping its reference."""

    def close(self) -> None:
        """Release the C object. Safe to call twice and from any thread; calls in flight finish
        first, later calls raise StateError."""
        c = self.__dict__.pop("_h", None)  # atomic: exactly one closer gets the reference
        if c is not None:
            self._closing(c)

    # ---- copies and pickles: never a shared pointer without a reference --------------------------
    _shareable = False  # copy.copy() may share the C object (the Python side keeps no per-object state)

    def __copy__(self: _H) -> _H:
        """A new object holding its own reference to the same C object (as mlops_model_ref): closing
        or deleting either one leaves the other working. TypeError for classes with Python-side state
        tied to one object (attachments, callbacks, slots)."""
        if not self._shareable:
            raise TypeError("cannot copy mlops.%s: it has state tied to this object; create another one "
                            "or save()/load() it" % type(self).__name__)
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._h = self._handle()  # the same CRef: one more reference, freed after the last holder
        return new

    def __deepcopy__(self: _H, memo: Any) -> _H:
        """A real copy for classes that can serialize themselves (see __reduce__), else as __copy__ for
        immutable objects (a model), else TypeError."""
        state = self._to_state()
        if state is not None:
            return type(self)._from_state(state)
        return self.__copy__()

    def _to_state(self) -> Any:
        """The object's value for pickling (None: it cannot be pickled)."""
        return None

    @classmethod
    def _from_state(cls: Any, state: Any) -> Any:
        raise NotImplementedError

    def __reduce__(self) -> Any:
        state = self._to_state()
        if state is None:
            raise TypeError("cannot pickle mlops.%s: it owns a C object the bindings cannot serialize; "
                            "pass what it was created from (or save() it) instead" % type(self).__name__)
        return (_unpickle, (type(self), state))

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _unpickle(cls: Any, state: Any) -> Any:
    return cls._from_state(state)


def saved_bytes(save: Callable[[int, bytes], int], handle: CRef) -> bytes:
    """The bytes `save(handle, path)` writes (a C *_save function), through a private temporary
    file: the C API saves state to files only. Raises the save's MlopsError."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="mlops-state-") as d:
        path = os.path.join(d, "state")
        check(save(handle, os.fsencode(path)))
        with open(path, "rb") as f:
            return f.read()


def load_saved(load: Callable[[bytes, Any], int], data: bytes) -> int:
    """The C handle `load(path, &out)` (a C *_load function) makes of `data` written by saved_bytes."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="mlops-state-") as d:
        path = os.path.join(d, "state")
        with open(path, "wb") as f:
            f.write(data)
        out = ctypes.c_void_p()
        check(load(os.fsencode(path), ctypes.byref(out)))
        return out.value  # type: ignore[return-value]


def to_bytes(s: Optional[Union[str, bytes, "os.PathLike[str]"]], what: str = "string argument") -> Optional[bytes]:
    """The bytes of a C string: UTF-8 of a str (file-system encoding for a path), bytes checked, None
    unchanged. ValueError naming `what` for a NUL (C would cut the string there) or, except in paths,
    invalid UTF-8."""
    if s is None:
        return None
    if isinstance(s, os.PathLike):
        b = os.fsencode(s)
    elif isinstance(s, bytes):
        b = s
        try:
            b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError("%s is not valid UTF-8 (byte %d)" % (what, e.start)) from None
    else:
        try:
            b = str(s).encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError("%s is not valid UTF-8 (character %d cannot be encoded)" % (what, e.start)) from None
    if b"\0" in b:
        raise ValueError("%s contains a NUL character at %d (C would cut the string there)" % (what, b.index(b"\0")))
    return b
