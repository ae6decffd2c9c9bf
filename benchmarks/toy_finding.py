"""The toy finding: does one round of generate -> verify -> select -> train work in the toy world?

Run on demand (tens of minutes on 2 shared CPU cores):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_finding.py --teacher-seeds 0 --sft-seeds 0 1 2

Per teacher seed: bootstrap the teacher (toy://teacher, cached), sample ``k`` chains per pool problem at
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

from limo_rl.artifacts import atomic_write_json  # noqa: E402
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


def run_teacher_seed(seed: int, args: argparse.Namespace, out: Path) -> list[dict]:
    """One teacher (bootstrap seed ``seed``), one generation round, then each SFT seed's three students."""
    import torch

    from limo_rl.toy import lm

    torch.set_num_threads(1)
    toy = ToyConfig(seed=seed, bootstrap_steps=args.bootstrap_steps, corpus_size=args.corpus_size,
                    difficulty=args.difficulty)
    t0 = time.perf_counter()
    teacher_dir = resolve_toy_model("toy://teacher", out / "cache", toy)
    base_dir = resolve_toy_model("toy://base", out / "cache", toy)
    evals = eval_problems(args.eval_n, difficulty=args.difficulty)
    teacher, tok = lm.load(teacher_dir)
    common: dict = {"teacher_seed": seed, "bootstrap_s": round(time.perf_counter() - t0, 1),
                    "teacher": _score(teacher, tok, evals, args.max_new)}
    log.info("teacher %d: %s", seed, common["teacher"])
    # generate
    pool = make_problems(args.pool, seed=seed, difficulty=args.difficulty)
    t0 = time.perf_counter()
    cached = out / f"samples-teacher{seed}-pool{args.pool}-k{args.k}-T{args.temperature}.json"
    if cached.is_file():  # generation is the slow step: a rerun with other SFT settings reuses it
        samples = json.loads(cached.read_text())
    else:
        samples = lm.sample(teacher, tok, [p.question for p in pool], n=args.k, temperature=args.temperature,
                            max_new_tokens=args.max_new, seed=seed)
        atomic_write_json(cached, samples)
    common["generate_s"] = round(time.perf_counter() - t0, 1)
    # verify
    graded = [[(t, toy_correct(t, p.answer), verification_steps(t)["real"], len(tok(t)["input_ids"]))
               for t in s] for p, s in zip(pool, samples, strict=True)]
    flat = [g for gs in graded for g in gs]
    common["teacher_sample_accuracy"] = sum(g[1] for g in flat) / len(flat)
    common["problems_with_a_correct_chain"] = sum(any(g[1] for g in gs) for gs in graded)
    log.info("generated %d chains in %.0f s: %.3f correct", len(flat), common["generate_s"],
             common["teacher_sample_accuracy"])
    rows = []
    for sft_seed, lr in [(s, lr) for lr in args.lr for s in args.sft_seeds]:
        # select: one correct chain per problem, by verification density or at random (same problems, same count)
        rng = random.Random(sft_seed)
        dens, rand = [], []
        for p, gs in zip(pool, graded, strict=True):
            ok = [g for g in gs if g[1]]
            if not ok:
                continue
            top = max(g[2] / max(1, g[3]) for g in ok)
            dens.append(_example(p, rng.choice([g for g in ok if g[2] / max(1, g[3]) == top])[0], "density"))
            rand.append(_example(p, rng.choice(ok)[0], "random"))
        row = {**common, "sft_seed": sft_seed, "lr": lr, "n_selected": len(dens), "selected_real_checks": {
            name: sum(verification_steps(e.messages[-1]["content"])["real"] for e in exs) / max(1, len(exs))
            for name, exs in (("density", dens), ("random", rand))}}
        gold = gold_examples(817, seed=seed, difficulty=args.difficulty)
        for name, exs in (("density", dens), ("random", rand), ("gold817", gold)):
            if not exs:
                log.warning("teacher %d: no correct chain to train the %s arm on", seed, name)
                row[name] = None
                continue
            t0 = time.perf_counter()
            model, stok, st = lm.sft(base_dir, exs, out, epochs=args.epochs, learning_rate=lr,
                                     batch_size=args.batch_size, seed=sft_seed, warmup_steps=5, save=False)
            row[name] = {**_score(model, stok, evals, args.max_new), "n_train": len(exs), "train_steps": st.steps,
                         "train_s": round(time.perf_counter() - t0, 1)}
            log.info("teacher %d sft seed %d lr %g %s: %s", seed, sft_seed, lr, name, row[name])
        rows.append(row)
        (out / f"rows-{seed}-{sft_seed}-{lr:g}.json").write_text(json.dumps(row, indent=2))
    return rows


def _summary(all_rows: list[dict]) -> dict:
    """Per learning rate: mean / population std / min / max over rows (teacher seed x SFT seed)."""
    return {f"lr={lr:g}": _summary_one([r for r in all_rows if r["lr"] == lr])
            for lr in sorted({r["lr"] for r in all_rows}, reverse=True)}


def _summary_one(rows: list[dict]) -> dict:
    out = {}
    for arm in ("teacher", "density", "random", "gold817"):
        for metric in ("pass@1", "real_checks_per_chain", "hollow_per_chain"):
            vals = [r[arm][metric] for r in rows if r[arm] is not None]
            if not vals:
                continue
            out[f"{arm}.{metric}"] = {
                "mean": statistics.fmean(vals), "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0,
                "min": min(vals), "max": max(vals), "values": vals,
            }
    out["claims"] = {
        "density_pass@1_above_teacher": [
            r["density"] is not None and r["density"]["pass@1"] > r["teacher"]["pass@1"] for r in rows],
        "density_more_real_checks_than_random": [
            r["density"] is not None
            and r["density"]["real_checks_per_chain"] > r["random"]["real_checks_per_chain"] for r in rows],
        "gold817_pass@1": [r["gold817"]["pass@1"] for r in rows],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher-seeds", type=int, nargs="+", default=[0], help="bootstrap seeds (ToyConfig.seed)")
    ap.add_argument("--sft-seeds", type=int, nargs="+", default=[0, 1, 2], help="selection + SFT seeds")
    ap.add_argument("--out", default="/tmp/limo-toy-finding")
    ap.add_argument("--pool", type=int, default=400, help="pool problems per seed")
    ap.add_argument("--k", type=int, default=6, help="samples per pool problem")
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--eval-n", type=int, default=100)
    ap.add_argument("--max-new", type=int, default=256)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, nargs="+", default=[1e-3, 2e-4], help="student learning rate(s)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--bootstrap-steps", type=int, default=ToyConfig().bootstrap_steps)
    ap.add_argument("--corpus-size", type=int, default=ToyConfig().corpus_size)
    ap.add_argument("--difficulty", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in args.teacher_seeds:
        rows.extend(run_teacher_seed(seed, args, out))
    summary = _summary(rows)
    (out / "finding.json").write_text(json.dumps({"args": vars(args), "rows": rows, "summary": summary}, indent=2))
    print(f"{'teacher':>7} {'sft':>4} {'lr':>7} {'arm':>8} {'pass@1':>7} {'real/chain':>10} {'hollow/chain':>12} {'n_train':>7}")
    for r in rows:
        for arm in ("teacher", "density", "random", "gold817"):
            if r[arm] is None:
                continue
            print(f"{r['teacher_seed']:>7} {r['sft_seed']:>4} {r['lr']:7.0e} {arm:>8} {r[arm]['pass@1']:7.3f} "
                  f"{r[arm]['real_checks_per_chain']:10.3f} {r[arm]['hollow_per_chain']:12.3f} "
                  f"{r[arm].get('n_train', '-'):>7}")
    for lr_key, block in summary.items():
        for key, s in block.items():
            if key != "claims":
                print(f"{lr_key:9s} {key:32s} mean {s['mean']:.3f} std {s['std']:.3f} [{s['min']:.3f}, {s['max']:.3f}]")
        print(lr_key, "claims per seed:", json.dumps(block["claims"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
