"""Recipe files: YAML loading with ``base:`` inheritance, dotted overrides, validation into a Recipe.

Every validation problem is reported at once, each naming the file, the dotted key, the bad value
and what is allowed; an unknown key suggests the closest valid one. A stage run alone (an ad hoc
command) loads through :func:`load_stage_recipe`: the same checks, on one line, naming the flag a
value came from. Pure: pydantic and yaml.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from limo_rl.config.schema import TRL_TRAIN_NAMES, Recipe
from limo_rl.errors import RecipeError


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins; nested mappings merge key by key; lists and scalars are replaced whole."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML's last-one-wins hides typos)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"key {key!r} appears twice (first on line {seen[key] + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line
            except TypeError:  # an unhashable key: SafeLoader reports it
                pass
        return super().construct_mapping(node, deep=deep)


def trl_names(data: dict[str, Any], source: str) -> dict[str, Any]:
    """A recipe mapping with TRL's names of train keys (``num_train_epochs``, ...) turned into ours
    (:data:`~limo_rl.config.schema.TRL_TRAIN_NAMES`); both names in one mapping is an error."""
    train = data.get("train")
    if not isinstance(train, dict) or not set(train) & set(TRL_TRAIN_NAMES):
        return data
    train = dict(train)
    for trl, ours in TRL_TRAIN_NAMES.items():
        if trl in train:
            if ours in train:
                raise RecipeError(f"{source}: train.{trl} (TRL's name) and train.{ours} are the same setting; "
                                  "give one")
            train[ours] = train.pop(trl)
    return {**data, "train": train}


def load_yaml_tree(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe file and its ``base:`` chain into one merged mapping."""
    try:
        path = Path(path).resolve()
    except OSError as exc:
        raise RecipeError(f"{str(path)[:200]}: cannot read ({exc.strerror or exc})") from None
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise RecipeError(f"{path}: 'base' inheritance forms a cycle: {chain}")
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long for the filesystem, a permission on the way
        raise RecipeError(f"{str(path)[:200]}: cannot read ({exc.strerror or exc})") from None
    if not found:
        raise RecipeError(f"{path}: recipe file not found")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark (Windows editors) is fine
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise RecipeError(f"{path}: values nested too deeply to be a recipe") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping of sections, got {type(data).__name__}")
    data = trl_names(data, str(path))
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise RecipeError(f"{path}: 'base' must be a path to another recipe, got {base!r}")
    parent = load_yaml_tree(path.parent / base, (*_seen, path))
    return deep_merge(parent, data)


def parse_override(text: str) -> tuple[str, Any]:
    """``select.budget=817`` or ``--select.budget=817`` -> ("select.budget", 817)."""
    item = text[2:] if text.startswith("--") else text
    if "=" not in item:
        raise RecipeError(f"override {text!r}: expected KEY=VALUE, e.g. select.budget=400")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", key):
        raise RecipeError(f"override {text!r}: {key!r} is not a dotted key like select.budget")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except RecursionError:
        raise RecipeError(f"override {key}: value nested too deeply") from None
    return key, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    out = dict(data)
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        if len(parts) == 2 and parts[0] == "train" and parts[1] in TRL_TRAIN_NAMES:
            parts[1] = TRL_TRAIN_NAMES[parts[1]]  # TRL's name: the later value wins, as for ours
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise RecipeError(f"override {text!r}: {'.'.join(parts[: i + 1])} is a value, not a section")
            node[part] = dict(child)
            node = node[part]
        node[parts[-1]] = value
    return out


def _allowed_keys(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The field names valid at the parent of ``loc`` (for 'did you mean')."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
    return list(getattr(current, "model_fields", {}))


# A bad value is shown bounded *before* it is turned into text: YAML aliases can make a small file
# stand for a list of 9**9 strings (the "billion laughs"), whose full repr would never finish.
_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxset = 3, 4, 4, 4, 4
_SHORT.maxstring = _SHORT.maxother = 60


def _problems(exc: ValidationError, model: type[BaseModel] = Recipe) -> list[tuple[str, str | None, str]]:
    """Each problem of ``exc`` as (dotted key, the bad value shown bounded or None for an unknown key, message)."""
    out: list[tuple[str, str | None, str]] = []
    for err in exc.errors():
        loc = list(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.5)
            hint = f"; did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else ""
            out.append((dotted, None, f"unknown key{hint} (allowed here: {', '.join(allowed)})"))
            continue
        value = err.get("input")
        shown = _SHORT.repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        out.append((dotted, shown, err["msg"].removeprefix("Value error, ")))
    return out


def _format_errors(exc: ValidationError, source: str) -> str:
    """A recipe file's problems, one per line (``limo-rl config validate`` lists them)."""
    lines = [f"{source}: invalid recipe ({exc.error_count()} problem(s)):"]
    for dotted, shown, msg in _problems(exc):
        lines.append(f"  - {dotted}: {msg}" if shown is None else f"  - {dotted} = {shown}: {msg}")
    return "\n".join(lines)


def format_settings_error(exc: ValidationError, source: str, spelled: Mapping[str, str] | None = None,
                          model: type[BaseModel] = Recipe, prefix: str = "") -> str:
    """The one-line form every ad hoc command reports: ``SOURCE: KEY: MESSAGE (got VALUE, from --FLAG)``,
    several problems joined by '; '. ``spelled`` maps a dotted key to the flag that set it."""
    spelled = spelled or {}
    items = []
    for dotted, shown, msg in _problems(exc, model):
        key = prefix + dotted
        origin = [f"got {shown}"] if shown is not None else []
        if key in spelled:
            origin.append(f"from {spelled[key]}")
        items.append(f"{key}: {msg}" + (f" ({', '.join(origin)})" if origin else ""))
    return f"{source}: " + "; ".join(items)


def validate_recipe(data: dict[str, Any], source: str = "<recipe>") -> Recipe:
    if "base" in data:
        raise RecipeError(f"{source}: 'base' is only allowed at the top of a recipe file")
    data = trl_names(data, source)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(_format_errors(exc, source)) from None


def load_recipe(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Recipe:
    """Load, merge its ``base:`` chain, apply overrides, validate. ``path=None``: the built-in defaults."""
    data = load_yaml_tree(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    source = str(path) if path is not None else "<defaults>"
    if overrides:
        source += f" (with overrides {' '.join(overrides)})"
    return _named(validate_recipe(data, source))


def _named(recipe: Recipe) -> Recipe:
    if "{hash}" in recipe.run.name:
        # one run directory per distinct recipe, e.g. for the runs of a W&B sweep
        digest = hashlib.sha256(json.dumps(_hashed(recipe), sort_keys=True).encode()).hexdigest()[:8]
        recipe.run.name = recipe.run.name.replace("{hash}", digest)
    return recipe


class _StageRecipe(Recipe):
    """A recipe for one stage run alone: each section validated, the run-level rules between sections
    (every arm's dev set, no weak filter in a loop run) left out, as no loop runs."""

    def _shared_checkpoint_rule(self) -> _StageRecipe:  # type: ignore[override]
        return self

    @classmethod
    def _select_has_producers(cls, v):  # type: ignore[override]
        return v


def set_values(data: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with each dotted key of ``values`` set to its (already typed) value."""
    out = data
    for key, value in values.items():
        out = deep_merge(out, _nested(key.split("."), value))
    return out


def _nested(parts: list[str], value: Any) -> dict[str, Any]:
    return {parts[0]: _nested(parts[1:], value) if len(parts) > 1 else value}


def load_stage_recipe(path: str | Path | None = None, overrides: Sequence[str] = (),
                      values: Mapping[str, Any] | None = None, spelled: Mapping[str, str] | None = None,
                      source: str = "ad hoc", base: Recipe | None = None) -> Recipe:
    """The recipe of a stage run alone (an ad hoc command): ``base`` (its explicitly set fields), else the
    file at ``path`` (or the built-in defaults) with ``overrides``; then ``values`` (typed, by dotted key, as a
    command's flags give them). Every problem on one line (:func:`format_settings_error`)."""
    if base is not None:
        data = base.model_dump(exclude_unset=True)
    else:
        data = apply_overrides(load_yaml_tree(path) if path is not None else {}, overrides)
    data = trl_names(set_values(data, values or {}), source)
    try:
        recipe = _StageRecipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(format_settings_error(exc, source, spelled)) from None
    return _named(recipe)


def _hashed(recipe: Recipe) -> dict[str, Any]:
    """The recipe as its ``{hash}`` sees it: keys added later are left out at their defaults (``compare``,
    ``evaluate.confirm``, ``train.process_group_timeout_s``), so a recipe's run folder keeps its name."""
    doc = recipe.to_dict()
    if not doc["compare"]["primary"]:
        del doc["compare"]
    if doc["evaluate"]["confirm"]:
        del doc["evaluate"]["confirm"]
    if doc["train"]["process_group_timeout_s"] == 3600:
        del doc["train"]["process_group_timeout_s"]
    return doc


def iter_recipe_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into recipe files; sweep files are not recipes."""
    out: list[Path] = []
    for p in map(Path, paths):
        try:
            folder = p.is_dir()
        except OSError:  # the file's own load names the problem
            folder = False
        if folder:
            out.extend(sorted(q for q in p.rglob("*.y*ml") if q.suffix in (".yaml", ".yml") and not _is_sweep(q)))
        else:
            out.append(p)
    return out


def _is_sweep(path: Path) -> bool:
    return "sweeps" in path.parts
