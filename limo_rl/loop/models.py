"""What the planner knows about a model: its shape from ``config.json``, and the parameters that follow.

A local model folder is read directly. The Hub is unreachable from the machines this project
is built on, so for hub ids the planner falls back to :data:`KNOWN_CONFIGS`: the shape fields
copied from the ``config.json`` of the Qwen-family checkpoints the shipped recipes name (as
published on the Hugging Face Hub, Nov 2026). A plan built from this table says so
(``source`` says "known table"); any other hub id must be given as a local folder (or ``--config``).

Parameter count of a Qwen2-style decoder (no biases except q/k/v, RMSNorm, SwiGLU MLP):
``embed + L * (attn + mlp + 2h) + h (+ lm_head unless tied)`` with
``attn = h*h (q) + 2*h*kv (k, v) + h*h (o) + h + 2*kv (biases)`` and ``mlp = 3*h*inter``;
``kv = num_key_value_heads * head_dim``. Qwen2.5-32B gives 32.76e9, its model card's 32.5B
plus the untied embeddings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.resolve import model_world


class ModelInfoError(ValueError):
    """The planner cannot learn a model's shape; the message names the model and what to do."""


@dataclass(frozen=True)
class ModelShape:
    name: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    source: str  # "config.json at <path>" or "known table"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def embed_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def layer_params(self) -> int:
        h, kv = self.hidden_size, self.kv_dim
        attn = 2 * h * h + 2 * h * kv + h + 2 * kv
        return attn + 3 * h * self.intermediate_size + 2 * h

    @property
    def params(self) -> int:
        lm_head = 0 if self.tie_word_embeddings else self.embed_params
        return self.embed_params + self.num_hidden_layers * self.layer_params + self.hidden_size + lm_head

    @property
    def kv_bytes_per_token(self) -> int:
        """bf16 K and V of every layer for one token (what vLLM's paged cache stores)."""
        return 2 * self.num_hidden_layers * self.kv_dim * 2

    def activation_bytes_per_token_layer(self) -> int:
        """bf16 tensors one decoder layer keeps for backward, per token (flash attention: no s^2 term):
        7 of width h (norm inputs/outputs, q, attention output, o input, residuals), k and v (2 kv),
        and 4 of width intermediate (gate, up, act(gate)*up, down input)."""
        return 2 * (7 * self.hidden_size + 2 * self.kv_dim + 4 * self.intermediate_size)


def _qwen(name: str, h: int, inter: int, layers: int, heads: int, kv: int, vocab: int, ctx: int,
          tied: bool) -> dict[str, Any]:
    return {"hidden_size": h, "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv, "vocab_size": vocab, "max_position_embeddings": ctx,
            "tie_word_embeddings": tied}


KNOWN_TABLE = "known table (the hub config.json, copied into limo_rl: the Hub is not reachable)"
# Copied from each checkpoint's config.json on the Hugging Face Hub (the fields the planner uses).
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "Qwen/Qwen2.5-1.5B-Instruct": _qwen("1.5B", 1536, 8960, 28, 12, 2, 151936, 32768, True),
    "Qwen/Qwen2.5-7B-Instruct": _qwen("7B", 3584, 18944, 28, 28, 4, 152064, 32768, False),
    "Qwen/Qwen2.5-32B-Instruct": _qwen("32B", 5120, 27648, 64, 40, 8, 152064, 32768, False),
    "Qwen/Qwen2.5-Math-7B-Instruct": _qwen("M7B", 3584, 18944, 28, 28, 4, 152064, 4096, False),
    "Qwen/QwQ-32B": _qwen("QwQ", 5120, 27648, 64, 40, 8, 152064, 40960, False),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": _qwen("R1-1.5B", 1536, 8960, 28, 12, 2, 151936, 131072, False),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": _qwen("R1-7B", 3584, 18944, 28, 28, 4, 152064, 131072, False),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": _qwen("R1-32B", 5120, 27648, 64, 40, 8, 152064, 131072, False),
}


def shape_from_config(name: str, cfg: dict[str, Any], source: str) -> ModelShape:
    cfg = dict(cfg.get("text_config") or cfg)  # multimodal configs nest the language model
    try:
        return ModelShape(
            name=name, hidden_size=int(cfg["hidden_size"]), intermediate_size=int(cfg["intermediate_size"]),
            num_hidden_layers=int(cfg["num_hidden_layers"]), num_attention_heads=int(cfg["num_attention_heads"]),
            num_key_value_heads=int(cfg.get("num_key_value_heads") or cfg["num_attention_heads"]),
            vocab_size=int(cfg["vocab_size"]), max_position_embeddings=int(cfg["max_position_embeddings"]),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)), source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelInfoError(f"{source}: not a decoder config the planner understands (missing or bad {exc})") from None


def model_shape(model: str) -> ModelShape:
    """The shape of ``model``: a local folder's config.json, else the known table; ModelInfoError otherwise."""
    path = Path(model)
    world = model_world(model)
    if world is not None:
        raise ModelInfoError(f"{model}: a {world.name} model ({world.scale}); the planner is for GPU recipes")
    if path.is_dir() or path.name == "config.json":
        f = path / "config.json" if path.is_dir() else path
        if not f.is_file():
            raise ModelInfoError(f"{path}: no config.json in this model folder")
        try:
            cfg = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise ModelInfoError(f"{f}: not valid JSON ({exc.msg})") from None
        return shape_from_config(model, cfg, f"config.json at {f}")
    if model in KNOWN_CONFIGS:
        return shape_from_config(model, KNOWN_CONFIGS[model], KNOWN_TABLE)
    raise ModelInfoError(f"{model}: not a local model folder and not in the planner's table of known configs "
                         f"({', '.join(KNOWN_CONFIGS)}); download it and name the folder")
