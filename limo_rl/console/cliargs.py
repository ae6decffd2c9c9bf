"""The arguments every command shares: RECIPE, dotted overrides, and turning them into a Recipe.

A low layer (config and errors only) so stage ``cli`` modules can build their parsers without
importing :mod:`limo_rl.cli`, which imports them: the command table sits on top, stages below.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from limo_rl.config import Recipe, load_recipe
from limo_rl.errors import UsageError

DEFAULT_RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"


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


def recipe_from_args(args: argparse.Namespace) -> Recipe:
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

