"""Chain shards: how the problems are cut, and the parquet files each cut becomes.

Problems are sorted by id and cut into shards of ``generate.shard_size``. A shard's file
name carries a key hashed from the generation spec and the (problem id, prompt hash) pairs
it covers, so a rerun can tell a finished shard of *this* spec (skip it) from a shard of an
earlier spec or pool (set aside under ``chains/stale-*/`` by the stage cache's
:func:`~limo_rl.run.stagecache.set_aside`, never deleted, never read).
Every shard is written atomically (temp file + rename, :func:`limo_rl.run.artifacts.atomic_output`),
so a shard file on disk is always complete; its row count, its key and its bytes (against the digest
recorded right after it was written, :mod:`limo_rl.run.produced`) are checked again on resume: an edited
shard, or one no writer vouched for, is set aside and made again (NeMo-Skills' ``skip_filled`` and Ray
Data's checkpointing follow the same idea).

Columns: problem_id, sample_index, round, teacher, engine, seed, prompt_hash, text,
n_tokens, finish_reason (the :class:`~limo_rl.types.Chain` fields); the engine version and
shard key travel in the parquet schema metadata, and so do the problems of the shard that were
dropped because their prompt does not fit the engine's window (``dropped``: one record each, with
its prompt tokens and the window), so a shard is complete with ``n`` rows for every other problem.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from limo_rl.run.artifacts import atomic_output, hash_obj
from limo_rl.run.hashing import hash_bytes_of
from limo_rl.run.produced import record_of, record_produced, trusted
from limo_rl.run.stagecache import set_aside
from limo_rl.types import Chain

log = logging.getLogger(__name__)

SHARD_GLOB = "shard-*.parquet"
COLUMNS = ("problem_id", "sample_index", "round", "teacher", "engine", "seed", "prompt_hash", "text",
           "n_tokens", "finish_reason")


class ShardError(ValueError):
    """A chains file that cannot be read as shard rows; names the file (and row and field)."""


@dataclass(frozen=True)
class ShardPlan:
    index: int
    problem_ids: tuple[str, ...]
    key: str

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}-{self.key[:12]}.parquet"


def plan_shards(prompt_hashes: Mapping[str, str], shard_size: int, spec_hash: str) -> list[ShardPlan]:
    """Cut problem ids (sorted) into shards; ``prompt_hashes`` maps problem id -> prompt hash."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    ids = sorted(prompt_hashes)
    plans = []
    for index, start in enumerate(range(0, len(ids), shard_size)):
        chunk = tuple(ids[start:start + shard_size])
        key = hash_obj({"spec": spec_hash, "problems": [[pid, prompt_hashes[pid]] for pid in chunk]})
        plans.append(ShardPlan(index=index, problem_ids=chunk, key=key))
    return plans


def _schema(metadata: Mapping[str, str] | None = None):
    import pyarrow as pa

    return pa.schema(
        [
            ("problem_id", pa.string()), ("sample_index", pa.int32()), ("round", pa.int32()),
            ("teacher", pa.string()), ("engine", pa.string()), ("seed", pa.int64()),
            ("prompt_hash", pa.string()), ("text", pa.large_string()), ("n_tokens", pa.int32()),
            ("finish_reason", pa.string()),
        ],
        metadata={k.encode(): v.encode() for k, v in (metadata or {}).items()},
    )


def write_shard(path: str | Path, chains: Sequence[Chain], metadata: Mapping[str, str] | None = None) -> Path:
    """Write one shard atomically: readers see the whole file or none of it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    cols = {c: [getattr(ch, c) for ch in chains] for c in COLUMNS}
    table = pa.Table.from_pydict(cols, schema=_schema(metadata))
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        # the writer vouches for these bytes (a resume checks them, limo_rl.run.produced), before the rename: a
        # shard on disk always has its record, however the writer is killed
        record_produced(path, hash_bytes_of(tmp))
    return path


def shard_metadata(path: str | Path) -> tuple[int, dict[str, str]]:
    """(row count, schema metadata) of a shard without reading its rows; ShardError if unreadable."""
    import pyarrow.parquet as pq

    try:
        md = pq.read_metadata(path)
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ShardError(f"{path}: not a readable parquet shard ({exc})") from None
    return md.num_rows, {k.decode(): v.decode() for k, v in meta.items() if not k.startswith(b"ARROW")}


def dropped_records(meta: Mapping[str, str], where: str | Path = "shard") -> list[dict]:
    """The ``dropped`` records of a shard's metadata (none when absent; ShardError when malformed)."""
    try:
        records = json.loads(meta.get("dropped") or "[]")
        if isinstance(records, list) and all(isinstance(r, dict) and isinstance(r.get("problem_id"), str)
                                              for r in records):
            return records
    except ValueError:
        pass
    raise ShardError(f"{where}: its 'dropped' metadata is not a list of problem records")


def shard_dropped(path: str | Path) -> list[dict]:
    """The problems a shard file dropped (prompt beyond the window), one record each."""
    return dropped_records(shard_metadata(path)[1], path)


def shard_is_complete(path: str | Path, plan: ShardPlan, n: int) -> bool:
    """True when the shard file exists, is the one its writer recorded, is readable, carries ``plan.key``
    and has every sample of every problem of the plan that it does not list as dropped."""
    path = Path(path)
    if not path.is_file():
        return False
    if not trusted(path):
        log.warning("%s does not match the digest recorded when it was written (edited, or of unknown origin); "
                    "it is set aside and generated again", path)
        return False
    try:
        rows, meta = shard_metadata(path)
        dropped = {r["problem_id"] for r in dropped_records(meta, path)}
    except ShardError as exc:
        log.warning("%s; it will be regenerated", exc)
        return False
    return (meta.get("shard_key") == plan.key and dropped <= set(plan.problem_ids)
            and rows == (len(plan.problem_ids) - len(dropped)) * n)


def read_shard(path: str | Path) -> list[Chain]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise ShardError(f"{path}: not a readable parquet shard ({exc})") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ShardError(f"{path}: missing column(s) {', '.join(missing)}")
    chains = []
    for i, row in enumerate(table.select(list(COLUMNS)).to_pylist(), start=1):
        for c in COLUMNS:
            if row[c] is None:
                raise ShardError(f"{path}: row {i}: field '{c}' is null")
        if row["finish_reason"] not in ("stop", "length"):
            raise ShardError(f"{path}: row {i}: field 'finish_reason' is {row['finish_reason']!r}, "
                             "expected 'stop' or 'length'")
        chains.append(Chain(**row))
    return chains


def shard_files(chains_dir: str | Path) -> list[Path]:
    return sorted(Path(chains_dir).glob(SHARD_GLOB))


def read_chains(chains_dir: str | Path) -> list[Chain]:
    """Every chain of a ``chains/`` folder, sorted by (problem_id, sample_index); duplicates are an error."""
    chains_dir = Path(chains_dir)
    if not chains_dir.is_dir():
        raise ShardError(f"{chains_dir}: chains folder not found")
    seen: dict[tuple[str, int], Path] = {}
    out: list[Chain] = []
    for path in shard_files(chains_dir):
        for ch in read_shard(path):
            key = (ch.problem_id, ch.sample_index)
            if key in seen:
                raise ShardError(f"{path}: chain {key} also in {seen[key]} (mixed runs in one folder?)")
            seen[key] = path
            out.append(ch)
    out.sort(key=lambda c: (c.problem_id, c.sample_index))
    return out


def set_aside_stale(chains_dir: str | Path, keep: set[str],
                    why: str = "shards of another generation spec or pool") -> list[Path]:
    """Move shard files not in ``keep`` (with their records) to ``chains/stale-unknown-<time>/``
    (:func:`~limo_rl.run.stagecache.set_aside`); drop temp files."""
    chains_dir = Path(chains_dir)
    for tmp in chains_dir.glob(".shard-*.tmp-*"):  # leftovers of a writer killed mid-rename
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    stale = [p for p in shard_files(chains_dir) if p.name not in keep]
    if not stale:
        return []
    dest = set_aside(chains_dir, None, [n for p in stale for n in (p.name, record_of(p).name)], why, announce=False)
    if dest is None:  # gone since they were listed
        return []
    log.warning("set aside %d shard(s) under %s: %s", len(stale), dest, why)
    return [dest / p.name for p in stale]
