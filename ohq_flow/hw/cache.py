"""Content-addressed cache of per-layer hardware costs, shared between runs.

The key is the SHA-256 of the canonical JSON of everything that determines a cost (layer
subgraph hash incl. weights, w_bits, a_bits, generator and measurer name + settings, part,
clock, tool version): :func:`make_key`. An entry is ``root/<key[:2]>/<key>.json`` holding the
row and a checksum of it; the job's log is copied next to it (``<key>.log``) so the row's
``log_path`` outlives the run directory. Both files are written atomically (log first, entry
last), so a killed writer leaves either nothing or a complete entry.

A corrupt entry (bad JSON, truncated, checksum mismatch, wrong key, unknown fields) is logged
with :func:`logging.warning` naming the file, removed, and treated as a miss, so the cost is
recomputed, as is an entry whose row holds an impossible number (negative, NaN, infinite, or a
design with no resources at all). Only rows with status ``ok`` are cached; failures are retried
next run. Concurrent writers of one key are safe (each writes its own temporary file and renames
it over the entry). A miss being computed by another runner is *claimed* by it
(``<key>.lock`` holding ``host pid``, refreshed while it works), so
:func:`ohq_flow.hw.jobs.run_jobs` waits for it instead of computing it twice; the claim of a
dead process is taken over.

Other results keyed by content (e.g. a Yosys run of a whole design) are *records*: a JSON object
under ``root/<kind>/<key[:2]>/<key>.json`` with the same checksum, atomic write and
drop-when-corrupt rules (:meth:`CostCache.get_record` / :meth:`CostCache.put_record`).

The default root is ``$OHQ_CACHE_DIR`` or ``~/.cache/ohq_flow`` (the variable is read, never
set). On a cluster, put the cache on a filesystem every worker and the runner can see.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, NamedTuple

from ohq_flow.fileio import atomic_write_bytes, atomic_write_text, sha256_bytes
from ohq_flow.tables.costs import STATUS_OK, CostRow, row_from_dict

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Bumped when the entry layout or the meaning of a row changes; part of every key."""

_ROW_FIELDS = {f.name for f in fields(CostRow)}
MAX_ENTRY_BYTES = 1 << 20


class CacheStats(NamedTuple):
    entries: int
    bytes: int


def default_cache_dir() -> Path:
    """``$OHQ_CACHE_DIR`` if set and non-empty, else ``~/.cache/ohq_flow``."""
    env = os.environ.get("OHQ_CACHE_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/ohq_flow").expanduser()


def _canonical(obj: Any) -> Any:
    """Reduce ``obj`` to JSON types; reject what has no stable text form."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise ValueError(f"cache key part {obj!r} is not a finite number")
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    raise TypeError(f"cache key part of type {type(obj).__name__} has no canonical JSON form; "
                    "pass str/int/float/bool/None, lists or dicts of them (hash big objects first)")


def _canonical_bytes(obj: Any) -> bytes:
    return json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False).encode("ascii")


def make_key(**parts: Any) -> str:
    """SHA-256 hex of the canonical JSON of ``parts`` (plus the cache format version)."""
    return sha256_bytes(_canonical_bytes({"_cache_format": CACHE_FORMAT, **parts}))


def _checksum(payload: dict) -> str:
    return sha256_bytes(_canonical_bytes(payload))


class _Corrupt(Exception):
    """An entry that must not be trusted; the message says why."""


class CostCache:
    """The cache directory; see the module docstring for the layout and guarantees."""

    make_key = staticmethod(make_key)

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"CostCache({str(self.root)!r})"

    def entry_path(self, key: str) -> Path:
        """Where the entry for ``key`` lives (whether or not it exists)."""
        _check_key(key)
        return self.root / key[:2] / f"{key}.json"

    def record_path(self, kind: str, key: str) -> Path:
        """Where the record ``kind``/``key`` lives (``kind``: a lower-case word, e.g. ``designs``)."""
        _check_key(key)
        if not kind.isidentifier() or not kind.islower():
            raise ValueError(f"record kind {kind!r} must be a lower-case word")
        return self.root / kind / key[:2] / f"{key}.json"

    def get_record(self, kind: str, key: str) -> dict | None:
        """The record's JSON object, or None on a miss or a corrupt entry (logged and removed)."""
        path = self.record_path(kind, key)
        try:
            entry = json.loads(path.read_bytes()[:MAX_ENTRY_BYTES + 1].decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            entry = exc
        payload = entry.get("payload") if isinstance(entry, dict) else None
        if not (isinstance(payload, dict) and entry.get("format") == CACHE_FORMAT and entry.get("key") == key
                and _checksum(payload) == entry.get("sha256")):
            log.warning("cache: dropping corrupt record %s; it will be recomputed", path)
            path.unlink(missing_ok=True)
            return None
        return payload

    def put_record(self, kind: str, key: str, payload: dict) -> Path:
        """Store a JSON object as record ``kind``/``key`` (atomically, with its checksum)."""
        entry = {"format": CACHE_FORMAT, "key": key, "payload": payload, "sha256": _checksum(payload)}
        return atomic_write_text(self.record_path(kind, key), json.dumps(entry, indent=1, allow_nan=False) + "\n")

    def drop_record(self, kind: str, key: str) -> None:
        self.record_path(kind, key).unlink(missing_ok=True)

    def log_path(self, key: str) -> Path:
        """Where the cached copy of the job log for ``key`` lives."""
        return self.entry_path(key).with_suffix(".log")

    def get(self, key: str) -> CostRow | None:
        """The cached row (``cached=True``), or None on a miss or a corrupt entry (removed)."""
        path = self.entry_path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:                   # a directory, a dangling or looping symlink, no permission
            log.warning("cost cache: cannot read entry %s (%s); it will be recomputed", path, exc.strerror)
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            log.warning("cost cache: entry %s is not a regular file; it will be recomputed", path)
            return None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_ENTRY_BYTES + 1)
        try:
            row = _decode(data, key)
        except _Corrupt as exc:
            log.warning("cost cache: dropping corrupt entry %s (%s); it will be recomputed", path, exc)
            _remove_if_unchanged(path, st)
            return None
        row.cached = True
        row.cache_key = key
        return row

    def put(self, key: str, row: CostRow, log_path: str | os.PathLike | None = None) -> Path | None:
        """Store an ok row (and a copy of its log); returns the entry path, None if not cacheable.

        ``log_path`` defaults to ``row.log_path``; a missing log file is skipped, not an error.
        """
        if row.status != STATUS_OK:
            return None
        path = self.entry_path(key)
        payload = row.to_dict()
        payload.update(cached=False, cache_key=key)
        src = Path(log_path) if log_path else (Path(row.log_path) if row.log_path else None)
        payload["log_path"] = self._store_log(key, src)
        entry = {"format": CACHE_FORMAT, "key": key, "payload": payload, "sha256": _checksum(payload)}
        atomic_write_text(path, json.dumps(entry, indent=1, allow_nan=False) + "\n")
        return path

    def _store_log(self, key: str, src: Path | None) -> str:
        if src is None:
            return ""
        dst = self.log_path(key)
        if src.resolve() == dst.resolve():
            return str(dst)
        try:
            data = src.read_bytes()
        except OSError as exc:
            log.warning("cost cache: log %s of entry %s not copied (%s)", src, key[:12], exc)
            return str(src)
        atomic_write_bytes(dst, data)
        return str(dst)

    # ------------------------------------------------------------------ claims of cache misses
    def lock_path(self, key: str) -> Path:
        """The claim file of ``key``: ``<host> <pid>`` of the runner computing it."""
        return self.entry_path(key).with_suffix(".lock")

    def claim(self, key: str) -> bool:
        """Claim the computation of a missing ``key``; False when a live process holds it.

        A claim whose holder is gone (same host and its pid dead, or not refreshed by
        :meth:`refresh` for :data:`STALE_CLAIM_S`) is taken over.
        """
        path = self.lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            except FileExistsError:
                if not _claim_is_stale(path):
                    return False
                log.info("cost cache: taking over the stale claim %s (%s)", path, _read_claim(path))
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{socket.gethostname()} {os.getpid()}\n")
            return True
        return False

    def holder(self, key: str) -> str:
        """``host pid`` of the claim on ``key`` ("" if none)."""
        return _read_claim(self.lock_path(key))

    def release(self, key: str) -> None:
        """Drop our claim on ``key`` (a claim by another process is left alone)."""
        path = self.lock_path(key)
        if _read_claim(path) == f"{socket.gethostname()} {os.getpid()}":
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def refresh(self, keys) -> None:
        """Touch our claims on ``keys`` (a claim not refreshed for STALE_CLAIM_S is stale)."""
        for key in keys:
            try:
                os.utime(self.lock_path(key))
            except OSError:
                pass

    def stats(self) -> CacheStats:
        """Number of entries and bytes on disk (entries plus logs)."""
        entries = size = 0
        if not self.root.is_dir():
            return CacheStats(0, 0)
        for sub in self.root.iterdir():
            if not (sub.is_dir() and len(sub.name) == 2):
                continue
            for f in sub.iterdir():
                if f.name.startswith("."):
                    continue
                try:
                    size += f.stat().st_size
                except FileNotFoundError:
                    continue
                entries += f.suffix == ".json"
        return CacheStats(entries, size)


def _check_key(key: str) -> None:
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError(f"cache key {key!r} is not a SHA-256 hex digest (use make_key)")


def _decode(data: bytes, key: str) -> CostRow:
    """Parse and verify one entry; raise :class:`_Corrupt` on any problem."""
    try:
        entry = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Corrupt(f"not valid JSON: {exc}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("payload"), dict):
        raise _Corrupt("no payload object")
    if entry.get("format") != CACHE_FORMAT:
        raise _Corrupt(f"format {entry.get('format')!r}, expected {CACHE_FORMAT}")
    if entry.get("key") != key:
        raise _Corrupt(f"entry is for key {str(entry.get('key'))[:16]}..., not this key")
    payload = entry["payload"]
    try:
        ok = _checksum(payload) == entry.get("sha256")
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise _Corrupt("checksum mismatch")
    unknown = set(payload) - _ROW_FIELDS
    if unknown or payload.get("status") != STATUS_OK:
        raise _Corrupt(f"unknown fields {sorted(unknown)}" if unknown else "row status is not ok")
    try:
        row = row_from_dict(payload, "entry")
    except ValueError as exc:
        raise _Corrupt(str(exc)) from None
    resources = [getattr(row, m) for m in ("lut", "ff", "dsp", "bram18", "uram")]
    if row.lut == 0 and all(v in (0, None) for v in resources) and row.source != "board":
        raise _Corrupt("a design that uses no resources at all (LUT, FF, DSP and BRAM all 0)")
    return row


STALE_CLAIM_S = 120.0


def _read_claim(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(256).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_is_stale(path: Path) -> bool:
    """True when the claim's holder is gone: dead pid on this host, or no refresh for STALE_CLAIM_S."""
    try:
        age = time.time() - os.stat(path, follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return True
    if age > STALE_CLAIM_S:
        return True
    parts = _read_claim(path).split()
    if len(parts) == 2 and parts[0] == socket.gethostname() and parts[1].isdigit():
        return not _pid_alive(int(parts[1]))
    return False


def _remove_if_unchanged(path: Path, st: os.stat_result) -> None:
    """Remove ``path`` unless another process has replaced it since we read it."""
    try:
        now = os.stat(path)
        if (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns):
            os.unlink(path)
    except FileNotFoundError:
        pass
