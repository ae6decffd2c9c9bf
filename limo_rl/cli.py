"""``limo-rl``: one command per stage, plus the loop that drives them.

Each stage package contributes its commands through a ``register(subparsers)`` function in
its own ``cli`` module (listed in :data:`COMMAND_MODULES`); those modules import nothing
heavy at import time, so ``limo-rl --help`` stays fast. A handler returns an exit code;
a :class:`~limo_rl.config.RecipeError` or :class:`UsageError` becomes a clear message and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from limo_rl.config import RecipeError, iter_recipe_files, load_recipe
from limo_rl.data.io import DataError
from limo_rl.progress import set_quiet, setup_logging

DEFAULT_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"

# Modules that add commands: each has register(subparsers). Order is the order in --help.
COMMAND_MODULES: list[str] = [
    "limo_rl.loop.cli",  # run, report, plan
    "limo_rl.generate.cli",  # generate
    "limo_rl.verify.cli",  # grade
    "limo_rl.data.cli",  # decontaminate
    "limo_rl.select.cli",  # select
    "limo_rl.train.cli",  # train
    "limo_rl.evaluate.cli",  # evaluate
    "limo_rl.toy.cli",  # toy make-model | bootstrap | problems
    "limo_rl.hub.cli",  # push
]


class UsageError(Exception):
    """Bad input from the user (a file, a flag): printed without a traceback, exit code 2."""


# ---------------------------------------------------------------------------------------- shared arguments
def add_recipe_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """RECIPE and dotted overrides (``select.budget=400`` or ``--select.budget=400``, as W&B sweeps pass them)."""
    parser.add_argument(
        "recipe", nargs=None if required else "?", default=None,
        help="recipe YAML (default: recipes/quickstart.yaml)" if not required else "recipe YAML",
    )
    parser.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE",
        help="dotted overrides, e.g. select.budget=400 generate.n=8 (also --select.budget=400 and "
        "--select.budget 400)",
    )


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Pull dashed overrides out of argv (argparse would reject them as unknown flags).

    Three forms reach ``KEY=VALUE``: ``select.budget=400`` (left in place: a positional),
    ``--select.budget=400`` (W&B's ``${args}``) and ``--select.budget 400`` (as TRL and open-r1
    users type it). A dotted ``--a.b`` is never one of our flags, which have no dots.
    """
    rest, overrides = [], []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        name = item[2:].split("=", 1)[0]
        if item.startswith("--") and "." in name and re.fullmatch(r"[A-Za-z_][\w.]*", name):
            if "=" in item:
                overrides.append(item[2:])
            elif i + 1 < len(items) and not items[i + 1].startswith("--"):
                overrides.append(f"{name}={items[i + 1]}")
                i += 1
            else:
                raise UsageError(f"override {item} has no value: write {item}=VALUE or {item} VALUE")
            i += 1
            continue
        rest.append(item)
        i += 1
    return rest, overrides


def recipe_from_args(args: argparse.Namespace):
    """Resolve RECIPE + overrides into a validated Recipe (the quickstart recipe when RECIPE is omitted)."""
    recipe = getattr(args, "recipe", None)
    overrides = list(getattr(args, "overrides", []) or [])
    # A bare KEY=VALUE in the RECIPE slot means "no recipe file, just overrides".
    if recipe is not None and "=" in recipe and not Path(recipe).exists():
        overrides.insert(0, recipe)
        recipe = None
    if recipe is None:
        if not DEFAULT_RECIPE.is_file():
            raise UsageError(f"no RECIPE given and the default {DEFAULT_RECIPE} is not there")
        recipe = str(DEFAULT_RECIPE)
    return load_recipe(recipe, overrides)


# ---------------------------------------------------------------------------------------- config / runs commands
def _cmd_config_show(args: argparse.Namespace) -> int:
    sys.stdout.write(recipe_from_args(args).to_yaml())
    return 0


def _cmd_config_validate(args: argparse.Namespace) -> int:
    files = iter_recipe_files(args.paths)
    if not files:
        raise UsageError(f"no recipe files under {' '.join(args.paths)}")
    bad = 0
    for f in files:
        try:
            load_recipe(f)
        except RecipeError as exc:
            bad += 1
            print(f"FAIL {f}\n{exc}", file=sys.stderr)
        else:
            print(f"ok   {f}")
    if bad:
        print(f"{bad} of {len(files)} recipe(s) invalid", file=sys.stderr)
    return 1 if bad else 0


def _cmd_runs_show(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        raise UsageError(f"{run_dir}: no manifest.json (is this a limo-rl run directory?)")
    m = json.loads(manifest_path.read_text())
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    git = m.get("git") or {}
    print(f"run        {run_dir}")
    print(f"status     {m.get('status', 'running or interrupted')}")
    print(f"started    {m.get('started_at')}   ended {m.get('ended_at')}")
    print(f"command    {' '.join(m.get('command') or [])}")
    print(f"git        {git.get('commit')}{' (dirty)' if git.get('dirty') else ''}")
    print(f"seeds      {m.get('seeds')}")
    stages = m.get("stages") or {}
    if stages:
        width = max(len(k) for k in stages)
        print(f"\n{'stage'.ljust(width)}  status    seconds  figures")
        for key, st in stages.items():
            secs = st.get("seconds")
            figs = {k: v for k, v in (st.get("metrics") or {}).items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)}
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in list(figs.items())[:6])
            if st.get("status") == "skipped" and st.get("reason"):
                shown = st["reason"]
            print(f"{key.ljust(width)}  {str(st.get('status', '?')).ljust(8)}  "
                  f"{(f'{secs:7.1f}' if isinstance(secs, (int, float)) else '      -')}  {shown}")
    headline = m.get("headline") or {}
    if headline:
        print("\nheadline")
        for k, v in headline.items():
            print(f"  {k}: {_fmt(v)}")
    return 0


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _register_builtin(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show or validate recipes",
                       description="Show a fully resolved recipe, or validate recipe files and folders.")
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="{show,validate}")
    show = csub.add_parser(
        "show", help="print the resolved recipe as YAML",
        description="Print RECIPE after base: inheritance and overrides, with every default filled in.",
        epilog="example: limo-rl config show recipes/quickstart.yaml select.budget=100",
    )
    add_recipe_args(show)
    show.set_defaults(func=_cmd_config_show)
    val = csub.add_parser(
        "validate", help="validate recipe files or folders (recursively)",
        description="Validate each recipe; exits 1 naming every invalid file.",
        epilog="example: limo-rl config validate recipes/",
    )
    val.add_argument("paths", nargs="+", help="recipe files or folders")
    val.set_defaults(func=_cmd_config_validate)

    r = sub.add_parser("runs", help="inspect run directories", description="Inspect run directories.")
    rsub = r.add_subparsers(dest="runs_cmd", required=True, metavar="{show}")
    rs = rsub.add_parser(
        "show", help="summarize a run: stages, status, timings, headline metrics",
        epilog="example: limo-rl runs show runs/quickstart",
    )
    rs.add_argument("run_dir", help="a run directory (holds manifest.json)")
    rs.add_argument("--json", action="store_true", help="print the raw manifest")
    rs.set_defaults(func=_cmd_runs_show)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="limo-rl",
        description="Self-distillation of reasoning, LIMO-style: generate -> verify -> select -> train -> evaluate, "
        "in rounds, compared with the static 817 set.",
        epilog="Run `limo-rl COMMAND --help` for a command's arguments and an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a stage package without commands in this checkout
            if exc.name != name:
                raise
            continue
        module.register(sub)
    _register_builtin(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        rest, dashed = split_overrides(argv)
    except UsageError as exc:
        print(f"limo-rl: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(rest)
    if dashed:
        if not hasattr(args, "overrides"):
            parser.error(f"{args.command or 'this command'} takes no KEY=VALUE overrides: {' '.join(dashed)}")
        args.overrides = list(args.overrides or []) + dashed
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    args.argv = ["limo-rl", *argv]  # recorded in run manifests
    set_quiet(args.quiet)
    setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except (RecipeError, UsageError, DataError) as exc:
        print(f"limo-rl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("limo-rl: interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    # Under `python -m limo_rl.cli` this module is __main__; stage modules raise limo_rl.cli.UsageError,
    # so run the imported module's main for its exception classes to match.
    from limo_rl.cli import main as _main

    sys.exit(_main())
