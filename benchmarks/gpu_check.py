"""GPU check: limo_rl's own SFT path at the LIMO shape and its HF engine, on one GPU, in one JSON.

Made for a lent GPU machine with Python 3.12, a CUDA torch and an older transformers, no TRL,
datasets or pydantic, and no package index. What it lacks travels as cp312 wheels in ``.whl/``
(``make gpu-wheels``: under 59 MiB, see ``benchmarks/gpu_wheels.py``). vLLM cannot travel: its
wheels alone exceed the limit on what a run may carry, so the vLLM engine is not measured here.

The device command (the wheels go into a venv that sees the machine's torch; not ``pip install
--target DIR`` with ``PYTHONPATH=DIR``: ``datasets`` fingerprints every Dataset with dill, and dill
pickles modules outside ``sys.prefix`` by value, which fails on pyarrow's module, so
``Dataset.from_list`` breaks there)::

    python -m venv --system-site-packages --without-pip /tmp/lr && \
    python -m pip --python /tmp/lr/bin/python install -q --no-index --no-deps .whl/*.whl && \
    OMP_NUM_THREADS=8 /tmp/lr/bin/python benchmarks/gpu_check.py --out $OUT/gpu_check.json

    python benchmarks/gpu_check.py --tiny          # CPU smoke run of the same code (seconds)

It measures, on a random-init Qwen2 of Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 KV
heads, vocab 151,936) with the toy teacher's tokenizer (nothing is downloaded), in at most ~8 minutes
on one H100:

* **training**: limo_rl's own path in-process (``build_trainer``: TRL's SFTTrainer, assistant-only
  loss, gradient checkpointing, bf16 autocast over fp32 weights as under DDP), at the LIMO shape (one
  16,384-token conversation per step), then ``save_model``: tokens/s, MFU, peak GPU memory and the
  save time, beside the planner's predictions for the same shape (``limo_rl.loop.plan``);
* **generation**: limo_rl's HF engine at LIMO's sampling (T 0.7, top_p 0.95). A random model rarely
  emits EOS, so every sample runs to ``max_new_tokens``: the work is fixed and comparable.

MFU counts 6 x parameters (the tied LM head included) + 6 x layers x hidden x sequence FLOPs per
trained token: attention's two matmuls, causal (half the square), forward and backward (Kaplan et al.;
PaLM appendix B without the causal half); recomputation is not counted. Peak: ``--peak-tflops``
(H100/H200 SXM dense bf16: 989).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NEEDED = {"trl": "1.16", "transformers": "5.19", "datasets": "3.0", "pydantic": "2.7", "accelerate": "1.10"}

QWEN05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
               num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=1024, max_position_embeddings=2048, tie_word_embeddings=True)


def check_packages() -> None:
    """Stop with the install command when a package is missing or older than limo_rl needs."""
    import importlib.metadata as md

    from packaging.version import Version

    bad = []
    for name, least in NEEDED.items():
        try:
            if Version(md.version(name)) < Version(least):
                bad.append(f"{name} {md.version(name)} < {least}")
        except md.PackageNotFoundError:
            bad.append(f"{name} missing")
    if bad:
        sys.exit(f"{'; '.join(bad)}: install .whl/ (make gpu-wheels) as this script's docstring shows")


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

    cfg = GenerateConfig(n=n, max_new_tokens=max_new, temperature=0.7, top_p=0.95, batch_size=batch)  # LIMO's
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
            "engine_start_s": round(start, 2), "batch_prompts": batch, "samples_per_prompt": n,
            "temperature": cfg.temperature, "top_p": cfg.top_p}


def sft_rate(model: Path, cuda: bool, seq: int, steps: int, out: Path) -> dict:
    """limo_rl's own trainer (``build_trainer``) on one ``seq``-token conversation per step, then save_model."""
    import torch
    from transformers import AutoTokenizer, TrainerCallback

    from limo_rl.config import TrainConfig
    from limo_rl.train.runner import build_trainer

    tok = AutoTokenizer.from_pretrained(str(model))
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(steps + 1):  # an answer longer than seq: TRL cuts each row at max_length, so every step is seq
        ids = torch.randint(4, 500, (seq + 64,), generator=g).tolist()
        rows.append({"messages": [{"role": "user", "content": f"Problem {i}: what is 2 + 2?"},
                                  {"role": "assistant", "content": tok.decode(ids)}]})
    cfg = TrainConfig(use_gpu=cuda, bf16=cuda, gradient_checkpointing=True, max_length=seq, per_device_batch_size=1,
                      strategy="ddp", epochs=1, max_steps=steps, save_strategy="steps", save_steps=10**6,
                      logging_steps=max(1, steps // 4), batching="padded", cpus_per_worker=1)
    config = {"train_rows": rows, "val_rows": [], "base_model": str(model), "cfg": cfg.model_dump(),
              "out_dir": str(out), "seed": 0, "batching": "padded"}
    trainer, template = build_trainer(config)
    marks: dict[int, tuple[float, int]] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            _sync()
            marks[state.global_step] = (time.perf_counter(), int(state.num_input_tokens_seen or 0))

    trainer.add_callback(Clock())
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    warm = max(1, steps // 5)
    (t_a, tok_a), (t_b, tok_b) = marks[warm], marks[steps]
    t0 = time.perf_counter()
    trainer.save_model(str(out / "model"))
    save_s = time.perf_counter() - t0
    return {"steps_timed": steps - warm, "tokens_per_step": (tok_b - tok_a) // (steps - warm),
            "tokens_per_s": round((tok_b - tok_a) / (t_b - t_a), 1), "peak_memory_gib": peak and round(peak, 2),
            "save_model_s": round(save_s, 2), "final_loss": trainer.state.log_history[-1].get("train_loss"),
            "chat_template": template, "assistant_only_loss": trainer.args.assistant_only_loss}


def planner_prediction(model: Path, seq: int, gpu: str = "h100-80gb") -> dict:
    """What ``limo-rl plan`` assumes for this shape on one GPU: memory by part, and tokens/s at its MFU."""
    from limo_rl.loop.models import model_shape
    from limo_rl.loop.plan import GPU_SPECS, Assumptions, train_memory_gib

    m = model_shape(str(model))
    mem = train_memory_gib(m, world=1, strategy="ddp", max_length=seq, batch=1, checkpointing=True)
    peak = GPU_SPECS[gpu][2]
    return {"memory_gib": {k: round(v, 2) for k, v in mem.items()}, "gpu": gpu, "mfu": Assumptions().mfu,
            "tokens_per_s": round(peak * Assumptions().mfu / (8 * m.params), 1)}


def mfu(shape: dict, n_params: int, seq: int, tokens_per_s: float, peak_tflops: float) -> float:
    # With tied embeddings the parameter count holds the matrix once; as compute it is the LM head
    # (the lookup is free), so 6 x all parameters is the matmul count; attention adds 6 L d T (causal).
    flops_per_token = 6 * n_params + 6 * shape["num_hidden_layers"] * shape["hidden_size"] * seq
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
    check_packages()
    import torch
    import transformers

    cuda = torch.cuda.is_available() and not args.tiny
    if not cuda and not args.tiny:
        sys.exit("no CUDA device: use --tiny for a CPU smoke run")
    shape = TINY if args.tiny else QWEN05B
    device, dtype = ("cuda", "bfloat16") if cuda else ("cpu", "float32")
    gen = dict(problems=8, n=2, max_new=16, batch=8) if args.tiny else dict(problems=256, n=4, max_new=512,
                                                                             batch=128)
    sft = dict(seq=64, steps=4) if args.tiny else dict(seq=16384, steps=30)  # LIMO: 16k tokens, batch 1
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        t0 = time.perf_counter()
        model, n_params = build_model(shape, Path(tmp) / "model", "float32" if not cuda else dtype)
        report = {
            "device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__,
            "transformers": transformers.__version__, "trl": __import__("trl").__version__,
            "python": sys.version.split()[0], "vllm": "not measured: its wheels exceed the carry limit",
            "shape": "tiny" if args.tiny else "Qwen2.5-0.5B", "parameters": n_params, "dtype": dtype,
            "build_s": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(report), flush=True)
        report["sft"] = sft_rate(model, cuda, sft["seq"], sft["steps"], Path(tmp) / "sft")
        report["sft"]["mfu"] = float(f"{mfu(shape, n_params, sft['seq'], report['sft']['tokens_per_s'], args.peak_tflops):.4g}")
        report["sft"]["planner"] = planner_prediction(model, sft["seq"])
        print("limo_rl sft:", json.dumps(report["sft"]), flush=True)
        report["hf_engine"] = hf_engine_rate(model, device, dtype, gen["problems"], gen["n"], gen["max_new"],
                                             gen["batch"])
        print("hf engine:", json.dumps(report["hf_engine"]), flush=True)
    report["total_s"] = round(time.perf_counter() - t0, 1)
    sf = report["sft"]
    print(f"HF engine {report['hf_engine']['tokens_per_s']:.0f} tok/s; limo_rl SFT {sf['tokens_per_s']:.0f} tok/s "
          f"(planner {sf['planner']['tokens_per_s']:.0f}), MFU {100 * sf['mfu']:.1f}% (peak {args.peak_tflops:g} TFLOPS), "
          f"peak memory {sf['peak_memory_gib']} GiB (planner {sf['planner']['memory_gib']['total']}); "
          f"{report['total_s']:.0f} s in all")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
