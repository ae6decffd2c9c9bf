"""``limo-rl generate``: the generate stage of a recipe, or ad hoc on a problems file.

``limo-rl generate RECIPE [overrides]`` runs the recipe up to this stage (through
:func:`limo_rl.cli.run_stage`; this module holds only the ad hoc mode);
``limo-rl generate --problems FILE --model PATH --out DIR [--n 8 | generate.n=8 ...]`` runs the
stage alone, writing shards under ``DIR/chains``. Both resume: rerun the same command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from limo_rl.console.cliargs import AdHoc, FileFlag, Knob, add_recipe_args, knobs
from limo_rl.data.io import DataError, read_problems
from limo_rl.errors import UsageError
from limo_rl.generate.driver import GenerationError, run_generation
from limo_rl.resolve import resolve_model_path
from limo_rl.run.lock import run_lock
from limo_rl.runtime.preflight import preflight

ADHOC = AdHoc(
    "generate",
    files=(FileFlag("--problems", "FILE", "problems file (JSONL or parquet: id, question, answer)"),
           FileFlag("--model", "PATH", help="model path / hub id (hf, vllm), served model name (openai), or toy://..."),
           FileFlag("--out", "DIR", "output folder; shards go to OUT/chains, figures to OUT/stats.json")),
    knobs=(*knobs("generate", "engine", "n", "temperature", "top_p", "top_k", "max_new_tokens"),
           Knob("generate.stop", kwargs={"help": "stop string (repeatable)"}),
           Knob("generate.system_prompt", kwargs={"help": "'' for none (default: the LIMO prompt)"},
                convert=lambda v: v or None),
           *knobs("generate", "batch_size", "num_actors", "cpus_per_actor", "shard_size", "max_shard_retries",
                  "device", "dtype"),
           Knob("generate.openai.base_url", kwargs={"help": "openai engine: server URL ending in /v1"}),
           Knob("generate.openai.api_key_env", kwargs={"help": "openai engine: variable holding the key"})),
    sections=("generate",),
)
# flag (its argparse dest) -> the recipe key it sets; every other generate.* key is a KEY=VALUE override
FLAG_TO_FIELD = {k.dest: k.key for k in ADHOC.knobs}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate", help="sample teacher chains (a recipe's stage, or ad hoc with --problems)",
        description="Sample k reasoning chains per problem on Ray. With RECIPE: run the recipe up to its "
        "generate stage. With --problems: ad hoc, shards under --out DIR/chains, settings from the flags and "
        "generate.* overrides (e.g. generate.n=8, the same as --n 8). Reruns resume.",
        epilog="examples:\n  limo-rl generate recipes/quickstart.yaml generate.n=8\n"
        "  limo-rl generate --problems problems.jsonl --model ./teacher --engine hf --n 8 --out gen/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    adhoc = ADHOC.add_flags(p)
    adhoc.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    adhoc.add_argument("--round", type=int, default=1)
    adhoc.add_argument("--teacher", help="teacher name recorded in each chain (default: --model)")
    p.set_defaults(func=_adhoc, stage="generate", recipe_mode=ADHOC.recipe_mode)


def build_adhoc_config(args: argparse.Namespace):
    """The GenerateConfig of an ad hoc run: the flags and generate.* overrides over the schema defaults."""
    return ADHOC.recipe(args, {"generate.model": args.model}).generate


def _adhoc(args: argparse.Namespace) -> int:
    recipe = ADHOC.recipe(args, {"generate.model": args.model})
    cfg = recipe.generate
    preflight(recipe, stages=("generate",))
    try:
        problems = read_problems(args.problems)
    except DataError as exc:
        raise UsageError(str(exc)) from None
    if not problems:
        raise UsageError(f"{args.problems}: no problems in the file")
    model = resolve_model_path(args.model, engine=cfg.engine)
    try:
        with run_lock(args.out):  # one writer per output folder (a second one would mix shards)
            result = run_generation(problems, cfg, model, Path(args.out), round=args.round, base_seed=args.seed,
                                    teacher_name=args.teacher or args.model)
    except GenerationError as exc:
        print(f"limo-rl: error: {exc}", file=sys.stderr)
        return 1
    shown = {k: result.stats[k] for k in ("chains", "tokens", "tokens_per_s", "truncation_rate", "wall_s",
                                           "shards_generated", "shards_skipped")}
    print(json.dumps({"chains_dir": str(result.chains_dir), **shown}, indent=2))
    return 0

