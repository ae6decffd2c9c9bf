"""``limo-rl pool`` and ``limo-rl decontaminate``: build a problem pool, or decontaminate one alone.

``limo-rl pool RECIPE [overrides]`` runs the recipe up to its pool stage (the loop driver);
``limo-rl decontaminate --pool FILE --benchmarks aime24,math500 --out DIR`` removes from a
problems file every problem sharing an n-gram with those benchmarks and writes the clean
pool, the report of what matched what, and the counts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from limo_rl.console.cliargs import AdHoc, Knob, add_recipe_args, name_values
from limo_rl.data.io import DataError, read_problems, write_problems
from limo_rl.data.pool import decontaminate, load_benchmarks
from limo_rl.errors import UsageError
from limo_rl.run.artifacts import atomic_write_json, atomic_write_jsonl, writable_problem
from limo_rl.run.layout import DECONTAMINATION, POOL_PROBLEMS, STAGE_STATS

# decontaminate alone: no recipe mode, so its knobs keep their own defaults (13 as s1; the recipe's is 8)
DECONTAMINATE = AdHoc(
    "decontaminate", files=(),
    knobs=(Knob("pool.decontaminate.ngram", kwargs={"default": 13, "help": "n-gram size (13 as s1, 8 as open-r1)"}),
           Knob("pool.decontaminate.ignore_common", kwargs={
               "default": 5, "help": "n-grams in more than this many items of one benchmark are boilerplate "
               "(0: keep all)"}, convert=lambda v: v or None)),
    sections=(),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pool", help="build a recipe's problem pool (load, dedup, decontaminate)",
        description="Run RECIPE up to its pool stage: RUN/pool/problems.jsonl plus pool_stats.json, "
        "dedup.jsonl, decontamination.jsonl and bad_rows.jsonl.",
        epilog="example: limo-rl pool recipes/quickstart.yaml pool.toy.n=500",
    )
    add_recipe_args(p)
    p.set_defaults(func=None, stage="pool", recipe_mode=lambda args: True)  # recipe mode only

    d = subparsers.add_parser(
        "decontaminate", help="remove benchmark problems (n-gram overlap) from a problems file",
        description="Drop every pool problem sharing a normalized word n-gram with an item of the given "
        "benchmarks. Writes OUT/problems.jsonl, OUT/decontamination.jsonl (each removed problem with the "
        "benchmark item it matched) and OUT/stats.json.",
        epilog="example: limo-rl decontaminate --pool pool.jsonl --benchmarks aime24,math500 "
        "--path aime24=data/aime24.jsonl --path math500=data/math500.jsonl --out clean/",
    )
    d.add_argument("--pool", required=True, help="problems file (JSONL or parquet: id, question, answer)")
    d.add_argument("--benchmarks", required=True, help="comma-separated benchmark names")
    d.add_argument("--out", required=True, help="output folder")
    d.add_argument("--path", action="append", default=[], metavar="NAME=FILE",
                   help="local file for a benchmark (repeatable); otherwise its Hugging Face copy is loaded")
    DECONTAMINATE.add_flags(d, title=None)
    d.set_defaults(func=_cmd_decontaminate)


def _cmd_decontaminate(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.benchmarks.split(",") if n.strip()]
    paths = name_values(args.path, "--path", "NAME=FILE")
    stray = sorted(set(paths) - set(names))
    if stray:
        raise UsageError(f"--path given for {stray} which --benchmarks does not name")
    cfg = DECONTAMINATE.recipe(args, {"pool.decontaminate.benchmarks": names}).pool.decontaminate
    out = Path(args.out)
    problem = writable_problem(out, folder=True)
    if problem:
        raise UsageError(f"--out {problem}")
    if (out / POOL_PROBLEMS).resolve() == Path(args.pool).resolve():
        raise UsageError(f"--out {out}: its problems.jsonl is the --pool file itself; choose another folder")
    try:
        problems = read_problems(args.pool)
        benchmarks = load_benchmarks(names, paths)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    kept, report, stats = decontaminate(problems, benchmarks, cfg)
    write_problems(out / POOL_PROBLEMS, kept)
    atomic_write_jsonl(out / DECONTAMINATION, report)
    stats = {"pool": str(args.pool), "read": len(problems), **stats, "kept": len(kept)}
    atomic_write_json(out / STAGE_STATS, stats)
    print(json.dumps({"read": len(problems), "removed": stats["removed"], "kept": len(kept),
                      "by_benchmark": stats["by_benchmark"], "out": str(out)}, indent=2))
    return 0
