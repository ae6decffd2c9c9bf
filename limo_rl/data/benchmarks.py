"""The benchmark registry: where each evaluation set lives, how its fields map, its answer type.

The sets are those of LIMO's evaluation (AIME24/25, AMC23, MATH500, Minerva math,
OlympiadBench, GPQA-Diamond, plus the Chinese sets LIMO published as files) and the toy
world's ``toy_eval`` (test), ``toy_dev`` (dev: for choices, disjoint from ``toy_eval``) and ``toy_confirm``
(a final finding's test, disjoint from both and from the pool). Each has a Hugging Face id (loaded with ``datasets.load_dataset``)
and accepts a local JSONL/parquet override, since these machines reach no hub. The field
names were read from the copies of LIMO's ``eval/data`` files (``problem``/``question``,
``answer``, ``subject``, ``choice_answer``) and from the HF dataset cards.

The answer type tells the grader how to compare: ``number`` (AIME, AMC), ``expression``
(MATH500 and the like) or ``choice`` (a letter, GPQA).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from limo_rl.config import BENCHMARK_NAMES
from limo_rl.data.io import DataError
from limo_rl.data.sources import FieldSpec, RowSource, iter_source, row_to_problem
from limo_rl.resolve import DATA_SOURCES, WorldSettings, settings_of
from limo_rl.types import Problem

log = logging.getLogger(__name__)
AnswerType = Literal["number", "expression", "choice"]


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    answer_type: AnswerType
    hf_id: str | None
    split: str = "test"
    config: str | None = None
    revision: str | None = None  # a Hub commit; None: the default branch, resolved and recorded when loaded
    fields: FieldSpec = FieldSpec(question=("problem", "question"), answer="answer", solution="solution")
    # A benchmark's quirks are data, not branches: a raw-row fix applied before field mapping
    # (GPQA's separate options, gaokao's ``idx`` ids), and a generated source (limo_rl.resolve) for
    # sets made by code rather than read from a file.
    row_map: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    generated: str | None = None
    dev: bool = False  # a generated source's dev set (for choices), not its test benchmark
    confirm: bool = False  # a generated source's confirmation set (the test touched once, for a final finding)


def _gpqa_row(row: dict[str, Any]) -> dict[str, Any]:
    """Raw GPQA rows (``Question``, ``Correct Answer``, ``Incorrect Answer 1-3``) -> lettered question + letter.

    The option order is a hash of the question, so it is the same on every machine and run.
    """
    if "Correct Answer" not in row:
        return row
    options = [row.get("Correct Answer"), row.get("Incorrect Answer 1"), row.get("Incorrect Answer 2"),
               row.get("Incorrect Answer 3")]
    if any(not isinstance(o, str) for o in options) or not isinstance(row.get("Question"), str):
        return row  # row_to_problem reports the missing field
    key = hashlib.sha256(row["Question"].encode()).digest()
    order = sorted(range(4), key=lambda i: (key[i], i))
    letters = "ABCD"
    body = "\n".join(f"{letters[j]}. {options[i].strip()}" for j, i in enumerate(order))
    return {"question": f"{row['Question'].strip()}\n\n{body}", "answer": letters[order.index(0)],
            "id": row.get("Record ID")}


def _idx_as_id(row: dict[str, Any]) -> dict[str, Any]:
    """LIMO's gaokao file numbers its rows in ``idx``: that is the stable id."""
    return {**row, "id": row["idx"]} if "idx" in row else row


_Q = ("problem", "question")
REGISTRY: dict[str, BenchmarkSpec] = {
    s.name: s
    for s in (
        BenchmarkSpec("aime24", "number", "HuggingFaceH4/aime_2024", split="train"),
        BenchmarkSpec("aime25", "number", "math-ai/aime25"),
        BenchmarkSpec("amc23", "number", "math-ai/amc23"),
        BenchmarkSpec("math500", "expression", "HuggingFaceH4/MATH-500",
                      fields=FieldSpec(question=_Q, answer="answer", solution="solution", subject="subject")),
        BenchmarkSpec("minerva_math", "expression", "math-ai/minervamath"),
        BenchmarkSpec("olympiadbench", "expression", "math-ai/olympiadbench",
                      fields=FieldSpec(question=_Q, answer="answer", solution=None)),
        # The raw set keeps the correct option apart from three wrong ones; see _gpqa_row.
        BenchmarkSpec("gpqa_diamond", "choice", "Idavidrein/gpqa", split="train", config="gpqa_diamond",
                      fields=FieldSpec(question=("question", "Question"), answer="answer", solution=None),
                      row_map=_gpqa_row),
        BenchmarkSpec("cn_math_2024", "expression", None),
        BenchmarkSpec("gaokao", "expression", None, row_map=_idx_as_id),
        BenchmarkSpec("kaoyan", "expression", None),
        BenchmarkSpec("grade_school_math", "expression", None),
        BenchmarkSpec("toy_eval", "expression", None, generated="toy"),  # integers, fractions and x = n answers
        BenchmarkSpec("toy_dev", "expression", None, generated="toy", dev=True),  # disjoint from toy_eval
        # disjoint from the pool, toy_dev and toy_eval: for the final finding only (limo_rl.toy.problems)
        BenchmarkSpec("toy_confirm", "expression", None, generated="toy", confirm=True),
    )
}
assert set(REGISTRY) == set(BENCHMARK_NAMES), "registry and config.BENCHMARK_NAMES must agree"


def hub_dataset(name: str) -> dict[str, Any] | None:
    """Where a benchmark lives on the Hub: ``{id, config, split, revision}`` (``math500`` ->
    ``HuggingFaceH4/MATH-500``), so cards and exports name the dataset others evaluate on; None for a
    benchmark with no Hub source (local files, generated toy sets)."""
    spec = REGISTRY.get(name)
    if spec is None or spec.hf_id is None:
        return None
    return {"id": spec.hf_id, "config": spec.config, "split": spec.split, "revision": spec.revision}


def benchmark_answer_type(name: str) -> AnswerType:
    return _spec(name).answer_type


def is_generated_benchmark(name: str) -> bool:
    """Made by code (from the recipe's world settings) rather than read from a file or the hub."""
    return name in REGISTRY and REGISTRY[name].generated is not None


def generated_benchmark_size(name: str) -> int | None:
    """The own size of a generated benchmark (``toy_eval``: its world's 1,000), as its world makes it; None for
    a benchmark read from a file or the hub."""
    spec = REGISTRY.get(name)
    if spec is None or spec.generated is None:
        return None
    gen = DATA_SOURCES[spec.generated]
    return gen.confirm_benchmark_size if spec.confirm else gen.dev_benchmark_size if spec.dev else gen.benchmark_size


def _spec(name: str) -> BenchmarkSpec:
    if name not in REGISTRY:
        raise DataError(f"unknown benchmark {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def load_benchmark(
    name: str, path: str | None = None, limit: int | None = None, world: WorldSettings | None = None,
    revision: str | None = None,
) -> list[Problem]:
    """A benchmark's problems (ids ``<name>-<row id or index>``, source = name), from ``path`` or its HF id
    at ``revision`` (default: the registry's; the commit loaded is recorded in ``sources.LOADED``).

    A generated benchmark (``toy_eval``) without ``path`` is made under the recipe's world settings ``world``
    (its difficulty), so a recipe at difficulty 4 is evaluated on difficulty-4 problems.
    """
    spec = _spec(name)
    if spec.generated is not None and path is None:
        # no limit: the set's own size (toy_eval 1,000 problems, toy_dev 500; an equal share per kind)
        gen = DATA_SOURCES[spec.generated]
        make = gen.confirm_benchmark if spec.confirm else gen.dev_benchmark if spec.dev else gen.benchmark
        if make is None:
            raise DataError(f"benchmark {name!r}: the {spec.generated} world makes no "
                            f"{'confirmation' if spec.confirm else 'dev'} set")
        problems = make(limit, settings_of(world, spec.generated))
        return [p if p.source == name else _with_source(p, name) for p in problems[: limit or None]]
    if path is None and spec.hf_id is None:
        raise DataError(f"benchmark {name!r} has no Hugging Face copy: give a local file (evaluate.paths.{name})")
    src = RowSource(path or spec.hf_id or "", split=spec.split, config=None if path else spec.config,
                    revision=None if path else (revision or spec.revision))
    id_field = "id"
    out: list[Problem] = []
    seen: set[str] = set()
    for i, row, where in iter_source(src):
        if spec.row_map is not None and isinstance(row, dict):
            row = spec.row_map(row)
        has_id = isinstance(row, dict) and row.get(id_field) is not None
        spec_i = FieldSpec(question=spec.fields.question, answer=spec.fields.answer, solution=spec.fields.solution,
                           subject=spec.fields.subject, id=id_field if has_id else None,
                           multi_part_answers=True)
        p = row_to_problem(row, where, spec_i, name, i - 1)
        if p.id in seen:  # a repeated id field: fall back to the row index, still stable
            p = _replace_id(p, f"{name}-row{i - 1}")
        seen.add(p.id)
        if isinstance(row, dict) and row.get("choice_answer"):
            p.meta["choice_answer"] = row["choice_answer"]
        out.append(p)
        if limit is not None and len(out) >= limit:
            break
    log.info("benchmark %s: %d problems from %s", name, len(out), path or spec.hf_id)
    return out


def _with_source(p: Problem, source: str) -> Problem:
    return dataclasses.replace(p, source=source, meta=dict(p.meta))


def _replace_id(p: Problem, new_id: str) -> Problem:
    return dataclasses.replace(p, id=new_id, meta=dict(p.meta))
