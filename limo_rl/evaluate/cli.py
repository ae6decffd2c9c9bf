"""``limo-rl evaluate``: evaluate a model ad hoc (``--model``), or as the evaluate stage of a recipe.

Ad hoc mode takes the generate and verify settings from RECIPE when one is given (else the
built-in defaults) and the evaluation settings from the flags; a flag given explicitly
overrides a preset (``--preset limo --max-new-tokens 256`` is a CPU smoke run of the LIMO
protocol). Without ``--model`` the command runs the recipe's first round up to evaluation.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from limo_rl.config import EvaluateConfig, GenerateConfig, load_recipe
from limo_rl.console.cliargs import add_recipe_args, recipe_from_args
from limo_rl.console.tracking import make_tracker
from limo_rl.errors import UsageError
from limo_rl.evaluate.harness import plan_benchmarks, run_evaluation
from limo_rl.resolve import resolve_model_path, world_settings
from limo_rl.run.lock import run_lock

log = logging.getLogger(__name__)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="evaluate a model on benchmarks: pass@1[avg of n], pass@k, maj@k with CIs",
        description="Generate n samples per benchmark problem, grade them and report pass@1 averaged over the "
        "samples, unbiased pass@k (Chen et al. 2021), maj@k, missing-answer and truncation rates and mean "
        "tokens, each with a bootstrap CI over problems. With --model: ad hoc, else the recipe's evaluate stage.",
        epilog="examples:\n  limo-rl evaluate --model runs/x/model --benchmarks aime24,math500 --preset limo\n"
        "  limo-rl evaluate --model ./m --benchmarks toy_eval --benchmark-file toy_eval=eval.jsonl --n 4 "
        "--temperature 0.7 --k 1,2,4\n  limo-rl evaluate recipes/quickstart.yaml evaluate.n=4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    p.add_argument("--model", help="model folder, HF id or toy://teacher|toy://base (ad hoc mode)")
    p.add_argument("--benchmarks", type=_csv, help="comma-separated benchmark names, e.g. aime24,math500")
    p.add_argument("--benchmark-file", action="append", default=[], metavar="NAME=PATH",
                   help="a local JSONL/parquet file for benchmark NAME (repeatable)")
    p.add_argument("--preset", choices=["limo", "open-r1", "custom"], help="sampling protocol (default: custom)")
    p.add_argument("--n", type=int, help="samples per problem")
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--k", type=_ints, help="k values for pass@k and maj@k, e.g. 1,4,16")
    p.add_argument("--limit", type=int, help="first N problems of each benchmark")
    p.add_argument("--bootstrap-samples", type=int)
    p.add_argument("--seed", type=int, help="base seed of sampling and bootstrap (default: run.seed)")
    p.add_argument("--engine", choices=["hf", "vllm", "openai"], help="generation engine (default: the recipe's)")
    p.add_argument("--num-actors", type=int, help="generation actors")
    p.add_argument("--batch-size", type=int, help="prompts per engine call (hf)")
    p.add_argument("--label", default="", help="a name for this model in tables and the tracker")
    p.add_argument("--out", help="output folder (default: <run.output_dir>/eval/<model name>)")
    p.set_defaults(func=_adhoc, stage="evaluate", recipe_mode=_recipe_mode)


_EVAL_FLAGS = {"preset": "preset", "n": "n", "temperature": "temperature", "top_p": "top_p",
               "max_new_tokens": "max_new_tokens", "k": "k", "limit": "limit",
               "bootstrap_samples": "bootstrap_samples", "seed": "seed", "benchmarks": "benchmarks"}
_GEN_FLAGS = {"engine": "engine", "num_actors": "num_actors", "batch_size": "batch_size"}


def _recipe_mode(args: argparse.Namespace) -> bool:
    """Recipe mode without --model; ad hoc flags without --model are a usage error."""
    if args.model:
        return False
    ad_hoc = [f for f in ("benchmarks", "n", "preset", "out") if getattr(args, f) not in (None, [])]
    if ad_hoc or args.benchmark_file:
        raise UsageError("--model is required for an ad hoc evaluation (or give a RECIPE without flags)")
    return True


def _adhoc(args: argparse.Namespace) -> int:
    recipe = _base_recipe(args)
    cfg, gen_cfg = _configs(args, recipe)
    world = world_settings(recipe)  # resolved once here: the benchmarks and the model are made under it
    try:  # a bad benchmark file fails before a model is built or a folder made
        plan_benchmarks(cfg, world)
    except ValueError as exc:  # DataError names the file and row; an empty benchmark names the file
        raise UsageError(str(exc)) from None
    model = resolve_model_path(args.model, world=world, output_dir=recipe.run.output_dir,
                               engine=gen_cfg.engine)
    if not args.out and "://" in recipe.run.output_dir:  # an object-store run folder is limo-rl run's alone
        raise UsageError(f"run.output_dir is {recipe.run.output_dir}: give --out DIR for an ad hoc evaluation")
    out = Path(args.out) if args.out else Path(recipe.run.output_dir) / "eval" / _safe_name(args.label or args.model)

    tracker = make_tracker(recipe.tracking, out, recipe.to_dict(), name=f"eval-{_safe_name(args.label or args.model)}")
    try:  # a bad benchmark row raises DataError, which the CLI reports with its file and row (exit 2)
        with run_lock(out):  # one writer per output folder
            res = run_evaluation(model, cfg, gen_cfg, recipe.verify, out, seed=recipe.run.seed, tracker=tracker,
                                 label=args.label, world=world,
                                 hardware=recipe.hardware if args.recipe is not None else None)
    finally:
        tracker.finish()
    sys.stdout.write(res.table_path.read_text())
    print(f"\nwritten: {res.metrics_path}, {res.table_path}, {res.samples_path}")
    return 0


def _base_recipe(args: argparse.Namespace):
    if args.recipe is None and not args.overrides:
        return load_recipe(None)
    return recipe_from_args(args)


def _configs(args: argparse.Namespace, recipe: Any):
    """EvaluateConfig and GenerateConfig from the recipe plus flags; explicitly set fields stay marked as set."""
    ev: dict[str, Any] = recipe.evaluate.model_dump(exclude_unset=True)
    for flag, key in _EVAL_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            ev[key] = value
    paths = dict(ev.get("paths") or {})
    for item in args.benchmark_file:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--benchmark-file {item!r}: expected NAME=PATH, e.g. toy_eval=eval.jsonl")
        if not Path(path).is_file():
            raise UsageError(f"--benchmark-file {name}={path}: file not found")
        paths[name.strip()] = path
    if paths:
        ev["paths"] = paths
    if args.benchmarks is None and args.benchmark_file:
        ev["benchmarks"] = list(paths)
    gen = recipe.generate.model_dump(exclude_unset=True)
    for flag, key in _GEN_FLAGS.items():
        if getattr(args, flag) is not None:
            gen[key] = getattr(args, flag)
    try:
        cfg = EvaluateConfig(**ev)
        gen_cfg = GenerateConfig(**gen)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        raise UsageError(f"invalid evaluation settings: {problems}") from None
    unknown = sorted(set(cfg.paths) - set(cfg.benchmarks))
    if unknown:
        raise UsageError(f"--benchmark-file names {unknown} not among --benchmarks {cfg.benchmarks}")
    return cfg, gen_cfg


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_")[-80:] or "model"
