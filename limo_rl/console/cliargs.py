"""The arguments every command shares: RECIPE, dotted overrides, and a stage command's ad hoc mode.

A low layer (config and errors only) so stage ``cli`` modules can build their parsers without
importing :mod:`limo_rl.cli`, which imports them: the command table sits on top, stages below.

A stage command runs in one of two modes, by one rule (:meth:`AdHoc.recipe_mode`): a RECIPE
positional, or no ad hoc flag at all (the quickstart recipe), means recipe mode; otherwise the
stage runs alone (ad hoc) on files, and

- files are flags (``--problems FILE``, ``--out DIR``: :class:`FileFlag`); giving one selects ad hoc mode;
- knobs are dotted overrides (``generate.n=8``), validated by the recipe loader
  (:func:`~limo_rl.config.loading.load_stage_recipe`); a knob may also have a flag spelling
  (``--n 8``, :class:`Knob`) whose type, choices and help come from the schema field it sets;
- every bad setting is one line, ``KEY: MESSAGE (got VALUE, from --FLAG)``, exit code 2;
- a ``NAME=VALUE`` flag (``--benchmark-file toy_eval=eval.jsonl``) is read by :func:`name_values`.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from limo_rl.config import Recipe, RecipeError, load_recipe, load_stage_recipe
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


def recipe_and_overrides(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """The RECIPE positional (None when absent) and the overrides: a bare KEY=VALUE in the RECIPE slot
    that names no file is the first override, not a recipe."""
    recipe = getattr(args, "recipe", None)
    overrides = list(getattr(args, "overrides", []) or [])
    if recipe is not None and "=" in recipe and not Path(recipe).exists():
        return None, [recipe, *overrides]
    return recipe, overrides


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """Resolve RECIPE + overrides into a validated Recipe (the quickstart recipe when RECIPE is omitted)."""
    recipe, overrides = recipe_and_overrides(args)
    if recipe is None:
        if not DEFAULT_RECIPE.is_file():
            raise UsageError(f"no RECIPE given and the default {DEFAULT_RECIPE} is not there")
        recipe = str(DEFAULT_RECIPE)
    return load_recipe(recipe, overrides)


def name_values(items: Sequence[str], flag: str, form: str, convert: Callable[[str], Any] = str,
                example: str = "") -> dict[str, Any]:
    """``NAME=VALUE`` flag values (repeatable) as a mapping; a malformed one: ``FLAG 'ITEM': expected FORM``."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip() or not value.strip():
                raise ValueError
            out[name.strip()] = convert(value.strip())
        except ValueError:
            raise UsageError(f"{flag} {item!r}: expected {form}" + (f", e.g. {example}" if example else "")) from None
    return out


# ---------------------------------------------------------------------------------------- ad hoc mode
@dataclass(frozen=True)
class FileFlag:
    """A file or folder an ad hoc run reads or writes (``--problems FILE``); giving it selects ad hoc mode."""

    flag: str
    metavar: str
    help: str
    required: bool = True
    repeat: bool = False  # repeatable (a list), e.g. --benchmark-file NAME=PATH

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")


@dataclass(frozen=True)
class Knob:
    """The flag spelling of a dotted recipe key: ``Knob("generate.top_p")`` is ``--top-p``, the same as
    ``generate.top_p=...``; its type, choices and help come from the schema unless given in ``kwargs``."""

    key: str
    flag: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    convert: Callable[[Any], Any] | None = None  # the flag's value -> the setting (e.g. '' -> None)

    @property
    def option(self) -> str:
        return self.flag or "--" + self.key.rsplit(".", 1)[-1].replace("_", "-")

    @property
    def dest(self) -> str:
        return self.option[2:].replace("-", "_")


def knobs(section: str, *names: str) -> tuple[Knob, ...]:
    """Plain knobs of one section: ``knobs("generate", "n", "top_p")`` is ``--n`` and ``--top-p``."""
    return tuple(Knob(f"{section}.{name}") for name in names)


def _schema_field(key: str) -> Any:
    model: Any = Recipe
    *parents, last = key.split(".")
    for part in parents:
        model = model.model_fields[part].annotation
    return model.model_fields[last]


def _flag_kwargs(knob: Knob) -> dict[str, Any]:
    """argparse keywords of a knob's flag, read off the schema field it sets."""
    info = _schema_field(knob.key)
    ann = info.annotation
    if typing.get_origin(ann) in (typing.Union, types.UnionType):  # X | None: the flag gives an X
        ann = next(a for a in typing.get_args(ann) if a is not type(None))
    kw: dict[str, Any] = {}
    if {"type", "action"} & knob.kwargs.keys():  # the flag has its own syntax (e.g. comma-separated)
        pass
    elif typing.get_origin(ann) is Literal:
        kw["choices"] = typing.get_args(ann)
    elif ann in (int, float, str):
        kw["type"] = ann
    elif typing.get_origin(ann) is list:
        kw["action"] = "append"
    kw = {**kw, **knob.kwargs}
    text = kw.get("help") or info.description or ""
    default = kw.get("default", info.default)
    if isinstance(default, (int, float, str)) and len(str(default)) < 20 and "default" not in text:
        text = f"{text} (default {default})"
    kw["help"] = f"{text} [{knob.key}]".lstrip().replace("%", "%%")  # the key it sets, as KEY=VALUE would
    return {"default": None, **kw, "dest": knob.dest}


@dataclass(frozen=True)
class AdHoc:
    """A stage command's ad hoc mode: its file flags, its knob flags and the sections its overrides may set
    (None: any). ``recipe_base``: a RECIPE given with the file flags is the base of the settings (evaluate)."""

    command: str
    files: tuple[FileFlag, ...]
    knobs: tuple[Knob, ...] = ()
    sections: tuple[str, ...] | None = None
    recipe_base: bool = False

    def add_flags(self, parser: argparse.ArgumentParser, title: str | None = "ad hoc mode (no recipe)") -> Any:
        """Add the file and knob flags (in that order) to a group of ``parser``; returns the group."""
        group = parser.add_argument_group(title) if title else parser
        for f in self.files:
            group.add_argument(f.flag, dest=f.dest, metavar=f.metavar, help=f.help,
                               **({"action": "append"} if f.repeat else {}))
        for k in self.knobs:
            group.add_argument(k.option, **_flag_kwargs(k))
        return group

    def _given(self, args: argparse.Namespace) -> list[str]:
        flags = [(f.dest, f.flag) for f in self.files] + [(k.dest, k.option) for k in self.knobs]
        return [flag for dest, flag in flags if getattr(args, dest, None) not in (None, [])]

    def recipe_mode(self, args: argparse.Namespace) -> bool:
        """The one rule: a RECIPE positional, or no ad hoc flag, means recipe mode; mixing the two (unless the
        command takes a RECIPE as the base of its settings) is a usage error; ad hoc mode is then :meth:`check`ed."""
        given = self._given(args)
        if not given:
            return True
        if recipe_and_overrides(args)[0] is not None and not self.recipe_base:
            raise UsageError(f"give either a RECIPE (with KEY=VALUE overrides) or {', '.join(given)} (ad hoc), "
                             "not both")
        self.check(args)
        return False

    def check(self, args: argparse.Namespace) -> None:
        """Ad hoc mode's usage errors: a required file flag left out, an override of another stage's section."""
        required = [f for f in self.files if f.required]
        missing = [f.flag for f in required if getattr(args, f.dest, None) in (None, [])]
        if missing:
            need = " ".join(f"{f.flag} {f.metavar}" for f in required)
            raise UsageError(f"ad hoc {self.command} needs {'all of ' if len(required) > 1 else ''}{need}: "
                             f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required "
                             "(or give a RECIPE without these flags)")
        overrides = recipe_and_overrides(args)[1]
        foreign = [o for o in overrides if self.sections is not None
                   and o.lstrip("-").split(".", 1)[0] not in self.sections]
        if foreign:
            raise UsageError(f"ad hoc mode takes only {'/'.join(f'{s}.*' for s in self.sections or ())} "
                             f"overrides, got: {' '.join(foreign)}")

    def settings(self, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
        """The knob flags given, as dotted key -> value, and dotted key -> how it was spelled (``--n 0``)."""
        values, spelled = {}, {}
        for k in self.knobs:
            value = getattr(args, k.dest, None)
            if value is None:
                continue
            values[k.key] = k.convert(value) if k.convert else value
            spelled[k.key] = k.option
        return values, spelled

    def recipe(self, args: argparse.Namespace, values: dict[str, Any] | None = None, base: Recipe | None = None,
               flags: bool = True) -> Recipe:
        """The settings of an ad hoc run: ``base`` (else RECIPE when ``recipe_base``, else the defaults) with the
        overrides, then the knob flags (``flags``) and ``values``; checked by the recipe loader, one line."""
        recipe, overrides = recipe_and_overrides(args)
        given, spelled = self.settings(args) if flags else ({}, {})
        try:
            return load_stage_recipe(recipe if self.recipe_base else None, overrides, {**given, **(values or {})},
                                     spelled, source=f"ad hoc {self.command}", base=base)
        except RecipeError as exc:  # a usage error: the settings came from the command line
            raise UsageError(str(exc)) from None

