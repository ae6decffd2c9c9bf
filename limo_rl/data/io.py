"""The canonical problems file: JSONL (or parquet) rows of :class:`~limo_rl.types.Problem`.

Every stage that takes problems reads them through :func:`iter_problems` (streaming) or
:func:`read_problems` (a list), which accept
any file with at least ``id``, ``question`` and ``answer`` (extra fields go to ``meta``)
and names the file, row and field of anything malformed. Richer loaders with field
mappings, HF datasets and filtering live in :mod:`limo_rl.data.pool`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from limo_rl.errors import DataError
from limo_rl.run.artifacts import atomic_write_jsonl
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
    for key, value in (("id", pid), ("answer", answer)):
        if isinstance(value, float) and not math.isfinite(value):
            raise DataError(f"{where}: field '{key}' must be text or a finite number, got {value!r}")
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
    if row.get("meta") is not None and not isinstance(row["meta"], dict):
        raise DataError(f"{where}: field 'meta' must be a JSON object, got {type(row['meta']).__name__}")
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

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a truncated or foreign file
            raise DataError(f"{path}: not a readable parquet file ({type(exc).__name__}: {str(exc)[:200]})") from None
        yield from enumerate(rows, start=1)
        return
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, start=1):
            try:  # a UTF-8 byte-order mark (Windows editors) is accepted on the first line
                line = raw.decode("utf-8-sig" if i == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{i}: not UTF-8 text (byte {exc.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                yield i, json.loads(line, parse_constant=_reject_constant)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
            except ValueError as exc:
                raise DataError(f"{path}:{i}: {exc}") from None


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python's json accepts them): a row holding them is malformed."""
    raise ValueError(f"{name} is not valid JSON (use a string or a finite number)")


def iter_objects(path: str | Path) -> Iterable[tuple[int, dict[str, Any]]]:
    """(1-based row number, JSON object) for each non-blank row; anything else raises DataError naming file:row."""
    for i, row in iter_rows(path):
        if not isinstance(row, dict):
            raise DataError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        yield i, row


def iter_problems(path: str | Path, *, unique: bool = False) -> Iterator[Problem]:
    """The problems of a problems file, one at a time (streaming); with ``unique``, a repeated id is an
    error naming both rows (ids key shards and resumes)."""
    seen: dict[str, int] = {}
    for i, row in iter_rows(path):
        p = problem_from_row(row, f"{path}:{i}")
        if unique:
            if p.id in seen:
                raise DataError(f"{path}:{i}: field 'id' {p.id!r} repeats row {seen[p.id]}")
            seen[p.id] = i
        yield p


def read_problems(path: str | Path) -> list[Problem]:
    """Read a problems file; duplicate ids are an error (ids key shards and resumes)."""
    return list(iter_problems(path, unique=True))


def write_problems(path: str | Path, problems: Iterable[Problem]) -> Path:
    return atomic_write_jsonl(path, (p.to_dict() for p in problems))
