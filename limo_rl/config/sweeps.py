"""W&B sweep files (``recipes/sweeps/``), checked before an agent starts a run.

A sweep's ``command`` runs ``limo-rl run RECIPE [fixed overrides] ${args}`` (``--key=value``) or
``${args_no_hyphens}`` (``key=value``); the agent fills in one value of each parameter. Here every
parameter must be a recipe key and every value it can take must validate against the recipe
(a list of ``values``, a single ``value``, or for a range its ``min``, ``max`` and midpoint), and the
metric it optimizes, ``<arm>/<benchmark>/pass@1``, must name a dev benchmark of that recipe (a sweep
tunes on dev benchmarks, never on the test set the report judges). The agents of one sweep share
one output folder and so its stage store (``run.share_stages``, :mod:`limo_rl.run.stagestore`): what
two trials have in common (the pool, generation and verification when only selection varies) is
computed once; a parameter may therefore not move ``run.output_dir`` or turn sharing off, and the run
name must differ per trial (``{hash}``). ``limo-rl config validate`` runs this on every sweep file it finds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from limo_rl.config.loading import load_recipe
from limo_rl.errors import RecipeError

ARG_MACROS = ("${args}", "${args_no_hyphens}")


def is_sweep(path: str | Path) -> bool:
    return "sweeps" in Path(path).parts


def sweep_values(spec: dict[str, Any]) -> list[Any]:
    """The values a parameter can take, enough to check it: its list, its one value, or min, max and midpoint."""
    if "values" in spec:
        return list(spec["values"])
    if "value" in spec:
        return [spec["value"]]
    if "min" in spec and "max" in spec:
        lo, hi = spec["min"], spec["max"]
        mid = (lo + hi) // 2 if isinstance(lo, int) and isinstance(hi, int) else (lo + hi) / 2
        return [lo, hi, mid]
    raise RecipeError(f"cannot enumerate the values of {spec} (expected values, value, or min and max)")


def _recipe_path(name: str, sweep: Path) -> Path:
    """The recipe a sweep runs: relative to where the agent starts (this folder) or to a folder above the sweep."""
    for root in (Path.cwd(), *sweep.resolve().parents):
        if (root / name).is_file():
            return root / name
    raise RecipeError(f"{sweep}: command runs recipe {name!r}, which is not found from here or above the sweep")


def load_recipe_name(path: Path) -> str:
    """The run name a recipe file gives before its ``{hash}`` is filled in."""
    from limo_rl.config.loading import load_yaml_tree

    return str((load_yaml_tree(path).get("run") or {}).get("name") or "")


def check_sweep(path: str | Path) -> None:
    """Raise :class:`RecipeError` naming every problem of one sweep file (see the module docstring)."""
    path = Path(path)
    try:
        sweep = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read the sweep ({exc})") from None
    if not isinstance(sweep, dict):
        raise RecipeError(f"{path}: a sweep is a YAML mapping")
    cmd = [str(c) for c in sweep.get("command") or []]
    macros = [m for m in ARG_MACROS if m in cmd]
    if cmd[:2] != ["limo-rl", "run"] or len(cmd) < 3 or len(macros) != 1:
        raise RecipeError(f"{path}: command must be `limo-rl run RECIPE [KEY=VALUE ...] ${{args}}` (or "
                          f"${{args_no_hyphens}}); got {cmd}")
    recipe = _recipe_path(cmd[2], path)
    fixed = [c for c in cmd[3:] if c not in ARG_MACROS]
    problems = []
    for key in sweep.get("parameters") or {}:
        if key in ("run.output_dir", "run.share_stages", "run.name"):
            problems.append(f"parameters.{key}: the agents of a sweep share one output folder and its stage store "
                            "(the run name carries {hash})")
    for key, spec in (sweep.get("parameters") or {}).items():
        try:
            values = sweep_values(spec if isinstance(spec, dict) else {})
        except RecipeError as exc:
            problems.append(f"parameters.{key}: {exc}")
            continue
        for value in values:
            arg = f"--{key}={value}" if macros[0] == "${args}" else f"{key}={value}"
            try:
                load_recipe(recipe, [*fixed, arg])
            except RecipeError as exc:
                problems.append(f"parameters.{key} = {value!r}: {exc}")
    fixed_recipe = load_recipe(recipe, fixed)
    name = next((f.split("=", 1)[1] for f in fixed if f.lstrip("-").startswith("run.name=")), None)
    if not fixed_recipe.run.share_stages or "{hash}" not in (name or load_recipe_name(recipe)):
        problems.append(f"{recipe.name}: a sweep's recipe keeps run.share_stages on and names its runs with "
                        "{hash} (one folder per trial, one stage store per sweep)")
    metric = str((sweep.get("metric") or {}).get("name", ""))
    parts = metric.split("/")
    if len(parts) != 3 or parts[2] != "pass@1":
        problems.append(f"metric.name {metric!r}: expected <arm>/<benchmark>/pass@1 (what the report logs)")
    else:
        ev = fixed_recipe.evaluate
        if parts[1] not in ev.dev_benchmarks:
            problems.append(f"metric.name {metric!r}: {parts[1]} is not one of the recipe's "
                            f"evaluate.dev_benchmarks {list(ev.dev_benchmarks)} (sweeps tune on dev benchmarks)")
    if problems:
        raise RecipeError(f"{path}:\n" + "\n".join(f"  {p}" for p in problems))
