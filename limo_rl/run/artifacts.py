"""Run directories, atomic writes, hashes, manifests and resume decisions.

Every stage writes through these helpers so that "nothing is lost" holds everywhere:

* a file is written to a temp file beside it and renamed into place, so a reader sees the
  old file or the new one, never half of one (a crash keeps the old file);
* a finished stage leaves a marker (``_STAGE_DONE.json``) recording the hash of its inputs
  and config and the full content hashes of its outputs (:mod:`limo_rl.run.hashing`);
  :func:`stage_decision` skips the stage only when that hash is unchanged and the outputs
  are complete and unmodified, and reports a modified or missing output as *damaged* so the
  caller sets the folder aside (:func:`limo_rl.run.stagecache.begin_stage`) instead of reusing or re-sealing it;
* files come out with the mode the user's umask gives a new file (collaborators on a shared
  runs folder can read results); only secrets are written 0600;
* a run directory (:class:`limo_rl.run.layout.RunLayout`, made by :func:`create_run`) holds its resolved
  recipe and its manifest (:class:`Manifest`: command line, versions, git commit, seeds, per-stage status,
  hashes and timings);
* seeds are derived from (base seed, round, problem id, sample index), never from
  global random state, so any shard can be regenerated alone with the same result.

Pure core: standard library only (plus yaml for the config file).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.console.redact import redact_obj
from limo_rl.run.hashing import file_manifest, hash_file, hash_path, manifest_digest
from limo_rl.run.layout import RunLayout
from limo_rl.run.provenance import git_info, package_versions

__all__ = ["hash_file", "hash_path"]  # re-exported: the stage cache's content hashes live in limo_rl.run.hashing
STAGE_MARKER = "_STAGE_DONE.json"


def utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------- atomic writes
def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def current_umask() -> int:
    """The process umask (read from /proc without changing it; else by the set-and-restore dance)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: str | Path) -> None:
    """Give the files under ``path`` the mode a plain ``open(path, "w")`` would: writers we do not own
    (safetensors 0.8 saves weights 0600) would otherwise hide a student from collaborators."""
    mode = 0o666 & ~current_umask()
    path = Path(path)
    for f in [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        with contextlib.suppress(FileNotFoundError):  # a checkpoint rotated away meanwhile
            if f.stat().st_mode & 0o777 != mode:
                os.chmod(f, mode)


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The file gets the mode a plain ``open(path, "w")`` would (0666 minus the umask: mkstemp's
    0600 would hide results from collaborators); ``mode=0o600`` for secrets.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode if mode is not None else 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterator[Mapping[str, Any]] | Sequence[Mapping[str, Any]]) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    return atomic_write_text(path, text)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for a writer that wants a filename (parquet, a model folder).

    On success the temp file or folder is renamed onto ``path`` (an old folder is swapped out
    and deleted); on any exception it is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()


def writable_problem(path: str | Path, *, folder: bool = False) -> str | None:
    """Why ``path`` (a file, or with ``folder`` a folder) cannot be written, or None if it can; checked
    before expensive work and without creating anything: the nearest existing folder on the way must
    be a writable folder (a probe file is made and removed when the target folder already exists)."""
    path = Path(path)
    if path.exists() and (path.is_dir() != folder):
        return f"{path} is {'a folder' if path.is_dir() else 'a file'}, expected {'a folder' if folder else 'a file'}"
    target = path if folder else path.parent
    anc = target
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        return f"{path}: cannot write there ({anc} is a file, not a folder)"
    if anc != target:
        return None if os.access(anc, os.W_OK | os.X_OK) else f"{path}: cannot write there ({anc} is read-only)"
    try:
        fd, probe = tempfile.mkstemp(prefix=".limo-write-probe-", dir=target)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{path}: cannot write there ({exc.strerror or exc})"
    return None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ---------------------------------------------------------------------------------------- hashes
def hash_obj(obj: Any) -> str:
    """sha256 of a JSON-able object in canonical form (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def derive_seed(base_seed: int, round: int = 0, problem_id: str = "", sample_index: int = 0) -> int:
    """A 31-bit seed from (base seed, round, problem id, sample index): stable across runs and machines."""
    key = f"{base_seed}\x1f{round}\x1f{problem_id}\x1f{sample_index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------- stage markers
@dataclass(frozen=True)
class StageDecision:
    run: bool
    reason: str
    damaged: bool = False  # a sealed output no longer matches its marker: never reuse or re-seal it


def stage_decision(stage_dir: str | Path, input_hash: str) -> StageDecision:
    """Run or skip a stage: skip only if it finished with these inputs and its outputs are intact.

    Every output is hashed in full (cached by file identity, so an intact rerun reads nothing);
    a missing or modified one makes the decision ``damaged``, naming the file.
    """
    marker = Path(stage_dir) / STAGE_MARKER
    if not marker.is_file():
        return StageDecision(True, "not done yet")
    info = read_stage_marker(stage_dir)
    if info is None:
        return StageDecision(True, "stage marker unreadable", damaged=True)
    if info.get("input_hash") != input_hash:
        return StageDecision(True, "inputs or config changed")
    files = info.get("output_files") or {}
    for name, digest in (info.get("outputs") or {}).items():
        out = Path(stage_dir) / name
        if not out.exists():
            return StageDecision(True, f"output {name} is missing", damaged=True)
        manifest = file_manifest(out)
        if manifest_digest(manifest) != digest:
            return StageDecision(True, f"output {_changed_file(name, files.get(name), manifest)} was modified "
                                       "after the stage finished", damaged=True)
    return StageDecision(False, "done with the same inputs")


def _changed_file(name: str, sealed: Mapping[str, str] | None, now: Mapping[str, str]) -> str:
    """The first file of output ``name`` that differs from the sealed manifest (for the message)."""
    if not sealed:
        return name
    for rel in sorted(set(sealed) | set(now)):
        if sealed.get(rel) != now.get(rel):
            what = "" if rel in now else " (deleted)"
            return (f"{name}/{rel}" if rel else name) + what
    return name


def mark_stage_done(
    stage_dir: str | Path, input_hash: str, outputs: Sequence[str], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Record a finished stage; ``outputs`` are names relative to ``stage_dir``. Returns the marker.

    The marker keeps each output's digest and its manifest of file digests (which file changed).
    """
    stage_dir = Path(stage_dir)
    manifests = {name: file_manifest(stage_dir / name) for name in outputs}
    info = {
        "input_hash": input_hash,
        "outputs": {name: manifest_digest(m) for name, m in manifests.items()},
        "output_files": manifests,
        "finished_at": utcnow(),
        **(dict(extra) if extra else {}),
    }
    atomic_write_json(stage_dir / STAGE_MARKER, info)
    return info


def clear_stage_marker(stage_dir: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (Path(stage_dir) / STAGE_MARKER).unlink()


def read_stage_marker(stage_dir: str | Path) -> dict[str, Any] | None:
    marker = Path(stage_dir) / STAGE_MARKER
    try:
        info = json.loads(marker.read_bytes())
    except (OSError, ValueError):  # unreadable, not UTF-8, not JSON
        return None
    return info if isinstance(info, dict) else None


# ---------------------------------------------------------------------------------------- manifest
class Manifest:
    """``manifest.json`` of a run: provenance plus per-stage status, hashes, timings and figures.

    Only the driver process writes it; every update is an atomic rewrite.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data: dict[str, Any] = self._load(self.path)
        self.data.setdefault("stages", {})

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        """The manifest, or {} when there is none. A damaged one (truncated, not JSON, not an object)
        is kept beside it as ``manifest.json.damaged-<time>`` and a fresh one started: the manifest
        is a record, the stage markers decide what is done, so nothing needs deleting by hand."""
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_bytes())
            if isinstance(data, dict) and isinstance(data.get("stages", {}), dict):
                return data
            problem = "not a JSON object with a 'stages' object"
        except (OSError, ValueError) as exc:
            problem = f"unreadable ({type(exc).__name__})"
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        kept = path.with_name(f"{path.name}.damaged-{stamp}")
        os.replace(path, kept)
        logging.getLogger(__name__).warning("%s was %s: kept as %s, starting a fresh manifest", path, problem,
                                            kept.name)
        return {"recovered_from": kept.name}

    @classmethod
    def start(cls, path: str | Path, argv: Sequence[str], seeds: Mapping[str, Any], config_hash: str) -> Manifest:
        m = cls(path)
        invocation = {"argv": list(argv), "started_at": utcnow(), "config_hash": config_hash}
        m.data.setdefault("invocations", []).append(invocation)
        m.data.update(
            {
                "command": list(argv),
                "config_hash": config_hash,
                "seeds": dict(seeds),
                "started_at": m.data.get("started_at") or invocation["started_at"],
                "ended_at": None,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "packages": package_versions(),
                "git": git_info(),
            }
        )
        m.save()
        m.reserve_space()
        return m

    @property
    def _reserve(self) -> Path:
        return self.path.with_name(f".{self.path.name}.reserve")

    def reserve_space(self) -> None:
        """Hold disk space for the manifest's last words: a disk that fills during a stage (a checkpoint,
        a shard) must still let the run record ``failed``, not stay ``running`` forever."""
        with contextlib.suppress(OSError):
            size = max(1 << 20, 4 * (self.path.stat().st_size if self.path.exists() else 0))
            if not self._reserve.exists() or self._reserve.stat().st_size < size:
                with open(self._reserve, "wb") as fh:
                    fh.write(b"\0" * size)  # real blocks (a sparse file would free nothing)
                    fh.flush()
                    os.fsync(fh.fileno())

    def save(self) -> None:
        data = redact_obj(self.data)  # an error body may echo a key
        try:
            atomic_write_json(self.path, data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not self._reserve.exists():
                raise
            self._reserve.unlink()  # the space held for this moment
            logging.getLogger(__name__).warning("disk full: %s written into the space reserved for it", self.path)
            atomic_write_json(self.path, data)

    def record_set_aside(self, stage_key: str, moved_to: str | Path, reason: str) -> None:
        """List a folder moved aside (``limo-rl clean`` removes what is listed here)."""
        self.data.setdefault("set_aside", []).append(
            {"stage": stage_key, "path": str(moved_to), "reason": reason, "at": utcnow()})
        self.save()

    def record_stage(self, key: str, **fields: Any) -> None:
        entry = self.data["stages"].setdefault(key, {})
        entry.update(fields)
        self.save()

    def finish(self, status: str = "finished") -> None:
        self.data["ended_at"] = utcnow()
        self.data["status"] = status
        if self.data.get("invocations"):
            self.data["invocations"][-1]["ended_at"] = self.data["ended_at"]
            self.data["invocations"][-1]["status"] = status
        self.save()


def create_run(recipe: Any, argv: Sequence[str] | None = None,
               path: str | Path | None = None) -> tuple[RunLayout, Manifest]:
    """Create (or reopen) the run folder of a recipe and write its resolved config and manifest.
    ``path``: where, when not ``<run.output_dir>/<run.name>`` (an object-store run's working copy)."""
    layout = RunLayout(Path(path) if path is not None else Path(recipe.run.output_dir) / recipe.run.name)
    layout.path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(layout.config_path, recipe.to_yaml())
    manifest = Manifest.start(layout.manifest_path, argv if argv is not None else sys.argv,
                              {"seed": recipe.run.seed, "seeds": recipe.run.all_seeds()}, hash_obj(recipe.to_dict()))
    return layout, manifest
