"""How a batch is laid out: padded, padding-free, or packed, and which one ``auto`` picks.

Reasoning chains are long-tailed (most short, a few ten times longer), so padding a batch to
its longest member wastes compute on pad tokens, while padding-free (the batch flattened into
one sequence, positions restarting per example) and packing (TRL's best-fit-decreasing blocks of
``max_length`` tokens) spend it only on real tokens. transformers 5 rebuilds a block-diagonal
mask from the restarting ``position_ids`` on the sdpa/eager path, and FlashAttention's varlen
kernels use them directly, so no example attends to another.

``benchmarks/bench_train.py`` (tiny Qwen2, one epoch over 160 long-tailed chains, 2-core CPU,
8 examples per step) measured padded 1.4k tok/s, padding-free 2.8k (1.96x, the *same* loss:
the same optimization at half the cost), packing into one 2048-token block per step 4.1k
(2.9x, but a step is then a fixed number of tokens, not of examples, so the recipe's batch
size changes meaning). Hence ``auto``:

* one example per device: padded (nothing to flatten; TRL warns that padding-free is moot);
* GPU with FlashAttention: packing, the norm there (TRL docs, open-instruct);
* otherwise (CPU, GPU without FlashAttention): padding-free: faster than padded with an
  identical loss curve, and batch sizes keep meaning examples.

Pure core: standard library only.
"""

from __future__ import annotations

from typing import Any, Literal

Batching = Literal["padded", "padding_free", "packing"]


def resolve_batching(requested: str, *, use_gpu: bool, flash_attention: bool, per_device_batch_size: int = 2) -> Batching:
    """``auto`` -> the measured default for the device; anything else is returned as given."""
    if requested == "auto":
        if use_gpu and flash_attention:
            return "packing"
        return "padded" if per_device_batch_size <= 1 else "padding_free"
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
