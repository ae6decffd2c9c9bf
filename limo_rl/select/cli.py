"""``limo-rl select``: the select stage of a recipe, or ad hoc on explicit files.

``limo-rl select RECIPE [overrides]`` runs the recipe up to its select stage (the loop
driver); ``limo-rl select --problems FILE --chains DIR --verdicts FILE|DIR --out DIR``
selects from files alone (a chains folder and a verdict shard folder are read streaming), with the selection knobs as flags (unset flags keep the recipe defaults).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from limo_rl.config import SELECT_STRATEGIES, SelectConfig
from limo_rl.console.cliargs import add_recipe_args
from limo_rl.errors import UsageError
from limo_rl.select.stream import select_from_shards
from limo_rl.types import LIMO_SYSTEM_PROMPT

_FLAGS = ("strategy", "budget", "per_problem", "tie_break", "balance_by", "seed")
_WINDOW = ("min_pass_rate", "max_pass_rate", "min_correct", "max_correct")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "select", help="choose the SFT set from verified chains (a recipe's stage, or ad hoc)",
        description="Difficulty window on pass rates, correct finished chains only, rank by a strategy, "
        "top m per problem, cut to the budget. Writes OUT/sft.jsonl, OUT/stats.json, OUT/difficulty.jsonl.",
        epilog="examples:\n  limo-rl select recipes/quickstart.yaml select.strategy=shortest_correct\n"
        "  limo-rl select --problems pool/problems.jsonl --chains gen/chains --verdicts v/verdicts "
        "--out sel/ --strategy limo_rules --budget 800 --max-correct 3 --min-correct 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    a = p.add_argument_group("ad hoc mode (no recipe)")
    a.add_argument("--problems", help="problems file (JSONL or parquet)")
    a.add_argument("--chains", help="chains folder (parquet shards of Chain rows)")
    a.add_argument("--verdicts", help="verdicts JSONL ({problem_id, sample_index, **Verdict}), or a folder of "
                   "verdict shards (the verify stage's verdicts/: read streaming, shard by shard)")
    a.add_argument("--weak-verdicts", dest="weak_verdicts", help="weak model's verdicts: enables the pre-filter")
    a.add_argument("--weak-max-pass-rate", dest="weak_max_pass_rate", type=float,
                   help="drop problems the weak model solves above this rate (default 0.0)")
    a.add_argument("--out", help="output folder")
    a.add_argument("--strategy", choices=SELECT_STRATEGIES)
    a.add_argument("--budget", type=int, help="total SFT examples (default 817)")
    a.add_argument("--per-problem", dest="per_problem", type=int, help="top m chains per problem (default 1)")
    a.add_argument("--min-pass-rate", dest="min_pass_rate", type=float)
    a.add_argument("--max-pass-rate", dest="max_pass_rate", type=float)
    a.add_argument("--min-correct", dest="min_correct", type=int)
    a.add_argument("--max-correct", dest="max_correct", type=int)
    a.add_argument("--tie-break", dest="tie_break", choices=("chain_hash", "sample_index"))
    a.add_argument("--balance-by", dest="balance_by", choices=("source", "subject"))
    a.add_argument("--weight", action="append", default=[], metavar="FEATURE=W",
                   help="add W * FEATURE to the score (repeatable), e.g. verification_density=2")
    a.add_argument("--system-prompt", dest="system_prompt", help="'' for none (default: the LIMO prompt)")
    a.add_argument("--seed", type=int)
    p.set_defaults(func=_adhoc, stage="select", recipe_mode=_recipe_mode)


def _recipe_mode(args: argparse.Namespace) -> bool:
    """Recipe mode unless a file flag is given; ad hoc takes all four and no RECIPE."""
    adhoc = [args.problems, args.chains, args.verdicts, args.out]
    if not any(adhoc):
        return True
    if args.recipe or args.overrides:
        raise UsageError("give either a RECIPE (with KEY=VALUE overrides) or --problems/--chains/--verdicts/--out")
    if not all(adhoc):
        raise UsageError("ad hoc mode needs all of --problems FILE --chains DIR --verdicts FILE --out DIR")
    return False


def build_adhoc_config(args: argparse.Namespace):
    """A SelectConfig from the flags given (unset flags keep the schema defaults)."""
    data: dict = {k: getattr(args, k) for k in _FLAGS if getattr(args, k) is not None}
    window = {k: getattr(args, k) for k in _WINDOW if getattr(args, k) is not None}
    if window:
        data["difficulty"] = window
    weights = {}
    for item in args.weight:
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--weight {item!r}: expected FEATURE=NUMBER") from None
        if not sep or not name.strip():
            raise UsageError(f"--weight {item!r}: expected FEATURE=NUMBER")
    if weights:
        data["weights"] = weights
    if args.weak_verdicts:
        data["weak_filter"] = {"enabled": True, **({"max_pass_rate": args.weak_max_pass_rate}
                                                   if args.weak_max_pass_rate is not None else {})}
    try:
        return SelectConfig.model_validate(data)
    except ValidationError as exc:
        raise UsageError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None


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
