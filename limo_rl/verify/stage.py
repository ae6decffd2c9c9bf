"""The verify stage's files: verdict rows, graded resumably, appended, never rewritten whole.

Two forms, one row format (``{problem_id, sample_index, **Verdict}`` per JSONL line):

* :func:`grade_shards` (the loop's verify stage) grades a ``chains/`` folder shard by shard
  and writes one verdict shard per chain shard under ``verdicts/``, named after it
  (``shard-00003-<key>.<tag>.jsonl``; ``tag`` hashes the grader version and verify config).
  Each verdict shard is written once, atomically, after its chain shard is graded, so the
  driver holds one shard of chains at a time and writes every verdict once: linear in the
  number of chains (the former single file was rewritten after every 512 chains, which is
  quadratic). A killed run resumes at the first shard without its verdict file; a verdict
  file of another tag or of a chain shard no longer present, or one whose bytes no longer match
  the digest recorded when it was written (:mod:`limo_rl.run.produced`), is set aside under ``verdicts/stale-*/``
  (:func:`limo_rl.run.stagecache.set_aside`, like every set-aside).
* :func:`grade_chains` (ad hoc and evaluation: a list of chains in memory) appends each graded
  chunk to one JSONL file and records the digest of what it has written so far; a rerun keeps
  only that recorded prefix (an edited file is set aside whole), the rows of the current grader
  (mode and version, :func:`~limo_rl.verify.grade.grader_id`), and grades only the chains without a row.

:func:`iter_verdict_rows` / :func:`read_verdicts` read either form (a file or a folder).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.config import VerifyConfig
from limo_rl.data.io import iter_objects
from limo_rl.generate.shards import ShardError, read_shard, shard_files, shard_metadata
from limo_rl.run.artifacts import atomic_output, hash_obj
from limo_rl.run.hashing import HASH_ALGORITHM, hash_bytes_of
from limo_rl.run.produced import record_of, record_prefix, record_produced, trusted, trusted_prefix
from limo_rl.run.stagecache import set_aside
from limo_rl.types import Chain, Problem, Verdict
from limo_rl.verify.grade import Grader, grader_id

log = logging.getLogger(__name__)
CHUNK = 512
VERDICT_GLOB = "shard-*.jsonl"


# ---------------------------------------------------------------------------------------- reading
def _verdict_row(row: dict[str, Any], where: str) -> tuple[tuple[str, int], Verdict]:
    for key in ("problem_id", "sample_index", "correct", "status"):
        if key not in row:
            raise ValueError(f"{where}: missing field {key!r}")
    row.setdefault("extracted", None)
    try:
        return (str(row["problem_id"]), int(row["sample_index"])), Verdict.from_dict(row)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{where}: not a verdict row ({exc})") from None


def verdict_files(path: str | Path) -> list[Path]:
    """The verdict files of a path: itself if a file, else its shard files in name order."""
    path = Path(path)
    if path.is_dir():
        return sorted(path.glob(VERDICT_GLOB))
    if not path.is_file():
        raise ValueError(f"{path}: verdicts file or folder not found")
    return [path]


def iter_verdict_objects(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, row as written) per row of a verdicts file or shard folder, streaming: the one reader of
    verdict files, under the strict (:func:`iter_verdict_rows`) and the lenient (:func:`iter_verdict_figures`) view."""
    for f in verdict_files(path):
        for n, row in iter_objects(f):  # DataError (a ValueError) names file:line for bad JSON
            yield f"{f}:{n}", row


def iter_verdict_rows(path: str | Path) -> Iterator[tuple[tuple[str, int], Verdict]]:
    """((problem_id, sample_index), Verdict) per row of a verdicts file or shard folder, streaming."""
    for where, row in iter_verdict_objects(path):
        yield _verdict_row(row, where)


def read_verdicts(path: str | Path) -> dict[tuple[str, int], Verdict]:
    """Verdict rows keyed by (problem_id, sample_index); a bad row raises naming the file, line and field."""
    return dict(iter_verdict_rows(path))


@dataclass(frozen=True)
class VerdictFigures:
    """What the report reads from a verdict row: the verification figures of one chain.

    Lenient where the report always was (a row without figures counts as zero density, no steps),
    so a run graded by an older verifier still reports.
    """

    problem_id: str
    sample_index: int
    verification_density: float
    step_kinds: tuple[str, ...]
    arithmetic_consistency: float | None
    caught: float | None = None  # errors found by a check and redone (None: graded before the count existed)


def iter_verdict_figures(path: str | Path) -> Iterator[VerdictFigures]:
    """Rows of a verdicts file or a folder of verdict shards, one at a time (a run's pool can be large)."""
    for _, r in iter_verdict_objects(path):
        yield VerdictFigures(
            str(r["problem_id"]), int(r["sample_index"]), float(r.get("verification_density") or 0.0),
            tuple(str(s.get("kind")) for s in r.get("verification_steps") or []),
            r.get("arithmetic_consistency"), (r.get("quality") or {}).get("caught"))


def read_verdict_figures(path: str | Path) -> dict[tuple[str, int], VerdictFigures]:
    """A verdicts file or shard folder (verify stage, or an evaluation's) keyed by (problem_id, sample_index)."""
    return {(v.problem_id, v.sample_index): v for v in iter_verdict_figures(path)}


def _row(c: Chain, v: Verdict) -> str:
    return json.dumps({"problem_id": c.problem_id, "sample_index": c.sample_index, **v.to_dict()},
                      ensure_ascii=False, default=str) + "\n"


def _items(chains: Sequence[Chain], problems: Mapping[str, Problem | str], cfg: VerifyConfig,
           answer_types: Mapping[str, str]) -> list[tuple]:
    def gold(pid: str) -> str:
        p = problems[pid]
        return p if isinstance(p, str) else p.answer

    return [(c.text, gold(c.problem_id), answer_types.get(c.problem_id) or cfg.answer_type, c.n_tokens,
             c.finish_reason)
            for c in chains]


# ---------------------------------------------------------------------------------------- one file, appended
def _resume_file(out_path: Path, grader: str) -> tuple[dict[tuple[str, int], Verdict], Any]:
    """Rows of ``grader`` (:func:`grader_id`) in the recorded prefix of ``out_path``, and the digest state of
    the file as it is left: cut back to those rows (once, linear); a file whose recorded prefix no longer
    matches (edited) or that no writer vouched for is moved aside whole and grading starts afresh."""
    n_trusted, hasher = trusted_prefix(out_path)
    if not out_path.is_file():
        return {}, hasher
    size = out_path.stat().st_size
    if n_trusted == 0 and size:
        kept = set_aside(out_path.parent, None, [out_path.name, record_of(out_path).name],
                         "does not match what was recorded when it was written", announce=False)
        log.warning("%s does not match what was recorded when it was written (edited, or of unknown origin): "
                    "kept as %s, every chain is graded again", out_path, f"{kept.name}/{out_path.name}" if kept else "")
        return {}, hasher
    with open(out_path, "rb") as fh:
        lines = fh.read(n_trusted).decode("utf-8", errors="replace").splitlines(keepends=True)
    done: dict[tuple[str, int], Verdict] = {}
    keep: list[str] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            key, v = _verdict_row(json.loads(line), f"{out_path}:{n}")
        except (json.JSONDecodeError, ValueError) as exc:
            log.warning("regrading everything: %s", exc)
            done, keep = {}, []
            break
        if v.grader_version != grader or key in done:
            continue
        done[key] = v
        keep.append(line if line.endswith("\n") else line + "\n")
    text = "".join(keep)
    # a cut (rows of another grader, an unrecorded tail) or a hard link (a carried file shares the inode
    # with its set-aside twin: appending would edit both) is rewritten as a new file
    if len(text.encode()) != size or out_path.stat().st_nlink > 1:
        with atomic_output(out_path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        hasher = hashlib.new(HASH_ALGORITHM, text.encode())
        record_prefix(out_path, len(text.encode()), hasher.hexdigest())
    return done, hasher


def grade_chains(
    chains: Sequence[Chain], problems: Mapping[str, Problem], cfg: VerifyConfig, out_path: Path,
    answer_types: Mapping[str, str] | None = None,
) -> list[Verdict]:
    """Verdicts for ``chains`` (in their order), appended to ``out_path``; resumes from an existing file."""
    out_path = Path(out_path)
    answer_types = answer_types or {}
    missing = [c.problem_id for c in chains if c.problem_id not in problems]
    if missing:
        raise ValueError(f"{len(missing)} chain(s) name unknown problems, e.g. {missing[0]!r}")
    done, hasher = _resume_file(out_path, grader_id(cfg.mode))
    keys = [(c.problem_id, c.sample_index) for c in chains]
    todo = [c for c, k in zip(chains, keys, strict=True) if k not in done]
    if done:
        log.info("verify: %d of %d chains already graded in %s", len(chains) - len(todo), len(chains), out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not out_path.exists():
        out_path.touch()
        record_prefix(out_path, 0, hasher.hexdigest())
    if todo:
        with Grader(cfg) as grader, open(out_path, "ab") as fh:
            for i in range(0, len(todo), CHUNK):
                chunk = todo[i: i + CHUNK]
                verdicts = grader.grade_many(_items(chunk, problems, cfg, answer_types))
                data = "".join(_row(c, v) for c, v in zip(chunk, verdicts, strict=True)).encode()
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
                hasher.update(data)
                record_prefix(out_path, fh.tell(), hasher.hexdigest())
                for c, v in zip(chunk, verdicts, strict=True):
                    done[(c.problem_id, c.sample_index)] = v
    return [done[k] for k in keys]


# ---------------------------------------------------------------------------------------- shards
def verdict_tag(cfg: VerifyConfig, answer_types: Mapping[str, str] | None = None) -> str:
    """What makes a verdict shard reusable: the grader version, its config and the answer types."""
    return hash_obj({"grader": grader_id(cfg.mode), "verify": cfg.model_dump(mode="json"),
                     "answer_types": dict(sorted((answer_types or {}).items()))})[:10]


def verdict_shard_name(chain_shard: str | Path, tag: str) -> str:
    return f"{Path(chain_shard).name.removesuffix('.parquet')}.{tag}.jsonl"


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _set_aside(verdicts_dir: Path, keep: set[str], why: str = "of another grader or chain set") -> None:
    for tmp in verdicts_dir.glob(".shard-*.tmp-*"):  # leftovers of a writer killed before its rename
        tmp.unlink(missing_ok=True)
    stale = [p for p in verdicts_dir.glob(VERDICT_GLOB) if p.name not in keep]
    if stale:
        dest = set_aside(verdicts_dir, None, [n for p in stale for n in (p.name, record_of(p).name)],
                         f"verdict shards {why}", announce=False)
        log.warning("verify: set aside %d verdict shard(s) %s under %s", len(stale), why, dest)


def grade_shards(
    chains_dir: str | Path, problems: Mapping[str, Problem | str], cfg: VerifyConfig, verdicts_dir: str | Path,
    answer_types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Grade every chain shard into its verdict shard (resumable per shard); returns summary figures.

    ``problems`` maps problem id -> Problem or gold answer (the answers alone keep the driver light).
    The driver holds one chain shard at a time; one Grader (its worker pool) serves every shard.
    """
    chains_dir, verdicts_dir = Path(chains_dir), Path(verdicts_dir)
    if not chains_dir.is_dir():
        raise ShardError(f"{chains_dir}: chains folder not found")
    answer_types = answer_types or {}
    tag = verdict_tag(cfg, answer_types)
    shards = shard_files(chains_dir)
    names = {s: verdict_shard_name(s, tag) for s in shards}
    verdicts_dir.mkdir(parents=True, exist_ok=True)
    _set_aside(verdicts_dir, set(names.values()))
    todo = []
    for s in shards:
        out = verdicts_dir / names[s]
        if out.is_file() and trusted(out) and _count_lines(out) == shard_metadata(s)[0]:
            continue
        todo.append(s)
    redo = {names[s] for s in todo if (verdicts_dir / names[s]).exists()}
    if redo:  # edited, torn or of unknown origin: kept aside, graded again
        _set_aside(verdicts_dir, set(names.values()) - redo, "failed their check on resume")
    log.info("verify: %d chain shard(s), %d already graded, %d to grade", len(shards), len(shards) - len(todo),
             len(todo))
    if todo:
        with Grader(cfg) as grader:
            for s in todo:
                chains = read_shard(s)
                bad = next((c.problem_id for c in chains if c.problem_id not in problems), None)
                if bad is not None:
                    raise ShardError(f"{s}: chain of unknown problem {bad!r} (not in the problems file)")
                verdicts = []
                for i in range(0, len(chains), CHUNK):
                    verdicts += grader.grade_many(_items(chains[i: i + CHUNK], problems, cfg, answer_types))
                with atomic_output(verdicts_dir / names[s]) as tmp:
                    with open(tmp, "w", encoding="utf-8") as fh:
                        fh.write("".join(_row(c, v) for c, v in zip(chains, verdicts, strict=True)))
                        fh.flush()
                        os.fsync(fh.fileno())
                    record_produced(verdicts_dir / names[s], hash_bytes_of(tmp))  # before the rename
    return verdict_summary(verdicts_dir)


def verdict_summary(path: str | Path) -> dict[str, Any]:
    """chains, accuracy and mean verification density of a verdicts file or folder, streaming."""
    n = correct = 0
    density = 0.0
    for f in verdict_files(path):
        for _, row in iter_objects(f):
            n += 1
            correct += bool(row.get("correct"))
            density += float(row.get("verification_density") or 0.0)
    return {"chains": n, "accuracy": correct / max(n, 1), "mean_verification_density": density / max(n, 1)}
