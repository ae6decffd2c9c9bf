"""Stage contracts: the plain, frozen records that cross a file or a Ray boundary.

Every stage reads and writes these and nothing looser (open-instruct keeps the same
discipline in its ``data_types.py``). Each record round-trips through a JSON-able dict
(``to_dict`` / ``from_dict``) so that a JSONL line or a parquet row is one record.
This module imports nothing heavy: it is part of the pure core.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

LIMO_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."

FinishReason = Literal["stop", "length"]
VerdictStatus = Literal["ok", "no_answer", "timeout", "error"]


class _Record:
    """Shared dict conversion for the frozen dataclasses below."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs = {}
        for key, value in row.items():
            if key not in names:
                continue
            if isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            kwargs[key] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class Problem(_Record):
    """A problem with its gold answer. ``id`` is stable across runs (source + index or content hash)."""

    id: str
    question: str
    answer: str
    source: str = ""
    solution: str | None = None
    subject: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplingSpec(_Record):
    """How to sample: the same fields for every engine."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = -1
    max_new_tokens: int = 1024
    stop: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class GenerationRequest(_Record):
    """One problem's prompt: chat messages plus how to sample them."""

    problem_id: str
    messages: tuple[dict[str, str], ...]
    sampling: SamplingSpec

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem_id": self.problem_id,
            "messages": [dict(m) for m in self.messages],
            "sampling": self.sampling.to_dict(),
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> GenerationRequest:
        return cls(
            problem_id=row["problem_id"],
            messages=tuple(dict(m) for m in row["messages"]),
            sampling=SamplingSpec.from_dict(row["sampling"]),
        )


@dataclass(frozen=True)
class Completion(_Record):
    """One sampled continuation as an engine returns it."""

    text: str
    n_tokens: int
    finish_reason: FinishReason
    engine: str
    engine_version: str = ""


@dataclass(frozen=True)
class Chain(_Record):
    """A teacher's reasoning chain for one problem: one row of a ``chains/`` parquet shard."""

    problem_id: str
    sample_index: int
    round: int
    teacher: str
    engine: str
    seed: int
    prompt_hash: str
    text: str
    n_tokens: int
    finish_reason: FinishReason


@dataclass(frozen=True)
class VerificationStep(_Record):
    """A place where a chain checks its own work: character span, kind and the matched text."""

    start: int
    end: int
    kind: str  # "keyword", "substitution", "recompute"; "hollow" = a check phrase with no work (not counted)
    text: str


@dataclass(frozen=True)
class Verdict(_Record):
    """The verifier's judgement of one chain against its gold answer."""

    correct: bool
    status: VerdictStatus
    extracted: str | None
    verification_steps: tuple[VerificationStep, ...] = ()
    verification_density: float = 0.0
    arithmetic_consistency: float | None = None
    quality: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    grader_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["verification_steps"] = [s.to_dict() for s in self.verification_steps]
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Verdict:
        row = dict(row)
        steps = tuple(
            s if isinstance(s, VerificationStep) else VerificationStep.from_dict(s)
            for s in (row.pop("verification_steps", None) or ())
        )
        obj = super().from_dict(row)
        return dataclasses.replace(obj, verification_steps=steps)


@dataclass(frozen=True)
class ChainRef:
    """Which chain an SFT example came from: ``<round>/<problem_id>/<sample_index>`` in files (problem ids may
    hold '/'; the round and sample index never do)."""

    round: int
    problem_id: str
    sample_index: int

    @classmethod
    def of(cls, chain: Chain) -> ChainRef:
        return cls(chain.round, chain.problem_id, chain.sample_index)

    def __str__(self) -> str:
        return f"{self.round}/{self.problem_id}/{self.sample_index}"

    @classmethod
    def parse(cls, text: str) -> ChainRef | None:
        """The reference written by :meth:`__str__`, or None for anything else (a fixed set's ``toy:<style>``, "")."""
        try:
            rnd, rest = text.split("/", 1)
            pid, idx = rest.rsplit("/", 1)
            return cls(int(rnd), pid, int(idx))
        except ValueError:
            return None

    @property
    def key(self) -> tuple[str, int]:
        """(problem_id, sample_index): the chain's key in its round's chains and verdicts."""
        return self.problem_id, self.sample_index


@dataclass(frozen=True)
class SFTExample(_Record):
    """One training conversation (system, user, assistant) with a link back to its chain."""

    id: str
    messages: tuple[dict[str, str], ...]
    problem_id: str = ""
    source: str = ""  # "loop" (selected chain), "static" (fixed set), ...
    chain_ref: str = ""  # str(ChainRef) for selected chains
    score: float | None = None

    @property
    def ref(self) -> ChainRef | None:
        return ChainRef.parse(self.chain_ref)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["messages"] = [dict(m) for m in self.messages]
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> SFTExample:
        row = dict(row)
        messages = tuple(dict(m) for m in row.pop("messages"))
        obj = super().from_dict({**row, "messages": ()})
        return dataclasses.replace(obj, messages=messages)


def chat_messages(question: str, system_prompt: str | None = LIMO_SYSTEM_PROMPT) -> tuple[dict[str, str], ...]:
    """The prompt every stage uses: an optional system message, then the problem as the user turn."""
    msgs: list[dict[str, str]] = []
    if system_prompt:
        msgs.append({"role": "system", "content": system_prompt})
    msgs.append({"role": "user", "content": question})
    return tuple(msgs)
