"""Producer records: the writer of a shard vouches for its bytes, so resumed work is checked, not assumed.

A finished stage is sealed by its marker (:func:`limo_rl.run.artifacts.mark_stage_done`); the work of a
stage that has *no* marker (killed mid-way, or its marker deleted to force a rerun) is resumed shard
by shard. A shard is resumed only when its bytes still match the digest its producer recorded as it
wrote it (before renaming it into place, so a shard on disk always has its record), in a hidden
record beside it (``.<name>.produced``); a shard that was
edited, or that no producer vouched for, is set aside and made again. An append-only file (the
evaluation's ``verdicts.jsonl``) records the length and digest of the prefix written so far: a
resume keeps that prefix only when it still matches.

Records are hidden files, so they are no part of a folder's content digest
(:func:`limo_rl.run.hashing.file_manifest`); each is written atomically, never edited in place, so a
folder hard-linked elsewhere (the stage cache's carry) shares them safely.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from limo_rl.run.artifacts import atomic_write_json
from limo_rl.run.hashing import HASH_ALGORITHM, hash_file

SUFFIX = ".produced"

__all__ = ["SUFFIX", "is_record", "record_of", "record_prefix", "record_produced", "trusted", "trusted_prefix"]


def record_of(path: str | Path) -> Path:
    """Where the producer record of ``path`` lives."""
    path = Path(path)
    return path.with_name(f".{path.name}{SUFFIX}")


def is_record(path: str | Path) -> bool:
    name = Path(path).name
    return name.startswith(".") and name.endswith(SUFFIX)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(record_of(path).read_bytes())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def record_produced(path: str | Path, digest: str | None = None) -> str:
    """Record the digest of the whole file ``path`` (just written by the caller, or verified against a seal)."""
    path = Path(path)
    digest = digest or hash_file(path)
    atomic_write_json(record_of(path), {HASH_ALGORITHM: digest})
    return digest


def trusted(path: str | Path) -> bool:
    """True when ``path`` exists and its bytes match the digest its producer recorded."""
    path = Path(path)
    info = _read(path)
    if not info or not isinstance(info.get(HASH_ALGORITHM), str) or "bytes" in info or not path.is_file():
        return False
    try:
        return hash_file(path) == info[HASH_ALGORITHM]
    except OSError:
        return False


def record_prefix(path: str | Path, n_bytes: int, digest: str) -> None:
    """Record that the first ``n_bytes`` of the append-only file ``path`` hash to ``digest``."""
    atomic_write_json(record_of(path), {"bytes": int(n_bytes), HASH_ALGORITHM: digest})


def trusted_prefix(path: str | Path) -> tuple[int, Any]:
    """(n, hasher) for the longest recorded prefix of ``path`` that still matches (0 when none does);
    ``hasher`` holds the digest state of those n bytes, ready to be updated with what is appended."""
    path = Path(path)
    info = _read(path)
    h = hashlib.new(HASH_ALGORITHM)
    if not info or not isinstance(info.get("bytes"), int) or not isinstance(info.get(HASH_ALGORITHM), str):
        return 0, h
    n = info["bytes"]
    with contextlib.suppress(OSError):
        with open(path, "rb") as fh:
            data = fh.read(n)
        if len(data) == n:
            h.update(data)
            if h.hexdigest() == info[HASH_ALGORITHM]:
                return n, h
    return 0, hashlib.new(HASH_ALGORITHM)
