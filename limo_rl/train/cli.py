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

from limo_rl.console.cliargs import AdHoc, FileFlag, add_recipe_args
from limo_rl.errors import UsageError
from limo_rl.resolve import resolve_model, world_settings
from limo_rl.run.lock import run_lock
from limo_rl.train.chat_template import TemplateError
from limo_rl.train.launcher import TrainError, run_training
from limo_rl.train.rows import SFTDataError, read_sft_jsonl

ADHOC = AdHoc(
    "train",
    files=(FileFlag("--data", "FILE", "ad hoc: SFT JSONL (rows of SFTExample: id, messages)"),
           FileFlag("--model", "PATH", "ad hoc: base model folder (Hugging Face format) or hub id"),
           FileFlag("--out", "DIR", "ad hoc: output folder (checkpoints/, model/, train_metrics.json)"),
           FileFlag("--validation", "FILE", "ad hoc: a named validation SFT JSONL (default: a split of --data)",
                    required=False)),
    sections=("train",),
)


def _adhoc(args: argparse.Namespace) -> int:
    # one arm, trained alone: the run-level rule that arms share one dev set does not apply
    recipe = ADHOC.recipe(args)
    cfg = recipe.train
    model = resolve_model(args.model, world=world_settings(recipe), output_dir=recipe.run.output_dir, label="--model")
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
    ADHOC.add_flags(p, title=None)
    p.add_argument("--seed", type=int, default=0, help="ad hoc: seed (default 0)")
    p.set_defaults(func=_adhoc, stage="train", recipe_mode=ADHOC.recipe_mode)
