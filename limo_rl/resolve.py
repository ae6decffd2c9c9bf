"""One resolver per kind of name: model URIs and generated data sources.

**Models.** ``toy://teacher`` (any ``scheme://`` in :data:`MODEL_SCHEMES`), a local model folder,
or a hub id (``name`` or ``org/name``) -> a path or id an engine or trainer can load, plus a cheap
identity for cache keys. A scheme's models are built once into ONE cache folder per run output
directory (:func:`model_cache_dir`) under the recipe's settings for that world (``toy:``), so the
loop, ``limo-rl generate/evaluate/train`` ad hoc and the trainer never disagree on where
``toy://base`` lives or what it is. ``s3://`` and ``gs://`` models are fetched by content hash into
each node's own cache (:mod:`limo_rl.run.modelstore`).

**Data.** ``source: toy`` (pool, static set) and the ``toy_eval`` / ``toy_dev`` / ``toy_confirm`` benchmarks are *generated*
rather than read: :data:`DATA_SOURCES` maps a source name to the functions that make its
problems, its gold SFT set and its benchmark. Files and Hugging Face datasets go through
:mod:`limo_rl.data.sources` as before.

This module and the command table (:mod:`limo_rl.cli`) are the only places outside
:mod:`limo_rl.toy` that name the toy world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from limo_rl import toy
from limo_rl.config import RunConfig, ToyConfig
from limo_rl.errors import ModelURIError
from limo_rl.run.artifacts import hash_file
from limo_rl.run.hashing import hash_path
from limo_rl.run.modelstore import OBJECT_STORE_SCHEMES, fetch_model, is_object_store_uri
from limo_rl.run.objectstore import work_root
from limo_rl.types import Problem, SFTExample

CACHE_SUBDIR = ".cache"


@dataclass(frozen=True)
class ModelRef:
    """A model to load (``path``: local folder or hub id) and a cheap identity for cache keys."""

    path: str
    fingerprint: str
    name: str


@dataclass(frozen=True)
class WorldSettings:
    """What a ``scheme://`` world needs to build its models: its recipe section and the run's output folder."""

    toy: ToyConfig
    output_dir: str

    @property
    def cache_root(self) -> Path:
        return Path(self.output_dir) / CACHE_SUBDIR


def model_cache_dir(scheme: str, output_dir: str | Path | None = None) -> Path:
    """The one folder where ``scheme://`` models are built: ``<run.output_dir>/.cache/<scheme>``; for an
    object-store run folder, this node's working-copy cache (:func:`limo_rl.run.objectstore.work_root`): a built
    model is a cache, rebuilt from its settings anywhere, never written into the store."""
    out = str(output_dir if output_dir is not None else RunConfig().output_dir)
    if is_object_store_uri(out):
        return work_root() / CACHE_SUBDIR / scheme
    return Path(out) / CACHE_SUBDIR / scheme


def _toy_model(uri: str, settings: WorldSettings) -> ModelRef:
    try:
        path = Path(toy.resolve_toy_model(uri, model_cache_dir("toy", settings.output_dir), settings.toy))
    except ValueError as exc:  # an unknown toy:// name
        raise ModelURIError(str(exc)) from None
    # identity by weights: toy://base is a copy of toy://teacher, and a copy is evaluated once
    return ModelRef(str(path), f"toy-weights:{hash_file(path / 'model.safetensors')}", uri)


def _object_store_model(uri: str, settings: WorldSettings) -> ModelRef:
    """``s3://`` / ``gs://``: fetched once here for its content hash (the identity in cache keys); the path
    stays the URI, and every actor or worker loads it from its own node's cache (:mod:`limo_rl.run.modelstore`)."""
    _, content = fetch_model(uri)
    return ModelRef(uri.rstrip("/"), f"content:{content}", uri)


# scheme -> builder. A new remote store is one more entry.
MODEL_SCHEMES: dict[str, Callable[[str, WorldSettings], ModelRef]] = {
    "toy": _toy_model, **{scheme: _object_store_model for scheme in OBJECT_STORE_SCHEMES}}


def looks_like_hub_id(name: str) -> bool:
    """``name`` or ``org/name``, not a filesystem-looking path."""
    return (name.count("/") <= 1 and not name.startswith(("/", ".", "~")) and all(name.split("/"))
            and "://" not in name)


def resolve_model(
    uri: str, *, toy_cfg: ToyConfig | None = None, output_dir: str | Path | None = None, engine: str = "hf",
    label: str = "--model",
) -> ModelRef:
    """Resolve a model name; :class:`ModelURIError` (one line, exit 2) naming ``label`` when it cannot be.

    ``engine="openai"``: the name is the server's, passed through unchecked.
    """
    scheme, sep, _ = uri.partition("://")
    if sep:
        if scheme not in MODEL_SCHEMES:
            raise ModelURIError(f"{label} {uri}: unknown scheme {scheme}://; known: "
                                f"{', '.join(s + '://' for s in MODEL_SCHEMES)}")
        settings = WorldSettings(toy_cfg or ToyConfig(), str(output_dir or RunConfig().output_dir))
        return MODEL_SCHEMES[scheme](uri, settings)
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


def _toy_names() -> tuple[str, ...]:
    from limo_rl.toy.bootstrap import TOY_MODELS

    return tuple(TOY_MODELS)


# scheme -> the names it knows (checked before any stage, without building anything)
MODEL_NAMES: dict[str, Callable[[], tuple[str, ...]]] = {"toy": _toy_names}


def model_problem(uri: str, *, engine: str = "hf", label: str = "model") -> str | None:
    """Why :func:`resolve_model` would refuse ``uri``, found without building or loading anything (for the
    preflight before the first stage); None if it would resolve."""
    scheme, sep, name = uri.partition("://")
    if sep:
        if scheme not in MODEL_SCHEMES:
            return f"{label} = {uri!r}: unknown scheme {scheme}://; known: {', '.join(s + '://' for s in MODEL_SCHEMES)}"
        known = MODEL_NAMES[scheme]() if scheme in MODEL_NAMES else None
        if known is not None and name.strip("/") not in known:
            return f"{label} = {uri!r}: unknown {scheme} model; known: {', '.join(f'{scheme}://{k}' for k in known)}"
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
@dataclass(frozen=True)
class GeneratedSource:
    """A data source made by code instead of read from a file: its pool, gold SFT set and benchmark."""

    problems: Callable[[int, int, int], list[Problem]]  # (n, seed, difficulty) -> training-side problems
    gold: Callable[[int, ToyConfig, str | None], list[SFTExample]]  # (n, world settings, system prompt)
    # (n or None: the set's own size, world settings) -> held-out problems
    benchmark: Callable[[int | None, ToyConfig], list[Problem]]
    # (n or None, world settings) -> a dev set disjoint from the benchmark and the pool, for choices (sweeps)
    dev_benchmark: Callable[[int | None, ToyConfig], list[Problem]] | None = None
    # (question, the chain it stands in for, seed) -> the right procedure on perturbed operands (format_only control)
    format_chain: Callable[[str, str, int], str] | None = None
    # (kind, question, the chain it stands in for, seed) -> a control's chain written by the world (gold_* controls,
    # problem-set arms: limo_rl.select.controls)
    control_chain: Callable[[str, str, str, int], str] | None = None
    # (n or None, world settings) -> the confirmation set: disjoint from the pool, dev and test benchmarks
    confirm_benchmark: Callable[[int | None, ToyConfig], list[Problem]] | None = None


DATA_SOURCES: dict[str, GeneratedSource] = {
    "toy": GeneratedSource(
        problems=lambda n, seed, difficulty: toy.make_problems(n, seed=seed, difficulty=difficulty),
        gold=lambda n, cfg, system_prompt: list(toy.gold_examples(n=n, seed=cfg.seed, difficulty=cfg.difficulty,
                                                                 system_prompt=system_prompt)),
        benchmark=lambda n, cfg: toy.eval_problems(**({"n": n} if n else {}), difficulty=cfg.difficulty),
        dev_benchmark=lambda n, cfg: toy.dev_problems(**({"n": n} if n else {}), difficulty=cfg.difficulty),
        format_chain=toy.format_only_chain,
        control_chain=toy.control_chain,
        confirm_benchmark=lambda n, cfg: toy.confirm_problems(**({"n": n} if n else {}), difficulty=cfg.difficulty),
    ),
}


def generated_source(source: str, fmt: str = "auto") -> GeneratedSource | None:
    """The generator for ``source`` when the recipe names one (``format: toy``, or ``source: toy`` with auto)."""
    if fmt in DATA_SOURCES:
        return DATA_SOURCES[fmt]
    if fmt == "auto" and source in DATA_SOURCES:
        return DATA_SOURCES[source]
    return None
