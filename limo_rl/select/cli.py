"""``limo-rl select``: the select stage of a recipe, or ad hoc on explicit files.

``limo-rl select RECIPE [overrides]`` runs the recipe up to its select stage (the loop
driver); ``limo-rl select --problems FILE --chains DIR --verdicts FILE|DIR --out DIR``
selects from files alone (a chains folder and a verdict shard folder are read streaming), with the selection
knobs as flags or ``select.*`` overrides (unset ones keep the schema defaults).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from limo_rl.console.cliargs import AdHoc, FileFlag, add_recipe_args, knobs, name_values
from limo_rl.errors import UsageError
from limo_rl.select.stream import select_from_shards
from limo_rl.types import LIMO_SYSTEM_PROMPT

ADHOC = AdHoc(
    "select",
    files=(FileFlag("--problems", "FILE", "problems file (JSONL or parquet)"),
           FileFlag("--chains", "DIR", "chains folder (parquet shards of Chain rows)"),
           FileFlag("--verdicts", "FILE|DIR", "verdicts JSONL ({problem_id, sample_index, **Verdict}), or a folder "
                    "of verdict shards (the verify stage's verdicts/: read streaming, shard by shard)"),
           FileFlag("--weak-verdicts", "FILE", "weak model's verdicts: enables the pre-filter", required=False),
           FileFlag("--out", "DIR", "output folder")),
    knobs=(*knobs("select", "strategy", "budget", "per_problem"),
           *knobs("select.difficulty", "min_pass_rate", "max_pass_rate", "min_correct", "max_correct"),
           *knobs("select", "tie_break", "balance_by", "seed")),
    sections=("select",),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "select", help="choose the SFT set from verified chains (a recipe's stage, or ad hoc)",
        description="Difficulty window on pass rates, correct finished chains only, rank by a strategy, "
        "top m per problem, cut to the budget. Writes OUT/sft.jsonl, OUT/stats.json, OUT/difficulty.jsonl. "
        "Ad hoc settings: the flags and select.* overrides (e.g. select.budget=800, the same as --budget 800).",
        epilog="examples:\n  limo-rl select recipes/quickstart.yaml select.strategy=shortest_correct\n"
        "  limo-rl select --problems pool/problems.jsonl --chains gen/chains --verdicts v/verdicts "
        "--out sel/ --strategy limo_rules --budget 800 --max-correct 3 --min-correct 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    a = ADHOC.add_flags(p)
    a.add_argument("--weight", action="append", default=[], metavar="FEATURE=W",
                   help="add W * FEATURE to the score (repeatable), e.g. verification_density=2 [select.weights]")
    a.add_argument("--weak-max-pass-rate", type=float, help="with --weak-verdicts: drop problems the weak model "
                   "solves above this rate (default 0.0) [select.weak_filter.max_pass_rate]")
    a.add_argument("--system-prompt", dest="system_prompt", help="'' for none (default: the LIMO prompt)")
    p.set_defaults(func=_adhoc, stage="select", recipe_mode=ADHOC.recipe_mode)


def build_adhoc_config(args: argparse.Namespace):
    """The SelectConfig of an ad hoc run: the flags and select.* overrides over the schema defaults."""
    values: dict = {}
    weights = name_values(args.weight, "--weight", "FEATURE=NUMBER", float)
    if weights:
        values["select.weights"] = weights
    if args.weak_verdicts:
        values["select.weak_filter.enabled"] = True
        if args.weak_max_pass_rate is not None:
            values["select.weak_filter.max_pass_rate"] = args.weak_max_pass_rate
    return ADHOC.recipe(args, values).select


def _adhoc(args: argparse.Namespace) -> int:
    cfg = build_adhoc_config(args)
    system_prompt = LIMO_SYSTEM_PROMPT if args.system_prompt is None else (args.system_prompt or None)
    try:
        res = select_from_shards(args.problems, args.chains, args.verdicts, cfg, system_prompt, Path(args.out),
                                 seed=cfg.seed or 0, weak_verdicts=args.weak_verdicts or None)
    except (ValueError, OSError) as exc:  # DataError, ShardError and bad verdict rows are ValueErrors
        raise UsageError(str(exc)) from None
    steps = {s["step"]: s for s in res.stats["steps"]}
    print(json.dumps({"selected": res.n_selected, "sft": str(res.sft_path), "stats": str(res.stats_path),
                      "candidates": steps["chains"]["candidates"],
                      "problems_in_window": steps["difficulty"]["kept"]}, indent=2))
    if res.n_selected == 0:  # an empty SFT set is never what the caller wanted: say so and fail
        print(f"limo-rl: select: no chain was selected ({steps['chains']['candidates']} candidate chain(s), "
              f"{steps['difficulty']['kept']} problem(s) in the difficulty window); widen --min-pass-rate/"
              "--max-pass-rate or check that the verdicts match the chains", file=sys.stderr)
        return 1
    return 0
