"""Pure request building for the generate stage: prompts, sampling specs, seeds, hashes.

Every engine (HF, vLLM, an OpenAI-compatible server) is fed by the functions here, so the
same recipe yields the same prompts and seeds whichever engine runs them. LIMO samples its
teacher with the system prompt "Please reason step by step, and put your final answer within
\\boxed{}." (the default of ``generate.system_prompt``) and the problem as the user turn.

Seeds are derived, never global (DESIGN.md): sample ``i`` of problem ``p`` in round ``r`` gets
``derive_seed(base_seed, r, p, i)``. Engines that take one seed per sample (vLLM, OpenAI)
use those seeds directly, and so does the HF engine (one torch generator per sample), so results
depend neither on how many actors ran, nor on which one got the shard, nor on shard or batch size.
(:func:`batch_seed` is kept for callers that need one seed for a group of samples.)

Pure core: standard library and limo_rl.types/artifacts only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from limo_rl.run.artifacts import derive_seed, hash_obj
from limo_rl.types import GenerationRequest, Problem, SamplingSpec, chat_messages

# GenerateConfig fields that change what is generated (num_actors, concurrency... do not).
SPEC_FIELDS = (
    "engine", "n", "temperature", "top_p", "top_k", "max_new_tokens", "stop", "system_prompt", "batch_size",
    "dtype",
)


def sampling_spec(cfg: Any, seed: int = 0) -> SamplingSpec:
    """The engine-neutral sampling spec of a GenerateConfig (every sampling knob lives in the config)."""
    return SamplingSpec(
        n=int(cfg.n),
        temperature=float(cfg.temperature),
        top_p=float(cfg.top_p),
        top_k=int(cfg.top_k),
        max_new_tokens=int(cfg.max_new_tokens),
        stop=tuple(cfg.stop),
        seed=int(seed),
    )


def sample_seeds(base_seed: int, round: int, problem_id: str, n: int) -> tuple[int, ...]:
    """Per-sample seeds of one problem: ``derive_seed(base_seed, round, problem_id, i)`` for i < n."""
    return tuple(derive_seed(base_seed, round, problem_id, i) for i in range(n))


def build_request(problem: Problem, cfg: Any, *, base_seed: int = 0, round: int = 1) -> GenerationRequest:
    """One problem -> chat messages (system prompt + question) and its sampling spec.

    ``sampling.seed`` is the seed of sample 0; sample ``i`` uses ``sample_seeds(...)[i]``.
    """
    messages = chat_messages(problem.question, cfg.system_prompt)
    return GenerationRequest(
        problem_id=problem.id,
        messages=messages,
        sampling=sampling_spec(cfg, derive_seed(base_seed, round, problem.id, 0)),
    )


def prompt_hash(messages: Sequence[dict[str, str]]) -> str:
    """A short, stable hash of the chat messages a chain answers (role and content, in order)."""
    return hash_obj([{"role": m["role"], "content": m["content"]} for m in messages])[:16]


def batch_seed(seeds: Sequence[Sequence[int]]) -> int:
    """One 31-bit seed for an engine batch, from the sample seeds of its requests (order matters)."""
    return int(hash_obj([list(s) for s in seeds])[:8], 16) & 0x7FFFFFFF


def spec_hash(cfg: Any, model: str, *, round: int, base_seed: int, teacher: str) -> str:
    """Hash of everything that decides the chains of a problem: a changed spec invalidates old shards."""
    fields = {name: getattr(cfg, name) for name in SPEC_FIELDS}
    return hash_obj({"cfg": fields, "model": model, "round": round, "base_seed": base_seed, "teacher": teacher})


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string (as vLLM and OpenAI servers do); say whether one matched."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    if cut < 0:
        return text, False
    return text[:cut], True


def openai_payload(request: GenerationRequest, model: str, seed: int) -> dict[str, Any]:
    """The body of one ``/chat/completions`` call: one sample (n=1) with its own seed.

    ``top_k`` is not part of the OpenAI schema; it is sent only when set (vLLM and SGLang
    accept it as an extra parameter).
    """
    s = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": [dict(m) for m in request.messages],
        "n": 1,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "max_tokens": s.max_new_tokens,
        "seed": int(seed),
    }
    if s.stop:
        body["stop"] = list(s.stop)
    if s.top_k not in (-1, 0):
        body["top_k"] = s.top_k
    return body


def vllm_sampling_kwargs(spec: SamplingSpec, seed: int) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for one sample.

    ``max_tokens`` is always explicit (vLLM's default is 16 tokens); stop strings are
    excluded from the output, as in the other engines.
    """
    return {
        "n": 1,
        "temperature": spec.temperature,
        "top_p": spec.top_p,
        "top_k": spec.top_k if spec.top_k > 0 else -1,
        "max_tokens": spec.max_new_tokens,
        "stop": list(spec.stop) or None,
        "seed": int(seed),
        "include_stop_str_in_output": False,
    }


def normalize_finish_reason(reason: Any, n_tokens: int, max_new_tokens: int) -> str:
    """Map an engine's finish reason to ``stop`` or ``length`` (truncation must stay visible).

    ``length`` for an explicit length stop; for a missing reason, ``length`` when the budget
    was used up. Anything else (``stop``, ``eos``, ``stop_sequence``) is ``stop``; an aborted
    or filtered request is an error for the caller, not a chain.
    """
    if reason in ("length", "max_tokens"):
        return "length"
    if reason is None:
        return "length" if n_tokens >= max_new_tokens else "stop"
    if reason in ("abort", "content_filter", "error", "cancelled", "timeout"):
        raise ValueError(f"the engine did not finish the sample (finish_reason={reason!r})")
    return "stop"


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def prompt_opens_think(rendered_prompt: str) -> bool:
    """Does the chat template leave a ``<think>`` block open at the end of the generation prompt?

    R1-Distill, QwQ and Qwen3 (thinking) templates end the prompt with ``<think>\\n``, so the
    model's text holds only the closing tag.
    """
    return rendered_prompt.rstrip().endswith(THINK_OPEN)


def canonical_chain(text: str, opened_in_prompt: bool = False) -> str:
    """The one stored form of a chain: reasoning inside ``<think>...</think>``, then the answer.

    It is what the OpenAI engine returns (reasoning put back in tags) and what a model writes
    when it opens the tag itself. A chain whose ``<think>`` was opened by the prompt (or that
    shows a lone ``</think>``) gets its opening tag back, so SFT rows and the verifier see the
    same text whichever engine sampled it; a chain cut off while thinking stays an open block.
    """
    head = text.lstrip()
    if head.startswith(THINK_OPEN):
        return text
    close = text.find(THINK_CLOSE)
    lone_close = close >= 0 and THINK_OPEN not in text[:close]
    if opened_in_prompt or lone_close:
        return f"{THINK_OPEN}\n{head}"
    return text
