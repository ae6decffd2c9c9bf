"""How a batch is laid out: padded, padding-free, or packed, and which one ``auto`` picks.

Reasoning chains are long-tailed (most short, a few ten times longer), so padding a batch to
its longest member wastes compute on pad tokens, while packing (TRL's best-fit-decreasing
``packing``) and ``padding_free`` flatten the batch. Which wins depends on the attention kernel:

* GPU with FlashAttention 2/3: varlen kernels make a flattened batch cost only its real tokens,
  so packing is the norm (TRL docs; open-instruct and LIMO-style SFT recipes pack).
* CPU (or GPU without FlashAttention): the sdpa/eager path rebuilds a block-diagonal mask from
  ``position_ids`` at full flattened length, which costs more than the padding it saves.
  ``benchmarks/bench_train.py`` measured on this 2-core CPU (tiny Qwen2, long-tailed lengths):
  padded is fastest, padding-free and packing slower (figures in the train notes of the report).

So ``auto`` means padded on CPU and on GPUs without FlashAttention, packing on GPUs with it.

Pure core: standard library only.
"""

from __future__ import annotations

from typing import Any, Literal

Batching = Literal["padded", "padding_free", "packing"]


def resolve_batching(requested: str, *, use_gpu: bool, flash_attention: bool) -> Batching:
    """``auto`` -> the measured default for the device; anything else is returned as given."""
    if requested == "auto":
        return "packing" if (use_gpu and flash_attention) else "padded"
    if requested not in ("padded", "padding_free", "packing"):
        raise ValueError(f"train.batching = {requested!r}; allowed: auto, padded, padding_free, packing")
    return requested  # type: ignore[return-value]


def batching_kwargs(mode: Batching, max_length: int) -> dict[str, Any]:
    """SFTConfig keyword arguments for a batching mode.

    TRL refuses ``padding_free`` without packing while ``max_length`` is set (it would not
    enforce it), so for padding-free ``max_length`` goes to TRL as None and the runner truncates
    the tokenized rows itself (:func:`limo_rl.train.runner.truncate_rows`).
    """
    if mode == "padded":
        return {"packing": False, "padding_free": False, "max_length": max_length}
    if mode == "padding_free":
        return {"packing": False, "padding_free": True, "max_length": None}
    if mode == "packing":
        return {"packing": True, "packing_strategy": "bfd", "padding_free": True, "max_length": max_length}
    raise ValueError(f"unknown batching mode {mode!r}")
