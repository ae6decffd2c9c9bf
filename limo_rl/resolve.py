"""One resolver per kind of name: model URIs and generated data sources, through one table of worlds.

**Worlds.** A world (:class:`World`, one entry of :data:`WORLDS`) is made by code rather than read: its
models are named ``<world>://<name>`` and its data ``source: <world>`` (or ``format: <world>``), both built
under the recipe section that holds its settings (the toy world: ``toy:``). :class:`WorldSettings`
carries those sections from the entry (:func:`world_settings`) to every function that makes a model, a pool,
a static set or a benchmark; ``None`` there means each world at its defaults (real data needs none). A second
world is one more entry in :data:`WORLDS` (and its recipe section), nothing else.

**Models.** ``toy://teacher`` (any ``scheme://`` in :data:`MODEL_SCHEMES`), a local model folder,
or a hub id (``name`` or ``org/name``) -> a path or id an engine or trainer can load, plus a cheap
identity for cache keys. A world's models are built once into ONE cache folder per run output
directory (:func:`model_cache_dir`) under the recipe's settings for that world, so the
loop, ``limo-rl generate/evaluate/train`` ad hoc and the trainer never disagree on where
``toy://base`` lives or what it is. ``s3://`` and ``gs://`` models are fetched by content hash into
each node's own cache (:mod:`limo_rl.run.modelstore`). Models are resolved once, at the entry (the loop
or a command's ad hoc mode); stages receive the resolved :class:`ModelRef` or its path.

**Data.** ``source: toy`` (pool, static set) and the ``toy_eval`` / ``toy_dev`` / ``toy_confirm`` benchmarks are
*generated*
rather than read: :func:`generated_source` finds the world that makes a source's problems, its gold SFT set
and its benchmarks (and knows their sizes). Files and Hugging Face datasets go through
:mod:`limo_rl.data.sources` as before.

This module and the command table (:mod:`limo_rl.cli`) are the only places outside
:mod:`limo_rl.toy` that name the toy world.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl import toy
from limo_rl.config import PoolConfig, Recipe, RunConfig, ToyConfig
from limo_rl.errors import ModelURIError
from limo_rl.run.artifacts import hash_file
from limo_rl.run.hashing import hash_path
from limo_rl.run.modelstore import OBJECT_STORE_SCHEMES, fetch_model, is_object_store_uri
from limo_rl.run.objectstore import work_root
from limo_rl.toy.bootstrap import TOY_MODELS
from limo_rl.toy.problems import CONFIRM_SIZE, DEV_SIZE, EVAL_SIZE
from limo_rl.types import Problem, SFTExample

CACHE_SUBDIR = ".cache"


@dataclass(frozen=True)
class ModelRef:
    """A model to load (``path``: local folder or hub id) and a cheap identity for cache keys."""

    path: str
    fingerprint: str
    name: str


@dataclass(frozen=True)
class World:
    """A world made by code: its models (``<name>://<model>``) and its data (``source: <name>``).

    Every function that makes something takes the world's own settings (its recipe section, ``section``).
    """

    name: str  # the scheme of its models, the source / format name of its data
    section: str  # the recipe section holding its settings
    default_settings: Callable[[], Any]  # the settings when no recipe gives them (ad hoc, real-data runs)
    scale: str  # what its models are, for the planner's refusal ("CPU scale")
    # (uri, cache folder, settings) -> the model's folder; ValueError for a name the world does not know
    build_model: Callable[[str, Path, Any], Path]
    model_names: tuple[str, ...]  # the names it knows (checked before any stage, without building anything)
    # (pool section) -> training-side problems, and their number (for the planner)
    problems: Callable[[PoolConfig], list[Problem]]
    pool_size: Callable[[PoolConfig], int]
    gold: Callable[[int, Any, str | None], list[SFTExample]]  # (n, world settings, system prompt)
    # (n or None: the set's own size, world settings) -> held-out problems
    benchmark: Callable[[int | None, Any], list[Problem]]
    benchmark_size: int  # the benchmark's own size (no limit)
    # (n or None, world settings) -> a dev set disjoint from the benchmark and the pool, for choices (sweeps)
    dev_benchmark: Callable[[int | None, Any], list[Problem]] | None = None
    dev_benchmark_size: int | None = None
    # (question, the chain it stands in for, seed) -> the right procedure on perturbed operands (format_only control)
    format_chain: Callable[[str, str, int], str] | None = None
    # (kind, question, the chain it stands in for, seed) -> a control's chain written by the world (gold_* controls,
    # problem-set arms: limo_rl.select.controls)
    control_chain: Callable[[str, str, str, int], str] | None = None
    # (n or None, world settings) -> the confirmation set: disjoint from the pool, dev and test benchmarks
    confirm_benchmark: Callable[[int | None, Any], list[Problem]] | None = None
    confirm_benchmark_size: int | None = None


def _toy_problems(pool: PoolConfig) -> list[Problem]:
    return toy.make_problems(pool.toy.n, seed=pool.toy.seed, difficulty=pool.toy.difficulty)


# name -> world. A second world is one more entry (and its recipe section).
WORLDS: dict[str, World] = {
    "toy": World(
        name="toy", section="toy", default_settings=ToyConfig, scale="CPU scale",
        build_model=toy.resolve_toy_model, model_names=TOY_MODELS,
        problems=_toy_problems, pool_size=lambda pool: pool.toy.n,
        gold=lambda n, cfg, system_prompt: list(toy.gold_examples(n=n, seed=cfg.seed, difficulty=cfg.difficulty,
                                                                 system_prompt=system_prompt)),
        benchmark=lambda n, cfg: toy.eval_problems(**({"n": n} if n else {}), difficulty=cfg.difficulty),
        benchmark_size=EVAL_SIZE,
        dev_benchmark=lambda n, cfg: toy.dev_problems(**({"n": n} if n else {}), difficulty=cfg.difficulty),
        dev_benchmark_size=DEV_SIZE,
        format_chain=toy.format_only_chain,
        control_chain=toy.control_chain,
        confirm_benchmark=lambda n, cfg: toy.confirm_problems(**({"n": n} if n else {}), difficulty=cfg.difficulty),
        confirm_benchmark_size=CONFIRM_SIZE,
    ),
}


@dataclass(frozen=True)
class WorldSettings:
    """The recipe's settings of each world (its ``toy:`` section, ...): what generated models and data are
    made under. ``WorldSettings()``: every world at its defaults."""

    sections: Mapping[str, Any] = field(default_factory=dict)

    def of(self, world: str) -> Any:
        """The settings of ``world`` (its defaults when the recipe gives none)."""
        return self.sections[world] if world in self.sections else WORLDS[world].default_settings()


def world_settings(recipe: Recipe) -> WorldSettings:
    """The world settings of a recipe: each world's section of it."""
    return WorldSettings({name: getattr(recipe, w.section) for name, w in WORLDS.items()})


def settings_of(world: WorldSettings | None, name: str) -> Any:
    """The settings of world ``name`` under ``world`` (None: its defaults)."""
    return (world or WorldSettings()).of(name)


def model_world(uri: str) -> World | None:
    """The world whose model ``uri`` names (``toy://base``), else None."""
    scheme, sep, _ = uri.partition("://")
    return WORLDS.get(scheme) if sep else None


def model_cache_dir(scheme: str, output_dir: str | Path | None = None) -> Path:
    """The one folder where ``scheme://`` models are built: ``<run.output_dir>/.cache/<scheme>``; for an
    object-store run folder, this node's working-copy cache (:func:`limo_rl.run.objectstore.work_root`): a built
    model is a cache, rebuilt from its settings anywhere, never written into the store."""
    out = str(output_dir if output_dir is not None else RunConfig().output_dir)
    if is_object_store_uri(out):
        return work_root() / CACHE_SUBDIR / scheme
    return Path(out) / CACHE_SUBDIR / scheme


def _world_model(uri: str, world: WorldSettings | None, output_dir: str) -> ModelRef:
    w = model_world(uri)
    assert w is not None
    try:
        path = Path(w.build_model(uri, model_cache_dir(w.name, output_dir), settings_of(world, w.name)))
    except ValueError as exc:  # a name the world does not know
        raise ModelURIError(str(exc)) from None
    # identity by weights: toy://base is a copy of toy://teacher, and a copy is evaluated once
    return ModelRef(str(path), f"{w.name}-weights:{hash_file(path / 'model.safetensors')}", uri)


def _object_store_model(uri: str, world: WorldSettings | None, output_dir: str) -> ModelRef:
    """``s3://`` / ``gs://``: fetched once here for its content hash (the identity in cache keys); the path
    stays the URI, and every actor or worker loads it from its own node's cache (:mod:`limo_rl.run.modelstore`)."""
    _, content = fetch_model(uri)
    return ModelRef(uri.rstrip("/"), f"content:{content}", uri)


# scheme -> builder: every world, and the remote stores. A new remote store is one more entry.
MODEL_SCHEMES: dict[str, Callable[[str, WorldSettings | None, str], ModelRef]] = {
    **{name: _world_model for name in WORLDS}, **{scheme: _object_store_model for scheme in OBJECT_STORE_SCHEMES}}


def looks_like_hub_id(name: str) -> bool:
    """``name`` or ``org/name``, not a filesystem-looking path."""
    return (name.count("/") <= 1 and not name.startswith(("/", ".", "~")) and all(name.split("/"))
            and "://" not in name)


def resolve_model(
    uri: str, *, world: WorldSettings | None = None, output_dir: str | Path | None = None, engine: str = "hf",
    label: str = "--model",
) -> ModelRef:
    """Resolve a model name; :class:`ModelURIError` (one line, exit 2) naming ``label`` when it cannot be.

    ``world``: the recipe's world settings (:func:`world_settings`; None: each world's defaults), under which a
    world's model is built into ``output_dir``'s cache. ``engine="openai"``: the name is the server's, passed
    through unchecked.
    """
    scheme, sep, _ = uri.partition("://")
    if sep:
        if scheme not in MODEL_SCHEMES:
            raise ModelURIError(f"{label} {uri}: unknown scheme {scheme}://; known: "
                                f"{', '.join(s + '://' for s in MODEL_SCHEMES)}")
        return MODEL_SCHEMES[scheme](uri, world, str(output_dir or RunConfig().output_dir))
    if engine == "openai":
        return ModelRef(uri, uri, uri)
    path = Path(uri).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelURIError(f"{label} {uri}: no config.json there (not a Hugging Face model folder)")
        # identity by content: an edited or retrained folder at the same path is another model
        return ModelRef(str(path.resolve()), f"local:{hash_path(path)}", uri)
    if not looks_like_hub_id(uri):
        raise ModelURIError(f"{label} {uri}: no such folder (folder not found, and not a hub id like org/name)")
    return ModelRef(uri, uri, uri)  # a hub id; loads when the hub is reachable


def model_problem(uri: str, *, engine: str = "hf", label: str = "model") -> str | None:
    """Why :func:`resolve_model` would refuse ``uri``, found without building or loading anything (for the
    preflight before the first stage); None if it would resolve."""
    scheme, sep, name = uri.partition("://")
    if sep:
        if scheme not in MODEL_SCHEMES:
            return f"{label} = {uri!r}: unknown scheme {scheme}://; known: {', '.join(s + '://' for s in MODEL_SCHEMES)}"
        w = WORLDS.get(scheme)
        if w is not None and name.strip("/") not in w.model_names:
            return (f"{label} = {uri!r}: unknown {scheme} model; known: "
                    f"{', '.join(f'{scheme}://{k}' for k in w.model_names)}")
        return None
    if engine == "openai":
        return None
    path = Path(uri).expanduser()
    if path.exists():
        return None if (path / "config.json").is_file() else \
            f"{label} = {uri!r}: not a Hugging Face model folder (no config.json)"
    return None if looks_like_hub_id(uri) else f"{label} = {uri!r}: no such model folder (and not a hub id)"


def resolve_model_path(uri: str, **kwargs) -> str:
    """:func:`resolve_model`'s path only (what an engine or trainer loads)."""
    return resolve_model(uri, **kwargs).path


# ---------------------------------------------------------------------------------------- generated data
# source name -> the world that makes it (every world makes data under its own name)
DATA_SOURCES: dict[str, World] = dict(WORLDS)


def generated_source(source: str, fmt: str = "auto") -> World | None:
    """The world that makes ``source`` when the recipe names one (``format: toy``, or ``source: toy`` with auto)."""
    if fmt in DATA_SOURCES:
        return DATA_SOURCES[fmt]
    if fmt == "auto" and source in DATA_SOURCES:
        return DATA_SOURCES[source]
    return None


def generated_settings(recipe: Recipe, source: str, fmt: str = "auto") -> dict[str, Any] | None:
    """The settings (a plain dict, for cache keys) that ``source`` is made under when a world makes it, else None."""
    w = generated_source(source, fmt)
    return getattr(recipe, w.section).model_dump() if w is not None else None
