"""Generation engines: one small protocol and a name -> factory table.

An engine turns :class:`~limo_rl.types.GenerationRequest` objects into
:class:`~limo_rl.types.Completion` objects, ``request.sampling.n`` per request, each sample
with the seed the driver derived for it. The three real implementations are ``hf``
(transformers ``generate``), ``vllm`` (``vllm.LLM``) and ``openai`` (any OpenAI-compatible
server). Each lives in its own module and imports its heavy library lazily, so this table
costs nothing to import (the torchtune habit: protocols and an explicit table, no plugins).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from limo_rl.types import Completion, GenerationRequest


class Engine(Protocol):
    name: str
    version: str

    def generate(
        self, requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]],
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        """``seeds[i]`` holds one seed per sample of ``requests[i]`` (``len == sampling.n``); ``progress(k)``
        is told of every k samples finished while the call runs (the console counts samples, not shards)."""
        ...

    def close(self) -> None: ...


def _make_hf(cfg: Any, model: str) -> Engine:
    from limo_rl.generate.engines.hf import HFEngine

    return HFEngine(model, device=cfg.device, dtype=cfg.dtype, batch_size=cfg.batch_size)


def _make_vllm(cfg: Any, model: str) -> Engine:
    from limo_rl.generate.engines.vllm import VLLMEngine

    return VLLMEngine(model, cfg.vllm, dtype=cfg.dtype)


def _make_openai(cfg: Any, model: str) -> Engine:
    from limo_rl.generate.engines.openai import OpenAIEngine

    return OpenAIEngine(cfg.openai, default_model=model)


ENGINES: dict[str, Callable[[Any, str], Engine]] = {"hf": _make_hf, "vllm": _make_vllm, "openai": _make_openai}


def make_engine(cfg: Any, model: str) -> Engine:
    """Build the engine named by ``cfg.engine`` for ``model`` (a path, hub id or served model name)."""
    try:
        factory = ENGINES[cfg.engine]
    except KeyError:
        raise ValueError(f"generate.engine = {cfg.engine!r}: unknown engine; known: {', '.join(ENGINES)}") from None
    return factory(cfg, model)
