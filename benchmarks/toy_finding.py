"""The toy finding: does the loop (ReST-EM on the teacher's own verified chains) beat the base model, and the
static gold set, in the toy world, and do the controls say the instrument can tell?

Run on demand, one core per process; seeds may run in parallel processes (each writes its own file, and a
rerun reuses finished seeds under the same settings, then combines them). Measured 2026-11-30 with the
world-2 teacher: 5 seeds at ``--pool 300 --bench-n 500`` (2 x 2,400 sampled chains, 6 students, 7 greedy
scorings of 500 problems per seed) took 1,037-1,563 s per seed, two processes beside a CI run (61 min wall):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_finding.py --seeds 0 1 2 --pool 300 --bench-n 500 &
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_finding.py --seeds 3 4 --pool 300 --bench-n 500
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_finding.py --seeds 0 1 2 3 4 --pool 300 --bench-n 500

Result (pooled, paired over problems): static +16.0, loop round 1 +12.6, round 2 +12.0 points over the base
(0.020); static beats round 2 by 4.0 points; the negative control (incorrect samples) gains +11.1 too: most
of the gain is the step-by-step format, which incorrect chains teach as well.

Per seed ``s`` (the seed of every sample, draw and SFT run; the teacher is the shipped ``toy://teacher``):

* ``loop/round1``: the teacher samples ``k`` chains per pool problem at temperature ``T``; keep correct,
  process-consistent (:func:`limo_rl.toy.process_consistent`), distinct chains of problems inside the
  pass-rate window, up to ``m`` per problem ranked by real checks per token, cut to the budget; train the
  base model on them (plain SFT, :func:`limo_rl.toy.lm.sft`);
* ``loop/round<R>``: the previous round's student samples, the next student restarts from the base (ReST-EM);
* ``static``: a seeded random draw of the gold set at the last loop round's size, same epochs (matched arms);
* controls: ``negative`` (incorrect chains, the last round's size: the student must get worse),
  ``gold@loop`` (gold chains for exactly the last round's problems: chain quality alone, at the same
  problems and size), ``gold-random`` (the gold set on random pool problems at the last round's size:
  size alone; the static arm draws from a separate problem stream), and optionally ``static-full``.

Every model is scored greedily on ``--bench`` (``toy_eval``, 1,000 problems stratified by kind, by default;
pass ``toy_dev`` while making choices: the test set is for the final figures only). Comparisons are paired: per problem, each arm's correctness over
all seeds, a bootstrap CI over problems, an exact McNemar or sign-flip test, Holm across the table and the
smallest detectable effect (:mod:`limo_rl.evaluate.paired` when present, else the same rule computed here).
Headroom (greedy pass@1 against pass@k at the loop's k, per kind) is measured on the pool the loop samples.
Writes ``finding.json`` (rows, per-problem vectors, comparisons) under ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from limo_rl.config import ToyConfig  # noqa: E402
from limo_rl.run.artifacts import atomic_write_json  # noqa: E402
from limo_rl.toy import dev_problems, eval_problems, make_problems, resolve_toy_model  # noqa: E402
from limo_rl.toy.chains import (  # noqa: E402
    GOLD_MIX,
    corpus_examples,
    process_consistent,
    toy_correct,
    verification_steps,
)
from limo_rl.types import SFTExample, chat_messages  # noqa: E402

log = logging.getLogger("toy_finding")


# ---------------------------------------------------------------------------------------- paired statistics
def _paired_local(a: dict, b: dict, la: str, lb: str, bench: str, samples: int = 2000, seed: int = 0) -> dict:
    """Fallback with the rule of limo_rl.evaluate.paired: mean per-problem difference, percentile bootstrap
    over problems, exact McNemar (one 0/1 sample each) or Monte-Carlo sign-flip test, MDE at 0.05 / 0.8."""
    ids = sorted(a)
    d = [sum(a[p]) / len(a[p]) - sum(b[p]) / len(b[p]) for p in ids]
    n = len(d)
    diff = sum(d) / n
    sd = math.sqrt(sum((x - diff) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
    rng = random.Random(seed)
    boots = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    lo, hi = boots[int(0.025 * samples)], boots[int(0.975 * samples) - 1]
    n10, n01 = sum(x > 0 for x in d), sum(x < 0 for x in d)
    if all(len(a[p]) == 1 and len(b[p]) == 1 for p in ids):
        m, k = n10 + n01, min(n10, n01)
        p = min(1.0, 2 * sum(math.comb(m, i) for i in range(k + 1)) / 2**m) if m else 1.0
    else:
        t = abs(sum(d))
        hits = sum(abs(sum(x if rng.random() < 0.5 else -x for x in d)) >= t - 1e-12 for _ in range(5000))
        p = (1 + hits) / 5001
    kz = 2.8016  # z(0.975) + z(0.8)
    mde = max(kz * sd / math.sqrt(n), kz * kz / (n + kz * kz))
    return {"a": la, "b": lb, "benchmark": bench, "difference": diff, "ci_low": lo, "ci_high": hi,
            "p_value": p, "mde": mde, "mean_a": sum(sum(a[q]) / len(a[q]) for q in ids) / n,
            "mean_b": sum(sum(b[q]) / len(b[q]) for q in ids) / n, "n_problems": n}


def compare_all(vectors: dict[str, dict[str, list[float]]], pairs: list[tuple[str, str]], bench: str) -> list[dict]:
    """Paired comparisons of ``pairs`` (a, b), Holm-adjusted across the list, each with its verdict."""
    try:
        from limo_rl.evaluate.paired import compare, decide
    except ImportError:  # the paired-statistics module is not in this checkout
        compare = decide = None
    if compare is not None:
        res = decide([compare(vectors[a], vectors[b], label_a=a, label_b=b, benchmark=bench) for a, b in pairs])
        return [r.to_dict() for r in res]
    rows = [_paired_local(vectors[a], vectors[b], a, b, bench) for a, b in pairs]
    order = sorted(range(len(rows)), key=lambda i: rows[i]["p_value"])
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(rows) - rank) * rows[i]["p_value"]))
        rows[i]["p_adjusted"] = running
    for r in rows:
        win, lose = (r["a"], r["b"]) if r["difference"] > 0 else (r["b"], r["a"])
        r["verdict"] = (f"{win} beats {lose}" if r["p_adjusted"] < 0.05 and r["difference"] != 0
                        else f"no detectable difference (smallest detectable: {r['mde']:.3f})")
    return rows


# ---------------------------------------------------------------------------------------- one seed
def _example(problem, text: str, tag: str) -> SFTExample:
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return SFTExample(id=f"{tag}/{problem.id}/{digest}", problem_id=problem.id, source=tag,
                      chain_ref=tag, messages=(*chat_messages(problem.question), {"role": "assistant", "content": text}))


def _score(model, tok, problems, args) -> tuple[dict[str, float], dict]:
    from limo_rl.toy import lm

    samples = lm.sample(model, tok, [p.question for p in problems], n=1, temperature=0.0,
                        max_new_tokens=args.max_new, batch_size=args.batch)
    texts = [s[0] for s in samples]
    vec = {p.id: float(toy_correct(t, p.answer)) for p, t in zip(problems, texts, strict=True)}
    by_kind: dict[str, list[float]] = defaultdict(list)
    for p in problems:
        by_kind[p.subject].append(vec[p.id])
    summary = {"pass@1": sum(vec.values()) / len(vec),
               "by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
               "real_checks_per_chain": sum(verification_steps(t)["real"] for t in texts) / len(texts),
               "process_consistent_correct": sum(toy_correct(t, p.answer) and process_consistent(t)
                                                 for p, t in zip(problems, texts, strict=True)) / len(texts)}
    return vec, summary


def select(pool, samples, args, rng: random.Random) -> tuple[list[SFTExample], list[SFTExample], dict]:
    """(selected examples, incorrect examples for the negative control, stats) of one round."""
    chosen: list[SFTExample] = []
    wrong: list[SFTExample] = []
    stats = defaultdict(int)
    ranked_problems = []
    for p, texts in zip(pool, samples, strict=True):
        ok = [t for t in texts if toy_correct(t, p.answer)]
        rate = len(ok) / len(texts)
        wrong += [_example(p, t, "negative") for t in dict.fromkeys(texts) if not toy_correct(t, p.answer)
                  and "\\boxed{" in t]
        if not ok:
            stats["unsolved"] += 1
            continue
        if not args.window[0] <= rate <= args.window[1]:
            stats["outside_window"] += 1
            continue
        good = [t for t in dict.fromkeys(ok) if process_consistent(t)]  # distinct, process-consistent
        stats["correct_but_inconsistent"] += len(set(ok)) - len(good)
        if not good:
            continue
        good.sort(key=lambda t: (-verification_steps(t)["real"] / max(1, len(t)), t))
        ranked_problems.append((p, good[: args.per_problem]))
    rng.shuffle(ranked_problems)
    for p, texts in ranked_problems:
        chosen += [_example(p, t, "loop") for t in texts]
    chosen = chosen[: args.budget]
    stats.update(selected=len(chosen), problems=len({e.problem_id for e in chosen}))
    return chosen, wrong, dict(stats)


def headroom(pool, greedy_texts, samples, k: int) -> dict:
    """Greedy pass@1 and pass@j (j = 1, 2, 4, .., k; unbiased estimator) on the pool, per kind."""
    by_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    js = [j for j in (1, 2, 4, 8, 16, 32) if j <= k]
    for p, g, texts in zip(pool, greedy_texts, samples, strict=True):
        c = sum(toy_correct(t, p.answer) for t in texts)
        n = len(texts)
        for key in (p.subject, "all"):
            d = by_kind[key]
            d["n"] += 1
            d["greedy_pass@1"] += toy_correct(g, p.answer)
            for j in js:
                d[f"pass@{j}"] += 1.0 - (math.comb(n - c, j) / math.comb(n, j) if n - c >= j else 0.0)
            d["distinct_correct_chains"] += len({t for t in texts if toy_correct(t, p.answer)})
            d["correct_with_false_step"] += sum(toy_correct(t, p.answer) and not process_consistent(t) for t in texts)
            d["correct_chains"] += c
    out = {}
    for key, d in by_kind.items():
        n = d.pop("n")
        cc = d.pop("correct_chains")
        out[key] = {name: v / n for name, v in d.items()}
        out[key]["correct_with_false_step"] = d["correct_with_false_step"] / max(1.0, cc)
        out[key]["n"] = int(n)
    return dict(sorted(out.items()))


def run_seed(seed: int, args, out: Path, bench, teacher_dir: Path, base_dir: Path, vectors: dict) -> dict:
    import torch

    from limo_rl.toy import lm

    torch.set_num_threads(1)
    t_seed = time.perf_counter()
    pool = make_problems(args.pool, seed=args.pool_seed, difficulty=args.difficulty)
    rng = random.Random(f"toy-finding/{seed}")
    row: dict = {"seed": seed, "rounds": []}

    def train_eval(label: str, examples: list[SFTExample]) -> tuple:
        t0 = time.perf_counter()
        model, tok, st = lm.sft(base_dir, examples, out, epochs=args.epochs, learning_rate=args.lr,
                                batch_size=args.batch_size, seed=seed, warmup_steps=5, save=False,
                                max_length=args.max_length)
        vec, summary = _score(model, tok, bench, args)
        vectors[label][seed] = vec
        row[label] = {**summary, "n_train": len(examples), "steps": st.steps, "train_tokens": st.tokens,
                      "first_problems": len({e.problem_id for e in examples}),
                      "wall_s": round(time.perf_counter() - t0, 1)}
        log.info("seed %d %s: pass@1 %.3f (%d examples, %d steps)", seed, label, summary["pass@1"], len(examples),
                 st.steps)
        return model, tok

    teacher_model, teacher_tok = lm.load(teacher_dir)
    sampler = (teacher_model, teacher_tok)
    last: list[SFTExample] = []
    wrong: list[SFTExample] = []
    for rnd in range(1, args.rounds + 1):
        t0 = time.perf_counter()
        samples = lm.sample(*sampler, [p.question for p in pool], n=args.k, temperature=args.temperature,
                            max_new_tokens=args.max_new, batch_size=args.batch, seed=seed * 100 + rnd)
        gen_s = time.perf_counter() - t0
        if rnd == 1 and seed == args.seeds[0]:
            greedy = lm.sample(teacher_model, teacher_tok, [p.question for p in pool], n=1, temperature=0.0,
                               max_new_tokens=args.max_new, batch_size=args.batch)
            row["headroom_pool"] = headroom(pool, [g[0] for g in greedy], samples, args.k)
            log.info("headroom on the pool: %s", json.dumps(row["headroom_pool"]["all"]))
        last, wrong, stats = select(pool, samples, args, rng)
        row["rounds"].append({"round": rnd, "generate_s": round(gen_s, 1), **stats,
                              "sample_accuracy": sum(toy_correct(t, p.answer) for p, ts in zip(pool, samples,
                                                     strict=True) for t in ts) / (len(pool) * args.k)})
        log.info("seed %d round %d: %s", seed, rnd, row["rounds"][-1])
        if not last:
            log.warning("seed %d round %d: nothing selected; stopping the loop here", seed, rnd)
            break
        sampler = train_eval(f"loop/round{rnd}", last)
    size = len(last)
    gold_pool = {p.id: p for p in make_problems(args.pool * 3, seed=args.pool_seed, difficulty=args.difficulty)}
    loop_ids = list(dict.fromkeys(e.problem_id for e in last))
    # gold chains for exactly the loop's problems, as many per problem as the loop kept (styles drawn per chain)
    seen: dict[str, int] = defaultdict(int)
    gold_at_loop = []
    for e in last:
        seen[e.problem_id] += 1
        gold_at_loop += corpus_examples([gold_pool[e.problem_id]], seed=seed * 1000 + seen[e.problem_id],
                                        mix=GOLD_MIX, source="gold@loop")
    others = [p for p in gold_pool.values() if p.id not in set(loop_ids)]
    gold_random = corpus_examples(rng.sample(others, min(size, len(others))), seed=seed, mix=GOLD_MIX,
                                  source="gold-random")
    static_all = corpus_examples(make_problems(args.static_n, seed=args.pool_seed + 7_919, difficulty=args.difficulty),
                                 seed=seed, mix=GOLD_MIX, source="static")
    arms = {"static": rng.sample(static_all, min(size, len(static_all))),
            "negative": rng.sample(wrong, min(size, len(wrong))),
            "gold@loop": gold_at_loop, "gold-random": gold_random}
    if args.static_full:
        arms["static-full"] = static_all
    for label, exs in arms.items():
        if exs and label in args.arms:
            train_eval(label, exs)
    row["wall_s"] = round(time.perf_counter() - t_seed, 1)
    row["vectors"] = {label: v[seed] for label, v in vectors.items() if seed in v and label != "base"}
    row["settings"] = _settings(args)
    atomic_write_json(out / f"seed{seed}.json", row)  # a seed done is never rerun (see main)
    return row


def _settings(args) -> dict:
    """What a seed's result depends on (a finished seed is reused only under the same settings)."""
    return {k: v for k, v in sorted(vars(args).items()) if k not in ("seeds", "out")}


def _finished_seed(out: Path, seed: int, args) -> dict | None:
    path = out / f"seed{seed}.json"
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    return row if row.get("settings") == json.loads(json.dumps(_settings(args))) and "vectors" in row else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="/tmp/limo-toy-finding")
    ap.add_argument("--bench", choices=("toy_eval", "toy_dev"), default="toy_eval")
    ap.add_argument("--bench-n", type=int, default=None, help="problems (default: the set's size, 1000 / 500)")
    ap.add_argument("--pool", type=int, default=600, help="pool problems")
    ap.add_argument("--pool-seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=8, help="samples per pool problem")
    ap.add_argument("--temperature", type=float, default=0.8, help="teacher sampling temperature")
    ap.add_argument("--window", type=float, nargs=2, default=[0.1, 0.9], help="pass-rate window over the k samples")
    ap.add_argument("--per-problem", type=int, default=4)
    ap.add_argument("--budget", type=int, default=800)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--static-n", type=int, default=817)
    ap.add_argument("--static-full", action="store_true", help="also train on the whole static set (unmatched)")
    ap.add_argument("--arms", nargs="+", default=["static", "negative", "gold@loop", "gold-random", "static-full"])
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=1e-4, help="SFT peak lr (chosen on toy_dev)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--max-new", type=int, default=384)
    ap.add_argument("--batch", type=int, default=128, help="generation batch")
    ap.add_argument("--difficulty", type=int, default=2)
    ap.add_argument("--teacher", help="a model folder instead of the shipped toy://teacher (it is also the base)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    toy = ToyConfig(difficulty=args.difficulty)
    if args.teacher:  # any model folder: it samples round 1 and is the base every student starts from
        teacher_dir = base_dir = Path(args.teacher)
    else:
        teacher_dir = resolve_toy_model("toy://teacher", out / "cache", toy)
        base_dir = resolve_toy_model("toy://base", out / "cache", toy)
    make = eval_problems if args.bench == "toy_eval" else dev_problems
    bench = make(**({"n": args.bench_n} if args.bench_n else {}), difficulty=args.difficulty)
    from limo_rl.toy import lm

    vectors: dict[str, dict[int, dict[str, float]]] = defaultdict(dict)
    base_vec, base_summary = _score(*lm.load(base_dir), bench, args)
    log.info("base: %s", base_summary)
    rows = []
    for seed in args.seeds:
        vectors["base"][seed] = base_vec  # greedy: the base model's answers do not depend on the seed
        done = _finished_seed(out, seed, args)  # seeds can run in parallel processes sharing --out
        if done is not None:
            log.info("seed %d: reusing %s", seed, out / f"seed{seed}.json")
            for label, vec in done["vectors"].items():
                vectors[label][seed] = vec
            rows.append(done)
            continue
        rows.append(run_seed(seed, args, out, bench, teacher_dir, base_dir, vectors))
    seeds_all = [s for s in args.seeds if all(s in v for v in vectors.values())]
    pooled = {arm: {pid: [v[s][pid] for s in seeds_all] for pid in v[seeds_all[0]]}
              for arm, v in vectors.items()} if seeds_all else {}
    last = max((int(a.split("round")[1]) for a in pooled if a.startswith("loop/round")), default=0)
    pairs = [("static", "base")] + [(f"loop/round{r}", "base") for r in range(1, last + 1)]
    pairs += [(f"loop/round{r}", f"loop/round{r - 1}") for r in range(2, last + 1)]
    pairs += [(f"loop/round{last}", "static"), ("negative", "base"), (f"loop/round{last}", "gold@loop"),
              ("gold@loop", "gold-random"), ("static-full", "static")]
    pairs = [(a, b) for a, b in pairs if a in pooled and b in pooled]
    comparisons = compare_all(pooled, pairs, args.bench) if pooled else []
    doc = {"args": vars(args), "seeds_compared": seeds_all, "base": base_summary,
           "rows": [{k: v for k, v in r.items() if k != "vectors"} for r in rows],
           "comparisons": comparisons, "wall_s": round(time.perf_counter() - t0, 1),
           "means": {arm: sum(sum(x) / len(x) for x in v.values()) / len(v) for arm, v in pooled.items()}}
    (out / "finding.json").write_text(json.dumps(doc, indent=2))
    if rows and "headroom_pool" in rows[0]:
        print("headroom on the pool (teacher): greedy pass@1 vs pass@j, share of correct chains with a false step")
        for kind, h in rows[0]["headroom_pool"].items():
            print(f"  {kind:9s} " + " ".join(f"{k}={v:.3f}" for k, v in h.items() if k != "n") + f" n={h['n']}")
    print(f"{args.bench}: {len(bench)} problems, seeds {seeds_all}, wall {doc['wall_s']:.0f} s")
    for arm, m in doc["means"].items():
        print(f"  {arm:14s} pass@1 {m:.3f}")
    print(f"{'a':>14} {'b':>14} {'diff':>7} {'95% CI':>17} {'p_adj':>7} {'MDE':>6}  verdict")
    for c in comparisons:
        print(f"{c['a']:>14} {c['b']:>14} {c['difference']:+7.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] "
              f"{c['p_adjusted']:7.4f} {c['mde']:6.3f}  {c['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
