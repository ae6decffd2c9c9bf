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
  from its committed copy is set aside first (kept, as :mod:`limo_rl.run.stagecache` does), and a local
  marker the store does not have is cleared (that stage is redone: its commit never finished).
* :meth:`RunStore.commit_part`: a long stage (generate) commits each finished part (a chain shard)
  as it lands, after a small record ``_STAGE_PARTIAL.json`` naming the stage's input hash. A part is
  one object, written whole or not at all, and verifiable on its own (a shard's name and metadata
  carry its key and its rows are counted on resume); the stage's marker still goes last, and its
  commit removes the partial record. :meth:`RunStore.pull` brings the committed parts of a stage
  that is not done into a fresh working copy, so a stage killed on a preempted node resumes at the
  shard, not at shard 0.
* one driver per run: :class:`limo_rl.run.lease.StoreLease` (a lease object with a heartbeat). While
  a driver holds it (``holder``), every commit reads the lease again first and raises
  :class:`limo_rl.run.lease.LeaseLostError` when another driver took it over.

Set-aside (``stale-*``) folders stay in the working copy of the machine that set them aside; they
are never uploaded and never removed from the store. Endpoint and credentials come from the
standard environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``GOOGLE_APPLICATION_CREDENTIALS``...)
through fsspec (:mod:`limo_rl.run.objectfs`, as for :mod:`limo_rl.run.modelstore`); secrets are registered with
:mod:`limo_rl.console.redact` and never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from limo_rl.console.redact import redact, register_env_secrets
from limo_rl.errors import LimoError
from limo_rl.run.artifacts import (
    STAGE_MARKER,
    atomic_write_bytes,
    clear_stage_marker,
    read_stage_marker,
    stage_decision,
)
from limo_rl.run.layout import CHECKPOINTS, CONFIG, MANIFEST
from limo_rl.run.modelstore import cache_root
from limo_rl.run.objectfs import (
    OBJECT_STORE_SCHEMES,
    is_object_store_uri,
    list_objects,
    open_filesystem,
    same_bytes,
)
from limo_rl.run.produced import record_of
from limo_rl.run.stagecache import STAGE_INPUT, STALE_PREFIX, previous_input_hash, set_aside

log = logging.getLogger(__name__)

WORK_ENV = "LIMO_RL_RUN_CACHE"
PARTIAL = "_STAGE_PARTIAL.json"  # in the store only: a stage not done whose finished parts are committed
RECORDS = (CONFIG, MANIFEST)  # run-level files a resume needs (the report is remade)
# A stage's folders kept in the store only: training checkpoints (hundreds of GB each at 32B). A commit never
# deletes them from the store and a pull never brings them to a working copy; a training worker fetches the one
# checkpoint it resumes from (limo_rl.train.store_checkpoints).
STORE_ONLY = (CHECKPOINTS,)
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

__all__ = ["PARTIAL", "RunStore", "RunStoreError", "download_tree", "is_object_store_uri", "put_file", "read_json", "storage_for",
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
    fs, root = open_filesystem(uri, lambda _, package: RunStoreError(
        f"{uri}: needs {package}: pip install 'limo-rl[objectstore]'"))
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


def _listing(fs: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """Relative key -> object info of everything under ``prefix`` (nothing when it does not exist)."""
    try:  # fresh: another process (a training worker, the last driver) may have written
        return {rel: v for rel, v in list_objects(fs, prefix).items() if rel}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # no bucket, no credentials, endpoint down
        raise RunStoreError(f"{prefix}: cannot list the objects there ({type(exc).__name__}: {exc})") from None


def upload_tree(local: Path, uri: str, *, delete_extra: bool = False, last: str | None = None,
                before_last: Callable[[], None] | None = None) -> int:
    """Upload the files under ``local`` to ``uri`` (unchanged objects are not sent again); returns the count sent.

    ``last``: a relative path uploaded after everything else (a done-marker: present only once all is
    there). ``delete_extra``: remove objects under ``uri`` that are not in ``local`` (never ``stale-*``
    ones), before ``last`` goes up. ``before_last``: called before those removals and ``last`` (a check
    that may raise: the lease's fence)."""
    fs, root = filesystem(uri)
    have = _listing(fs, root)
    files = _local_files(local)
    sent = 0
    for rel, f in files.items():
        if rel != last and not same_bytes(have.get(rel), f):
            fs.put_file(str(f), f"{root}/{rel}")
            sent += 1
    if before_last is not None:
        before_last()
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
        if dest.is_file() and same_bytes(info, dest):
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
        self.holder: Any = None  # the StoreLease this driver holds (limo_rl.run.lease sets it): commits check it
        self._partial: dict[str, str] = {}  # stage -> input hash of the partial record this process sent

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

    def check_lease(self, doing: str) -> None:
        """The fence: raise LeaseLostError when another driver took this run's lease (no-op without one)."""
        if self.holder is not None:
            self.holder.check(doing)

    def commit_stage(self, stage_dir: Path) -> int:
        """Upload a finished stage, then its marker last. Returns the files sent (marker included)."""
        marker = Path(stage_dir) / STAGE_MARKER
        if not marker.is_file():
            raise RunStoreError(f"{stage_dir}: not done, nothing to commit")
        rel = self.rel(stage_dir)
        self.check_lease(f"committing {rel}")
        uri = self.uri_of(stage_dir)
        sent = upload_tree(Path(stage_dir), uri, delete_extra=True, last=STAGE_MARKER,
                           before_last=lambda: self.check_lease(f"sealing {rel} (its marker)"))
        self._partial.pop(rel, None)  # the partial record went with delete_extra
        log.info("committed %s to %s (%d file(s) sent)", rel, uri, sent)
        return sent

    def commit_part(self, stage_dir: Path, path: Path) -> None:
        """Commit one finished part of a running stage (a chain shard, written whole by its writer): the
        stage's partial record (its input hash) first, then the part. The stage is still not done."""
        rel = self.rel(stage_dir)
        self.check_lease(f"committing {self.rel(path)}")
        input_hash = previous_input_hash(stage_dir)
        if input_hash is None:
            raise RunStoreError(f"{stage_dir}: no {STAGE_INPUT}: a part is committed only for a started stage")
        if self._partial.get(rel) != input_hash:
            record = {"input_hash": input_hash, "started_at": time.time()}
            self.fs.pipe_file(f"{self.root}/{rel}/{PARTIAL}", json.dumps(record).encode())
            self._partial[rel] = input_hash
        record = record_of(path)  # its producer's record first: a part in the store is always vouched for
        if record.is_file():
            self.fs.put_file(str(record), f"{self.root}/{self.rel(record)}")
        self.fs.put_file(str(path), f"{self.root}/{self.rel(path)}")

    def uncommit_stage(self, stage_dir: Path) -> None:
        """A stage starts (again): its committed marker goes first, so it is not done in the store."""
        rel = self.rel(stage_dir)
        self.check_lease(f"starting {rel}")
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(f"{self.root}/{rel}/{STAGE_MARKER}")

    def push_file(self, path: Path) -> None:
        """Upload one run-level record (manifest, config, report, a model card) to its place in the store
        (skipped, with an error logged, by a driver that lost the run's lease: the run is another's now)."""
        if not Path(path).is_file():
            return
        try:
            self.check_lease(f"pushing {self.rel(path)}")
        except RunStoreError as exc:
            log.error("not pushed: %s", exc)
            return
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
        partial = self._pull_partial(committed)
        for m in sorted(self.local.rglob(STAGE_MARKER)):
            rel = m.parent.relative_to(self.local).as_posix()
            if rel not in committed and not any(p.startswith(STALE_PREFIX) for p in rel.split("/")):
                clear_stage_marker(m.parent)  # its commit never finished: not done (partial work is kept)
                reset.append(rel)
        if pulled or reset or partial:
            log.info("%s: pulled %d committed stage(s) into %s; %d uncommitted stage(s) to redo; %d stage(s) "
                     "resume from their committed parts", self.uri, len(pulled), self.local, len(reset), len(partial))
        return {"pulled": pulled, "reset": reset, "partial": partial}

    def _pull_partial(self, committed: dict[str, bytes]) -> list[str]:
        """The committed parts of stages that are not done, into a working copy that holds no other work
        of them: the stage resumes (:func:`limo_rl.run.stagecache.begin_stage` keeps work of the same input
        hash; parts of other inputs are set aside by the stage itself, as locally)."""
        out = []
        for rel in sorted(k for k in _listing(self.fs, self.root) if k.split("/")[-1] == PARTIAL):
            stage = rel.rpartition("/")[0]
            if stage in committed or any(p.startswith(STALE_PREFIX) for p in stage.split("/")):
                continue
            info = read_json(f"{self.uri}/{rel}") or {}
            want, d = info.get("input_hash"), self.local / stage
            have = previous_input_hash(d)
            other = have != want if have is not None else d.is_dir() and any(d.iterdir())
            if not isinstance(want, str) or other:
                log.info("%s: local work of other inputs; the committed parts stay in the store", stage)
                continue
            got = download_tree(f"{self.uri}/{stage}", d, skip=(STAGE_MARKER, PARTIAL, STAGE_INPUT))
            if have is None:
                atomic_write_bytes(d / STAGE_INPUT, json.dumps({"input_hash": want, "carry": {},
                                                                "started_at": time.time()}).encode())
            log.info("%s: %d committed part(s) pulled; the stage resumes from them", stage, got)
            out.append(stage)
        return out

    def ray_storage(self, path: Path) -> tuple[str, Any]:
        """Ray Train's ``(storage_path, storage_filesystem)`` for a working-copy folder: its place in the
        store, through the same fsspec filesystem (one configuration: the standard environment)."""
        return storage_for(self.uri_of(path))
