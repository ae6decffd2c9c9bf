"""Commands of the loop package: ``run``, ``report``, ``plan`` and ``clean``."""

from __future__ import annotations

import argparse
from pathlib import Path

from limo_rl.artifacts import atomic_write_text
from limo_rl.cliargs import add_recipe_args, recipe_from_args
from limo_rl.cluster import nodes_from_ray
from limo_rl.errors import UsageError
from limo_rl.loop.cache import STAGE_ORDER
from limo_rl.loop.clean import clean_run
from limo_rl.loop.driver import run_recipe
from limo_rl.loop.plan import Assumptions, plan_recipe, render, shortfalls
from limo_rl.loop.report import compare_runs, write_report
from limo_rl.runlock import run_lock


def _cmd_run(args: argparse.Namespace) -> int:
    recipe = recipe_from_args(args)
    return run_recipe(recipe, args.argv, from_stage=args.from_stage)


def _cmd_report(args: argparse.Namespace) -> int:
    for d in args.run_dirs:
        if not (Path(d) / "config.yaml").is_file():
            raise UsageError(f"{d}: not a limo-rl run directory (no config.yaml)")
        with run_lock(d, ["limo-rl", "report", str(d)]):  # never beside a live writer (RunLockedError names it)
            summary = write_report(d)  # a damaged metrics.json: RunFileError names it (exit 2)
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
    a = Assumptions(**{k: v for k, v in (("mean_tokens_fraction", args.mean_tokens_fraction),
                                          ("hbm_efficiency", args.hbm_efficiency), ("mfu", args.mfu)) if v})
    plan = plan_recipe(recipe, a)
    print(render(plan, recipe, a))
    if not args.address:
        return 0 if plan.fits else 1
    nodes = _cluster_nodes(args.address, args.connect_timeout)
    resources = {"CPU": sum(n.cpus for n in nodes), "GPU": sum(n.gpus for n in nodes)}
    print(f"\ncluster at {args.address}: {len(nodes)} node(s), {resources['CPU']:g} CPU, {resources['GPU']:g} GPU "
          f"(GPUs per node: {', '.join(f'{n.gpus:g}' for n in nodes)})")
    short = shortfalls(plan.stages, resources, args.gpu_mem_gib, [n.gpus for n in nodes])
    for line in short:
        print(f"SHORT  {line}")
    if not short:
        print("enough resources for every stage")
    return 1 if (short or not plan.fits) else 0


def _cmd_clean(args: argparse.Namespace) -> int:
    if not (Path(args.run_dir) / "manifest.json").is_file():
        raise UsageError(f"{args.run_dir}: not a limo-rl run directory (no manifest.json)")
    rep = clean_run(args.run_dir, dry_run=args.dry_run, clusters=not args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in rep.removed:
        print(f"{verb} {path}")
    print(f"{args.run_dir}: {verb} {len(rep.removed)} set-aside item(s), {rep.freed_bytes / 2**20:.1f} MiB; "
          f"ended {len(rep.killed)} leftover Ray process(es)")
    return 0


def _cluster_nodes(address: str, timeout_s: float) -> list:
    """The alive nodes of the Ray cluster at ``address``, or UsageError after ``timeout_s`` (``ray.init`` on an
    address where nothing answers retries for minutes; it runs in a child process that is killed)."""
    import json
    import subprocess
    import sys

    code = ("import json, sys, ray; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
            "print(json.dumps(ray.nodes())); ray.shutdown()")
    try:
        res = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise UsageError(f"--address {address}: no Ray cluster answered within {timeout_s:g}s "
                         "(check the address; --connect-timeout to wait longer)") from None
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise UsageError(f"--address {address}: could not connect to a Ray cluster: {last}")
    return nodes_from_ray(json.loads(res.stdout.strip().splitlines()[-1]))


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
        "plan", help="does a recipe fit the hardware it names: memory, context, KV cache, disk, hours",
        description="Check RECIPE against its hardware section (GPU memory for training and vLLM, context "
        "limits, GPUs per node, disk) and estimate hours; exit 1 if it does not fit. With --address, also "
        "compare with a live Ray cluster, node by node.",
        epilog="example: limo-rl plan recipes/limo/loop_r1_teacher.yaml --address auto --gpu-mem-gib 80",
    )
    add_recipe_args(pl, required=True)
    pl.add_argument("--address", default=None, help="Ray cluster address (e.g. auto, ray://host:10001)")
    pl.add_argument("--connect-timeout", type=float, default=60.0,
                    help="seconds to wait for the cluster at --address (default 60)")
    pl.add_argument("--gpu-mem-gib", type=float, default=None, help="memory of one GPU, for the memory check")
    pl.add_argument("--mean-tokens-fraction", type=float, default=None,
                    help="mean chain length as a share of max_new_tokens (default 0.4)")
    pl.add_argument("--hbm-efficiency", type=float, default=None, help="share of HBM bandwidth decode reaches (0.5)")
    pl.add_argument("--mfu", type=float, default=None, help="training model-FLOPs utilisation (default 0.3)")
    pl.set_defaults(func=_cmd_plan)

    c = sub.add_parser(
        "clean", help="remove a run's set-aside folders and end the Ray processes a killed driver left",
        description="Delete what the run set aside: the <stage>/stale-<hash>-<time>/ folders the stage cache "
        "moved aside (listed in manifest.json under set_aside) and the shards the stages moved aside inside "
        "their own folders (chains/.stale/, verdicts/.stale/); and end the private Ray cluster a killed driver of this run left behind "
        "(only the processes recorded in RUN_DIR/.ray-cluster.json). Refuses while a writer holds the run.",
        epilog="example: limo-rl clean runs/quickstart --dry-run",
    )
    c.add_argument("run_dir", metavar="RUN_DIR")
    c.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    c.set_defaults(func=_cmd_clean)
