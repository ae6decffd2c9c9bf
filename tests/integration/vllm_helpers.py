"""Shared set-up of the `vllm` tests: the shipped toy teacher and toy problems (no hub, CPU build of vLLM)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from limo_rl.toy.bootstrap import PRETRAINED_DIR

# Set before vLLM starts its engine process: a small KV cache and no core pinning on a shared 2-core box.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")


def needs_vllm():
    """Skip (cleanly, at collection) where vLLM is not installed: the main venv."""
    return pytest.importorskip("vllm", reason="vLLM is not installed here (make install-vllm; make test-vllm)")


def toy_teacher() -> Path:
    """The toy teacher that ships with limo_rl (a tiny Qwen2 + ChatML tokenizer, float32)."""
    dirs = sorted(p for p in PRETRAINED_DIR.iterdir() if p.is_dir() and (p / "config.json").is_file())
    assert dirs, f"no shipped toy teacher under {PRETRAINED_DIR}"
    return dirs[0]
