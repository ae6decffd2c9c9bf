"""Commands of the loop package: ``run`` (one recipe, or a family of them), ``compare``, ``report``, ``plan``,
``export`` and ``clean``."""

from __future__ import annotations

import argparse
from pathlib import Path

from limo_rl.console.cliargs import add_recipe_args, recipe_from_args
from limo_rl.errors import UsageError
from limo_rl.loop.cache import STAGE_ORDER
from limo_rl.loop.clean import clean_run
from limo_rl.loop.driver import run_recipe
from limo_rl.loop.export import FORMATS, export_lighteval
from limo_rl.loop.family import build_family, render_family, write_family
from limo_rl.loop.headline import verdict_lines
from limo_rl.loop.plan import Assumptions, plan_recipe, render, shortfalls
from limo_rl.loop.plant import DEFAULT_EFFECT
from limo_rl.loop.report import compare_runs, write_report
from limo_rl.run.artifacts import atomic_write_text
from limo_rl.run.layout import CONFIG, MANIFEST
from limo_rl.run.lock import run_lock
from limo_rl.run.stagestore import StageStore
from limo_rl.runtime.cluster import nodes_from_ray


def _cmd_run(args: argparse.Namespace) -> int:
    extra = [o for o in args.overrides if "=" not in o and o.endswith((".yaml", ".yml"))]
    if not extra:
        if args.primary or args.confirm or args.plant:
            raise UsageError("--primary, --confirm and --plant are for a family (several recipes); for one run set "
                             "compare.primary=[...] or evaluate.confirm=false in the recipe")
        return run_recipe(recipe_from_args(args), args.argv, from_stage=args.from_stage)
    # a family: RECIPE is the base, each further YAML a variant; the overrides apply to all of them
    overrides = [o for o in args.overrides if o not in extra]
    for path in extra:
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such recipe file")
    files = (args.recipe, *extra)
    recipes = [recipe_from_args(argparse.Namespace(recipe=r, overrides=overrides)) for r in files]
    stems = {Path(f).stem: r.run.name for f, r in zip(files, recipes, strict=True)}
    _mark_family(recipes, [stems.get(c, c) for c in args.confirm or ()])
    runs = []
    for recipe in recipes:  # validated all before the first computes
        rc = run_recipe(recipe, args.argv, from_stage=args.from_stage)
        if rc != 0:
            return rc
        runs.append(Path(recipe.run.output_dir) / recipe.run.name)
    out = Path(recipes[0].run.output_dir) / f"family-{recipes[0].run.name}"
    primary = [stems.get(p, p) for p in args.primary or ()]  # a recipe file's stem names its run
    fam = build_family(runs, primary=primary, plant=args.plant or (), plant_effect=args.plant_effect)
    md, _ = write_family(fam, out)
    print(f"family report  {md}")
    return _family_code(fam)


def _mark_family(recipes: list, confirm: list[str]) -> None:
    """One family: its W&B runs share a group (unless the recipes name one), and with ``--confirm`` only the
    named variants and the base evaluate the test benchmarks; the others touch their dev benchmarks only."""
    names = [r.run.name for r in recipes]
    unknown = [c for c in confirm if c not in names]
    if unknown:
        raise UsageError(f"--confirm {', '.join(unknown)}: not a run of this family (recipe file stems or run "
                         f"names: {', '.join(names)})")
    for i, r in enumerate(recipes):
        if r.tracking.group is None:
            r.tracking.group = f"family-{names[0]}"
        if confirm:
            if not r.evaluate.dev_benchmarks:
                raise UsageError(f"--confirm: {r.run.name} has no evaluate.dev_benchmarks to compare the "
                                 "unconfirmed variants on (e.g. evaluate.dev_benchmarks=[toy_dev])")
            r.evaluate.confirm = i == 0 or r.run.name in confirm  # the base is the confirmed ones' reference


def _family_code(fam) -> int:
    """1 when a variant trained on the same data as a sibling (a failed ablation, named in the report)."""
    for f in fam.failures:
        print(f"FAIL  {f['variant']}: same training data as {f['sibling']} in every trained arm")
    return 1 if fam.failures else 0


def _cmd_compare(args: argparse.Namespace) -> int:
    fam = build_family(args.run_dirs, base=args.base, primary=args.primary or (), plant=args.plant or (),
                       plant_effect=args.plant_effect)
    md, js = write_family(fam, args.out)
    print(render_family(fam), end="")
    print(f"\ncompare.md    {md}\ncompare.json  {js}")
    return _family_code(fam)


def _cmd_report(args: argparse.Namespace) -> int:
    for d in args.run_dirs:
        if not (Path(d) / CONFIG).is_file():
            raise UsageError(f"{d}: not a limo-rl run directory (no config.yaml)")
        with run_lock(d, ["limo-rl", "report", str(d)]):  # never beside a live writer (RunLockedError names it)
            summary = write_report(d)  # a damaged metrics.json: RunFileError names it (exit 2)
        print(f"{d}/report.md")
        for k, v in summary.items():
            print(f"  {k}: {v:.4f}")
        for line in verdict_lines(d):
            print(f"  {line}")
    if len(args.run_dirs) > 1:
        table = compare_runs(args.run_dirs)
        if args.out:
            atomic_write_text(args.out, "# limo_rl comparison\n\n" + table)
            print(args.out)
        else:
            print(table)
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    """One plan per recipe: ``limo-rl plan A.yaml B.yaml [KEY=VALUE ...]`` (the overrides apply to each)."""
    extra = [o for o in args.overrides if "=" not in o and o.endswith((".yaml", ".yml"))]
    overrides = [o for o in args.overrides if o not in extra]
    a = Assumptions(**{k: v for k, v in (("mean_tokens_fraction", args.mean_tokens_fraction),
                                          ("hbm_efficiency", args.hbm_efficiency), ("mfu", args.mfu)) if v})
    nodes = _cluster_nodes(args.address, args.connect_timeout) if args.address else None
    code = 0
    for i, path in enumerate([args.recipe, *extra]):
        recipe = recipe_from_args(argparse.Namespace(recipe=path, overrides=overrides))
        if extra:
            print(f"{'' if i == 0 else chr(10)}== {path}")
        code = max(code, _plan_one(recipe, a, args, nodes))
    return code


def _plan_one(recipe, a: Assumptions, args: argparse.Namespace, nodes: list | None) -> int:
    plan = plan_recipe(recipe, a)
    print(render(plan, recipe, a))
    if nodes is None:
        return 0 if plan.fits else 1
    resources = {"CPU": sum(n.cpus for n in nodes), "GPU": sum(n.gpus for n in nodes)}
    print(f"\ncluster at {args.address}: {len(nodes)} node(s), {resources['CPU']:g} CPU, {resources['GPU']:g} GPU "
          f"(GPUs per node: {', '.join(f'{n.gpus:g}' for n in nodes)})")
    short = shortfalls(plan.stages, resources, args.gpu_mem_gib, [n.gpus for n in nodes])
    for line in short:
        print(f"SHORT  {line}")
    if not short:
        print("enough resources for every stage")
    return 1 if (short or not plan.fits) else 0


def _cmd_export(args: argparse.Namespace) -> int:
    if not (Path(args.run_dir) / CONFIG).is_file():
        raise UsageError(f"{args.run_dir}: not a limo-rl run directory (no config.yaml)")
    out = Path(args.out or Path(args.run_dir) / "export" / args.format)
    written = export_lighteval(args.run_dir, out)
    if not written:
        raise UsageError(f"{args.run_dir}: no evaluation results yet (no evaluate/metrics.json)")
    for path in written:
        print(path)
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    if args.store:
        return _clean_store(Path(args.run_dir), args.dry_run)
    if not (Path(args.run_dir) / MANIFEST).is_file():
        raise UsageError(f"{args.run_dir}: not a limo-rl run directory (no manifest.json)")
    rep = clean_run(args.run_dir, dry_run=args.dry_run, clusters=not args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in rep.removed:
        print(f"{verb} {path}")
    print(f"{args.run_dir}: {verb} {len(rep.removed)} set-aside item(s), {rep.freed_bytes / 2**20:.1f} MiB; "
          f"ended {len(rep.killed)} leftover Ray process(es)")
    return 0


def _clean_store(output_dir: Path, dry_run: bool) -> int:
    import shutil

    store = StageStore.of_output_dir(output_dir)
    if not store.root.is_dir():
        raise UsageError(f"{output_dir}: no stage store here ({store.root} does not exist)")
    gone = store.unreferenced(output_dir)
    verb = "would remove" if dry_run else "removed"
    for entry in gone:
        print(f"{verb} {entry}")
        if not dry_run:
            shutil.rmtree(entry)
    print(f"{store.root}: {verb} {len(gone)} entr{'y' if len(gone) == 1 else 'ies'} no run in {output_dir} refers to")
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
    """``run``, ``compare``, ``report``, ``plan``, ``export`` and ``clean``, in that order in --help."""
    _register_run(sub)
    _register_compare_report(sub)
    _register_plan(sub)
    _register_export_clean(sub)


def _register_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="run a recipe: rounds of the loop arm, the static arm, baselines, then the report",
        description="Run every arm and round of RECIPE, caching each stage: a rerun resumes where it stopped "
        "and a finished recipe reruns as a no-op. Without RECIPE runs recipes/quickstart.yaml. Further YAML "
        "files after RECIPE make a family: each runs in turn (overrides apply to all) and a family report "
        "compares each with the first (see `limo-rl compare`).",
        epilog="examples:\n  limo-rl run recipes/quickstart.yaml\n  limo-rl run recipes/quickstart.yaml "
        "select.strategy=correct_random --from-stage select\n  limo-rl run recipes/ablations/base.yaml "
        "recipes/ablations/select_correct_random.yaml --primary select_correct_random",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_args(p)
    p.add_argument("--from-stage", choices=STAGE_ORDER, default=None,
                   help="rerun this stage and everything after it even if cached")
    p.add_argument("--primary", action="append", default=None, metavar="CONTRAST",
                   help="with several recipes: a primary contrast of the family (a variant's recipe file stem or "
                   "run name, an arm, NAME:ARM, 'A vs B' or two arms of one run 'NAME:A vs NAME:B'), added to "
                   "the recipes' compare.primary; Holm runs over these only. Repeatable")
    p.add_argument("--confirm", action="append", default=None, metavar="NAME",
                   help="with several recipes: evaluate the test benchmarks for this variant (recipe file stem or "
                   "run name) and the base only; the others are evaluated on evaluate.dev_benchmarks alone "
                   "(evaluate.confirm=false). Repeatable; none: each recipe's evaluate.confirm (default true)")
    _add_plant_args(p)
    p.set_defaults(func=_cmd_run)


def _add_plant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plant", action="append", default=None, metavar="NAME:ARM",
                   help="a positive control on this arm (2+ seeds): its seeds rotated, a known effect planted, "
                   "compared as the primary contrasts are; the family report says whether it was detected. "
                   "Repeatable")
    p.add_argument("--plant-effect", type=float, default=DEFAULT_EFFECT, metavar="P",
                   help=f"the planted effect in pass@1 points as a fraction (default {DEFAULT_EFFECT})")


def _register_compare_report(sub: argparse._SubParsersAction) -> None:
    cmp_ = sub.add_parser(
        "compare", help="a family report: each run against a base, paired verdicts, what differs, what it trained on",
        description="Compare finished runs as one family: each variant's trained arms against the base's on the "
        "same problems (seeds x problems with 2+ seeds, else checkpoints), the resolved recipe diff, and the share "
        "of each SFT set that differs from the base's. Arms that trained on the same inputs get a warning, not a "
        "verdict; a variant that trained on the same data as a sibling in every arm FAILS (exit 1). Writes "
        "compare.md and compare.json to --out.",
        epilog="example: limo-rl compare runs/qa runs/qb --out runs/family-qa --primary qb",
    )
    cmp_.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    cmp_.add_argument("--base", default=None, metavar="RUN_DIR", help="the base run (default: the first RUN_DIR)")
    cmp_.add_argument("--out", required=True, help="folder for compare.md and compare.json")
    cmp_.add_argument("--primary", action="append", default=None, metavar="CONTRAST",
                      help="a primary contrast (variant run name, NAME:ARM, 'A vs B' or 'NAME:A vs NAME:B'); Holm "
                      "runs over these only, the rest are descriptive. Repeatable; none: all comparisons in one "
                      "Holm family")
    _add_plant_args(cmp_)
    cmp_.set_defaults(func=_cmd_compare)

    r = sub.add_parser(
        "report", help="rebuild a run's report.md/report.png, or compare several runs",
        description="Rebuild report.md and report.png from each RUN_DIR's files; with several, print a "
        "side-by-side table of their primary metrics.",
        epilog="example: limo-rl report runs/quickstart runs/quickstart-random --out compare.md",
    )
    r.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    r.add_argument("--out", default=None, help="write the comparison table here (markdown)")
    r.set_defaults(func=_cmd_report)


def _register_plan(sub: argparse._SubParsersAction) -> None:
    pl = sub.add_parser(
        "plan", help="does a recipe fit the hardware it names: memory, context, KV cache, disk, hours",
        description="Check RECIPE against its hardware section (GPU memory for training and vLLM, context "
        "limits, GPUs per node, disk) and estimate hours; exit 1 if it does not fit. Several recipes (files "
        "ending in .yaml among the arguments) are planned one after the other, each with the same overrides. "
        "With --address, also compare with a live Ray cluster, node by node.",
        epilog="examples:\n  limo-rl plan recipes/limo/loop_r1_distill_teacher.yaml --address auto --gpu-mem-gib 80\n"
        "  limo-rl plan recipes/limo/qwen1.5b_one_node.yaml recipes/limo/qwen7b_one_node.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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


def _register_export_clean(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "export", help="a run's evaluations in another tool's results layout (lighteval)",
        description="Write each evaluated arm and seed of RUN_DIR as a lighteval results file "
        "(results/<run>/<arm>-round<R>-seed<S>/results_<time>.json): tasks by lighteval's names and the Hub "
        "datasets they are (math500 -> lighteval|math_500|0, HuggingFaceH4/MATH-500), limo_rl's exact metric "
        "names, fractions, stderr from the bootstrap interval.",
        epilog="example: limo-rl export runs/quickstart --format lighteval --out exported/",
    )
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--format", choices=FORMATS, default="lighteval", help="results layout (default: lighteval)")
    e.add_argument("--out", default=None, help="folder to write under (default: RUN_DIR/export/<format>)")
    e.set_defaults(func=_cmd_export)

    c = sub.add_parser(
        "clean", help="remove a run's set-aside folders and end the Ray processes a killed driver left",
        description="Delete what the run set aside: the stale-<hash>-<time>/ folders the stage cache moved "
        "aside, whole stages (listed in manifest.json under set_aside) and the shards and verdicts inside a stage "
        "(chains/stale-*/, verdicts/stale-*/, verify/stale-*/); and end the private Ray cluster a killed driver of this run left behind "
        "(only the processes recorded in RUN_DIR/.ray-cluster.json). Refuses while a writer holds the run.",
        epilog="example: limo-rl clean runs/quickstart --dry-run",
    )
    c.add_argument("run_dir", metavar="RUN_DIR")
    c.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    c.add_argument("--store", action="store_true",
                   help="RUN_DIR is an output folder: remove the entries of its stage store (.stages) that no run "
                   "in it refers to")
    c.set_defaults(func=_cmd_clean)
