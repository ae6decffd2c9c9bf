"""Commands of the loop package: ``run``, ``report`` and ``plan``."""

from __future__ import annotations

import argparse
from pathlib import Path

from limo_rl.artifacts import atomic_write_text
from limo_rl.cliargs import add_recipe_args, recipe_from_args
from limo_rl.errors import UsageError
from limo_rl.loop.cache import STAGE_ORDER
from limo_rl.loop.driver import run_recipe
from limo_rl.loop.plan import plan_recipe, render, shortfalls
from limo_rl.loop.report import compare_runs, write_report
from limo_rl.raysession import ray_session


def _cmd_run(args: argparse.Namespace) -> int:
    recipe = recipe_from_args(args)
    return run_recipe(recipe, args.argv, from_stage=args.from_stage)


def _cmd_report(args: argparse.Namespace) -> int:
    for d in args.run_dirs:
        if not (Path(d) / "config.yaml").is_file():
            raise UsageError(f"{d}: not a limo-rl run directory (no config.yaml)")
        summary = write_report(d)
        print(f"{d}/report.md")
        for k, v in summary.items():
            print(f"  {k}: {v:.4f}")
    if len(args.run_dirs) > 1:
        table = compare_runs(args.run_dirs)
        if args.out:
            atomic_write_text(args.out, "# limo_rl comparison\n\n" + table)
            print(args.out)
        else:
            print(table)
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    recipe = recipe_from_args(args)
    params = {k: v for k, v in (("teacher", args.teacher_params), ("student", args.student_params)) if v}
    plans = plan_recipe(recipe, {k: v * 1e9 for k, v in params.items()})
    print(render(plans))
    if not args.address:
        return 0
    import ray  # lazily: only `plan --address` talks to a cluster

    with ray_session(address=args.address, log_to_driver=False, logging_level="ERROR"):
        resources = ray.cluster_resources()
    print(f"\ncluster at {args.address}: {resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU")
    short = shortfalls(plans, resources, args.gpu_mem_gib)
    for line in short:
        print(f"SHORT  {line}")
    if not short:
        print("enough resources for every stage")
    return 1 if short else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a recipe: rounds of the loop arm, the static arm, baselines, then the report",
        description="Run every arm and round of RECIPE, caching each stage: a rerun resumes where it stopped "
        "and a finished recipe reruns as a no-op. Without RECIPE runs recipes/quickstart.yaml.",
        epilog="examples:\n  limo-rl run recipes/quickstart.yaml\n  limo-rl run recipes/quickstart.yaml "
        "select.strategy=correct_random --from-stage select",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    p.add_argument("--from-stage", choices=STAGE_ORDER, default=None,
                   help="rerun this stage and everything after it even if cached")
    p.set_defaults(func=_cmd_run)

    r = sub.add_parser(
        "report", help="rebuild a run's report.md/report.png, or compare several runs",
        description="Rebuild report.md and report.png from each RUN_DIR's files; with several, print a "
        "side-by-side table of their primary metrics.",
        epilog="example: limo-rl report runs/quickstart runs/quickstart-random --out compare.md",
    )
    r.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    r.add_argument("--out", default=None, help="write the comparison table here (markdown)")
    r.set_defaults(func=_cmd_report)

    pl = sub.add_parser(
        "plan", help="the GPUs, CPUs and memory each stage of a recipe needs (and what a cluster lacks)",
        description="Print each stage's resources from RECIPE; with --address, compare with a live Ray cluster "
        "and exit 1 if something is short.",
        epilog="example: limo-rl plan recipes/limo/loop_r1_teacher.yaml --address auto --gpu-mem-gib 80",
    )
    add_recipe_args(pl, required=True)
    pl.add_argument("--address", default=None, help="Ray cluster address (e.g. auto, ray://host:10001)")
    pl.add_argument("--gpu-mem-gib", type=float, default=None, help="memory of one GPU, for the memory check")
    pl.add_argument("--teacher-params", type=float, default=None, help="teacher size in billions (if not in its name)")
    pl.add_argument("--student-params", type=float, default=None, help="student size in billions")
    pl.set_defaults(func=_cmd_plan)
