"""Content hashes of files and folders: full, streaming, and cached by file identity.

Why full hashes: a stage cache that trusts a sample of a file (the old 3 x 4 MiB of anything over
256 MiB) reuses a truncated or edited ``model.safetensors`` as if it were intact. Every byte is
hashed here (sha256 through :func:`hashlib.file_digest`: on CPUs with SHA extensions it runs at
disk speed, faster than blake2b on the same machine; see ``benchmarks/bench_hashing.py``).

Why a cache: a rerun that checks a 64 GB student must not read 64 GB. A digest is remembered under
the file's identity ``(path, device, inode, size, mtime_ns, ctime_ns)``. Any write changes mtime
*and* ctime, and ctime cannot be set back by a user (``touch -d`` moves mtime only and bumps
ctime), so a cached digest is never served for changed bytes. The cache lives in memory and in one
small SQLite file (``$LIMO_RL_CACHE_DIR`` or ``~/.cache/limo_rl``), best effort: a cache that cannot
be read or written only costs a re-hash.

A folder hashes as its *manifest*: sorted ``relative name -> file digest`` (hidden files, stage
markers and set-aside folders skipped), so a changed, added or removed file changes it and the manifest says which.

Functions over local paths only (pure standard library); other storage backends map to these.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

HASH_ALGORITHM = "sha256"
STAGE_FILES = ("_STAGE_DONE.json", "_STAGE_INPUT.json")
STALE_PREFIX = "stale-"  # a folder of set-aside work (limo_rl.run.stagecache.set_aside): never part of a content
_MEMO: dict[tuple, str] = {}
_LOCK = threading.Lock()
_DB: sqlite3.Connection | None = None
_DB_PATH: Path | None = None


def cache_dir() -> Path:
    return Path(os.environ.get("LIMO_RL_CACHE_DIR") or Path.home() / ".cache" / "limo_rl")


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _db() -> sqlite3.Connection | None:
    global _DB, _DB_PATH
    path = cache_dir() / "file-hashes.sqlite3"
    if _DB is not None and _DB_PATH == path:
        return _DB
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=2.0, check_same_thread=False, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS h (k TEXT PRIMARY KEY, digest TEXT NOT NULL)")
    except (sqlite3.Error, OSError) as exc:
        log.debug("hash cache %s unusable (%s); hashing without it", path, exc)
        return None
    _DB, _DB_PATH = db, path
    return db


def _cache_get(ident: tuple) -> str | None:
    if ident in _MEMO:
        return _MEMO[ident]
    with _LOCK:
        db = _db()
        if db is None:
            return None
        try:
            row = db.execute("SELECT digest FROM h WHERE k = ?", (repr(ident),)).fetchone()
        except sqlite3.Error:
            return None
    if row:
        _MEMO[ident] = row[0]
        return row[0]
    return None


def _cache_put(ident: tuple, digest: str) -> None:
    _MEMO[ident] = digest
    with _LOCK:
        db = _db()
        if db is None:
            return
        with contextlib.suppress(sqlite3.Error):
            db.execute("INSERT OR REPLACE INTO h (k, digest) VALUES (?, ?)", (repr(ident), digest))


def hash_bytes_of(path: str | Path) -> str:
    """The digest of every byte of ``path``, read now (no cache)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, HASH_ALGORITHM).hexdigest()


def hash_file(path: str | Path, *, use_cache: bool = True) -> str:
    """The full content digest of a file; cached by the file's identity (see the module docstring)."""
    path = Path(path)
    if not use_cache:
        return hash_bytes_of(path)
    ident = _identity(path)
    digest = _cache_get(ident)
    if digest is not None:
        return digest
    digest = hash_bytes_of(path)
    if _identity(path) == ident:  # the file did not change while it was read
        _cache_put(ident, digest)
    return digest


def _visible_files(root: Path) -> Iterable[Path]:
    """A folder's files that make its content: hidden files, stage markers, set-aside folders (``stale-*``) and
    the top-level ``README.md`` left out. That README is the folder's Hub card: it describes the output and is
    rewritten as later stages learn about it (a student's card gains its evaluation), which must not make the
    stage that made it rerun."""
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or f.name in STAGE_FILES or rel.as_posix() == "README.md":
            continue
        if any(part.startswith(STALE_PREFIX) for part in rel.parts[:-1]):
            continue
        yield f


def file_manifest(path: str | Path) -> dict[str, str]:
    """``relative name -> digest`` of a folder's files (a file: ``{"": digest}``); FileNotFoundError if absent."""
    path = Path(path)
    if path.is_file():
        return {"": hash_file(path)}
    if not path.is_dir():
        raise FileNotFoundError(path)
    files = list(_visible_files(path))
    workers = min(len(files), os.cpu_count() or 1, 8)
    if workers > 1 and sum(f.stat().st_size for f in files) > (64 << 20):
        # hashlib releases the GIL on large reads: the shards of a model hash on several cores at once
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="limo-hash") as pool:
            digests = list(pool.map(hash_file, files))
    else:
        digests = [hash_file(f) for f in files]
    return {f.relative_to(path).as_posix(): d for f, d in zip(files, digests, strict=True)}


def manifest_digest(manifest: dict[str, str]) -> str:
    """One digest for a manifest (the same formula as before full hashing, so folder digests stay stable)."""
    if list(manifest) == [""]:
        return manifest[""]
    h = hashlib.sha256()
    for rel, digest in sorted(manifest.items()):
        h.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


def hash_path(path: str | Path) -> str:
    """Digest of a file, or of a folder's manifest of file digests."""
    return manifest_digest(file_manifest(path))


def content_key(path: str | Path) -> dict[str, str]:
    """What a cache key should hold for an input named by path: its content digest when it exists
    locally (a file or a model folder), else the name itself (a hub id, a URI resolved elsewhere)."""
    p = Path(os.path.expanduser(str(path)))
    try:
        if p.is_file() or p.is_dir():
            return {"path": str(path), "content": hash_path(p)}
    except OSError:
        pass
    return {"name": str(path)}
