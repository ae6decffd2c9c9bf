"""The toy finding: does one round of generate -> verify -> select -> train work in the toy world?

Run on demand (minutes per seed on 2 CPU cores):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_finding.py --seeds 0 1 2 --out /tmp/toy-finding

Per seed: bootstrap the teacher (toy://teacher, cached), sample ``k`` chains per pool problem at
temperature ``T``, grade them with the toy grader (exact canonical answer), then train three
students from toy://base (= the teacher, ReST-EM style) under one protocol:

* ``density``: per problem, the correct chain with the most real verification steps per token;
* ``random``:  per problem, a correct chain chosen at random (same problems, same count);
* ``gold817``: the static gold set (:func:`limo_rl.toy.gold_examples`).

Every model is scored greedily on the ``toy_eval`` benchmark: pass@1 and the verification
steps in its chains (real checks that hold, hollow ones). The script prints per-seed rows
and mean / std / min / max across seeds, and writes ``finding.json``. The three claims:
(1) density student pass@1 > teacher pass@1; (2) density student writes more real checks
than the random student; (3) the gold-817 student trains and is scored the same way.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from limo_rl.config import ToyConfig  # noqa: E402
from limo_rl.toy import eval_problems, gold_examples, make_problems, resolve_toy_model  # noqa: E402
from limo_rl.toy.chains import toy_correct, verification_steps  # noqa: E402
from limo_rl.types import SFTExample, chat_messages  # noqa: E402

log = logging.getLogger("toy_finding")


def _score(model, tok, problems, max_new_tokens: int) -> dict:
    from limo_rl.toy import lm

    acc, samples = lm.pass_at_1(model, tok, problems, max_new_tokens=max_new_tokens)
    texts = [s[0] for s in samples]
    checks = [verification_steps(t) for t in texts]
    return {
        "pass@1": acc,
        "real_checks_per_chain": sum(c["real"] for c in checks) / len(texts),
        "hollow_per_chain": sum(c["hollow"] for c in checks) / len(texts),
        "frac_with_real_check": sum(c["real"] > 0 for c in checks) / len(texts),
        "boxed_rate": sum("\\boxed{" in t for t in texts) / len(texts),
    }


def _example(problem, text: str, tag: str) -> SFTExample:
    return SFTExample(id=f"{tag}/{problem.id}", problem_id=problem.id, source="loop", chain_ref=tag,
                      messages=(*chat_messages(problem.question), {"role": "assistant", "content": text}))


def run_seed(seed: int, args: argparse.Namespace, out: Path) -> dict:
    import torch

    from limo_rl.toy import lm

    torch.set_num_threads(1)
    toy = ToyConfig(seed=seed, bootstrap_steps=args.bootstrap_steps, corpus_size=args.corpus_size,
                    difficulty=args.difficulty)
    t0 = time.perf_counter()
    teacher_dir = resolve_toy_model("toy://teacher", out / "cache", toy)
    base_dir = resolve_toy_model("toy://base", out / "cache", toy)
    t_boot = time.perf_counter() - t0
    evals = eval_problems(args.eval_n, difficulty=args.difficulty)
    teacher, tok = lm.load(teacher_dir)
    row: dict = {"seed": seed, "bootstrap_s": round(t_boot, 1), "teacher": _score(teacher, tok, evals, args.max_new)}

    # generate
    pool = make_problems(args.pool, seed=seed, difficulty=args.difficulty)
    t0 = time.perf_counter()
    samples = lm.sample(teacher, tok, [p.question for p in pool], n=args.k, temperature=args.temperature,
                        max_new_tokens=args.max_new, seed=seed)
    row["generate_s"] = round(time.perf_counter() - t0, 1)
    # verify
    graded = [[(t, toy_correct(t, p.answer), verification_steps(t)["real"], len(tok(t)["input_ids"]))
               for t in s] for p, s in zip(pool, samples, strict=True)]
    flat = [g for gs in graded for g in gs]
    row["teacher_sample_accuracy"] = sum(g[1] for g in flat) / len(flat)
    # select: one correct chain per problem, by density or at random
    rng = random.Random(seed)
    dens, rand = [], []
    for p, gs in zip(pool, graded, strict=True):
        ok = [g for g in gs if g[1]]
        if not ok:
            continue
        best = max(ok, key=lambda g: (g[2] / max(1, g[3]), -gs.index(g)))
        dens.append(_example(p, best[0], "density"))
        rand.append(_example(p, rng.choice(ok)[0], "random"))
    row["n_selected"] = len(dens)
    row["selected_real_checks"] = {
        "density": sum(verification_steps(e.messages[-1]["content"])["real"] for e in dens) / max(1, len(dens)),
        "random": sum(verification_steps(e.messages[-1]["content"])["real"] for e in rand) / max(1, len(rand)),
    }
    arms = {"density": dens, "random": rand, "gold817": gold_examples(817, seed=seed, difficulty=args.difficulty)}
    for name, exs in arms.items():
        t0 = time.perf_counter()
        model, stok, st = lm.sft(base_dir, exs, out / f"seed{seed}" / name, epochs=args.epochs,
                                 learning_rate=args.lr, batch_size=args.batch_size, seed=seed,
                                 warmup_steps=5, save=False)
        row[name] = {**_score(model, stok, evals, args.max_new),
                     "n_train": len(exs), "train_steps": st.steps, "train_s": round(time.perf_counter() - t0, 1)}
        log.info("seed %d %s: %s", seed, name, row[name])
    return row


def _summary(rows: list[dict]) -> dict:
    out = {}
    for arm in ("teacher", "density", "random", "gold817"):
        for metric in ("pass@1", "real_checks_per_chain", "hollow_per_chain"):
            vals = [r[arm][metric] for r in rows]
            out[f"{arm}.{metric}"] = {
                "mean": statistics.fmean(vals), "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
                "min": min(vals), "max": max(vals), "values": vals,
            }
    out["claims"] = {
        "density_pass@1_above_teacher": [r["density"]["pass@1"] > r["teacher"]["pass@1"] for r in rows],
        "density_more_real_checks_than_random": [
            r["density"]["real_checks_per_chain"] > r["random"]["real_checks_per_chain"] for r in rows],
        "gold817_student_scored": [r["gold817"]["pass@1"] is not None for r in rows],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="/tmp/limo-toy-finding")
    ap.add_argument("--pool", type=int, default=400, help="pool problems per seed")
    ap.add_argument("--k", type=int, default=4, help="samples per pool problem")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--eval-n", type=int, default=100)
    ap.add_argument("--max-new", type=int, default=256)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--bootstrap-steps", type=int, default=ToyConfig().bootstrap_steps)
    ap.add_argument("--corpus-size", type=int, default=ToyConfig().corpus_size)
    ap.add_argument("--difficulty", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(seed, args, out))
        (out / "rows.json").write_text(json.dumps(rows, indent=2))
    summary = _summary(rows)
    (out / "finding.json").write_text(json.dumps({"args": vars(args), "rows": rows, "summary": summary}, indent=2))
    print(f"{'seed':>4} {'arm':>8} {'pass@1':>7} {'real/chain':>10} {'hollow/chain':>12}")
    for r in rows:
        for arm in ("teacher", "density", "random", "gold817"):
            print(f"{r['seed']:>4} {arm:>8} {r[arm]['pass@1']:7.3f} {r[arm]['real_checks_per_chain']:10.3f} "
                  f"{r[arm]['hollow_per_chain']:12.3f}")
    for key, s in summary.items():
        if key != "claims":
            print(f"{key:32s} mean {s['mean']:.3f} std {s['std']:.3f} [{s['min']:.3f}, {s['max']:.3f}]")
    print("claims per seed:", json.dumps(summary["claims"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
