"""Context windows checked before any compute.

A recipe that asks vLLM for ``max_model_len`` beyond what the model was trained to attend over,
or ``max_new_tokens`` that cannot fit beside a prompt, would otherwise fail (or silently
truncate) at the first engine start, which for evaluation comes after hours of training. The
LIMO recipes ask for 32,768 new tokens of a 32,768-position model: the prompt must fit too.

The model's window is read from its ``config.json`` when it is on this machine (a local folder
or the Hugging Face cache); nothing is downloaded here, and a model whose config cannot be
found is not checked (the engine checks again when it starts). ``rope_scaling`` with a factor
(YaRN, linear, dynamic) extends the window the way vLLM extends it.

Pure core: standard library and limo_rl.errors (``huggingface_hub`` is imported lazily, when present).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from limo_rl.errors import RecipeError

# The fewest prompt tokens a chat request can have (template markers, a system prompt, a question).
MIN_PROMPT_TOKENS = 16


class ContextLengthError(RecipeError):
    """A prompt plus its ``max_new_tokens`` does not fit the engine's context window (checked before sampling)."""


def read_model_config(model: str) -> dict[str, Any] | None:
    """The model's ``config.json`` as a dict, from a local folder or the local HF cache; else None (for a
    ``scheme://`` URI too: a world's model before it is built, a served or stored model)."""
    if not model or "://" in model:
        return None
    path = Path(model).expanduser()
    if path.is_dir():
        cfg = path / "config.json"
        return _load(cfg) if cfg.is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers brings it
        return None
    try:
        cached = try_to_load_from_cache(model, "config.json")
    except Exception:  # not a repo id
        return None
    return _load(Path(cached)) if isinstance(cached, str) else None


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def model_window(config: dict[str, Any]) -> int | None:
    """Positions the model attends over: ``max_position_embeddings`` times a rope scaling factor, if any."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    positions = text.get("max_position_embeddings") or text.get("n_positions") or text.get("max_seq_len")
    if not isinstance(positions, int) or positions <= 0:
        return None
    scaling = text.get("rope_scaling") or text.get("rope_parameters")
    if isinstance(scaling, dict):
        factor = scaling.get("factor")
        kind = scaling.get("rope_type") or scaling.get("type")
        original = scaling.get("original_max_position_embeddings")
        if isinstance(factor, (int, float)) and factor > 1 and kind in ("yarn", "linear", "dynamic", "longrope"):
            base = original if isinstance(original, int) and original > 0 else positions
            return max(positions, int(base * factor))
    return positions


def window_problems(
    where: str, model: str, window: int | None, max_model_len: int | None, max_new_tokens: int
) -> list[str]:
    """Lines naming each way ``max_model_len`` / ``max_new_tokens`` cannot fit ``model``'s window."""
    problems = []
    limit = window
    if max_model_len is not None:
        if window is not None and max_model_len > window:
            problems.append(
                f"generate.vllm.max_model_len = {max_model_len} exceeds the {window} positions of {model} "
                f"(max_position_embeddings); set it to at most {window}")
        limit = max_model_len if window is None else min(window, max_model_len)
    if limit is not None and max_new_tokens + MIN_PROMPT_TOKENS > limit:
        problems.append(
            f"{where}.max_new_tokens = {max_new_tokens} leaves no room for the prompt in the {limit}-token "
            f"context of {model}; at most {limit - MIN_PROMPT_TOKENS} (the prompt must fit beside it)")
    return problems


def overflow(problem_id: str, prompt_tokens: int, max_new_tokens: int, limit: int) -> dict[str, Any] | None:
    """The record of a prompt that does not fit ``limit`` beside its new tokens (None when it fits)."""
    if prompt_tokens + max_new_tokens <= limit:
        return None
    return {"problem_id": problem_id, "prompt_tokens": prompt_tokens, "max_new_tokens": max_new_tokens,
            "limit": limit}


def overflow_message(record: dict[str, Any]) -> str:
    """One line naming an :func:`overflow` record."""
    pid, prompt, new, limit = (record[k] for k in ("problem_id", "prompt_tokens", "max_new_tokens", "limit"))
    if record.get("at_least"):  # counted by its length, not tokenized (see count_prompt_tokens)
        return (f"problem {pid!r}: prompt of at least {prompt} tokens ({record.get('chars')} characters) exceeds "
                f"the model's {limit}-token context; drop the problem")
    if prompt >= limit:
        return f"problem {pid!r}: prompt of {prompt} tokens alone fills the model's {limit}-token context"
    return (f"problem {pid!r}: prompt of {prompt} tokens + max_new_tokens {new} = {prompt + new} exceeds the "
            f"model's {limit}-token context; lower max_new_tokens to {max(0, limit - prompt)} or drop the problem")


def check_prompt_fits(problem_id: str, prompt_tokens: int, max_new_tokens: int, limit: int) -> None:
    """Raise ContextLengthError when one rendered prompt plus its new tokens exceeds ``limit``."""
    record = overflow(problem_id, prompt_tokens, max_new_tokens, limit)
    if record is not None:
        raise ContextLengthError(overflow_message(record))


def count_prompt_tokens(text: str, encode: Callable[[str], Sequence[int]], limit: int, max_token_chars: int) -> int:
    """Tokens of a rendered prompt, without tokenizing one that cannot fit however it tokenizes.

    No token of a vocabulary covers more characters than its longest entry (``max_token_chars``; byte-level
    and SentencePiece vocabularies spell each token in at least as many characters as it covers), so a text
    of more than ``limit * max_token_chars`` characters has more than ``limit`` tokens: its lower bound
    ``ceil(len / max_token_chars)`` is returned instead of tokenizing it (a 10 MB question would hold
    gigabytes in the tokenizer). ``max_token_chars`` <= 0: always tokenize."""
    if _beyond_any_tokenization(text, limit, max_token_chars):
        return -(-len(text) // max_token_chars)
    return len(encode(text))


def _beyond_any_tokenization(text: str, limit: int, max_token_chars: int) -> bool:
    return max_token_chars > 0 and len(text) > limit * max_token_chars


def prompt_overflows(
    requests: Iterable[Any], render: Callable[[Any], str], encode: Callable[[str], Sequence[int]],
    limit: int | None, max_token_chars: int = 0,
) -> list[dict[str, Any]]:
    """:func:`overflow` records of the requests (``problem_id``, ``sampling.max_new_tokens``) whose rendered
    prompt plus new tokens exceed ``limit`` (none when the window is unknown)."""
    if limit is None:
        return []
    out = []
    for req in requests:
        text = render(req)
        n = count_prompt_tokens(text, encode, limit, max_token_chars)
        record = overflow(req.problem_id, n, req.sampling.max_new_tokens, limit)
        if record is not None:
            if _beyond_any_tokenization(text, limit, max_token_chars):
                record.update(at_least=True, chars=len(text))
            out.append(record)
    return out
