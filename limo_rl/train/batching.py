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
size changes meaning). Hence ``auto`` never packs (``packing`` stays an explicit choice):

* one example per device: padded (nothing to flatten; TRL warns that padding-free is moot);
* otherwise, CPU or GPU, with or without FlashAttention (whose varlen kernels take padding-free
  batches directly): padding-free: faster than padded with an identical loss curve, and the
  recipe's batch size keeps meaning examples (LIMO's "batch 1 per device, effective 32").

Pure core: standard library only.
"""

from __future__ import annotations

from typing import Any, Literal

Batching = Literal["padded", "padding_free", "packing"]


def resolve_batching(requested: str, *, use_gpu: bool, flash_attention: bool, per_device_batch_size: int = 2) -> Batching:
    """``auto`` -> a layout that keeps the batch size meaning examples; anything else is returned as given.

    ``use_gpu`` and ``flash_attention`` are kept for callers and logs: ``auto`` no longer depends on
    them, since packing (the only GPU-specific choice) changes what a step is.
    """
    if requested == "auto":
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
