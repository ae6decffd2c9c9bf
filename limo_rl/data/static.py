"""The static arm's fixed SFT set: LIMO's 817 curated chains (or v2's 800), or the toy gold set.

LIMO (Ye et al., 2025) publishes its set as rows of ``question``, ``solution`` (the full
reasoning chain, ending in a boxed answer) and ``answer``: HF ``GAIR/LIMO`` (817 rows) and
``GAIR/LIMO-v2`` (800 rows), or a local JSONL/parquet copy. Each row becomes both a
:class:`~limo_rl.types.Problem` and a ready :class:`~limo_rl.types.SFTExample` whose
messages are built exactly as the loop builds selected chains (system prompt, question,
chain), so the static arm and the loop train through the same code. A malformed row
always stops the load: a silently shorter static set would skew the comparison.
"""

from __future__ import annotations

import logging
from typing import Any

from limo_rl.config import StaticArmConfig
from limo_rl.data.io import DataError
from limo_rl.data.sources import FieldSpec, RowSource, iter_source, row_to_problem
from limo_rl.data.text import last_boxed
from limo_rl.resolve import World, WorldSettings, generated_source, settings_of
from limo_rl.types import Problem, SFTExample, chat_messages

log = logging.getLogger(__name__)
LIMO_FIELDS = FieldSpec(question=("question", "problem"), answer="answer", solution="solution",
                        answer_from_solution=True)


def sft_example(problem: Problem, chain: str, system_prompt: str | None, *, ex_id: str, source: str,
                chain_ref: str = "", score: float | None = None) -> SFTExample:
    """The one way a (problem, chain) pair becomes a training conversation."""
    messages = (*chat_messages(problem.question, system_prompt), {"role": "assistant", "content": chain})
    return SFTExample(id=ex_id, messages=messages, problem_id=problem.id, source=source, chain_ref=chain_ref,
                      score=score)


def load_static(
    cfg: StaticArmConfig, system_prompt: str | None, world: WorldSettings | None = None,
) -> tuple[list[Problem], list[SFTExample]]:
    """(problems, SFT examples) of the static set, in file order, cut to ``cfg.limit``; a generated set is
    made under ``world`` (the recipe's world settings; None: the world's defaults)."""
    generated = generated_source(cfg.source, cfg.format)
    if generated is not None:
        return _generated(generated, cfg, system_prompt, settings_of(world, generated.name))
    src = RowSource(cfg.source, cfg.format, cfg.split, cfg.revision)
    problems: list[Problem] = []
    examples: list[SFTExample] = []
    for i, row, where in iter_source(src):
        p = row_to_problem(row, where, LIMO_FIELDS, src.label, i - 1)
        if not p.solution:
            raise DataError(f"{where}: field 'solution' is missing or empty: the static set trains on it")
        problems.append(p)
        examples.append(sft_example(p, p.solution, system_prompt, ex_id=f"static-{p.id}", source="static"))
        if cfg.limit is not None and len(examples) >= cfg.limit:
            break
    if not examples:
        raise DataError(f"{cfg.source}: the static set is empty")
    log.info("static set: %d examples from %s", len(examples), cfg.source)
    return problems, examples


def load_static_set(
    cfg: StaticArmConfig, system_prompt: str | None, world: WorldSettings | None = None,
) -> list[SFTExample]:
    """The static arm's SFT examples (see :func:`load_static`)."""
    return load_static(cfg, system_prompt, world)[1]


def _generated(
    generated: World, cfg: StaticArmConfig, system_prompt: str | None, settings: Any,
) -> tuple[list[Problem], list[SFTExample]]:
    examples = generated.gold(cfg.limit or 817, settings, system_prompt)
    problems = []
    for ex in examples:
        user = next((m["content"] for m in ex.messages if m["role"] == "user"), "")
        chain = next((m["content"] for m in reversed(ex.messages) if m["role"] == "assistant"), "")
        answer = last_boxed(chain) or ""
        if user and answer:
            problems.append(Problem(id=ex.problem_id or ex.id, question=user, answer=answer, source="toy_gold",
                                    solution=chain))
    return problems, examples
