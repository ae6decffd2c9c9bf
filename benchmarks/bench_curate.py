"""Benchmark: dedup + decontamination of 100k synthetic problems against every registered benchmark.

Run on demand:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_curate.py [--n 100000] [--bench-dir DIR]

Benchmarks are read from local copies (default ``../shared/data/benchmarks/<name>.jsonl`` beside the
repo, plus the toy world's ``toy_eval``); a registered benchmark without a local copy is listed as
skipped. The pool is synthetic (templated word problems with random words and numbers), with 1%
exact duplicates, 1% near duplicates and 300 planted benchmark copies (reworded whitespace, LaTeX
and numbers), so the figures also show recall. The baseline, measured in the same run on a
subsample, is the naive method: all-pairs shingle Jaccard for near dups and a per-item n-gram
set intersection for contamination. Target: the whole 100k in under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark without a local copy is skipped, not retried

from limo_rl.config import BENCHMARK_NAMES  # noqa: E402
from limo_rl.data.benchmarks import load_benchmark  # noqa: E402
from limo_rl.data.decontam import find_contaminated, ngrams  # noqa: E402
from limo_rl.data.dedup import find_duplicates, jaccard, shingles  # noqa: E402
from limo_rl.data.io import DataError  # noqa: E402
from limo_rl.data.text import tokens  # noqa: E402
from limo_rl.types import Problem  # noqa: E402

log = logging.getLogger("bench_curate")
WORDS = ("apple train circle number integer triangle garden river coin box marble player square prime "
         "sequence digit angle point line plane cube sphere ratio speed distance hour minute price").split()
TEMPLATES = (
    "A {w0} and a {w1} together cost {n0} dollars, and the {w0} costs {n1} dollars more than the {w1}. "
    "How much does the {w1} cost if every {w2} in the {w3} is counted {n2} times?",
    "Let {w0} be the number of ways to arrange {n0} distinct {w1}s in a row so that no two {w2}s are adjacent "
    "and the first {w3} is at position {n1}. Find the remainder when {w0} is divided by {n2}.",
    "In a {w0} there are {n0} {w1}s; each {w2} is connected to exactly {n1} others by a {w3}. "
    "What is the smallest possible number of {w3}s if {n2} of them are removed?",
)


def synthetic_pool(n: int, bench_items: list[Problem], seed: int = 0) -> tuple[list[Problem], int]:
    rng = random.Random(seed)
    out: list[Problem] = []
    for i in range(n):
        if i % 100 == 1 and out:  # exact duplicate (whitespace and case changed)
            q = out[rng.randrange(len(out))].question.upper().replace(" ", "  ")
        elif i % 100 == 2 and out:  # near duplicate: one word swapped
            ws = out[rng.randrange(len(out))].question.split()
            ws[rng.randrange(len(ws))] = rng.choice(WORDS)
            q = " ".join(ws)
        else:
            fill = {f"w{k}": rng.choice(WORDS) for k in range(4)}
            fill.update({f"n{k}": rng.randrange(2, 10_000) for k in range(3)})
            q = rng.choice(TEMPLATES).format(**fill) + f" (variant {rng.randrange(10**9)})"
        out.append(Problem(id=f"syn-{i}", question=q, answer="1", source="syn"))
    planted = 0
    for j, item in enumerate(rng.sample(bench_items, min(300, len(bench_items)))):
        q = item.question.replace(" ", "  ").replace("\\frac", "\\dfrac").replace("$", "\\(", 2)
        out[rng.randrange(len(out))] = Problem(id=f"planted-{j}", question=q, answer="1", source="syn")
        planted += 1
    return out, planted


def naive(pool: list[Problem], benchmarks: dict[str, list[Problem]], n: int, threshold: float) -> float:
    """The baseline: all-pairs Jaccard dedup and per-item n-gram intersection; returns seconds."""
    t0 = time.perf_counter()
    sets = [shingles(tokens(p.question), 5) for p in pool]
    for i in range(len(sets)):
        for j in range(i):
            if jaccard(sets[i], sets[j]) >= threshold:
                break
    items = [ngrams(tokens(b.question), n) for v in benchmarks.values() for b in v]
    for p in pool:
        g = ngrams(tokens(p.question), n)
        any(g & it for it in items)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--baseline-n", type=int, default=2_000)
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--bench-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/benchmarks"))
    args = ap.parse_args()
    benchmarks: dict[str, list[Problem]] = {}
    skipped = []
    for name in BENCHMARK_NAMES:
        path = Path(args.bench_dir) / f"{name}.jsonl"
        try:
            benchmarks[name] = load_benchmark(name, str(path) if path.is_file() else None)
        except DataError as exc:
            skipped.append(f"{name} ({str(exc)[:60]}...)")
    n_items = sum(map(len, benchmarks.values()))
    print(f"benchmarks: {len(benchmarks)} sets, {n_items} items; skipped: {', '.join(skipped) or 'none'}")
    pool, planted = synthetic_pool(args.n, [p for v in benchmarks.values() for p in v])

    t0 = time.perf_counter()
    toks = [tokens(p.question) for p in pool]  # once for both steps, as build_pool does
    dups = find_duplicates([p.question for p in pool], near_threshold=0.8, shingle=5, toks=toks)
    t_dedup = time.perf_counter() - t0
    drop = {d.index for d in dups}
    kept = [p for i, p in enumerate(pool) if i not in drop]
    t1 = time.perf_counter()
    found, _ = find_contaminated(kept, benchmarks, n=args.ngram,
                                 pool_tokens=[t for i, t in enumerate(toks) if i not in drop])
    t_dec = time.perf_counter() - t1
    total = t_dedup + t_dec
    caught = sum(kept[c.index].id.startswith("planted-") for c in found)
    planted_kept = sum(p.id.startswith("planted-") for p in kept)
    print(f"pool {len(pool)}: exact dups {sum(d.kind == 'exact' for d in dups)}, near dups "
          f"{sum(d.kind == 'near' for d in dups)}, contaminated {len(found)} "
          f"(planted caught {caught}/{planted_kept}, false positives {len(found) - caught})")
    print(f"tokenize + dedup {t_dedup:.1f} s, decontamination {t_dec:.1f} s, total {total:.1f} s "
          f"= {len(pool) / total:,.0f} problems/s  (target: {args.n:,} in < 120 s: "
          f"{'met' if total < 120 else 'MISSED'})")

    sub = pool[: args.baseline_n]
    t2 = time.perf_counter()
    d_sub = find_duplicates([p.question for p in sub], near_threshold=0.8, shingle=5)
    find_contaminated([p for i, p in enumerate(sub) if i not in {d.index for d in d_sub}], benchmarks, n=args.ngram)
    t_ours_sub = time.perf_counter() - t2
    t_naive = naive(sub, benchmarks, args.ngram, 0.8)
    print(f"same {len(sub)}-problem subsample: ours {len(sub) / t_ours_sub:,.0f} problems/s, naive baseline "
          f"{len(sub) / t_naive:,.0f} problems/s, ratio {t_naive / t_ours_sub:.1f}x; naive extrapolated to "
          f"{len(pool):,}: ~{t_naive * (len(pool) / len(sub)) ** 2 / 3600:.1f} h (quadratic dedup)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
