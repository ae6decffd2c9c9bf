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

from limo_rl.console.cliargs import AdHoc, FileFlag, Knob, add_recipe_args, knobs, name_values
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


ADHOC = AdHoc(
    "evaluate",
    files=(FileFlag("--model", "PATH", help="model folder, HF id or toy://teacher|toy://base (ad hoc mode)"),
           FileFlag("--benchmark-file", "NAME=PATH", "a local JSONL/parquet file for benchmark NAME (repeatable) "
                    "[evaluate.paths]", required=False, repeat=True),
           FileFlag("--out", "DIR", "output folder (default: <run.output_dir>/eval/<model name>)", required=False)),
    knobs=(Knob("evaluate.benchmarks", kwargs={"type": _csv, "help": "comma-separated benchmark names, e.g. "
                                               "aime24,math500"}),
           Knob("evaluate.preset", kwargs={"help": "sampling protocol (default: custom)"}),
           *knobs("evaluate", "n", "temperature", "top_p", "max_new_tokens"),
           Knob("evaluate.k", kwargs={"type": _ints, "help": "k values for pass@k and maj@k, e.g. 1,4,16"}),
           *knobs("evaluate", "limit", "bootstrap_samples"),
           Knob("evaluate.seed", kwargs={"help": "base seed of sampling and bootstrap (default: run.seed)"}),
           Knob("generate.engine", kwargs={"help": "generation engine (default: the recipe's)"}),
           Knob("generate.num_actors", kwargs={"help": "generation actors"}),
           Knob("generate.batch_size", kwargs={"help": "prompts per engine call (hf)"})),
    recipe_base=True,  # RECIPE --model ...: the recipe's generate and verify settings for an ad hoc evaluation
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate", help="evaluate a model on benchmarks: pass@1[avg of n], pass@k, maj@k with CIs",
        description="Generate n samples per benchmark problem, grade them and report pass@1 averaged over the "
        "samples, unbiased pass@k (Chen et al. 2021), maj@k, missing-answer and truncation rates and mean "
        "tokens, each with a bootstrap CI over problems. With --model: ad hoc (settings from RECIPE if given, "
        "then KEY=VALUE overrides, then the flags), else the recipe's evaluate stage.",
        epilog="examples:\n  limo-rl evaluate --model runs/x/model --benchmarks aime24,math500 --preset limo\n"
        "  limo-rl evaluate --model ./m --benchmarks toy_eval --benchmark-file toy_eval=eval.jsonl --n 4 "
        "--temperature 0.7 --k 1,2,4\n  limo-rl evaluate recipes/quickstart.yaml evaluate.n=4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    a = ADHOC.add_flags(p, title=None)
    a.add_argument("--label", default="", help="a name for this model in tables and the tracker")
    p.set_defaults(func=_adhoc, stage="evaluate", recipe_mode=ADHOC.recipe_mode)


def _adhoc(args: argparse.Namespace) -> int:
    recipe = ADHOC.recipe(args, flags=False)  # RECIPE (or the defaults) and overrides; the flags: _configs
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


def _configs(args: argparse.Namespace, recipe: Any):
    """EvaluateConfig and GenerateConfig from the recipe plus flags; explicitly set fields stay marked as set."""
    paths = name_values(args.benchmark_file or [], "--benchmark-file", "NAME=PATH", example="toy_eval=eval.jsonl")
    for name, path in paths.items():
        if not Path(path).is_file():
            raise UsageError(f"--benchmark-file {name}={path}: file not found")
    values: dict[str, Any] = {}
    if paths:
        values["evaluate.paths"] = paths = {**recipe.evaluate.model_dump(exclude_unset=True).get("paths", {}),
                                            **paths}
        if args.benchmarks is None:
            values["evaluate.benchmarks"] = list(paths)
    settled = ADHOC.recipe(args, values, base=recipe)
    cfg, gen_cfg = settled.evaluate, settled.generate
    unknown = sorted(set(cfg.paths) - set(cfg.benchmarks))
    if unknown:
        raise UsageError(f"--benchmark-file names {unknown} not among --benchmarks {cfg.benchmarks}")
    return cfg, gen_cfg


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("/")).strip("_")[-80:] or "model"
