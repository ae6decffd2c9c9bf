"""The arguments every command shares: RECIPE, dotted overrides, and turning them into a Recipe.

A low layer (config and errors only) so stage ``cli`` modules can build their parsers without
importing :mod:`limo_rl.cli`, which imports them: the command table sits on top, stages below.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from limo_rl.config import Recipe, load_recipe
from limo_rl.errors import UsageError

DEFAULT_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"


def add_recipe_args(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """RECIPE and dotted overrides (``select.budget=400`` or ``--select.budget=400``, as W&B sweeps pass them)."""
    parser.add_argument(
        "recipe", nargs=None if required else "?", default=None,
        help="recipe YAML (default: recipes/quickstart.yaml)" if not required else "recipe YAML",
    )
    parser.add_argument(
        "overrides", nargs="*", default=[], metavar="KEY=VALUE",
        help="dotted overrides, e.g. select.budget=400 generate.n=8 (also --select.budget=400)",
    )


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Pull ``--a.b=c`` sweep-style overrides out of argv (argparse would reject them as unknown flags)."""
    rest, overrides = [], []
    for item in argv:
        if item.startswith("--") and "=" in item and "." in item.split("=", 1)[0]:
            overrides.append(item[2:])
        else:
            rest.append(item)
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

