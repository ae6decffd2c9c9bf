"""GPU check: limo_rl's HF engine tokens/s and TRL SFT tokens/s + MFU on a random 0.5B-shaped Qwen2 in bf16.

Made for a lent GPU machine that has torch and transformers but no Ray, TRL or vLLM, and no hub:
TRL (and what it needs beyond transformers) comes along as wheels in ``.whl/`` (``make gpu-wheels``
fills it here; the device run carries it) and is installed offline at start. The model is a
random-init Qwen2 with Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 KV heads, vocab
151,936) and the toy teacher's tokenizer (its ids are a subset of the vocabulary), so nothing is
downloaded. A random model rarely emits EOS, so every sample runs to ``max_new_tokens``: the work
is fixed and the figure comparable between machines.

    python benchmarks/gpu_check.py                 # one H200: ~3-5 minutes, well inside 8
    python benchmarks/gpu_check.py --tiny          # CPU smoke run of the same code (seconds)

MFU counts 6 x parameters (non-embedding and the tied LM head) + 12 x layers x hidden x sequence
FLOPs per trained token (Kaplan et al. / PaLM appendix B), over the device's dense bf16 peak
(``--peak-tflops``; H200 / H100 SXM: 989).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
WHEELS = REPO / ".whl"
NEEDED = ("trl", "accelerate", "datasets", "pydantic", "yaml", "pyarrow")

QWEN05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
               num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=1024, max_position_embeddings=2048, tie_word_embeddings=True)


def ensure_packages() -> None:
    """Install what is missing from the wheels in .whl/ (offline); a no-op where everything is present."""
    missing = [m for m in NEEDED if importlib.util.find_spec(m) is None]
    if not missing:
        return
    if not WHEELS.is_dir():
        sys.exit(f"missing {', '.join(missing)} and no {WHEELS} to install them from (make gpu-wheels)")
    names = {"yaml": "pyyaml"}
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(WHEELS),
           *[names.get(m, m) for m in missing]]
    print("installing from .whl/:", " ".join(missing), flush=True)
    subprocess.run(cmd, check=True)


def build_model(shape: dict, out: Path, dtype: str) -> tuple[Path, int]:
    """A random-init Qwen2 of ``shape`` saved with the shipped toy tokenizer; returns (path, parameters)."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from limo_rl.toy.bootstrap import PRETRAINED_DIR

    teacher = next(p for p in sorted(PRETRAINED_DIR.iterdir()) if (p / "config.json").is_file())
    tok_cfg = json.loads((teacher / "config.json").read_text())
    cfg = Qwen2Config(**shape, bos_token_id=tok_cfg["bos_token_id"], eos_token_id=tok_cfg["eos_token_id"],
                      pad_token_id=tok_cfg["pad_token_id"])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        if (teacher / name).is_file():
            shutil.copy(teacher / name, out / name)
    return out, n_params


def hf_engine_rate(model: Path, device: str, dtype: str, problems: int, n: int, max_new: int, batch: int) -> dict:
    from limo_rl.config import GenerateConfig
    from limo_rl.generate.engines.hf import HFEngine
    from limo_rl.generate.prompts import build_request, sample_seeds
    from limo_rl.toy.problems import make_problems

    cfg = GenerateConfig(n=n, max_new_tokens=max_new, temperature=1.0, top_p=1.0, batch_size=batch)
    probs = make_problems(problems, seed=0)
    reqs = [build_request(p, cfg) for p in probs]
    seeds = [sample_seeds(0, 1, p.id, n) for p in probs]
    t0 = time.perf_counter()
    eng = HFEngine(model, device=device, dtype=dtype, batch_size=batch)
    start = time.perf_counter() - t0
    eng.generate(reqs[:1], seeds[:1])  # warm-up
    _sync()
    t0 = time.perf_counter()
    comps = [c for row in eng.generate(reqs, seeds) for c in row]
    _sync()
    wall = time.perf_counter() - t0
    eng.close()
    tokens = sum(c.n_tokens for c in comps)
    return {"chains": len(comps), "tokens": tokens, "wall_s": round(wall, 2), "tokens_per_s": round(tokens / wall, 1),
            "engine_start_s": round(start, 2), "batch_prompts": batch, "samples_per_prompt": n}


def sft_rate(model: Path, device: str, bf16: bool, rows: int, seq: int, batch: int, steps: int, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    g = torch.Generator().manual_seed(0)
    vocab = 500  # inside the toy tokenizer's ids, so labels and embeddings are ordinary tokens
    data = [{"input_ids": torch.randint(4, vocab, (seq,), generator=g).tolist()} for _ in range(rows)]
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, learning_rate=1e-5,
        bf16=bf16, gradient_checkpointing=True, logging_steps=max(1, steps // 4), save_strategy="no",
        report_to="none", use_cpu=device == "cpu", max_length=seq, packing=False, dataset_num_proc=None,
        include_num_input_tokens_seen="non_padding", disable_tqdm=True, dataloader_pin_memory=device != "cpu",
    )
    # fp32 master weights, bf16 autocast: what limo_rl's runner does under DDP
    net = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32, attn_implementation="sdpa")
    trainer = SFTTrainer(model=net, args=args, train_dataset=Dataset.from_list(data))
    warm = max(1, steps // 5)
    marks: dict[int, tuple[float, int]] = {}

    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            _sync()
            marks[state.global_step] = (time.perf_counter(), int(state.num_input_tokens_seen or 0))

    trainer.add_callback(Clock())
    trainer.train()
    (t_a, tok_a), (t_b, tok_b) = marks[warm], marks[steps]
    rate = (tok_b - tok_a) / (t_b - t_a)
    return {"steps_timed": steps - warm, "tokens_per_step": batch * seq, "tokens_per_s": round(rate, 1),
            "final_loss": trainer.state.log_history[-1].get("train_loss")}


def mfu(shape: dict, n_params: int, seq: int, tokens_per_s: float, peak_tflops: float) -> float:
    # With tied embeddings the parameter count holds the matrix once; as compute it is the LM head
    # (the lookup is free), so 6 x all parameters is the matmul count, plus attention's scores.
    flops_per_token = 6 * n_params + 12 * shape["num_hidden_layers"] * shape["hidden_size"] * seq
    return tokens_per_s * flops_per_token / (peak_tflops * 1e12)


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny shape, float32, a few steps")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of one device")
    ap.add_argument("--out", default=None, help="write the figures as JSON here too")
    args = ap.parse_args(argv)
    ensure_packages()
    import torch
    import transformers

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        sys.exit("no CUDA device: use --tiny for a CPU smoke run")
    shape = TINY if args.tiny else QWEN05B
    device, dtype = ("cuda", "bfloat16") if cuda else ("cpu", "float32")
    gen = dict(problems=8, n=2, max_new=16, batch=8) if args.tiny else dict(problems=256, n=4, max_new=512,
                                                                             batch=128)
    sft = dict(rows=16, seq=64, batch=4, steps=4) if args.tiny else dict(rows=2048, seq=2048, batch=8, steps=60)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        t0 = time.perf_counter()
        model, n_params = build_model(shape, Path(tmp) / "model", dtype)
        report = {
            "device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
            "transformers": transformers.__version__, "trl": __import__("trl").__version__,
            "shape": "tiny" if args.tiny else "Qwen2.5-0.5B", "parameters": n_params, "dtype": dtype,
            "build_s": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(report), flush=True)
        report["hf_engine"] = hf_engine_rate(model, device, dtype, gen["problems"], gen["n"], gen["max_new"],
                                             gen["batch"])
        print("hf engine:", json.dumps(report["hf_engine"]), flush=True)
        report["sft"] = sft_rate(model, device, cuda, sft["rows"], sft["seq"], sft["batch"], sft["steps"],
                                 Path(tmp) / "sft")
        report["sft"]["mfu"] = float(f"{mfu(shape, n_params, sft['seq'], report['sft']['tokens_per_s'], args.peak_tflops):.4g}")
        print("trl sft:", json.dumps(report["sft"]), flush=True)
    report["total_s"] = round(time.perf_counter() - t0, 1)
    print(f"HF engine {report['hf_engine']['tokens_per_s']:.0f} tok/s; TRL SFT {report['sft']['tokens_per_s']:.0f} "
          f"tok/s, MFU {100 * report['sft']['mfu']:.1f}% (peak {args.peak_tflops:g} TFLOPS); "
          f"{report['total_s']:.0f} s in all")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
