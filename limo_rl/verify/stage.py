"""The verify stage: grade a round's chains against their problems' gold answers, resumably.

``grade_chains`` writes one JSONL row per chain, ``{problem_id, sample_index, **Verdict}``,
atomically (a reader sees the old file or the new one). A rerun keeps the rows already
graded by the same grader (mode and version, :func:`~limo_rl.verify.grade.grader_id`) and grades only the missing chains, so an interrupted
stage resumes without duplicates; the file is rewritten after every chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from limo_rl.artifacts import atomic_write_jsonl
from limo_rl.config import VerifyConfig
from limo_rl.data.io import iter_objects
from limo_rl.types import Chain, Problem, Verdict
from limo_rl.verify.grade import Grader, grader_id

log = logging.getLogger(__name__)
CHUNK = 512


def read_verdicts(path: str | Path) -> dict[tuple[str, int], Verdict]:
    """Verdict rows keyed by (problem_id, sample_index); a bad row raises naming the file, line and field."""
    out: dict[tuple[str, int], Verdict] = {}
    path = Path(path)
    for n, row in iter_objects(path):  # DataError (a ValueError) names file:line for bad JSON
        for key in ("problem_id", "sample_index", "correct", "status"):
            if key not in row:
                raise ValueError(f"{path}:{n}: missing field {key!r}")
        row.setdefault("extracted", None)
        try:
            out[(str(row["problem_id"]), int(row["sample_index"]))] = Verdict.from_dict(row)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: not a verdict row ({exc})") from None
    return out


def grade_chains(
    chains: Sequence[Chain], problems: Mapping[str, Problem], cfg: VerifyConfig, out_path: Path,
    answer_types: Mapping[str, str] | None = None,
) -> list[Verdict]:
    """Verdicts for ``chains`` (in their order), written to ``out_path``; resumes from an existing file."""
    out_path = Path(out_path)
    answer_types = answer_types or {}
    missing = [c.problem_id for c in chains if c.problem_id not in problems]
    if missing:
        raise ValueError(f"{len(missing)} chain(s) name unknown problems, e.g. {missing[0]!r}")
    done: dict[tuple[str, int], Verdict] = {}
    if out_path.is_file():
        try:
            done = {k: v for k, v in read_verdicts(out_path).items() if v.grader_version == grader_id(cfg.mode)}
        except ValueError as exc:
            log.warning("regrading everything: %s", exc)
    keys = [(c.problem_id, c.sample_index) for c in chains]
    todo = [c for c, k in zip(chains, keys, strict=True) if k not in done]
    if done:
        log.info("verify: %d of %d chains already graded in %s", len(chains) - len(todo), len(chains), out_path)

    def _write() -> None:
        rows = [{"problem_id": k[0], "sample_index": k[1], **done[k].to_dict()} for k in keys if k in done]
        atomic_write_jsonl(out_path, rows)

    if todo:
        with Grader(cfg) as grader:
            for i in range(0, len(todo), CHUNK):
                chunk = todo[i: i + CHUNK]
                items = [(c.text, problems[c.problem_id].answer, answer_types.get(c.problem_id) or cfg.answer_type,
                          c.n_tokens, c.finish_reason) for c in chunk]
                for c, v in zip(chunk, grader.grade_many(items), strict=True):
                    done[(c.problem_id, c.sample_index)] = v
                _write()
    elif not out_path.is_file() or len(done) != len(set(keys)):
        _write()
    return [done[k] for k in keys]
