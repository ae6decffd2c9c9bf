"""``limo-rl generate``: the generate stage of a recipe, or ad hoc on a problems file.

``limo-rl generate RECIPE [overrides]`` hands the recipe to the loop driver, which stops after
this stage; ``limo-rl generate --problems FILE --model PATH --engine hf --n 8 --out DIR`` runs
the stage alone, writing shards under ``DIR/chains``. Both resume: rerun the same command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FLAG_TO_FIELD = {
    "engine": "engine", "n": "n", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
    "max_new_tokens": "max_new_tokens", "batch_size": "batch_size", "num_actors": "num_actors",
    "cpus_per_actor": "cpus_per_actor", "shard_size": "shard_size", "device": "device", "dtype": "dtype",
    "max_shard_retries": "max_shard_retries",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    from limo_rl.cli import add_recipe_args

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
    p.set_defaults(func=_cmd_generate)


def _cmd_generate(args: argparse.Namespace) -> int:
    from limo_rl.cli import UsageError, recipe_from_args

    if args.problems is None:
        if args.model or args.out:
            raise UsageError("--model/--out belong to ad hoc mode: add --problems FILE (or give a RECIPE alone)")
        from limo_rl.loop.driver import run_recipe

        recipe = recipe_from_args(args)
        return run_recipe(recipe, sys.argv, stop_after="generate")
    if args.recipe or args.overrides:
        raise UsageError("give either a RECIPE (with KEY=VALUE overrides) or --problems, not both")
    return _adhoc(args)


def build_adhoc_config(args: argparse.Namespace):
    """A GenerateConfig from the flags given (unset flags keep the schema defaults)."""
    from pydantic import ValidationError

    from limo_rl.cli import UsageError
    from limo_rl.config import GenerateConfig

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
    from limo_rl.cli import UsageError
    from limo_rl.config import Recipe, preflight
    from limo_rl.data.io import DataError, read_problems
    from limo_rl.generate.driver import GenerationError, run_generation

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
    model = args.model
    if model.startswith("toy://"):
        model = _resolve_toy(model, Path(args.out))
    elif cfg.engine in ("hf", "vllm") and not Path(model).exists() and not _looks_like_hub_id(model):
        raise UsageError(f"--model {model}: no such folder (and not a hub id like org/name)")
    try:
        result = run_generation(problems, cfg, model, Path(args.out), round=args.round, base_seed=args.seed,
                                teacher_name=args.teacher or args.model)
    except GenerationError as exc:
        print(f"limo-rl: error: {exc}", file=sys.stderr)
        return 1
    shown = {k: result.stats[k] for k in ("chains", "tokens", "tokens_per_s", "truncation_rate", "wall_s",
                                           "shards_generated", "shards_skipped")}
    print(json.dumps({"chains_dir": str(result.chains_dir), **shown}, indent=2))
    return 0


def _resolve_toy(uri: str, out: Path) -> str:
    from limo_rl.cli import UsageError
    from limo_rl.config import ToyConfig

    try:
        from limo_rl.toy import resolve_toy_model
    except ImportError:
        raise UsageError(f"--model {uri}: the toy world (limo_rl.toy) is not available in this checkout") from None
    return str(resolve_toy_model(uri, out / ".toy-cache", ToyConfig()))


def _looks_like_hub_id(name: str) -> bool:
    """``org/name`` (one slash, not a filesystem-looking path)."""
    return name.count("/") == 1 and not name.startswith(("/", ".", "~")) and all(name.split("/"))
