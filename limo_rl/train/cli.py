"""``limo-rl train``: with a RECIPE, the loop driver's train stage; ad hoc, explicit paths.

Ad hoc: ``limo-rl train --data sft.jsonl --model PATH --out DIR [train.epochs=2 ...]`` reads
JSONL rows of ``SFTExample.to_dict()``, trains with the recipe's ``train`` section (defaults
plus any ``train.*`` overrides) and prints where the student landed. Rerunning the same
command resumes from the newest complete checkpoint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from limo_rl.config import load_recipe
from limo_rl.console.cliargs import add_recipe_args
from limo_rl.errors import UsageError
from limo_rl.resolve import resolve_model_path
from limo_rl.run.lock import run_lock
from limo_rl.train.chat_template import TemplateError
from limo_rl.train.launcher import TrainError, run_training
from limo_rl.train.rows import SFTDataError, read_sft_jsonl


def _recipe_mode(args: argparse.Namespace) -> bool:
    """Recipe mode unless --data/--model/--out are given; ad hoc needs all three."""
    adhoc = [args.data, args.model, args.out]
    if any(adhoc):
        if not all(adhoc):
            raise UsageError("ad hoc training needs all of --data FILE --model PATH --out DIR")
        return False
    return True


def _adhoc(args: argparse.Namespace) -> int:
    overrides = list(args.overrides or [])
    if args.recipe is not None:
        if "=" not in args.recipe:
            raise UsageError("ad hoc mode takes no RECIPE; pass train.* overrides (e.g. train.epochs=2)")
        overrides.insert(0, args.recipe)
    bad = [o for o in overrides if not o.lstrip("-").startswith("train.")]
    if bad:
        raise UsageError(f"ad hoc mode takes only train.* overrides, got: {' '.join(bad)}")
    # one arm, trained alone: the run-level rule that arms share one dev set does not apply
    recipe = load_recipe(None, [*overrides, "loop.rounds=1", "loop.static.enabled=false"])
    cfg = recipe.train
    model = resolve_model_path(args.model, toy_cfg=recipe.toy, output_dir=recipe.run.output_dir, label="--model")
    try:
        examples = read_sft_jsonl(args.data)
        validation = read_sft_jsonl(args.validation) if args.validation else None
        with run_lock(args.out):  # one writer per output folder (a second one would resume our checkpoints)
            result = run_training(examples, model, cfg, Path(args.out), seed=args.seed, validation=validation)
    except (SFTDataError, TemplateError, TrainError) as exc:
        raise UsageError(str(exc)) from None
    m = result.metrics
    print(json.dumps({"model_dir": str(result.model_dir), **{k: m.get(k) for k in (
        "train_loss", "eval_loss", "global_step", "epoch", "world_size", "tokens_per_s", "resumed_step",
        "final_checkpoint")}}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="fine-tune the student on an SFT set (TRL SFT on Ray Train)",
        description="With RECIPE: run the recipe up to and including its train stage. Ad hoc: train "
        "--model on the SFT JSONL --data, writing the student to --out/model (resumable).",
        epilog="examples:\n  limo-rl train recipes/quickstart.yaml train.epochs=2\n"
        "  limo-rl train --data runs/x/select/sft.jsonl --model runs/x/base --out /tmp/student train.num_workers=2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    p.add_argument("--data", help="ad hoc: SFT JSONL (rows of SFTExample: id, messages)")
    p.add_argument("--model", help="ad hoc: base model folder (Hugging Face format) or hub id")
    p.add_argument("--out", help="ad hoc: output folder (checkpoints/, model/, train_metrics.json)")
    p.add_argument("--validation", help="ad hoc: a named validation SFT JSONL (default: a split of --data)")
    p.add_argument("--seed", type=int, default=0, help="ad hoc: seed (default 0)")
    p.set_defaults(func=_adhoc, stage="train", recipe_mode=_recipe_mode)
