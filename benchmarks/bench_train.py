"""Training throughput by batch layout on long-tailed chain lengths: padded vs padding-free vs packing.

Real reasoning chains are long-tailed: most are short, a few are ten times longer. Padding a
batch to its longest member wastes work on pad tokens; padding-free and packing flatten the
batch instead. Which layout wins depends on the attention kernel, so ``train.batching: auto``
(limo_rl.train.batching) follows what this benchmark measures on each device.

Runs the real trainer (limo_rl.train.runner.train_worker: TRL SFTTrainer, assistant-only loss)
in-process on a tiny random Qwen2 for one epoch per layout over the same examples, and prints
trained (non-pad) tokens per second and the ratio against the padded baseline measured in the
same run. Use ``--device cuda`` on a GPU machine (FlashAttention is used if installed).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train.py [--n 160] [--batch 8] [--hidden 128]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
from pathlib import Path

from limo_rl.config import TrainConfig
from limo_rl.toy.model import make_tiny_model
from limo_rl.train.rows import to_rows
from limo_rl.train.runner import train_worker
from limo_rl.types import SFTExample, chat_messages


def long_tailed_examples(n: int, seed: int = 0, long_share: float = 0.12) -> list[SFTExample]:
    """Chains of 3-8 arithmetic steps, and ~12% of them ten times longer."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        steps = rng.randint(3, 8) * (10 if rng.random() < long_share else 1)
        total, lines = 0, []
        for _ in range(steps):
            x = rng.randint(1, 99)
            lines.append(f"Add {x}: {total} + {x} = {total + x}.")
            total += x
        lines.append(f"Let me verify the sum once more. The answer is \\boxed{{{total}}}.")
        out.append(SFTExample(id=f"b{i}", messages=chat_messages(f"Sum the {steps} numbers.")
                              + ({"role": "assistant", "content": " ".join(lines)},)))
    return out


def run(mode: str, model_dir: Path, rows: list[dict], args: argparse.Namespace, work: Path) -> dict:
    batch = args.pack_batch if mode == "packing" else args.batch
    cfg = TrainConfig(epochs=1, learning_rate=1e-3, per_device_batch_size=batch, max_length=args.max_length,
                      validation_split=0.0, logging_steps=1000, save_strategy="steps", save_steps=10**6,
                      use_gpu=args.device == "cuda", bf16=args.device == "cuda")
    out = work / mode
    train_worker({"train_rows": rows, "val_rows": [], "base_model": str(model_dir), "cfg": cfg.model_dump(mode="json"),
                  "out_dir": str(out), "seed": 0, "batching": mode, "input_hash": "bench"})
    return json.loads((out / "train_metrics.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=160, help="examples")
    p.add_argument("--batch", type=int, default=8, help="per-device batch size")
    p.add_argument("--max-length", type=int, default=2048, help="truncation length; the packed block size")
    p.add_argument("--pack-batch", type=int, default=1, help="packed blocks per step (packing only)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--modes", default="padded,padding_free,packing")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import os

    os.environ.setdefault("LIMO_RL_QUIET", "1")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        model_dir = make_tiny_model(work / "model", hidden_size=args.hidden, num_layers=args.layers,
                                    max_position_embeddings=max(2048, args.max_length))
        examples = long_tailed_examples(args.n)
        rows = to_rows(examples)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(model_dir))
        lengths = sorted(len(tok.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"])
                         for r in rows)
        print(f"examples {len(rows)}  tokens/example: median {lengths[len(lengths) // 2]}, "
              f"p90 {lengths[int(0.9 * len(lengths))]}, max {lengths[-1]}, total {sum(lengths)}")
        print(f"model hidden {args.hidden} x {args.layers} layers, batch {args.batch} examples "
              f"(packing: {args.pack_batch} block(s) of {args.max_length}), device {args.device}")
        results = {mode: run(mode, model_dir, rows, args, work) for mode in args.modes.split(",")}
    base = results.get("padded")
    print(f"\n{'layout':<14}{'steps':>7}{'tok/s':>10}{'vs padded':>11}{'train_loss':>12}")
    for mode, m in results.items():
        ratio = f"{m['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base else "-"
        print(f"{mode:<14}{m['global_step']:>7}{m['tokens_per_s']:>10.0f}{ratio:>11}{m['train_loss']:>12.3f}")


if __name__ == "__main__":
    main()
