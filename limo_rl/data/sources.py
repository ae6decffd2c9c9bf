"""Rows from wherever a dataset lives: JSONL, parquet, a local dataset folder, or a Hugging Face id.

One reader for the pool, the benchmarks and the static LIMO set, so each of them maps
fields the same way and reports a bad row the same way (``file:row: field ...``).
Hugging Face loading is the real ``datasets.load_dataset(id, split=, revision=)`` call,
imported lazily; a folder written by ``Dataset.save_to_disk`` goes through ``load_from_disk``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.data.io import DataError, iter_rows
from limo_rl.data.text import last_boxed
from limo_rl.types import Problem

log = logging.getLogger(__name__)
FORMATS = ("auto", "jsonl", "parquet", "hf")
_SHA = re.compile(r"[0-9a-f]{40}")
# Every Hub dataset this process loaded, at the commit it was loaded: the run's manifest records these,
# so a Hub edit can never silently change what a run read (an unpinned source is pinned on first load).
LOADED: dict[str, dict[str, Any]] = {}
# A question longer than this is no problem statement (competition problems run to a few thousand
# characters; 100,000 is beyond the prompt room of any recipe's window): a bad row, so a 10 MB "question"
# stops the build with its file and row (``pool.on_bad_row: skip`` drops and counts it) before an engine
# tokenizes it.
MAX_QUESTION_CHARS = 100_000


@dataclass(frozen=True)
class RowSource:
    """Where rows come from: ``location`` is a file, a folder or an HF dataset id."""

    location: str
    format: str = "auto"
    split: str = "train"
    revision: str | None = None
    config: str | None = None

    @property
    def label(self) -> str:
        """A short name for ids and reports: the file stem or the last part of an HF id."""
        p = Path(self.location)
        name = p.stem if p.suffix in (".jsonl", ".json", ".parquet") else p.name or self.location
        return name.replace("/", "_") or "rows"


def resolve_format(src: RowSource) -> str:
    if src.format not in FORMATS:
        raise DataError(f"{src.location}: unknown format {src.format!r}; allowed: {', '.join(FORMATS)}")
    if src.format != "auto":
        return src.format
    p = Path(src.location)
    if p.is_file():
        return "parquet" if p.suffix == ".parquet" else "jsonl"
    if p.suffix in (".jsonl", ".json", ".parquet"):
        raise DataError(f"{p}: file not found")
    return "hf"


def iter_source(src: RowSource) -> Iterator[tuple[int, Any, str]]:
    """(1-based row number, row, where-prefix for errors) for every row of the source, in order."""
    fmt = resolve_format(src)
    if fmt in ("jsonl", "parquet"):
        path = Path(src.location)
        if fmt == "parquet" and path.suffix != ".parquet":
            raise DataError(f"{path}: format 'parquet' needs a .parquet file")
        for i, row in iter_rows(path):
            yield i, row, f"{path}:{i}"
        return
    ds = _load_hf(src)
    for i, row in enumerate(ds, start=1):
        yield i, row, f"{src.location}[{src.split}]:{i}"


def _load_hf(src: RowSource):
    """The real ``datasets`` loaders: a saved-dataset folder, else ``load_dataset`` (hub id or data folder)."""
    import datasets

    p = Path(src.location)
    if p.is_dir() and ((p / "dataset_info.json").is_file() or (p / "dataset_dict.json").is_file()):
        obj = datasets.load_from_disk(str(p))
        if isinstance(obj, datasets.DatasetDict):
            if src.split not in obj:
                raise DataError(f"{p}: no split {src.split!r}; available: {', '.join(obj)}")
            obj = obj[src.split]
        return obj
    revision = src.revision
    if not p.exists():  # a Hub id: load (and record) an exact commit
        revision = hub_commit(src.location, src.revision) or src.revision
        if src.revision is None and revision is not None:
            log.warning("%s: no revision pinned; loading commit %s (pin it with revision: %s)", src.location,
                        revision[:12], revision)
        LOADED[f"{src.location}:{src.config or 'default'}:{src.split}"] = {
            "id": src.location, "config": src.config, "split": src.split, "requested": src.revision,
            "revision": revision}
    try:
        return datasets.load_dataset(src.location, src.config, split=src.split, revision=revision)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        hint = "" if p.is_dir() else " (offline? give a local JSONL/parquet file instead)"
        raise DataError(
            f"{src.location}: cannot load {'local folder' if p.is_dir() else 'Hugging Face dataset'} "
            f"(split {src.split!r}, revision {src.revision!r}): {type(exc).__name__}: {exc}{hint}"
        ) from None


def hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit sha ``revision`` (a branch, tag or sha; None: the default branch) names on the Hub.

    None when the Hub cannot be asked (offline): ``load_dataset`` then uses its cache, and the
    requested revision is what gets recorded.
    """
    if revision is not None and _SHA.fullmatch(revision):
        return revision
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(repo_id, revision=revision).sha
    except Exception as exc:  # offline, private, or no such repo: load_dataset reports it better
        log.debug("could not resolve %s@%s on the Hub: %s", repo_id, revision, exc)
        return None


@dataclass(frozen=True)
class FieldSpec:
    """Which row fields hold what. ``question`` lists candidates, the first present one wins."""

    question: tuple[str, ...] = ("question",)
    answer: str | None = "answer"
    solution: str | None = "solution"
    subject: str | None = None
    id: str | None = None
    answer_from_solution: bool = False
    multi_part_answers: bool = False  # benchmarks: a list/dict answer becomes "a, b" / "k: v; ..." text


def _text(value: Any, where: str, name: str) -> str:
    if isinstance(value, bool):
        raise DataError(f"{where}: field {name!r} must be text, got a boolean")
    if isinstance(value, float) and not math.isfinite(value):  # NaN/Infinity (parquet floats) are not ids or answers
        raise DataError(f"{where}: field {name!r} must be text or a finite number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, float)):
        value = str(value)
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if not isinstance(value, str):
        raise DataError(f"{where}: field {name!r} must be text, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: field {name!r} is empty")
    return value.strip()


def row_to_problem(row: Any, where: str, spec: FieldSpec, prefix: str, index: int) -> Problem:
    """Map one raw row to a Problem with id ``<prefix>-<id field or 0-based row index>``; DataError if malformed."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a mapping, got {type(row).__name__}")
    qkey = next((k for k in spec.question if row.get(k) is not None), None)
    if qkey is None:
        raise DataError(f"{where}: missing field {' or '.join(repr(k) for k in spec.question)}")
    question = _text(row[qkey], where, qkey)
    if len(question) > MAX_QUESTION_CHARS:
        raise DataError(f"{where}: field {qkey!r} holds {len(question):,} characters, more than the "
                        f"{MAX_QUESTION_CHARS:,} a question may have (no prompt budget holds it); fix the row, or "
                        "set pool.on_bad_row: skip to drop and count it")
    solution = None
    if spec.solution and row.get(spec.solution) is not None:
        solution = _text(row[spec.solution], where, spec.solution) if str(row[spec.solution]).strip() else None
    raw_answer = row.get(spec.answer) if spec.answer else None
    if spec.multi_part_answers and isinstance(raw_answer, (list, dict)) and len(raw_answer) > 1:
        parts = raw_answer.items() if isinstance(raw_answer, dict) else enumerate(raw_answer)
        raw_answer = ("; ".join(f"{k}: {v}" for k, v in parts) if isinstance(raw_answer, dict)
                      else ", ".join(str(v) for _, v in parts))
    if raw_answer is not None and str(raw_answer).strip():
        answer = _text(raw_answer, where, spec.answer or "answer")
    elif spec.answer_from_solution:
        if not solution:
            raise DataError(f"{where}: no answer field and no {spec.solution!r} to take a \\boxed{{}} answer from")
        boxed = last_boxed(solution)
        if boxed is None:
            raise DataError(f"{where}: field {spec.solution!r} has no \\boxed{{}} answer")
        answer = boxed
    elif raw_answer is None:
        raise DataError(f"{where}: missing field {spec.answer!r}")
    else:
        raise DataError(f"{where}: field {spec.answer!r} is empty")
    if spec.id:
        if row.get(spec.id) is None:
            raise DataError(f"{where}: missing field {spec.id!r}")
        ident = _text(row[spec.id], where, spec.id)
    else:
        ident = str(index)
    subject = None
    if spec.subject and row.get(spec.subject) is not None:
        subject = str(row[spec.subject])
    return Problem(id=f"{prefix}-{ident}", question=question, answer=answer, source=prefix,
                   solution=solution, subject=subject, meta={"row": index + 1})
