"""``limo-rl toy make-model | bootstrap | problems | gold``: the CPU-scale world from the command line.

Light at import time: the world's modules import torch only when a model is built.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from limo_rl.config import ToyConfig
from limo_rl.data.io import write_problems
from limo_rl.errors import UsageError
from limo_rl.run.artifacts import atomic_output, atomic_write_jsonl
from limo_rl.toy.bootstrap import bootstrap_teacher, resolve_toy_model
from limo_rl.toy.chains import gold_examples
from limo_rl.toy.model import make_tiny_model
from limo_rl.toy.problems import confirm_problems, dev_problems, eval_problems, make_problems


def _toy_config(args: argparse.Namespace):
    try:
        return ToyConfig(seed=args.seed, bootstrap_steps=args.steps,
                         continue_steps=args.continue_steps, corpus_size=args.corpus_size,
                         difficulty=args.difficulty)
    except ValueError as exc:
        raise UsageError(f"bad toy option: {exc}") from None


def _check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out {out}: folder is not empty (pass --force to replace it)")


def _cmd_make_model(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out_dir(out, args.force)
    if args.random:
        with atomic_output(out) as tmp:
            make_tiny_model(tmp, hidden_size=args.hidden_size, num_layers=args.layers, num_heads=args.heads,
                            seed=args.seed)
    else:
        src = resolve_toy_model("toy://base", Path(args.cache_dir), _toy_config(args))
        with atomic_output(out) as tmp:
            shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".*"))
    print(out)
    return 0


def _cmd_bootstrap(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out_dir(out, args.force)
    info = bootstrap_teacher(out, _toy_config(args), eval_n=args.eval_n)
    print(json.dumps(info, indent=2))
    return 0


def _cmd_problems(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    make = eval_problems if args.eval else dev_problems if args.dev else confirm_problems if args.confirm \
        else make_problems
    # the test, dev and confirmation sets have fixed seeds
    seed = {} if (args.eval or args.dev or args.confirm) else {"seed": args.seed}
    try:
        problems = make(args.n, difficulty=args.difficulty, **seed)
    except ValueError as exc:  # a question space too small for n at this difficulty
        raise UsageError(f"--n {args.n}: {exc}") from None
    write_problems(args.out, problems)
    print(f"{len(problems)} problems -> {args.out}", file=sys.stderr)
    return 0


def _cmd_gold(args: argparse.Namespace) -> int:
    examples = gold_examples(args.n, seed=args.seed, difficulty=args.difficulty)
    atomic_write_jsonl(args.out, (e.to_dict() for e in examples))
    print(f"{len(examples)} gold chains -> {args.out}", file=sys.stderr)
    return 0


def _difficulty(text: str) -> int:
    v = int(text)
    if not 1 <= v <= 6:
        raise argparse.ArgumentTypeError(f"difficulty must be in 1..6, got {v}")
    return v


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "toy", help="the CPU-scale reasoning world: tiny models, problems, the gold set",
        description="A synthetic math world small enough to run the whole loop on a laptop CPU.",
    )
    sub = p.add_subparsers(dest="toy_cmd", required=True, metavar="{make-model,bootstrap,problems,gold}")

    def world(q: argparse.ArgumentParser, steps: bool = True) -> None:
        q.add_argument("--seed", type=int, default=0, help="seed (default 0)")
        q.add_argument("--difficulty", type=_difficulty, default=2, help="1..6: operand digits and steps (default 2)")
        if steps:
            q.add_argument("--steps", type=int, default=600, help="bootstrap optimizer steps (default 600)")
            q.add_argument("--continue-steps", type=int, default=300,
                           help="continued-pretraining steps on fresh problems, lower lr (default 300)")
            q.add_argument("--corpus-size", type=int, default=3000, help="bootstrap corpus problems (default 3000)")

    mm = sub.add_parser(
        "make-model", help="write a toy model in Hugging Face format",
        description="Write toy://base (the bootstrapped tiny teacher, cached) to --out, or with --random a "
        "random-init tiny Qwen2 and tokenizer.",
        epilog="example: limo-rl toy make-model --out /tmp/tiny --random",
    )
    mm.add_argument("--out", required=True, help="output folder")
    mm.add_argument("--random", action="store_true", help="random init, no training (seconds)")
    mm.add_argument("--hidden-size", type=int, default=128)
    mm.add_argument("--layers", type=int, default=2)
    mm.add_argument("--heads", type=int, default=4)
    mm.add_argument("--cache-dir", default=".limo-cache/toy", help="where toy://base is cached (default .limo-cache/toy)")
    mm.add_argument("--force", action="store_true", help="replace a non-empty --out")
    world(mm)
    mm.set_defaults(func=_cmd_make_model)

    bs = sub.add_parser(
        "bootstrap", help="pretrain a tiny teacher on a mixed-quality corpus (minutes)",
        description="Pretrain a tiny Qwen2 on toy chains of mixed quality to a middling pass@1; deterministic "
        "under --seed. Prints the teacher's info (pass@1 on toy_eval, timings).",
        epilog="example: limo-rl toy bootstrap --out runs/toy-teacher --seed 0",
    )
    bs.add_argument("--out", required=True, help="output folder")
    bs.add_argument("--eval-n", type=int, default=100, help="toy_eval problems to score (0: skip)")
    bs.add_argument("--force", action="store_true", help="replace a non-empty --out")
    world(bs)
    bs.set_defaults(func=_cmd_bootstrap)

    pr = sub.add_parser(
        "problems", help="write synthetic problems as JSONL (id, question, answer)",
        epilog="example: limo-rl toy problems --n 200 --out pool.jsonl",
    )
    pr.add_argument("--n", type=int, required=True, help="how many problems")
    pr.add_argument("--out", required=True, help="output JSONL file")
    side = pr.add_mutually_exclusive_group()
    side.add_argument("--eval", action="store_true", help="the toy_eval test set (stratified by kind, fixed seed)")
    side.add_argument("--dev", action="store_true", help="the toy_dev set, for choices (disjoint from toy_eval)")
    side.add_argument("--confirm", action="store_true", help="the toy_confirm set, a final finding's test (disjoint "
                      "from the pool, toy_dev and toy_eval)")
    world(pr, steps=False)
    pr.set_defaults(func=_cmd_problems)

    gd = sub.add_parser(
        "gold", help="write the static gold set (SFT JSONL, LIMO-817 analogue)",
        epilog="example: limo-rl toy gold --out gold817.jsonl",
    )
    gd.add_argument("--n", type=int, default=817, help="how many chains (default 817)")
    gd.add_argument("--out", required=True, help="output JSONL file")
    world(gd, steps=False)
    gd.set_defaults(func=_cmd_gold)
