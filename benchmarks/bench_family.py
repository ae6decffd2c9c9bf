"""The selection ablations as one family (shared stages) vs as separate runs: wall times, ratio, verdicts.

Five selection strategies (``recipes/ablations/select_*.yaml`` on the quickstart world), each with the
same seeds, run twice through ``limo-rl run``:

* **separate**: each recipe in its own output folder, as before families existed: every run computes
  its pool, generation, verification, base evaluation and static arm;
* **family**: one ``limo-rl run A.yaml B.yaml ...`` in one output folder: the stages whose content keys
  agree (pool, round 1's generation and verification, baselines, static arm) are computed once and
  fetched from the stage store by the others; it ends with the family report.

Prints the two wall times, their ratio, and the family's verdict table (``compare.md``). The default
size is test-sized (minutes); ``--full`` runs the ablations at their recipe size.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_family.py [--seeds 0 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = ("verification_density", "correct_random", "limo_rules", "longest_correct", "shortest_correct")
SMALL = ["tracking.backend=none", "pool.toy.n=48", "generate.n=4", "generate.shard_size=24",
         "generate.max_new_tokens=160", "train.epochs=1", "evaluate.limit=64", "evaluate.max_new_tokens=160",
         "evaluate.dev_benchmarks=[]", "loop.static.limit=64", "loop.rounds=1", "select.per_problem=1",
         "select.budget=4", "select.difficulty.min_pass_rate=0.0", "select.difficulty.max_pass_rate=1.0",
         "train.warmup_ratio=0"]  # 4 examples make one optimizer step: a warmup would make its learning rate 0
# At this size the teacher leaves ~8 correct chains in ~8 problems (one per problem): a budget of 12 kept all of
# them: four of the five strategies trained on one set (8 examples; the family report FAILs three variants), 4 binds.


def limo(args: list[str], ok: tuple[int, ...] = (0,)) -> float:
    """Wall time of one ``limo-rl run``; ``ok``: the exit codes that count as finished (a family exits 1 when
    a variant trained on the same data as a sibling: the report names it)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="lrf-", dir="/tmp")
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "-q", "run", *args], cwd=REPO, env=env,
                         capture_output=True, text=True)
    if res.returncode not in ok:
        raise SystemExit(f"limo-rl run {' '.join(args[:3])} ... failed:\n{res.stderr[-3000:]}")
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--full", action="store_true", help="the ablation recipes at their own size (hours on CPU)")
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temp folder)")
    args = ap.parse_args()
    recipes = [str(REPO / "recipes" / "ablations" / f"select_{s}.yaml") for s in STRATEGIES]
    common = [f"run.seeds={json.dumps(args.seeds)}", *([] if args.full else SMALL)]
    work = args.out or Path(tempfile.mkdtemp(prefix="bench-family-"))
    t_sep = sum(limo([r, f"run.output_dir={work / 'separate' / Path(r).stem}", *common]) for r in recipes)
    fam_dir = work / "family"
    t_fam = limo([*recipes, f"run.output_dir={fam_dir}", *common, "--primary", "select_correct_random"],
                 ok=(0, 1))
    print(json.dumps({"strategies": len(STRATEGIES), "seeds": args.seeds, "separate_s": round(t_sep, 1),
                      "family_s": round(t_fam, 1), "family_over_separate": round(t_fam / t_sep, 3),
                      "load_1min": round(os.getloadavg()[0], 2), "size": "full" if args.full else "small"}))
    report = next(fam_dir.glob("family-*/compare.md"))
    print(report.read_text())


if __name__ == "__main__":
    main()
