"""Every recipe in the tree validates and says its purpose; sweeps use valid dotted keys and values;
the Ray manifests parse and agree with the runtime env."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from limo_rl.config import iter_recipe_files, load_recipe, load_yaml_tree
from limo_rl.loop.report import Score, headline

REPO = Path(__file__).resolve().parents[2]
RECIPES = iter_recipe_files([REPO / "recipes"])
SWEEPS = sorted((REPO / "recipes" / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(REPO)))
def test_recipe_validates_and_states_purpose(path):
    load_recipe(path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# Purpose:"), f"{path} must open with '# Purpose: ...'"


def test_tree_has_required_recipes():
    names = {str(p.relative_to(REPO / "recipes")) for p in RECIPES}
    assert "quickstart.yaml" in names
    assert len([n for n in names if n.startswith("limo/")]) >= 4
    ablations = [n for n in names if n.startswith("ablations/")]
    for needle in ("select_", "density_weight", "budget_100", "budget_150", "budget_200", "samples_",
                   "teacher_fixed", "teacher_self", "data_fresh", "data_accumulate", "student_from_base",
                   "student_from_previous"):
        assert any(needle in n for n in ablations), needle


@pytest.mark.parametrize("path", [p for p in RECIPES if "ablations" in p.parts and p.name != "base.yaml"],
                         ids=lambda p: p.name)
def test_ablations_are_small_diffs(path):
    data = yaml.safe_load(path.read_text())
    assert data.get("base") == "base.yaml"
    body = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(body) <= 8, f"{path.name}: an ablation should be a few lines on base.yaml"


def test_limo_reproduction_matches_paper_protocol():
    r = load_recipe(REPO / "recipes" / "limo" / "static_817.yaml")
    t = r.train
    assert (t.model, t.learning_rate, t.lr_scheduler, t.warmup_ratio, t.epochs) == (
        "Qwen/Qwen2.5-32B-Instruct", 5e-6, "cosine", 0.0, 15)
    assert t.per_device_batch_size * t.gradient_accumulation_steps * t.num_workers == 32
    assert (t.max_length, t.bf16, t.strategy) == (16384, True, "deepspeed_zero3")
    assert r.evaluate.preset == "limo" and r.loop.static.source == "GAIR/LIMO" and r.select.budget == 817
    loop = load_recipe(REPO / "recipes" / "limo" / "loop_r1_distill_teacher.yaml")
    assert loop.generate.n == 32 and loop.generate.engine == "vllm"
    assert (loop.select.difficulty.min_correct, loop.select.difficulty.max_correct) == (1, 3)


def _sweep_values(spec: dict) -> list:
    if "values" in spec:
        return list(spec["values"])
    if "value" in spec:
        return [spec["value"]]
    if "min" in spec and "max" in spec:
        return [spec["min"], spec["max"], (spec["min"] + spec["max"]) / 2]
    raise AssertionError(f"cannot enumerate sweep parameter {spec}")


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_parameters_are_valid_keys_and_values(path):
    sweep = yaml.safe_load(path.read_text())
    cmd = sweep["command"]
    assert cmd[:2] == ["limo-rl", "run"]
    assert "${args_no_hyphens}" in cmd or "${args}" in cmd
    recipe = REPO / cmd[2]
    fixed = [c for c in cmd[3:] if not c.startswith("${")]
    hyphens = "${args}" in cmd
    for key, spec in sweep["parameters"].items():
        for value in _sweep_values(spec):
            arg = f"--{key}={value}" if hyphens else f"{key}={value}"
            r = load_recipe(recipe, [*fixed, arg])  # unknown key or bad value raises RecipeError
            node = r.to_dict()
            for part in key.split("."):
                node = node[part]
            assert node == value or float(node) == float(value)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_metric_is_a_name_the_report_logs(path):
    sweep = yaml.safe_load(path.read_text())
    arm, bench, metric = sweep["metric"]["name"].split("/")
    names = headline([Score(0, arm, 1 if arm == "loop" else None, bench, "pass@1[avg of 1]", 0.5, 0.4, 0.6)])
    assert sweep["metric"]["name"] in names
    ev = load_recipe(REPO / sweep["command"][2]).evaluate
    assert bench in ev.dev_benchmarks and bench not in ev.benchmarks, "a sweep must optimise a dev benchmark"


def test_cli_parses_sweep_command_line():
    from limo_rl.cli import split_overrides

    rest, dashed = split_overrides(["run", "r.yaml", "--select.budget=400", "--quiet"])
    assert rest == ["run", "r.yaml", "--quiet"] and dashed == ["select.budget=400"]


def test_ray_manifests_parse_and_agree_with_runtime_env():
    import re

    # the RayJob names its recipe inside the image: where ray_cluster/Dockerfile puts the project
    IMAGE_ROOT = re.search(r"^WORKDIR\s+(\S+)", (REPO / "ray_cluster" / "Dockerfile").read_text(), re.M).group(1) + "/"
    rt = yaml.safe_load((REPO / "ray_cluster" / "runtime_env.yaml").read_text())
    assert rt["env_vars"]["OMP_NUM_THREADS"] == "1"
    assert ".venv" in rt["excludes"] and "runs" in rt["excludes"]
    job = yaml.safe_load((REPO / "ray_cluster" / "kuberay" / "rayjob.yaml").read_text())
    assert job["kind"] == "RayJob"
    job_env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    assert job_env["env_vars"] == rt["env_vars"]
    entry = job["spec"]["entrypoint"].split()
    assert entry[:2] == ["limo-rl", "run"]
    assert entry[2].startswith(IMAGE_ROOT)  # absolute: the driver's cwd on the head is Ray's, not the image's
    load_recipe(REPO / entry[2].removeprefix(IMAGE_ROOT), entry[3:])
    cluster = yaml.safe_load((REPO / "ray_cluster" / "kuberay" / "raycluster.yaml").read_text())
    assert cluster["kind"] == "RayCluster"
    import ray

    major_minor = ".".join(ray.__version__.split(".")[:2])
    for doc in (cluster["spec"], job["spec"]["rayClusterSpec"]):
        assert doc["rayVersion"].startswith(major_minor)
        # token auth is KubeRay's own option (issue 20): the operator sets the token on head, workers and
        # submitter; tests/unit/test_manifests.py checks the pods in detail
        assert doc["authOptions"]["mode"] == "token"
    up = yaml.safe_load((REPO / "ray_cluster" / "cluster.yaml").read_text())
    assert up["head_node_type"] in up["available_node_types"]
    assert any(t["resources"].get("GPU", 0) > 0 for t in up["available_node_types"].values())
    readme = (REPO / "ray_cluster" / "README.md").read_text()
    assert "RAY_AUTH_MODE" in readme and "--runtime-env ray_cluster/runtime_env.yaml" in readme


def test_base_chain_resolves_for_ablations():
    merged = load_yaml_tree(REPO / "recipes" / "ablations" / "budget_100.yaml")
    assert merged["select"]["budget"] == 100 and merged["generate"]["engine"] == "hf"
    r = load_recipe(REPO / "recipes" / "ablations" / "budget_100.yaml")
    assert re.fullmatch(r"ablation-[0-9a-f]{8}", r.run.name)
    other = load_recipe(REPO / "recipes" / "ablations" / "budget_200.yaml")
    assert other.run.name != r.run.name


# ---------------------------------------------------------------------------------------- ablations that bind
ABLATIONS = [p for p in RECIPES if "ablations" in p.parts and p.name != "base.yaml"]


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


FAMILIES = ("budget", "samples", "select", "density_weight", "data", "student_from", "teacher")


def _families():
    fams: dict[str, list[Path]] = {}
    for p in ABLATIONS:
        fam = next((f for f in FAMILIES if p.stem.startswith(f + "_")), p.stem)
        fams.setdefault(fam, []).append(p)
    return fams


# The toy teacher's realised supply, measured once (toy_dev, 500 problems, the ablations' sampling: T 0.8,
# 320 new tokens, 8 samples per problem):
#   limo-rl evaluate --model toy://teacher --benchmarks toy_dev --n 8 --temperature 0.8 \
#       --max-new-tokens 320 --k 1,8 --num-actors 1 --seed 0 --out /tmp/teacher_toy_dev
# -> pass@1 4.7% [4.0, 5.4], pass@8 28.2% [24.6, 32.4] (the shipped teacher's limo_toy.json: pass@8 28% on
# toy_eval); problems by the number of its 8 samples that were right (samples.parquet), 0 to 8:
TEACHER_RIGHT_OF_8 = (359, 105, 29, 5, 2, 0, 0, 0, 0)
TEACHER_SAMPLING = {"temperature": 0.8, "max_new_tokens": 320}
SUPPLY_MARGIN = 0.9  # chains set aside as unfinished or inconsistent make the real supply a little smaller


def realised_supply(r) -> float:
    """The SFT examples selection can expect to keep for recipe ``r`` on the toy world (not an upper bound such
    as pool x per_problem: most toy problems are never solved). A pool problem with ``generate.n`` = m samples
    has c of them right with the distribution of the measured problems' right answers among m of their 8
    samples (hypergeometric: an unbiased estimate for m <= 8, the measured counts themselves at m = 8); it is
    kept when c >= 1 and c/m is inside the difficulty window, and gives min(per_problem, c) chains."""
    from math import comb

    assert r.generate.model == "toy://teacher" and {k: getattr(r.generate, k) for k in TEACHER_SAMPLING} == \
        TEACHER_SAMPLING, "the supply was measured for the toy teacher at T 0.8, 320 tokens: measure again"
    pool = r.pool.toy.n if r.pool.source == "toy" else None
    if r.pool.limit is not None:
        pool = min(pool, r.pool.limit) if pool is not None else r.pool.limit
    assert pool is not None, "a binding check needs a pool size (pool.toy.n or pool.limit)"
    m, k, w = r.generate.n, r.select.per_problem, r.select.difficulty
    assert m <= 8, "the supply was measured with 8 samples per problem: measure again for more"
    per_problem = 0.0
    for right, count in enumerate(TEACHER_RIGHT_OF_8):
        for c in range(1, min(m, right) + 1):
            if w.min_pass_rate <= c / m <= w.max_pass_rate:
                per_problem += count * comb(right, c) * comb(8 - right, m - c) / comb(8, m) * min(k, c)
    return pool * per_problem / sum(TEACHER_RIGHT_OF_8)


def test_realised_supply_matches_the_measured_counts():
    base = load_recipe(REPO / "recipes" / "ablations" / "base.yaml")
    assert base.generate.n == 8
    # at n = 8 the estimate is the measured count itself: 141 of 500 problems have 1-7 right (one chain each)
    assert realised_supply(base) == pytest.approx(1000 * 141 / 500)
    two = load_recipe(REPO / "recipes" / "ablations" / "base.yaml", ["select.per_problem=2"])
    assert realised_supply(two) == pytest.approx(1000 * (105 + 2 * (29 + 5 + 2)) / 500)
    assert realised_supply(two) < 0.2 * base.pool.toy.n * 2  # the old upper bound was 5x too high


@pytest.mark.parametrize("family", sorted(_families()), ids=str)
def test_ablation_family_changes_one_factor_that_can_change_the_sft_set(family):
    paths = _families()[family]
    recipes = {p.name: load_recipe(p) for p in paths}
    leaves = {n: {k: v for k, v in _leaves(r.to_dict()).items() if k != "run.name"} for n, r in recipes.items()}
    keys = set.union(*(set(v) for v in leaves.values()))
    varied = {k for k in keys if len({repr(v.get(k)) for v in leaves.values()}) > 1}
    assert len(paths) > 1, f"{family}: an ablation family needs at least two settings to compare"
    assert len(varied) == 1, f"{family}: ablations differ in {sorted(varied)}, not one factor"
    for name, r in recipes.items():
        supply = SUPPLY_MARGIN * realised_supply(r)
        if family in ("budget", "samples"):
            # a budget at or above the supply trains every arm on the whole supply: the same set (a false null);
            # k changes the SFT size too unless the budget fixes it
            assert r.select.budget < supply, (
                f"{name}: budget {r.select.budget} >= the ~{supply:.0f} chains the toy teacher realises: it cannot bind")
        elif family in ("select", "density_weight"):
            assert r.select.per_problem == 1 and r.select.budget < supply, (
                f"{name}: the ranking must choose: one chain per problem (per_problem 1) and a budget below the "
                f"~{supply:.0f} candidates")
        elif family in ("data", "student_from", "teacher"):
            assert r.loop.rounds >= 2, f"{name}: {family} only matters from round 2"


def test_binding_check_fails_on_a_budget_that_cannot_bind():
    """The ablations before this check: pool 1000, two chains per problem, budgets 400/817/1600 under an upper
    bound of 2000, all at or above the ~354 chains the teacher realises: the same SFT set three times."""
    for budget in (400, 817, 1600):
        r = load_recipe(REPO / "recipes" / "ablations" / "base.yaml", ["select.per_problem=2",
                                                                        f"select.budget={budget}"])
        assert r.select.budget < r.pool.toy.n * r.select.per_problem  # the old check passed
        assert r.select.budget >= realised_supply(r)  # the realised supply says it cannot bind


def _agent_argv(command: list[str], params: dict, macro: str) -> list[str]:
    """The argv a W&B agent runs: ``${args}`` -> ``--key=value``, ``${args_no_hyphens}`` -> ``key=value``."""
    out = []
    for item in command:
        if item in ("${args}", "${args_no_hyphens}"):
            dash = "--" if (macro or item) == "${args}" else ""
            out += [f"{dash}{k}={v}" for k, v in params.items()]
        else:
            out.append(item)
    return out


@pytest.mark.parametrize("macro", ["${args}", "${args_no_hyphens}"])
@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_agent_command_resolves_to_an_online_recipe(path, macro, monkeypatch):
    """Every sweep's command, expanded as the agent would (in both macro forms), parses through
    `limo-rl`'s own argument handling into a valid recipe that logs online to W&B."""
    from limo_rl.cli import build_parser, recipe_from_args, split_overrides

    monkeypatch.chdir(REPO)
    sweep = yaml.safe_load(path.read_text())
    assert "WANDB_API_KEY" in path.read_text(), "a sweep must say it needs WANDB_API_KEY"
    params = {k: _sweep_values(spec)[-1] for k, spec in sweep["parameters"].items()}
    argv = _agent_argv(sweep["command"], params, macro)
    assert argv[0] == "limo-rl"
    rest, dashed = split_overrides(argv[1:])
    args = build_parser().parse_args(rest)
    args.overrides = list(args.overrides or []) + dashed
    assert args.func.__module__ == "limo_rl.loop.cli" and args.command == "run"
    recipe = recipe_from_args(args)
    assert recipe.tracking.backend == "wandb" and recipe.tracking.mode == "online"
    assert not recipe.evaluate.confirm, "a sweep's trials touch the dev benchmarks only (evaluate.confirm=false)"
    node = recipe.to_dict()
    for key, value in params.items():
        leaf = node
        for part in key.split("."):
            leaf = leaf[part]
        assert leaf == value or float(leaf) == float(value), key


def test_job_runtime_env_turns_ray_trains_print_patch_off():
    rt = yaml.safe_load((REPO / "ray_cluster" / "runtime_env.yaml").read_text())
    assert rt["env_vars"]["RAY_TRAIN_ENABLE_PRINT_PATCH"] == "0"


def test_config_validate_checks_sweeps_and_names_a_bad_value(tmp_path, capsys, monkeypatch):
    from limo_rl.cli import main

    monkeypatch.chdir(REPO)
    assert main(["config", "validate", str(REPO / "recipes")]) == 0
    out = capsys.readouterr().out
    for sweep in SWEEPS:
        assert f"ok   {sweep}  (W&B sweep" in out
    bad = tmp_path / "sweeps" / "bad.yaml"
    bad.parent.mkdir()
    doc = yaml.safe_load(SWEEPS[0].read_text())
    first = next(iter(doc["parameters"]))
    doc["parameters"][first] = {"values": ["not-a-valid-value"]}
    doc["parameters"]["select.no_such_key"] = {"values": [1]}
    doc["metric"]["name"] = "loop/toy_eval/pass@1"  # the test benchmark: not for tuning
    bad.write_text(yaml.safe_dump(doc))
    assert main(["config", "validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"FAIL {bad}" in err and f"parameters.{first} = 'not-a-valid-value'" in err
    assert "select.no_such_key" in err and "toy_eval is not one of the recipe's evaluate.dev_benchmarks" in err


def test_version(capsys):
    from limo_rl import __version__
    from limo_rl.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"limo-rl {__version__}"


def test_a_sweeps_agents_share_one_output_folder_and_its_stage_store(tmp_path):
    """Every trial of a sweep lands in the same output folder (one stage store: generation reused across
    trials) under its own {hash} name; a sweep that moves the folder or turns sharing off is refused."""
    from limo_rl.config.sweeps import check_sweep
    from limo_rl.errors import RecipeError

    for path in SWEEPS:
        sweep = yaml.safe_load(path.read_text())
        recipe = REPO / sweep["command"][2]
        params = {k: _sweep_values(spec) for k, spec in sweep["parameters"].items()}
        trials = [load_recipe(recipe, [f"{k}={v[i % len(v)]}" for k, v in params.items()]) for i in range(2)]
        assert len({(r.run.output_dir, r.run.share_stages) for r in trials}) == 1 and trials[0].run.share_stages
        assert trials[0].run.name != trials[1].run.name
    base = str(REPO / "recipes" / "ablations" / "base.yaml")
    doc = {"program": "limo-rl", "method": "grid", "metric": {"name": "loop/toy_dev/pass@1", "goal": "maximize"},
           "command": ["limo-rl", "run", base, "${args_no_hyphens}"], "parameters": {"select.budget": {"values": [50]}}}
    (tmp_path / "sweeps").mkdir()
    bad = tmp_path / "sweeps" / "s.yaml"
    bad.write_text(yaml.safe_dump(doc))
    check_sweep(bad)  # the shipped base: shares its store, names trials by hash
    for change, needle in ((lambda d: d["parameters"].update({"run.output_dir": {"values": ["a", "b"]}}),
                            "parameters.run.output_dir"),
                           (lambda d: d["command"].insert(3, "run.share_stages=false"), "run.share_stages on")):
        d = yaml.safe_load(yaml.safe_dump(doc))
        change(d)
        bad.write_text(yaml.safe_dump(d))
        with pytest.raises(RecipeError, match=needle):
            check_sweep(bad)
