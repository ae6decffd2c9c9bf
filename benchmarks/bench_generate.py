"""Generate-stage throughput: HF batched vs one request at a time, 1 vs 2 Ray actors, vLLM vs HF.

Run on demand (not a test):  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_generate.py
vLLM vs HF (in the vLLM venv, `make install-vllm`):
    OMP_NUM_THREADS=1 .venv-vllm/bin/python benchmarks/bench_generate.py --vllm-only
compares both engines in one process on the shipped toy teacher, the same prompts and seeds
(toy problems, n samples at T=0.6, one thread), printing tokens/s, start-up times and the ratio.
Both comparisons measure the baseline in the same run, on the same work, with the tiny random-init
Qwen2 (it rarely emits EOS, so every sample runs to max_new_tokens and the work is equal).
Targets from issue 5: batched >= 5x one-at-a-time; 2 actors >= 1.6x one actor on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.pop("RAY_ADDRESS", None)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from limo_rl.config import GenerateConfig  # noqa: E402
from limo_rl.generate.prompts import build_request, sample_seeds  # noqa: E402
from limo_rl.types import Problem  # noqa: E402


def _problems(k: int) -> list[Problem]:
    return [Problem(id=f"b{i:03d}", question=f"What is {i} + {3 * i}? Show the steps.", answer=str(4 * i))
            for i in range(k)]


def bench_batching(model: Path, n_problems: int, n: int, max_new: int, batch: int) -> float:
    import torch

    from limo_rl.generate.engines.hf import HFEngine

    torch.set_num_threads(1)
    cfg = GenerateConfig(n=n, max_new_tokens=max_new, temperature=1.0, top_p=1.0)
    probs = _problems(n_problems)
    reqs = [build_request(p, cfg) for p in probs]
    seeds = [sample_seeds(0, 1, p.id, n) for p in probs]
    rates = {}
    for label, bs in (("one at a time", 1), (f"batched ({batch} prompts x n={n})", batch)):
        eng = HFEngine(model, device="cpu", batch_size=bs)
        eng.generate(reqs[:1], seeds[:1])  # warm-up
        t0 = time.perf_counter()
        if bs == 1:  # one request, one sample per generate call
            one = cfg.model_copy(update={"n": 1})
            out = [eng.generate([build_request(p, one)], [(s,)])[0] for p, sd in zip(probs, seeds, strict=True)
                   for s in sd]
            comps = [c for row in out for c in row]
        else:
            comps = [c for row in eng.generate(reqs, seeds) for c in row]
        wall = time.perf_counter() - t0
        toks = sum(c.n_tokens for c in comps)
        rates[label] = len(comps) / wall
        print(f"  hf {label:<34} {len(comps):4d} chains {toks:6d} tokens {wall:7.2f}s  "
              f"{len(comps) / wall:8.2f} chains/s {toks / wall:9.1f} tok/s")
    a, b = rates.values()
    print(f"  ratio batched / one-at-a-time: {b / a:.2f}x (target >= 5x)")
    return b / a


def bench_actors(model: Path, n_problems: int, n: int, max_new: int, shard: int, batch: int) -> float:
    import ray

    from limo_rl.generate import run_generation

    tmp = Path(tempfile.mkdtemp(prefix="lrb-", dir="/tmp"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=str(tmp / "ray"))
    rates = {}
    try:
        for actors in (1, 2):
            cfg = GenerateConfig(n=n, max_new_tokens=max_new, temperature=1.0, top_p=1.0, shard_size=shard,
                                 batch_size=batch, num_actors=actors, cpus_per_actor=1.0)
            res = run_generation(_problems(n_problems), cfg, str(model), tmp / f"a{actors}")
            st = res.stats
            rates[actors] = st["new_tokens"] / st["generate_wall_s"]
            print(f"  ray {actors} actor(s) (OMP 1 each)   {st['chains']:4d} chains {st['new_tokens']:6d} tokens "
                  f"{st['generate_wall_s']:7.2f}s  {st['chains'] / st['generate_wall_s']:8.2f} chains/s "
                  f"{st['tokens_per_s']:9.1f} tok/s  (stage wall incl. actor start {st['wall_s']:.1f}s)")
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = rates[2] / rates[1]
    print(f"  ratio 2 actors / 1 actor: {ratio:.2f}x (target >= 1.6x on 2 cores)")
    return ratio


def bench_vllm_vs_hf(n_problems: int, n: int, max_new: int, batch: int) -> float | None:
    """vLLM and the HF engine on the shipped toy teacher: same prompts, seeds and thread count."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        print("  vLLM is not installed in this venv: skipped (make install-vllm; run with .venv-vllm/bin/python)")
        return None
    import torch

    from limo_rl.generate.engines.hf import HFEngine
    from limo_rl.generate.engines.vllm import VLLMEngine
    from limo_rl.toy.bootstrap import PRETRAINED_DIR
    from limo_rl.toy.problems import make_problems

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    torch.set_num_threads(1)
    model = next(p for p in sorted(PRETRAINED_DIR.iterdir()) if (p / "config.json").is_file())
    cfg = GenerateConfig(engine="vllm", n=n, max_new_tokens=max_new, temperature=0.6, top_p=1.0)
    probs = make_problems(n_problems, seed=5)
    reqs = [build_request(p, cfg) for p in probs]
    seeds = [sample_seeds(0, 1, p.id, n) for p in probs]
    rates = {}
    for label in ("hf", "vllm"):
        t0 = time.perf_counter()
        eng = (HFEngine(model, device="cpu", batch_size=batch) if label == "hf"
               else VLLMEngine(model, cfg.vllm, dtype="auto"))
        start = time.perf_counter() - t0
        eng.generate(reqs[:1], seeds[:1])  # warm-up
        t0 = time.perf_counter()
        comps = [c for row in eng.generate(reqs, seeds) for c in row]
        wall = time.perf_counter() - t0
        eng.close()
        toks = sum(c.n_tokens for c in comps)
        rates[label] = toks / wall
        print(f"  {label:<5} start {start:6.1f}s  {len(comps):4d} chains {toks:7d} tokens {wall:7.2f}s "
              f"{toks / wall:9.1f} tok/s  (mean {toks / len(comps):.0f} tokens/chain)")
    ratio = rates["vllm"] / rates["hf"]
    print(f"  ratio vLLM / HF tokens/s: {ratio:.2f}x")
    return ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--vllm-only", action="store_true", help="only the vLLM vs HF comparison")
    ap.add_argument("--vllm-problems", type=int, default=128)
    args = ap.parse_args()
    if args.vllm_only:
        print(f"vLLM vs HF on the shipped toy teacher: {args.vllm_problems} toy problems x n={args.n}, T=0.6, "
              f"max_new_tokens=256, 1 thread:")
        bench_vllm_vs_hf(args.vllm_problems, args.n, 256, 32)
        return
    from limo_rl.toy.model import make_tiny_model

    model = make_tiny_model(Path(tempfile.mkdtemp(prefix="lrb-model-")) / "model")
    print(f"tiny Qwen2 at {model}; {args.problems} problems x n={args.n}, max_new_tokens={args.max_new_tokens}")
    print("HF engine, one process, 1 thread:")
    bench_batching(model, args.problems, args.n, args.max_new_tokens, args.batch_size)
    if not args.skip_ray:
        print("Ray actor pool, same work, 2-CPU private cluster:")
        bench_actors(model, args.problems * 2, args.n, args.max_new_tokens * 2, max(1, args.problems // 4),
                     args.batch_size // 4 or 1)
    print("vLLM vs HF on the shipped toy teacher (32 problems x n=4, T=0.6, 1 thread):")
    bench_vllm_vs_hf(32, 4, 256, 32)


if __name__ == "__main__":
    main()
