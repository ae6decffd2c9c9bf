"""Evaluation protocols: how each benchmark is sampled, resolved from ``evaluate`` in the recipe.

``custom`` uses the section's own fields for every benchmark. ``limo`` reproduces the LIMO
paper's protocol (Ye et al. 2025, "LIMO: Less is More for Reasoning", section 5 and its
evaluation scripts): greedy decoding (one sample) for the large sets, 16 samples at
temperature 0.7, top_p 0.95 with pass@1 averaged over them for the small, high-variance
AIME24 and AMC23, at most 32768 new tokens, and the LIMO system prompt.
``open-r1`` is DeepSeek-R1's protocol as Hugging Face's open-r1 evaluates with lighteval: every
benchmark sampled at temperature 0.6, top_p 0.95, up to 32768 new tokens, no system prompt (R1's
advice: the instruction sits in the user turn), pass@1 averaged over n samples per problem (16 on the
small AIME/AMC sets, 4 elsewhere), so limo_rl's figures line up with published R1-style tables.

A field the user set explicitly in the ``evaluate`` section (``evaluate.n=4``,
``--max-new-tokens 256``) overrides the preset, so a CPU smoke run of the ``limo`` protocol is
one override away; ``n`` only changes the sampled benchmarks (greedy stays one sample).
A new preset is one entry in :data:`PRESETS`.

Pure core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limo_rl.config import EvaluateConfig
from limo_rl.types import LIMO_SYSTEM_PROMPT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchmarkProtocol:
    """How one benchmark is sampled and scored."""

    benchmark: str
    n: int
    temperature: float
    top_p: float
    max_new_tokens: int
    system_prompt: str | None
    ks: tuple[int, ...]

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "temperature": self.temperature, "top_p": self.top_p,
                "max_new_tokens": self.max_new_tokens, "system_prompt": self.system_prompt, "ks": list(self.ks)}


LIMO_SAMPLED = ("aime24", "amc23")
LIMO_MAX_NEW_TOKENS = 32768


def _custom(cfg: EvaluateConfig, benchmark: str) -> BenchmarkProtocol:
    n = cfg.n
    if cfg.temperature == 0.0 and n > 1:
        log.warning("evaluate: %d greedy samples of %s will be identical (temperature 0); set "
                    "evaluate.temperature for sampling", n, benchmark)
    return BenchmarkProtocol(
        benchmark=benchmark, n=n, temperature=cfg.temperature, top_p=cfg.top_p,
        max_new_tokens=cfg.max_new_tokens, system_prompt=cfg.system_prompt, ks=_ks(cfg.k, n),
    )


def _limo(cfg: EvaluateConfig, benchmark: str) -> BenchmarkProtocol:
    given = cfg.model_fields_set
    max_new = cfg.max_new_tokens if "max_new_tokens" in given else LIMO_MAX_NEW_TOKENS
    system = cfg.system_prompt if "system_prompt" in given else LIMO_SYSTEM_PROMPT
    if benchmark in LIMO_SAMPLED:
        n = cfg.n if "n" in given else 16
        ks = _ks(cfg.k, n) if "k" in given else _ks([k for k in (1, 4, 8, 16) if k <= n], n)
        return BenchmarkProtocol(benchmark, n, 0.7, 0.95, max_new, system, ks)
    return BenchmarkProtocol(benchmark, 1, 0.0, 1.0, max_new, system, (1,))


OPEN_R1_SMALL = ("aime24", "aime25", "amc23")
OPEN_R1_MAX_NEW_TOKENS = 32768


def _open_r1(cfg: EvaluateConfig, benchmark: str) -> BenchmarkProtocol:
    given = cfg.model_fields_set
    n = cfg.n if "n" in given else (16 if benchmark in OPEN_R1_SMALL else 4)
    max_new = cfg.max_new_tokens if "max_new_tokens" in given else OPEN_R1_MAX_NEW_TOKENS
    system = cfg.system_prompt if "system_prompt" in given else None
    ks = _ks(cfg.k, n) if "k" in given else _ks([k for k in (1, 4, 8, 16) if k <= n], n)
    return BenchmarkProtocol(benchmark, n, 0.6, 0.95, max_new, system, ks)


def _ks(ks: list[int], n: int) -> tuple[int, ...]:
    """The requested k values plus 1 and n (the ends of the curve); a requested k > n is kept so the
    metrics report it as skipped rather than silently dropping it."""
    return tuple(sorted({*ks, 1, n}))


PRESETS: dict[str, Callable[[EvaluateConfig, str], BenchmarkProtocol]] = {
    "custom": _custom, "limo": _limo, "open-r1": _open_r1}


def resolve_protocol(cfg: EvaluateConfig, benchmark: str) -> BenchmarkProtocol:
    """The sampling protocol of ``benchmark`` under ``cfg.preset``."""
    try:
        make = PRESETS[cfg.preset]
    except KeyError:
        raise ValueError(f"evaluate.preset = {cfg.preset!r}: unknown; known: {', '.join(PRESETS)}") from None
    return make(cfg, benchmark)


def protocol_summary(cfg: EvaluateConfig) -> dict[str, dict[str, Any]]:
    """Benchmark -> its resolved protocol: what a cache key of the evaluate stage should hash.

    ``cfg.model_dump()`` alone misses which fields were set explicitly, and under a preset that
    decides the sampling (an explicit ``n: 1`` is not the preset's 16).
    """
    return {b: resolve_protocol(cfg, b).to_dict() for b in cfg.all_benchmarks()}
