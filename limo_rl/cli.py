"""``limo-rl``: one command per stage, plus the loop that drives them.

The top layer: each stage package contributes its commands through a ``register(subparsers)``
function in its own ``cli`` module (the :data:`COMMANDS` table, plain imports); those modules
hold only their ad hoc modes and import nothing heavy at import time, so ``limo-rl --help``
stays fast. Running a recipe up to a stage is :func:`run_stage`, here, so no stage imports the
loop. A handler returns an exit code; any :class:`~limo_rl.errors.LimoError` becomes a one-line
message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from limo_rl import __version__
from limo_rl.config import iter_recipe_files, load_recipe
from limo_rl.config.sweeps import check_sweep, is_sweep
from limo_rl.console.cliargs import DEFAULT_RECIPE, add_recipe_args, recipe_from_args, split_overrides
from limo_rl.console.progress import set_quiet, setup_logging
from limo_rl.console.tracking import read_run_record, record_location
from limo_rl.data import cli as data_cli
from limo_rl.errors import LimoError, RecipeError, UsageError
from limo_rl.evaluate import cli as evaluate_cli
from limo_rl.generate import cli as generate_cli
from limo_rl.hub import cli as hub_cli
from limo_rl.loop import cli as loop_cli
from limo_rl.loop.driver import run_recipe
from limo_rl.loop.headline import verdict_lines
from limo_rl.run.layout import MANIFEST
from limo_rl.runtime.raysession import RaySession
from limo_rl.select import cli as select_cli
from limo_rl.toy import cli as toy_cli
from limo_rl.train import cli as train_cli
from limo_rl.verify import cli as verify_cli

# Re-exported: tests and scripts import these from the CLI module.
__all__ = ["DEFAULT_RECIPE", "UsageError", "add_recipe_args", "build_parser", "main", "recipe_from_args",
           "run_stage", "split_overrides"]

# The command table. Order is the order in --help. Stage modules hold their parsers and ad hoc
# modes; running a recipe up to a stage is this layer's job (run_stage), so no stage imports the loop.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    loop_cli.register,  # run, report, plan
    generate_cli.register,  # generate
    verify_cli.register,  # grade
    data_cli.register,  # pool, decontaminate
    select_cli.register,  # select
    train_cli.register,  # train
    evaluate_cli.register,  # evaluate
    toy_cli.register,  # toy make-model | bootstrap | problems | gold
    hub_cli.register,  # push
]


def run_stage(args: argparse.Namespace) -> int:
    """The one wrapper that runs a recipe up to a stage (``limo-rl generate RECIPE`` and the like)."""
    return run_recipe(recipe_from_args(args), sys.argv, stop_after=args.stage)


def _dispatch(args: argparse.Namespace) -> int:
    """A stage command says recipe or ad hoc (``recipe_mode``: the one rule of
    :meth:`limo_rl.console.cliargs.AdHoc.recipe_mode`); recipe mode runs here."""
    recipe_mode = getattr(args, "recipe_mode", None)
    if recipe_mode is not None and recipe_mode(args):
        return run_stage(args)
    with RaySession():  # an ad hoc stage that needs Ray starts it under the command's session, ended here
        return int(args.func(args) or 0)


# ---------------------------------------------------------------------------------------- config / runs commands
def _cmd_config_show(args: argparse.Namespace) -> int:
    sys.stdout.write(recipe_from_args(args).to_yaml())
    return 0


def _cmd_config_validate(args: argparse.Namespace) -> int:
    files = iter_recipe_files(args.paths)
    sweeps = sorted({f for f in files if is_sweep(f)} | {f for p in map(Path, args.paths) if p.is_dir()
                                                         for f in p.rglob("*.y*ml") if is_sweep(f)})
    files = [f for f in files if not is_sweep(f)]
    if not files and not sweeps:
        raise UsageError(f"no recipe files under {' '.join(args.paths)}")
    bad = 0
    for f, check in [*((f, load_recipe) for f in files), *((f, check_sweep) for f in sweeps)]:
        try:
            check(f)
        except RecipeError as exc:
            bad += 1
            print(f"FAIL {f}\n{exc}", file=sys.stderr)
        else:
            print(f"ok   {f}" + ("  (W&B sweep: every parameter value validates)" if check is check_sweep else ""))
    if bad:
        print(f"{bad} of {len(files) + len(sweeps)} file(s) invalid", file=sys.stderr)
    return 1 if bad else 0


def _cmd_runs_show(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        raise UsageError(f"{run_dir}: no manifest.json (is this a limo-rl run directory?)")
    try:
        m = json.loads(manifest_path.read_bytes())
        if not isinstance(m, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise UsageError(f"{manifest_path}: damaged ({exc}); the next `limo-rl run` keeps it aside and starts "
                         "a fresh one") from None
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
    verdicts = verdict_lines(run_dir)
    if verdicts:
        print("\nverdicts (report.json)")
        for line in verdicts:
            print(f"  {line}")
    wandb_at = record_location(read_run_record(run_dir))
    if wandb_at:
        print(f"\nW&B        {wandb_at}")
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
        "validate", help="validate recipe files or folders (recursively), W&B sweep files included",
        description="Validate each recipe, and each W&B sweep file (under a sweeps/ folder: its command, every "
        "value of every parameter against its recipe, its metric a dev benchmark); exits 1 naming every "
        "invalid file.",
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
    parser.add_argument("--version", action="version", version=f"limo-rl {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
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
    if not getattr(args, "func", None) and not getattr(args, "recipe_mode", None):
        parser.print_help()
        return 0 if args.command is None else 2
    args.argv = ["limo-rl", *argv]  # recorded in run manifests
    set_quiet(args.quiet)
    setup_logging(args.verbose, args.quiet)
    try:
        return _dispatch(args)
    except LimoError as exc:
        print(f"limo-rl: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"limo-rl: error: {exc.strerror} (writing {exc.filename or 'a file'}); finished work is kept and a "
              "rerun resumes once there is space", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("limo-rl: interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
