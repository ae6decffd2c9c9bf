"""Run directories, atomic writes, hashes, manifests and resume decisions.

Every stage writes through these helpers so that "nothing is lost" holds everywhere:

* a file is written to a temp file beside it and renamed into place, so a reader sees the
  old file or the new one, never half of one (a crash keeps the old file);
* a finished stage leaves a marker (``_STAGE_DONE.json``) recording the hash of its inputs
  and config and the hashes of its outputs; :func:`stage_decision` skips the stage only
  when that hash is unchanged and the outputs are complete and unmodified;
* a run directory holds ``config.yaml`` (the resolved recipe) and ``manifest.json``
  (command line, versions, git commit, seeds, per-stage status, hashes and timings);
* seeds are derived from (base seed, round, problem id, sample index), never from
  global random state, so any shard can be regenerated alone with the same result.

Pure core: standard library only (plus yaml for the config file).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGE_MARKER = "_STAGE_DONE.json"
TRACKED_PACKAGES = (
    "limo_rl", "torch", "transformers", "trl", "accelerate", "ray", "vllm", "datasets",
    "sympy", "math-verify", "wandb", "pydantic",
)
PROJECT_ROOT = Path(__file__).resolve().parents[1]


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


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ---------------------------------------------------------------------------------------- hashes
def hash_obj(obj: Any) -> str:
    """sha256 of a JSON-able object in canonical form (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


SAMPLED_HASH_BYTES = 256 << 20


def hash_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes; a file over 256 MiB (model weights) is hashed by its size and three
    4 MiB samples (start, middle, end), so resume checks on a 64 GB student take milliseconds."""
    h = hashlib.sha256()
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if size > SAMPLED_HASH_BYTES:
            h.update(f"sampled:{size}:".encode())
            for offset in (0, size // 2, max(size - (4 << 20), 0)):
                fh.seek(offset)
                h.update(fh.read(4 << 20))
            return h.hexdigest()
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_path(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names + contents; hidden files and markers skipped).

    A folder's top-level ``README.md`` (its Hub card) is skipped too: a card describes the output and is
    rewritten as later stages learn about it (a student's card gains its evaluation), which must not
    make the stage that produced the output run again.
    """
    path = Path(path)
    if path.is_file():
        return hash_file(path)
    if not path.is_dir():
        raise FileNotFoundError(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if any(part.startswith(".") for part in rel.parts) or f.name == STAGE_MARKER or str(rel) == "README.md":
            continue
        h.update(str(rel).encode() + b"\0" + hash_file(f).encode() + b"\n")
    return h.hexdigest()


def derive_seed(base_seed: int, round: int = 0, problem_id: str = "", sample_index: int = 0) -> int:
    """A 31-bit seed from (base seed, round, problem id, sample index): stable across runs and machines."""
    key = f"{base_seed}\x1f{round}\x1f{problem_id}\x1f{sample_index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------- stage markers
@dataclass(frozen=True)
class StageDecision:
    run: bool
    reason: str


def stage_decision(stage_dir: str | Path, input_hash: str) -> StageDecision:
    """Run or skip a stage: skip only if it finished with these inputs and its outputs are intact."""
    marker = Path(stage_dir) / STAGE_MARKER
    if not marker.is_file():
        return StageDecision(True, "not done yet")
    try:
        info = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return StageDecision(True, "stage marker unreadable")
    if info.get("input_hash") != input_hash:
        return StageDecision(True, "inputs or config changed")
    for name, digest in (info.get("outputs") or {}).items():
        out = Path(stage_dir) / name
        if not out.exists():
            return StageDecision(True, f"output {name} is missing")
        if hash_path(out) != digest:
            return StageDecision(True, f"output {name} was modified")
    return StageDecision(False, "done with the same inputs")


def mark_stage_done(
    stage_dir: str | Path, input_hash: str, outputs: Sequence[str], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Record a finished stage; ``outputs`` are names relative to ``stage_dir``. Returns the marker."""
    stage_dir = Path(stage_dir)
    info = {
        "input_hash": input_hash,
        "outputs": {name: hash_path(stage_dir / name) for name in outputs},
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
        return json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# ---------------------------------------------------------------------------------------- provenance
def package_versions(names: Sequence[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    def _git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


# ---------------------------------------------------------------------------------------- manifest
class Manifest:
    """``manifest.json`` of a run: provenance plus per-stage status, hashes, timings and figures.

    Only the driver process writes it; every update is an atomic rewrite.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.data.setdefault("stages", {})

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
        return m

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

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


@dataclass
class RunDir:
    """``<output_dir>/<run name>/`` with its resolved config and manifest."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @classmethod
    def create(cls, recipe: Any, argv: Sequence[str] | None = None) -> tuple[RunDir, Manifest]:
        """Create (or reopen) the run directory of a recipe and write its resolved config and manifest."""
        path = Path(recipe.run.output_dir) / recipe.run.name
        path.mkdir(parents=True, exist_ok=True)
        rd = cls(path)
        atomic_write_text(rd.config_path, recipe.to_yaml())
        manifest = Manifest.start(
            rd.manifest_path,
            argv if argv is not None else sys.argv,
            {"seed": recipe.run.seed, "seeds": recipe.run.all_seeds()},
            hash_obj(recipe.to_dict()),
        )
        return rd, manifest

    def stage_dir(self, *parts: str | int) -> Path:
        d = self.path.joinpath(*map(str, parts))
        d.mkdir(parents=True, exist_ok=True)
        return d
