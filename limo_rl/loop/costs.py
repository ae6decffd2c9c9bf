"""The planner's cost model: GPU specs and the memory, speed and disk formulas that
:mod:`limo_rl.loop.plan` applies to a recipe.

* **Training memory per GPU** (full fine-tune, bf16 mixed precision, Adam): 16 bytes per
  parameter of state (bf16 weights 2 + bf16 grads 2 + fp32 master 4 + two fp32 moments 8),
  sharded over the world size by ZeRO-3 / FSDP; with optimizer offload only weights and grads
  (4 B/param) stay on the GPU and 12 B/param go to host memory. On top: the gathered bf16
  working set of ZeRO-3/FSDP (two modules: the larger of a decoder layer and the embedding),
  activations at ``train.max_length`` x batch (with gradient checkpointing one input of h per
  layer plus one layer recomputed; without, every layer), the LM head's logits and a fixed 4 GiB
  for the CUDA context, NCCL and allocator fragmentation. TRL >= 1.16 never builds the full
  logits in SFT: its fused LM head works in tiles of 4096 tokens x 32768 vocabulary entries, so the
  logits cost two fp32 tiles (the tile and its gradient), ~1 GiB, not 10 B x tokens x vocab.
* **vLLM**: weights 2 B/param over ``tensor_parallel_size``; the KV cache gets
  ``gpu_memory_utilization`` x memory minus weights minus 2 GiB (activations, CUDA graphs) and
  must hold at least one ``max_model_len`` sequence; ``tensor_parallel_size`` <= GPUs per node.
* **Context**: prompt (512 tokens assumed) + ``max_new_tokens`` <= ``max_model_len`` <= the
  model's ``max_position_embeddings``; ``train.max_length`` <= the student's.
* **Time**: decode is memory-bound, so tokens/s per engine = batch / step time, step time =
  (weights + KV read per step) / (HBM bandwidth x 0.5), batch = sequences the KV room holds at
  the mean context, capped at vLLM's default ``max_num_seqs`` for the GPU (1024 on GPUs of 70 GiB
  or more other than the A100, else 256); chains average 40% of ``max_new_tokens``. Evaluation
  runs each benchmark on the engines its shards reach (one shard per engine,
  :func:`limo_rl.evaluate.harness.eval_shard_size`), each at the batch of the samples it holds:
  AIME's 480 samples keep 8 engines at a batch of 60, far below the KV room. Training FLOPs =
  (6 + 2 with checkpointing) x params x tokens at 30% of bf16 peak, plus the checkpoint writes
  (every save: 14 B/param, and the final model 2 B/param, at 1 GiB/s to the run storage).
  Grading: 20 chains/s per verify worker. Override the assumptions with ``limo-rl plan`` flags.
* **Disk**: chains (~1.5 B/token compressed) and verdicts (~600 B/chain), the final model of
  each training (2 B/param) and its kept checkpoints (14 B/param each: model + optimizer), plus
  one more while a training rotates them (the new checkpoint is written before the oldest goes).

Pure core: standard library and the model shapes only.
"""

from __future__ import annotations

from limo_rl.loop.models import ModelShape

GIB = 1024**3
# name -> (memory GiB, HBM bandwidth B/s, dense bf16 peak FLOP/s); vendor datasheets
GPU_SPECS: dict[str, tuple[float, float, float]] = {
    "a100-40gb": (40, 1.555e12, 312e12), "a100-80gb": (80, 2.039e12, 312e12), "l40s-48gb": (48, 0.864e12, 362e12),
    "h100-80gb": (80, 3.35e12, 989e12), "h200-141gb": (141, 4.8e12, 989e12),
}
PROMPT_TOKENS = 512
OVERHEAD_GIB = 4.0
VLLM_RESERVE_GIB = 2.0
LM_HEAD_TILE = (4096, 32768)  # TRL's fused LM head: tokens x vocabulary entries per tile



def max_num_seqs(gpu: str) -> int:
    """vLLM's default batch cap (``max_num_seqs``) for offline use: 1024 on GPUs of >= 70 GiB but A100s, else 256."""
    mem = GPU_SPECS[gpu][0]
    return 1024 if mem >= 70 and not gpu.startswith("a100") else 256


def train_memory_gib(m: ModelShape, *, world: int, strategy: str, max_length: int, batch: int = 1,
                     checkpointing: bool = True, offload: bool = False) -> dict[str, float]:
    """Per-GPU training memory by part (GiB), and host memory per rank for offload."""
    p = m.params
    shard = world if strategy in ("deepspeed_zero3", "fsdp") else 1
    states = (4 if offload else 16) * p / shard
    working = 2 * 2 * max(m.layer_params, m.embed_params) if shard > 1 else 0
    tokens = max_length * batch
    per_layer = m.activation_bytes_per_token_layer() * tokens
    acts = (m.num_hidden_layers * tokens * m.hidden_size * 2 + per_layer) if checkpointing \
        else m.num_hidden_layers * per_layer
    logits = 2 * 4 * min(tokens, LM_HEAD_TILE[0]) * min(m.vocab_size, LM_HEAD_TILE[1])  # two fp32 tiles
    parts = {"states": states / GIB, "working": working / GIB, "activations": acts / GIB,
             "logits": logits / GIB, "overhead": OVERHEAD_GIB}
    parts["total"] = sum(parts.values())
    parts["host_per_rank"] = (12 * p / shard / GIB) if offload else 0.0
    return parts


def vllm_engine(m: ModelShape, *, tp: int, util: float, gpu_mem_gib: float, max_model_len: int) -> dict[str, float]:
    weights = 2 * m.params / tp / GIB
    kv_room = util * gpu_mem_gib - weights - VLLM_RESERVE_GIB  # per GPU
    kv_per_token = m.kv_bytes_per_token / tp / GIB
    return {"weights_gib": weights, "kv_room_gib": kv_room,
            "full_sequences": kv_room / (kv_per_token * max_model_len) if kv_room > 0 else 0.0,
            "kv_tokens": kv_room / kv_per_token if kv_room > 0 else 0.0}


def decode_tokens_per_s(m: ModelShape, eng: dict[str, float], *, tp: int, mean_context: float,
                        bandwidth: float, efficiency: float, max_seqs: float = 256) -> float:
    """Tokens/s of one engine (all its TP GPUs): memory-bound decode at the batch the KV cache holds,
    at most ``max_seqs`` (vLLM's cap, or the sequences the engine has been given)."""
    batch = max(1.0, min(max_seqs, eng["kv_tokens"] / mean_context))
    kv_read = batch * mean_context * m.kv_bytes_per_token / tp
    step = (2 * m.params / tp + kv_read) / (bandwidth * efficiency)
    return batch / step
