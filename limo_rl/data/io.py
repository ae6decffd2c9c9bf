"""The canonical problems file: JSONL (or parquet) rows of :class:`~limo_rl.types.Problem`.

Every stage that takes problems reads them through :func:`read_problems`, which accepts
any file with at least ``id``, ``question`` and ``answer`` (extra fields go to ``meta``)
and names the file, row and field of anything malformed. Richer loaders with field
mappings, HF datasets and filtering live in :mod:`limo_rl.data.pool`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from limo_rl.artifacts import atomic_write_jsonl
from limo_rl.errors import DataError
from limo_rl.types import Problem

_KNOWN = {"id", "question", "answer", "source", "solution", "subject", "meta"}


def problem_from_row(row: Any, where: str) -> Problem:
    """Build a Problem from a mapping, or raise DataError naming ``where`` (``file:row``) and the field."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key in ("id", "question", "answer"):
        if key not in row or row[key] is None:
            raise DataError(f"{where}: missing field '{key}'")
    pid, question, answer = row["id"], row["question"], row["answer"]
    if isinstance(pid, (int, float)) and not isinstance(pid, bool):
        pid = str(pid)
    if not isinstance(pid, str) or not pid.strip():
        raise DataError(f"{where}: field 'id' must be a non-empty string, got {row['id']!r}")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: field 'question' must be non-empty text")
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise DataError(f"{where}: field 'answer' must be non-empty text, got {row['answer']!r}")
    meta = dict(row.get("meta") or {})
    meta.update({k: v for k, v in row.items() if k not in _KNOWN})
    return Problem(
        id=pid, question=question, answer=answer, source=str(row.get("source") or ""),
        solution=row.get("solution"), subject=row.get("subject"), meta=meta,
    )


def iter_rows(path: str | Path) -> Iterable[tuple[int, Any]]:
    """(1-based row number, parsed row) for a JSONL or parquet file; bad JSON raises DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield i, row
        return
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{i}: not valid JSON ({exc.msg})") from None


def iter_objects(path: str | Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(1-based row number, JSON object) for each non-blank row; anything else raises DataError naming file:row."""
    for i, row in iter_rows(path):
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        yield i, row


def read_problems(path: str | Path) -> list[Problem]:
    """Read a problems file; duplicate ids are an error (ids key shards and resumes)."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, row in iter_rows(path):
        p = problem_from_row(row, f"{path}:{i}")
        if p.id in seen:
            raise DataError(f"{path}:{i}: field 'id' {p.id!r} repeats row {seen[p.id]}")
        seen[p.id] = i
        problems.append(p)
    return problems


def write_problems(path: str | Path, problems: Iterable[Problem]) -> Path:
    return atomic_write_jsonl(path, (p.to_dict() for p in problems))
