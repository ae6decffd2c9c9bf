"""``limo-rl generate``: the generate stage of a recipe, or ad hoc on a problems file.

``limo-rl generate RECIPE [overrides]`` runs the recipe up to this stage (through
:func:`limo_rl.cli.run_stage`; this module holds only the ad hoc mode); ``limo-rl generate --problems FILE --model PATH --engine hf --n 8 --out DIR`` runs
the stage alone, writing shards under ``DIR/chains``. Both resume: rerun the same command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from limo_rl.config import GenerateConfig, Recipe
from limo_rl.console.cliargs import add_recipe_args
from limo_rl.data.io import DataError, read_problems
from limo_rl.errors import UsageError
from limo_rl.generate.driver import GenerationError, run_generation
from limo_rl.resolve import resolve_model_path
from limo_rl.run.lock import run_lock
from limo_rl.runtime.preflight import preflight

FLAG_TO_FIELD = {
    "engine": "engine", "n": "n", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
    "max_new_tokens": "max_new_tokens", "batch_size": "batch_size", "num_actors": "num_actors",
    "cpus_per_actor": "cpus_per_actor", "shard_size": "shard_size", "device": "device", "dtype": "dtype",
    "max_shard_retries": "max_shard_retries",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate", help="sample teacher chains (a recipe's stage, or ad hoc with --problems)",
        description="Sample k reasoning chains per problem on Ray. With RECIPE: run the recipe up to its "
        "generate stage. With --problems: ad hoc, shards under --out DIR/chains. Reruns resume.",
        epilog="examples:\n  limo-rl generate recipes/quickstart.yaml generate.n=8\n"
        "  limo-rl generate --problems problems.jsonl --model ./teacher --engine hf --n 8 --out gen/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    adhoc = p.add_argument_group("ad hoc mode (no recipe)")
    adhoc.add_argument("--problems", help="problems file (JSONL or parquet: id, question, answer)")
    adhoc.add_argument("--model", help="model path / hub id (hf, vllm), served model name (openai), or toy://...")
    adhoc.add_argument("--out", help="output folder; shards go to OUT/chains, figures to OUT/stats.json")
    adhoc.add_argument("--engine", choices=("hf", "vllm", "openai"))
    adhoc.add_argument("--n", type=int, help="samples per problem")
    adhoc.add_argument("--temperature", type=float)
    adhoc.add_argument("--top-p", dest="top_p", type=float)
    adhoc.add_argument("--top-k", dest="top_k", type=int)
    adhoc.add_argument("--max-new-tokens", dest="max_new_tokens", type=int)
    adhoc.add_argument("--stop", action="append", help="stop string (repeatable)")
    adhoc.add_argument("--system-prompt", dest="system_prompt", help="'' for none (default: the LIMO prompt)")
    adhoc.add_argument("--batch-size", dest="batch_size", type=int)
    adhoc.add_argument("--num-actors", dest="num_actors", type=int)
    adhoc.add_argument("--cpus-per-actor", dest="cpus_per_actor", type=float)
    adhoc.add_argument("--shard-size", dest="shard_size", type=int)
    adhoc.add_argument("--max-shard-retries", dest="max_shard_retries", type=int)
    adhoc.add_argument("--device", choices=("auto", "cpu", "cuda"))
    adhoc.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"))
    adhoc.add_argument("--base-url", dest="base_url", help="openai engine: server URL ending in /v1")
    adhoc.add_argument("--api-key-env", dest="api_key_env", help="openai engine: variable holding the key")
    adhoc.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    adhoc.add_argument("--round", type=int, default=1)
    adhoc.add_argument("--teacher", help="teacher name recorded in each chain (default: --model)")
    p.set_defaults(func=_adhoc, stage="generate", recipe_mode=_recipe_mode)


def _recipe_mode(args: argparse.Namespace) -> bool:
    """Recipe mode without --problems; mixing the two modes is a usage error."""
    if args.problems is None:
        if args.model or args.out:
            raise UsageError("--model/--out belong to ad hoc mode: add --problems FILE (or give a RECIPE alone)")
        return True
    if args.recipe or args.overrides:
        raise UsageError("give either a RECIPE (with KEY=VALUE overrides) or --problems, not both")
    return False


def build_adhoc_config(args: argparse.Namespace):
    """A GenerateConfig from the flags given (unset flags keep the schema defaults)."""
    fields = {f: getattr(args, a) for a, f in FLAG_TO_FIELD.items() if getattr(args, a, None) is not None}
    if args.stop:
        fields["stop"] = list(args.stop)
    if args.system_prompt is not None:
        fields["system_prompt"] = args.system_prompt or None
    openai = {k: getattr(args, k) for k in ("base_url", "api_key_env") if getattr(args, k, None) is not None}
    if openai:
        fields["openai"] = openai
    try:
        return GenerateConfig(model=args.model, **fields)
    except ValidationError as exc:
        msgs = "; ".join(f"--{'.'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"generate: {msgs}") from None


def _adhoc(args: argparse.Namespace) -> int:
    missing = [f for f in ("model", "out") if not getattr(args, f)]
    if missing:
        raise UsageError(f"ad hoc generate needs {' and '.join('--' + m for m in missing)}")
    cfg = build_adhoc_config(args)
    preflight(Recipe(generate=cfg), stages=("generate",))
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

