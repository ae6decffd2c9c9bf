"""Benchmark: limo_rl's grader against plain math-verify on realistic (chain, gold) pairs.

Gold answers come from the public evaluation sets in ../shared/data/benchmarks/ (falling
back to a built-in list when absent). Each gold is rewritten in an equivalent spelling and
in a non-equivalent one (a changed digit, a flipped sign, swapped or re-bracketed
elements) and put at the end of a synthetic reasoning chain of 2-8k characters. Both
graders see the same pairs in the same run:

* baseline: math-verify ``parse(gold)`` + ``parse(chain)`` + ``verify`` in this process,
  with its default settings (``signal.alarm`` timeouts; main thread);
* limo_rl: ``Grader(workers=2).grade_many(..., features=False)``: correctness only, the
  same job as the baseline;
* limo_rl+feat: ``grade_many`` with full verdicts (also verification density, arithmetic
  consistency and quality features, which the baseline does not compute).

Prints pairs/s for both and the ratio, accuracy against the labels, false positives, the
cost of each tier (extraction and the exact fast tier in-process, the symbolic workers, chain
features) and the slowest item; ``--families N`` adds the per-category differential table
against math-verify on generated pairs (tests/unit/verify_families.py). Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_verify.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
FALLBACK_GOLDS = ["42", "\\frac{3}{4}", "2\\sqrt{2}", "(1,2)", "[0,\\infty)", "\\{1,3\\}", "\\pi", "0.25", "C", "x^2+1"]

FILLER = [
    "Let us set up the problem carefully. We denote the unknown quantity by x and write what we know.",
    "From the condition we get {a} + {b} = {s}, so the partial sum is {s}.",
    "Multiplying out, {a} \\times {b} = {p}, which we will need later.",
    "Perhaps a cleaner route is to consider the complementary count instead.",
    "Since the expression is symmetric, we might assume without loss of generality that a \\le b.",
    "Let me verify this step: substituting back gives {s} - {b} = {a}, which matches.",
    "Therefore the two cases combine, and we obtain a total of {s} configurations in this branch.",
    "Now consider the equation 2y + {a} = {t}. Then y = {h}.",
    "Double-check: 2({h}) + {a} = {t}, as required.",
    "We also note that $\\frac{{{p}}}{{{b}}} = {a}$, consistent with the previous line.",
    "Wait, this case needs more care: the boundary term must be counted once, not twice.",
]


def load_golds(limit: int, seed: int, bench_dir: Path = BENCH_DIR) -> list[tuple[str, str]]:
    """(benchmark, gold answer) pairs: up to ``limit`` per benchmark file."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    files = sorted(bench_dir.glob("*.jsonl")) if bench_dir.is_dir() else []
    for f in files:
        golds = []
        for line in f.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            ans = row.get("answer")
            if ans is None:
                continue
            if isinstance(ans, float) and ans.is_integer():
                ans = int(ans)
            ans = str(ans).strip().strip("$").strip()
            if f.stem == "gaokao" and row.get("choice_answer"):
                ans = str(row["choice_answer"])
            if ans and len(ans) < 200:
                golds.append(ans)
        rng.shuffle(golds)
        out += [(f.stem, g) for g in golds[:limit]]
    if not out:
        out = [("builtin", g) for g in FALLBACK_GOLDS]
    return out


def equivalent_spelling(gold: str, rng: random.Random) -> str:
    s = gold
    if re.fullmatch(r"-?\d+", s) and abs(int(s)) >= 1000 and rng.random() < 0.5:
        return f"{int(s):,}"
    if re.fullmatch(r"-?\d+", s):
        return rng.choice([s, s + ".0", f"{s}", f"x = {s}"])
    s = s.replace("\\frac", "\\dfrac") if rng.random() < 0.5 else s
    s = re.sub(r",(?=\S)", ", ", s) if rng.random() < 0.5 else s
    return s


def wrong_spelling(gold: str, rng: random.Random) -> str | None:
    s = gold
    if re.fullmatch(r"[A-E]", s):
        return rng.choice([c for c in "ABCD" if c != s])
    digits = [m.start() for m in re.finditer(r"\d", s)]
    if s.startswith("(") and s.endswith(")") and "," in s and rng.random() < 0.3:
        return "[" + s[1:-1] + "]"
    if digits:
        i = rng.choice(digits)
        d = str((int(s[i]) + rng.randint(1, 8)) % 10)
        out = s[:i] + d + s[i + 1:]
        return out if out != s else None
    return "-(" + s + ")" if not s.startswith("-") else s[1:]


def make_chain(answer: str, rng: random.Random) -> str:
    target = rng.randint(2000, 8000)
    parts = []
    while sum(len(p) for p in parts) < target:
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        h = rng.randint(1, 30)
        parts.append(rng.choice(FILLER).format(a=a, b=b, s=a + b, p=a * b, t=2 * h + a, h=h))
        if rng.random() < 0.2:
            parts.append("\n\n")
    return " ".join(parts) + f"\n\nTherefore, the final answer is $\\boxed{{{answer}}}$."


def build_pairs(limit: int, seed: int, bench_dir: Path = BENCH_DIR) -> list[tuple[str, str, bool, str]]:
    rng = random.Random(seed)
    pairs = []
    for bench, gold in load_golds(limit, seed, bench_dir):
        atype = "choice" if bench == "gpqa_diamond" or (bench == "gaokao" and re.fullmatch("[A-E]", gold)) else "auto"
        pairs.append((make_chain(equivalent_spelling(gold, rng), rng), gold, True, atype))
        wrong = wrong_spelling(gold, rng)
        if wrong is not None:
            pairs.append((make_chain(wrong, rng), gold, False, atype))
    return pairs


def run_baseline(pairs) -> tuple[float, list[bool], float]:
    from math_verify import parse, verify

    got, worst = [], 0.0
    t0 = time.perf_counter()
    for chain, gold, _, _ in pairs:
        t = time.perf_counter()
        try:
            ok = bool(verify(parse("$" + gold + "$"), parse(chain)))
        except Exception:  # noqa: BLE001 - a crash is a wrong grade for the baseline
            ok = False
        worst = max(worst, time.perf_counter() - t)
        got.append(ok)
    return time.perf_counter() - t0, got, worst


def run_limo(pairs, workers: int, timeout_s: float, features: bool = True):
    from limo_rl.config import VerifyConfig
    from limo_rl.verify.grade import Grader

    cfg = VerifyConfig(workers=workers, timeout_s=timeout_s)
    with Grader(cfg) as grader:
        grader.pool.start()
        grader.pool.run([("1", "1")] * workers)  # warm: workers booted, as in a long-running stage
        t0 = time.perf_counter()
        verdicts = grader.grade_many([(c, g, a) for c, g, _, a in pairs], progress=False, features=features)
        wall = time.perf_counter() - t0
        return wall, verdicts, grader


def report(name: str, wall: float, got: list[bool], labels: list[bool]) -> tuple[float, float]:
    n = len(labels)
    acc = sum(g == lab for g, lab in zip(got, labels, strict=True)) / n
    fp = sum(g and not lab for g, lab in zip(got, labels, strict=True))
    fn = sum((not g) and lab for g, lab in zip(got, labels, strict=True))
    print(f"{name:12s} {n / wall:8.1f} pairs/s   accuracy {acc:.4f}   FP {fp:3d}   FN {fn:3d}   ({wall:.2f}s)")
    return n / wall, acc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=60, help="gold answers per benchmark file")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help="folder of benchmark JSONL files")
    ap.add_argument("--families", type=int, default=0,
                    help="also run the differential families (N pairs per family) and print the category table")
    args = ap.parse_args(argv)
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    pairs = build_pairs(args.limit, args.seed, args.bench_dir)
    labels = [p[2] for p in pairs]
    chars = [len(p[0]) for p in pairs]
    import os

    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    print(f"{len(pairs)} pairs from {args.bench_dir if args.bench_dir.is_dir() else 'built-in golds'}; "
          f"chains {min(chars)}-{max(chars)} chars, {sum(labels)} equivalent / {len(labels) - sum(labels)} not")
    wall_b, got_b, worst_b = run_baseline(pairs)
    wall_c, verdicts_c, grader_c = run_limo(pairs, args.workers, args.timeout, features=False)
    wall_l, verdicts, grader = run_limo(pairs, args.workers, args.timeout)
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rate_b, acc_b = report("math-verify", wall_b, got_b, labels)
    rate_c, acc_c = report("limo_rl", wall_c, [v.correct for v in verdicts_c], labels)
    rate_l, acc_l = report("limo_rl+feat", wall_l, [v.correct for v in verdicts], labels)
    print(f"ratio        {rate_c / rate_b:.2f}x throughput (correctness only); "
          f"{rate_l / rate_b:.2f}x with density + quality features; accuracy {acc_l - acc_b:+.4f}")
    st = grader_c.stats
    n = len(pairs)
    print(f"limo_rl tiers (correctness run): fast {st['fast']}, symbolic {st['symbolic']}, timeouts {st['timeouts']}, "
          f"errors {st['errors']}, no_answer {st['no_answer']}")
    ts = grader_c.tier_s
    n_sym = max(1, st["symbolic"])
    print(f"cost per tier: extraction {1e6 * ts['extract'] / n:.0f} us/item, fast tier {1e6 * ts['fast'] / n:.0f} us/item "
          f"(in-process); symbolic workers {ts['workers']:.2f}s wall for {st['symbolic']} items "
          f"({1e3 * ts['workers'] / n_sym:.1f} ms/item wall, {args.workers} workers); "
          f"chain features {1e3 * grader.tier_s['features'] / n:.2f} ms/item in-process + in workers "
          f"(feature run: workers {grader.tier_s['workers']:.2f}s wall)")
    if args.families:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
        from test_verify_differential import run_differential

        run_differential(args.families, args.seed)
    print(f"slowest item: limo_rl symbolic job {grader.pool.max_job_s:.3f}s, in-process {grader.max_inprocess_s:.4f}s "
          f"(limit {args.timeout}s + 1s); math-verify {worst_b:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
