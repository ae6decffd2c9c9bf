"""A run folder on an object store (``run.output_dir: s3://bucket/runs``, ``gs://...``): commit and pull.

An object store has no rename and no folders, so the run is not *written* there file by file. The
driver works in a node-local **working copy** (``$LIMO_RL_RUN_CACHE``, default
``~/.cache/limo_rl/runs/<name>-<hash of the run URI>/``: a cache, not a run folder; delete it any
time) with every local guarantee unchanged (atomic writes, stage markers, sealed hashes, resume),
and the store holds the run's **committed** state:

* :meth:`RunStore.commit_stage`: a finished stage uploads its files (unchanged ones are not sent
  again; objects of the stage no longer in the working copy are removed), then its marker
  ``_STAGE_DONE.json`` **last**: the object store's write-then-rename. A stage whose marker is not
  in the store is not done, whatever else is there; :meth:`RunStore.uncommit_stage` removes the
  marker when a stage starts again, so a half-rewritten stage is never taken for the old one.
* :meth:`RunStore.pull`: on start (or resume on a fresh machine) the run's records (config,
  manifest) and every committed stage come down into the working copy; a local stage that differs
  from its committed copy is set aside first (kept, as :mod:`limo_rl.stagecache` does), and a local
  marker the store does not have is cleared (that stage is redone: its commit never finished).
* :class:`StoreLease`: one driver per run. A lease object ``<run>/.lease.json`` names the holder
  (pid, host, start) and is renewed by a heartbeat; another driver is refused while it is fresh.
  A lease left by a killed driver is taken over once its heartbeat is older than the TTL
  (``LIMO_RL_LEASE_TTL_S``, default 120 s), or at once when the holder was on this host and is gone.
  Clocks of the drivers' machines must roughly agree (NTP); an object store offers no flock.

Set-aside (``stale-*``) folders stay in the working copy of the machine that set them aside; they
are never uploaded and never removed from the store. Endpoint and credentials come from the
standard environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``GOOGLE_APPLICATION_CREDENTIALS``...)
through fsspec (s3fs, gcsfs), as for :mod:`limo_rl.modelstore`; secret values are registered with
:mod:`limo_rl.redact` and never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from limo_rl.artifacts import (
    STAGE_MARKER,
    atomic_write_bytes,
    clear_stage_marker,
    read_stage_marker,
    stage_decision,
)
from limo_rl.errors import LimoError
from limo_rl.modelstore import OBJECT_STORE_SCHEMES, cache_root, is_object_store_uri
from limo_rl.procs import identity, pid_alive
from limo_rl.redact import redact, register_env_secrets
from limo_rl.stagecache import STALE_PREFIX, set_aside

log = logging.getLogger(__name__)

WORK_ENV = "LIMO_RL_RUN_CACHE"
TTL_ENV = "LIMO_RL_LEASE_TTL_S"
LEASE = ".lease.json"
RECORDS = ("config.yaml", "manifest.json")  # run-level files a resume needs (the report is remade)
# A stage's folders kept in the store only: training checkpoints (hundreds of GB each at 32B). A commit never
# deletes them from the store and a pull never brings them to a working copy; a training worker fetches the one
# checkpoint it resumes from (limo_rl.train.store_checkpoints).
STORE_ONLY = ("checkpoints",)
_PACKAGES = {"s3": "s3fs", "gs": "gcsfs"}
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

__all__ = ["RunStore", "RunStoreError", "StoreLease", "download_tree", "is_object_store_uri", "put_file", "read_json", "storage_for",
           "upload_tree", "work_root"]


class RunStoreError(LimoError):
    """The run's object store cannot be used (no package, no bucket, no credentials, held by another driver)."""


@contextlib.contextmanager
def store_errors(uri: str, doing: str) -> Iterator[None]:
    """A store that cannot be reached (no bucket, no credentials, endpoint down) -> one line, exit 2."""
    try:
        yield
    except LimoError:
        raise
    except Exception as exc:  # s3fs/gcsfs/botocore raise a zoo of types; the user needs one line
        raise RunStoreError(f"run.output_dir {uri}: cannot {doing} ({type(exc).__name__}: "
                            f"{redact(str(exc)).splitlines()[0][:300] if str(exc) else ''}); check the bucket, "
                            "AWS_ENDPOINT_URL and the credentials in the environment") from None


def work_root() -> Path:
    """Where working copies of object-store runs live on this node (a cache, never a run folder)."""
    return Path(os.environ.get(WORK_ENV) or cache_root().parent / "runs")


def filesystem(uri: str) -> tuple[Any, str]:
    """(fsspec filesystem, path without the scheme) of an object-store URI."""
    scheme = uri.partition("://")[0]
    if scheme not in OBJECT_STORE_SCHEMES:
        raise RunStoreError(f"{uri}: not an object-store URI (known: {', '.join(s + '://' for s in OBJECT_STORE_SCHEMES)})")
    register_env_secrets(SECRET_ENV)
    try:
        import fsspec

        fs, root = fsspec.core.url_to_fs(uri)
    except ImportError:
        raise RunStoreError(f"{uri}: needs {_PACKAGES[scheme]}: pip install 'limo-rl[objectstore]'") from None
    return fs, root.rstrip("/")


def _hidden_temp(rel: str) -> bool:
    """An atomic writer's temp file (``.name.xxx.tmp``, ``.model.tmp/``): never part of a commit."""
    return any(p.startswith(".") and (".tmp" in p or ".old-" in p) for p in rel.split("/"))


def _local_files(folder: Path) -> dict[str, Path]:
    """Relative path -> file of what a stage commit uploads (set-aside folders and temp files left out)."""
    out = {}
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder).as_posix()
        if f.is_file() and not rel.startswith(STALE_PREFIX) and not _hidden_temp(rel):
            out[rel] = f
    return out


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _same(info: dict[str, Any] | None, local: Path) -> bool:
    """Does the object described by ``info`` hold the bytes of ``local``? (size, then a single-part ETag = md5)."""
    if not info or int(info.get("size") or -1) != local.stat().st_size:
        return False
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    return bool(etag) and "-" not in etag and etag == _md5(local)


def _listing(fs: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """Relative key -> object info of everything under ``prefix`` (nothing when it does not exist)."""
    fs.invalidate_cache(prefix)  # another process (a training worker, the last driver) may have written
    try:
        found = fs.find(prefix, detail=True)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # no bucket, no credentials, endpoint down
        raise RunStoreError(f"{prefix}: cannot list the objects there ({type(exc).__name__}: {exc})") from None
    return {k[len(prefix):].lstrip("/"): v for k, v in found.items()
            if v.get("type") != "directory" and k[len(prefix):].lstrip("/")}


def upload_tree(local: Path, uri: str, *, delete_extra: bool = False, last: str | None = None) -> int:
    """Upload the files under ``local`` to ``uri`` (unchanged objects are not sent again); returns the count sent.

    ``last``: a relative path uploaded after everything else (a done-marker: present only once all is
    there). ``delete_extra``: remove objects under ``uri`` that are not in ``local`` (never ``stale-*``
    ones), before ``last`` goes up."""
    fs, root = filesystem(uri)
    have = _listing(fs, root)
    files = _local_files(local)
    sent = 0
    for rel, f in files.items():
        if rel != last and not _same(have.get(rel), f):
            fs.put_file(str(f), f"{root}/{rel}")
            sent += 1
    if delete_extra:
        extra = [f"{root}/{rel}" for rel in have if rel not in files and not rel.startswith(STALE_PREFIX)
                 and rel.split("/", 1)[0] not in STORE_ONLY]
        if extra:
            fs.rm(extra)
    if last is not None and last in files:
        fs.put_file(str(files[last]), f"{root}/{last}")  # the commit point
        sent += 1
    fs.invalidate_cache(root)
    return sent


def put_file(local: Path, uri: str) -> None:
    """Upload one file to ``uri`` (nothing when it does not exist)."""
    if Path(local).is_file():
        fs, key = filesystem(uri)
        fs.put_file(str(local), key)


def read_json(uri: str) -> dict[str, Any] | None:
    """A small JSON object in the store (None: absent or not a JSON object)."""
    fs, key = filesystem(uri)
    fs.invalidate_cache(key)
    try:
        info = json.loads(fs.cat_file(key))
    except (FileNotFoundError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def download_tree(uri: str, local: Path, *, skip: Sequence[str] = (), skip_dirs: Sequence[str] = STORE_ONLY) -> int:
    """Download the objects under ``uri`` into ``local`` (each by temp file and rename; files already
    identical are kept), except ``skip`` and the top-level folders ``skip_dirs``; returns the count fetched."""
    fs, root = filesystem(uri)
    got = 0
    for rel, info in _listing(fs, root).items():
        if rel in skip or rel.startswith(STALE_PREFIX) or rel.split("/", 1)[0] in skip_dirs:
            continue
        dest = local / rel
        if dest.is_file() and _same(info, dest):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        fs.get_file(f"{root}/{rel}", str(tmp))
        os.replace(tmp, dest)
        got += 1
    return got


def folders_holding(uri: str, name: str) -> list[str]:
    """The folders directly under ``uri`` that hold an object ``name`` (e.g. checkpoints with their marker)."""
    fs, root = filesystem(uri)
    return sorted(rel.split("/")[0] for rel in _listing(fs, root) if rel.count("/") == 1 and rel.endswith(f"/{name}"))


def remove_folders(uri: str, names: Sequence[str]) -> None:
    """Delete the folders ``names`` directly under ``uri``, every object in them."""
    if names:
        fs, root = filesystem(uri)
        fs.rm([f"{root}/{n}" for n in names], recursive=True)
        fs.invalidate_cache(root)


def storage_for(uri: str) -> tuple[str, Any]:
    """``(path, pyarrow filesystem)`` of an object-store URI, as Ray Train's ``RunConfig(storage_path=...,
    storage_filesystem=...)`` wants them (the path without its scheme)."""
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    fs, root = filesystem(uri)
    return root, PyFileSystem(FSSpecHandler(fs))


class RunStore:
    """One run on an object store (``uri``) and its node-local working copy (``local``)."""

    def __init__(self, uri: str, local: Path | None = None):
        self.uri = uri.rstrip("/")
        self.fs, self.root = filesystem(self.uri)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", self.uri.rsplit("/", 1)[-1])[:40] or "run"
        self.local = local or work_root() / f"{name}-{hashlib.sha256(self.uri.encode()).hexdigest()[:16]}"

    def __repr__(self) -> str:
        return f"RunStore({self.uri} <-> {self.local})"

    # ------------------------------------------------------------------ names
    def rel(self, path: str | Path) -> str:
        return Path(path).resolve().relative_to(self.local.resolve()).as_posix()

    def uri_of(self, path: str | Path) -> str:
        """The store URI of a path in the working copy."""
        rel = self.rel(path)
        return self.uri if rel == "." else f"{self.uri}/{rel}"

    def local_of(self, uri: str) -> Path:
        """The working-copy path of a URI in this run (inverse of :meth:`uri_of`)."""
        uri = uri.rstrip("/")
        if uri != self.uri and not uri.startswith(self.uri + "/"):
            raise RunStoreError(f"{uri} is not in the run {self.uri}")
        return self.local / uri[len(self.uri):].lstrip("/")

    def contains(self, uri: str) -> bool:
        return uri.rstrip("/") == self.uri or uri.startswith(self.uri + "/")

    # ------------------------------------------------------------------ the protocol
    def committed(self) -> dict[str, bytes]:
        """Stage (relative folder) -> its marker's bytes, for every stage committed to the store."""
        out = {}
        for rel in _listing(self.fs, self.root):
            parts = rel.split("/")
            if parts[-1] == STAGE_MARKER and not any(p.startswith(STALE_PREFIX) for p in parts):
                out["/".join(parts[:-1])] = self.fs.cat_file(f"{self.root}/{rel}")
        return out

    def commit_stage(self, stage_dir: Path) -> int:
        """Upload a finished stage, then its marker last. Returns the files sent (marker included)."""
        marker = Path(stage_dir) / STAGE_MARKER
        if not marker.is_file():
            raise RunStoreError(f"{stage_dir}: not done, nothing to commit")
        uri = self.uri_of(stage_dir)
        sent = upload_tree(Path(stage_dir), uri, delete_extra=True, last=STAGE_MARKER)
        log.info("committed %s to %s (%d file(s) sent)", self.rel(stage_dir), uri, sent)
        return sent

    def uncommit_stage(self, stage_dir: Path) -> None:
        """A stage starts (again): its committed marker goes first, so it is not done in the store."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{self.root}/{self.rel(stage_dir)}/{STAGE_MARKER}")

    def push_file(self, path: Path) -> None:
        """Upload one run-level record (manifest, config, report, a model card) to its place in the store."""
        if Path(path).is_file():
            self.fs.put_file(str(path), f"{self.root}/{self.rel(path)}")

    def pull(self) -> dict[str, list[str]]:
        """Bring the committed state into the working copy; returns the stages pulled and those reset."""
        with store_errors(self.uri, "read the run's committed state"):
            return self._pull()

    def _pull(self) -> dict[str, list[str]]:
        self.local.mkdir(parents=True, exist_ok=True)
        for name in RECORDS:
            with contextlib.suppress(FileNotFoundError):
                atomic_write_bytes(self.local / name, self.fs.cat_file(f"{self.root}/{name}"))
        committed = self.committed()
        pulled, reset = [], []
        for rel, marker in sorted(committed.items()):
            d = self.local / rel
            info = json.loads(marker)
            local = read_stage_marker(d)
            if local == info and not stage_decision(d, info.get("input_hash", "")).run:
                continue  # this working copy already holds the committed stage, intact
            if d.is_dir():
                set_aside(d, (local or {}).get("input_hash"), reason="differs from the copy committed to the store")
            download_tree(f"{self.uri}/{rel}", d, skip=(STAGE_MARKER,))
            atomic_write_bytes(d / STAGE_MARKER, marker)  # last, as in the store
            pulled.append(rel)
        for m in sorted(self.local.rglob(STAGE_MARKER)):
            rel = m.parent.relative_to(self.local).as_posix()
            if rel not in committed and not any(p.startswith(STALE_PREFIX) for p in rel.split("/")):
                clear_stage_marker(m.parent)  # its commit never finished: not done (partial work is kept)
                reset.append(rel)
        if pulled or reset:
            log.info("%s: pulled %d committed stage(s) into %s; %d uncommitted stage(s) to redo",
                     self.uri, len(pulled), self.local, len(reset))
        return {"pulled": pulled, "reset": reset}

    def ray_storage(self, path: Path) -> tuple[str, Any]:
        """Ray Train's ``(storage_path, storage_filesystem)`` for a working-copy folder: its place in the
        store, through the same fsspec filesystem (one configuration: the standard environment)."""
        return storage_for(self.uri_of(path))

    def lease(self, argv: Sequence[str], ttl_s: float | None = None) -> StoreLease:
        return StoreLease(self, argv, ttl_s)


class StoreLease:
    """One driver per object-store run: a lease object with owner and heartbeat (see the module docstring)."""

    def __init__(self, store: RunStore, argv: Sequence[str], ttl_s: float | None = None):
        self.store, self.argv = store, list(argv)
        self.ttl = float(ttl_s if ttl_s is not None else os.environ.get(TTL_ENV) or 120.0)
        self.key = f"{store.root}/{LEASE}"
        self.token = os.urandom(8).hex()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> dict[str, Any] | None:
        try:
            info = json.loads(self.store.fs.cat_file(self.key))
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def _write(self) -> None:
        record = {**identity(), "token": self.token, "argv": self.argv, "heartbeat_at": time.time(), "ttl_s": self.ttl}
        self.store.fs.pipe_file(self.key, json.dumps(record).encode())

    def _free(self, held: dict[str, Any]) -> str | None:
        """Why a lease record may be taken over (None: it is held)."""
        if not held or held.get("token") == self.token:
            return "unreadable" if not held else "ours"
        age = time.time() - float(held.get("heartbeat_at") or 0)
        if age > float(held.get("ttl_s") or self.ttl):
            return f"its heartbeat is {age:.0f} s old"
        import socket

        with contextlib.suppress(KeyError, TypeError, ValueError):
            if held.get("host") == socket.gethostname() and not pid_alive(int(held["pid"]), held.get("start_ticks")):
                return "its process is gone"
        return None

    def acquire(self) -> None:
        with store_errors(self.store.uri, "take the run's lease"):
            self._acquire()

    def _acquire(self) -> None:
        held = self.read()
        if held is not None:
            why = self._free(held)
            if why is None:
                cmd = " ".join(held.get("argv") or [])[:200]
                raise RunStoreError(f"{self.store.uri} is being written by another driver (pid {held.get('pid')} on "
                                    f"{held.get('host')}: {cmd}); wait for it to finish (one driver per run)")
            log.warning("%s: taking over the lease of pid %s on %s (%s)", self.store.uri, held.get("pid"),
                        held.get("host"), why)
        self._write()
        time.sleep(min(1.0, self.ttl / 10))  # two drivers that raced: the last write wins, the other backs off
        if (self.read() or {}).get("token") != self.token:
            raise RunStoreError(f"{self.store.uri}: another driver took the run's lease at the same moment")
        self._thread = threading.Thread(target=self._beat, name="limo-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                if (self.read() or {}).get("token") != self.token:
                    log.error("%s: the run's lease was taken over by another driver", self.store.uri)
                    return
                self._write()
            except OSError as exc:  # a blip of the store: the next beat tries again
                log.warning("%s: lease heartbeat failed (%s)", self.store.uri, type(exc).__name__)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with contextlib.suppress(OSError):
            if (self.read() or {}).get("token") == self.token:
                self.store.fs.rm_file(self.key)

    @contextlib.contextmanager
    def held(self) -> Iterator[StoreLease]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()
