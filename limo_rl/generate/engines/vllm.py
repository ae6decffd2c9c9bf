"""The ``vllm`` engine: ``vllm.LLM`` with one ``SamplingParams`` per sample.

This is the only module that imports vLLM, and only when the engine is built, so the
package works without the ``vllm`` extra (``limo_rl.config.preflight`` rejects a vLLM recipe
on a machine without it, with the install command). Each sample is its own prompt with
``n=1`` and its derived seed, so chains do not depend on batch composition; vLLM's prefix
cache shares the prompt's KV across the samples of a problem. ``max_tokens`` is always set
(vLLM's default is 16). The request building and the result mapping are the pure functions
:func:`limo_rl.generate.prompts.vllm_sampling_kwargs` and :func:`completion_from_vllm`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.generate.prompts import normalize_finish_reason, vllm_sampling_kwargs
from limo_rl.types import Completion, GenerationRequest

log = logging.getLogger(__name__)

INSTALL_HINT = "vLLM is not installed: pip install -e '.[vllm]' (needs a CUDA build of torch), or use generate.engine=hf"


def completion_from_vllm(output: Any, max_new_tokens: int, version: str) -> Completion:
    """Map one ``vllm.CompletionOutput`` (``text``, ``token_ids``, ``finish_reason``) to a Completion."""
    n_tokens = len(output.token_ids or ())
    finish = normalize_finish_reason(output.finish_reason, n_tokens, max_new_tokens)
    return Completion(text=output.text, n_tokens=n_tokens, finish_reason=finish, engine="vllm",
                      engine_version=version)


def flatten_requests(
    requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]]
) -> list[tuple[int, list[dict[str, str]], dict[str, Any]]]:
    """(request index, messages, SamplingParams kwargs) for every sample, in request then sample order."""
    if len(requests) != len(seeds):
        raise ValueError(f"{len(requests)} requests but {len(seeds)} seed lists")
    flat = []
    for i, (req, sd) in enumerate(zip(requests, seeds, strict=True)):
        if len(sd) != req.sampling.n:
            raise ValueError(f"problem {req.problem_id}: {len(sd)} seeds for n={req.sampling.n} samples")
        for seed in sd:
            flat.append((i, [dict(m) for m in req.messages], vllm_sampling_kwargs(req.sampling, seed)))
    return flat


def regroup(
    flat: Sequence[tuple[int, Any, Any]], completions: Sequence[Completion], n_requests: int
) -> list[list[Completion]]:
    """Undo :func:`flatten_requests`: completions back into one list per request."""
    if len(flat) != len(completions):
        raise ValueError(f"vLLM returned {len(completions)} outputs for {len(flat)} prompts")
    out: list[list[Completion]] = [[] for _ in range(n_requests)]
    for (i, _, _), c in zip(flat, completions, strict=True):
        out[i].append(c)
    return out


class VLLMEngine:
    name = "vllm"

    def __init__(self, model: str | Path, vcfg: Any, *, dtype: str = "auto", seed: int = 0):
        try:
            import vllm
        except ImportError as exc:
            raise RuntimeError(INSTALL_HINT) from exc
        self._vllm = vllm
        self.version = f"vllm=={vllm.__version__}"
        kwargs: dict[str, Any] = dict(
            model=str(model),
            tensor_parallel_size=vcfg.tensor_parallel_size,
            gpu_memory_utilization=vcfg.gpu_memory_utilization,
            enforce_eager=vcfg.enforce_eager,
            dtype=dtype,
            seed=seed,
        )
        if vcfg.max_model_len is not None:
            kwargs["max_model_len"] = vcfg.max_model_len
        if vcfg.tensor_parallel_size > 1:
            # Inside a Ray actor that already holds the tp GPUs: spawn local workers on them
            # rather than ask Ray for another placement group (which would wait forever).
            kwargs["distributed_executor_backend"] = "mp"
        log.info("starting vLLM (%s) for %s, tp=%d", self.version, model, vcfg.tensor_parallel_size)
        self.llm = vllm.LLM(**kwargs)

    def generate(
        self, requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]]
    ) -> list[list[Completion]]:
        flat = flatten_requests(requests, seeds)
        if not flat:
            return [[] for _ in requests]
        params = [self._vllm.SamplingParams(**kw) for _, _, kw in flat]
        outputs = self.llm.chat([msgs for _, msgs, _ in flat], sampling_params=params, use_tqdm=False,
                                add_generation_prompt=True)
        completions = [
            completion_from_vllm(o.outputs[0], kw["max_tokens"], self.version)
            for o, (_, _, kw) in zip(outputs, flat, strict=True)
        ]
        return regroup(flat, completions, len(requests))

    def close(self) -> None:
        self.llm = None
