"""The Registry class: a versioned local model store with BLAKE2b-256 digests and aliases."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Union

from ._lib import CRef, Handle, InvalidArgumentError, check, declare, declare_init, mlops_free, to_bytes
from .model import Model, ModelOpts, make_opts

_VP = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)


class RegistryOpts(ctypes.Structure):
    """Mirror of the C struct mlops_registry_opts (version 2)."""

    _c_struct_ = "mlops_registry_opts"
    _fields_ = [("version", ctypes.c_uint), ("create", ctypes.c_int), ("max_model_bytes", ctypes.c_size_t),
                ("max_metadata_bytes", ctypes.c_size_t), ("trust_keys", ctypes.POINTER(ctypes.c_char_p)),
                ("n_trust_keys", ctypes.c_size_t), ("sign_key", ctypes.c_char_p),
                ("encryption_key", ctypes.c_char_p), ("audit", ctypes.c_int), ("actor", ctypes.c_char_p)]


# uint32_t * out-parameters and buffers are declared c_void_p and given byref(c_uint32) / c_uint32 arrays.
_opts_init = declare_init("mlops_registry_opts_init", RegistryOpts, 2)
_open = declare("mlops_registry_create", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(RegistryOpts), _PP])
_free = declare("mlops_registry_free", None, [_VP])
_put = declare("mlops_registry_put", ctypes.c_int,
               [_VP, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, _VP])
_put_file = declare("mlops_registry_put_file", ctypes.c_int,
                    [_VP, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _VP])
_load = declare("mlops_registry_load_model", ctypes.c_int,
                [_VP, ctypes.c_char_p, ctypes.c_uint32, ctypes.POINTER(ModelOpts), _PP, _VP])
_latest = declare("mlops_registry_latest", ctypes.c_int, [_VP, ctypes.c_char_p, _VP])
_versions = declare("mlops_registry_versions", ctypes.c_int,
                    [_VP, ctypes.c_char_p, _VP, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)])
_info = declare("mlops_registry_info", ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_uint32, _PP])
_set_alias = declare("mlops_registry_set_alias", ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint32])
_resolve_alias = declare("mlops_registry_resolve_alias", ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_char_p, _VP])
_remove_alias = declare("mlops_registry_remove_alias", ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_char_p])
_delete = declare("mlops_registry_delete", ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_uint32])
_gc = declare("mlops_registry_gc", ctypes.c_int, [_VP, ctypes.c_uint, ctypes.POINTER(ctypes.c_size_t)])
_verify = declare("mlops_registry_verify", ctypes.c_int, [_VP, ctypes.c_char_p, _PP])
_keygen = declare("mlops_registry_keygen", ctypes.c_int, [ctypes.c_char_p, ctypes.c_int])
_lineage = declare("mlops_registry_lineage", ctypes.c_int, [_VP, ctypes.c_char_p, ctypes.c_uint32, _PP])
_audit_append = declare("mlops_registry_audit_append", ctypes.c_int,
                        [_VP, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p])
_audit_verify = declare("mlops_registry_audit_verify", ctypes.c_int, [_VP, ctypes.POINTER(ctypes.c_size_t)])

PathLike = Union[str, "os.PathLike[str]"]


def keygen(out: PathLike, symmetric: bool = False) -> None:
    """Generate a key, refusing to replace an existing file (ExistsError).

    symmetric=False: an Ed25519 pair, ``<out>.key`` (64 bytes, mode 0600, for ``sign_key``) and
    ``<out>.pub`` (32 bytes, for ``trust``). symmetric=True: a 32-byte encryption key at ``out``
    itself (mode 0600, for ``encryption_key``)."""
    check(_keygen(os.fsencode(out), 1 if symmetric else 0))


def _path_or_none(p: Optional[PathLike]) -> Optional[bytes]:
    return None if p is None else os.fsencode(p)

_ESHAPE = -5
Ref = Union[None, int, str]


def _version_arg(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError("version must be an int, not %s" % type(version).__name__)
    if not 1 <= version <= 0xFFFFFFFF:
        raise InvalidArgumentError(-1, "registry: version must be in 1..4294967295, got %d" % version)
    return version


def _name(s: str) -> bytes:
    if not isinstance(s, str):
        raise TypeError("names must be str, not %s" % type(s).__name__)
    if "\0" in s:
        raise InvalidArgumentError(-1, "registry: name %r contains a NUL character" % s)
    return s.encode()


class Registry(Handle):
    """A directory of immutable, numbered model versions (1, 2, 3...; numbers are never reused).

    ::

        with mlops.Registry("/var/lib/models", create=True) as reg:
            v = reg.put("fraud", "model.json", metadata={"auc": 0.97})
            reg.set_alias("fraud", "production", v)
            model = reg.load("fraud", "production")     # an mlops.Model

    Every load checks the size and BLAKE2b-256 digest of the stored bytes against the
    version's manifest before the model loader sees them (IntegrityError on mismatch).

    Trusted models::

        mlops.registry.keygen("ci")                       # ci.key (0600) + ci.pub
        mlops.registry.keygen("data.key", symmetric=True)
        w = mlops.Registry(d, sign_key="ci.key", encryption_key="data.key")
        w.put("fraud", "model.json", metadata={"lineage": {"parent": 1}})
        r = mlops.Registry(d, trust=["ci.pub"], encryption_key="data.key")
        r.load("fraud")     # IntegrityError: unsigned, unknown key, edited, wrong key...

    Args:
        path: the registry directory.
        create: create the directory (one level) if missing, and make an empty one a registry.
        max_model_bytes: refuse to store or load larger models (0 = the library's 2 GiB).
        max_metadata_bytes: refuse larger metadata JSON (0 = the library's 64 KiB).
        trust: public key files (``NAME.pub``); with any, only versions signed by one of them load
            (IntegrityError otherwise, naming the version and the reason).
        sign_key: private key file (``NAME.key``, mode 0600): put signs the manifest.
        encryption_key: 32-byte key file (mode 0600): put encrypts, load decrypts in memory.
        audit: create the audit log (``.audit.jsonl``) if missing; an existing one is always kept.
        actor: who the audit log names (a token id or user, never a secret); default "uid:<uid>".

    Names and aliases: 1..128 characters of [A-Za-z0-9._-], not starting with '.'; aliases
    start with a letter; "latest" always means the newest version.

    Thread safety: one Registry may be used from any number of threads; several processes may
    share the directory (the filesystem is the source of truth).
    """

    _what = "registry"

    _c_free = staticmethod(_free)
    _shareable = True  # the Python side keeps no per-object state: a copy shares the C registry

    def __init__(self, path: Union[str, "os.PathLike[str]"], create: bool = False, *,
                 trust: Optional[Sequence[PathLike]] = None, sign_key: Optional[PathLike] = None,
                 encryption_key: Optional[PathLike] = None, max_model_bytes: int = 0, max_metadata_bytes: int = 0,
                 audit: bool = False, actor: Optional[str] = None) -> None:
        self._h: Optional[CRef] = None
        o = RegistryOpts()
        _opts_init(ctypes.byref(o))
        o.create = 1 if create else 0
        o.max_model_bytes = int(max_model_bytes)
        o.max_metadata_bytes = int(max_metadata_bytes)
        if isinstance(trust, (str, bytes, os.PathLike)):
            raise TypeError("trust must be a list of public key files, not a single path")
        keys = [os.fsencode(t) for t in (trust or [])]
        arr = (ctypes.c_char_p * max(len(keys), 1))(*keys)  # kept alive until open returns (keys are read there)
        o.trust_keys = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        o.n_trust_keys = len(keys)
        o.sign_key = _path_or_none(sign_key)
        o.encryption_key = _path_or_none(encryption_key)
        o.audit = 1 if audit else 0
        o.actor = None if actor is None else _name(actor)
        out = ctypes.c_void_p()
        check(_open(to_bytes(os.fspath(path)), ctypes.byref(o), ctypes.byref(out)))
        self._adopt(out.value)
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return "<mlops.Registry %s%s>" % (getattr(self, "path", "?"), "" if self._h else " closed")

    def put(self, name: str, model: Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"],
            metadata: Optional[Dict[str, Any]] = None) -> int:
        """Store a new version of `name` and return its number.

        `model` is the serialized model (bytes) or a path to a model file; `metadata` an optional
        JSON-serializable dict kept in the version's manifest. Nothing is visible on failure.
        """
        meta = None if metadata is None else json.dumps(metadata).encode()
        v = ctypes.c_uint32(0)
        h = self.handle
        if isinstance(model, (bytes, bytearray, memoryview)):
            data = bytes(model)
            check(_put(h, _name(name), data, len(data), meta, ctypes.byref(v)))
        elif isinstance(model, (str, os.PathLike)):
            check(_put_file(h, _name(name), os.fsencode(model), meta, ctypes.byref(v)))
        else:
            raise TypeError("model must be bytes or a path, not %s" % type(model).__name__)
        return int(v.value)

    def resolve(self, name: str, ref: Ref = None) -> int:
        """The version number `ref` means: None or "latest" -> the newest, an int -> itself (checked to
        exist), a str -> that alias's target. NotFoundError when there is no such version."""
        h = self.handle
        v = ctypes.c_uint32(0)
        if ref is None:
            check(_latest(h, _name(name), ctypes.byref(v)))
        elif isinstance(ref, str):
            check(_resolve_alias(h, _name(name), _name(ref), ctypes.byref(v)))
        else:
            return int(json.loads(self._info(name, _version_arg(ref)))["version"])
        return int(v.value)

    def load(self, name: str, version: Ref = None, *, engine: str = "auto", n_threads: int = 1,
             missing: float = float("nan")) -> Model:
        """Load a verified version as an mlops.Model. `version`: None (latest), a number, or an alias.

        Raises NotFoundError (unknown name, version or alias), IntegrityError (stored bytes differ
        from the manifest's size or digest), FormatError (malformed manifest or model).
        """
        h = self.handle
        v = 0 if version is None else (_version_arg(version) if not isinstance(version, str) else None)
        if v is None:
            v = self.resolve(name, version)
        opts = make_opts(engine, n_threads, missing)
        out = ctypes.c_void_p()
        check(_load(h, _name(name), v, ctypes.byref(opts), ctypes.byref(out), None))
        return Model._from_handle(out.value)

    def versions(self, name: str) -> List[int]:
        """Existing versions of `name`, ascending. NotFoundError if it has none."""
        h = self.handle
        n = ctypes.c_size_t(0)
        for _ in range(8):  # another writer may add versions between sizing and reading
            cap = max(n.value, 1) + 16
            buf = (ctypes.c_uint32 * cap)()
            st = _versions(h, _name(name), buf, cap, ctypes.byref(n))
            if st != _ESHAPE:
                check(st)
                return [int(buf[i]) for i in range(n.value)]
        check(st)
        return []

    def _info(self, name: str, version: int) -> str:
        out = ctypes.c_void_p()
        check(_info(self.handle, _name(name), version, ctypes.byref(out)))
        try:
            return ctypes.string_at(out.value).decode()
        finally:
            mlops_free(out.value)

    def info(self, name: str, version: Ref = None) -> Dict[str, Any]:
        """The manifest of a version as a dict: name, version, size, digest ("blake2b-256:<hex>"),
        created, metadata (if any) and aliases (the aliases pointing at it)."""
        v = 0 if version is None else (self.resolve(name, version) if isinstance(version, str)
                                       else _version_arg(version))
        return json.loads(self._info(name, v))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point `alias` of `name` at an existing version (atomically replacing its old target)."""
        check(_set_alias(self.handle, _name(name), _name(alias), _version_arg(version)))

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove `alias` of `name`. NotFoundError if it does not exist."""
        check(_remove_alias(self.handle, _name(name), _name(alias)))

    def delete(self, name: str, version: int) -> None:
        """Delete a version. StateError while an alias points at it; its number is never reused."""
        check(_delete(self.handle, _name(name), _version_arg(version)))

    def gc(self, min_age_seconds: int = 3600) -> int:
        """Remove leftovers of interrupted operations and return how many files went: temporaries of
        dead writers, and the bytes of never-published versions last modified at least
        `min_age_seconds` ago (younger ones may belong to a put still running elsewhere; pass 0
        only when nothing else uses the registry). Published versions are never touched."""
        if isinstance(min_age_seconds, bool) or not isinstance(min_age_seconds, int):
            raise TypeError("min_age_seconds must be an int")
        if not 0 <= min_age_seconds <= 0xFFFFFFFF:
            raise InvalidArgumentError(-1, "registry: min_age_seconds must be in 0..4294967295")
        n = ctypes.c_size_t(0)
        check(_gc(self.handle, min_age_seconds, ctypes.byref(n)))
        return int(n.value)

    def verify(self, name: Optional[str] = None) -> Dict[str, Any]:
        """Check every published version of `name` (None = every model) against its manifest (size
        and BLAKE2b-256 digest). Returns {"checked": N, "problems": [{"name", "version", "error"}],
        "orphans": [{"name", "version", "reason"}]}; a damaged version is reported, not raised."""
        out = ctypes.c_void_p()
        check(_verify(self.handle, None if name is None else _name(name), ctypes.byref(out)))
        try:
            return json.loads(ctypes.string_at(out.value).decode())
        finally:
            mlops_free(out.value)

    def lineage(self, name: str, version: Ref = None) -> List[Dict[str, Any]]:
        """The lineage chain of a version (None = latest): a list of {"version", "created", "digest",
        "lineage"} from that version back to the first, following each "lineage"."parent"."""
        v = 0 if version is None else (self.resolve(name, version) if isinstance(version, str)
                                       else _version_arg(version))
        out = ctypes.c_void_p()
        check(_lineage(self.handle, _name(name), v, ctypes.byref(out)))
        try:
            return json.loads(ctypes.string_at(out.value).decode())
        finally:
            mlops_free(out.value)

    def audit_append(self, action: str, fields: Optional[Dict[str, Any]] = None, result: str = "ok", *,
                     actor: Optional[str] = None) -> None:
        """Append an entry (a host's own action) to the registry's audit log. StateError without a log."""
        f = None if fields is None else json.dumps(fields).encode()
        check(_audit_append(self.handle, None if actor is None else _name(actor), _name(action), f, _name(result)))

    def audit_verify(self) -> int:
        """Check the audit log's hash chain and return its number of entries; IntegrityError names the
        first line removed, edited or reordered; NotFoundError without a log."""
        n = ctypes.c_size_t(0)
        check(_audit_verify(self.handle, ctypes.byref(n)))
        return int(n.value)


__all__ = ["Registry", "RegistryOpts", "keygen"]
