"""Models on an object store (``s3://bucket/prefix``, ``gs://...``), fetched into a node-local cache by content.

A recipe may name ``generate.model: s3://bucket/models/teacher`` (or ``train.model``). The
driver resolves it once (:func:`fetch_model`, through :data:`limo_rl.resolve.MODEL_SCHEMES`)
to learn its *content* hash, which is the model's identity in every cache key, and the model
keeps its URI as its path; each generate actor and training worker then calls
:func:`local_model_path` on its own node, which downloads the folder into that node's cache
only if it is not there yet. The cache is node-local on purpose (``LIMO_RL_MODEL_CACHE``,
default ``~/.cache/limo_rl/models``): weights are read many times and never written back.

Layout of the cache::

    by-content/<sha256 of the folder>/   the model files (complete: moved in with one rename)
    by-listing/<sha256 of the listing>.json   the object listing (key, size, ETag) -> content hash
    locks/<sha256 of the listing>.lock        held while one process of the node downloads it (run/fetchlock.py)

A changed object changes the listing (its size or ETag), so the model is fetched again and gets
a new identity; an unchanged one is a lookup. The filesystem comes from fsspec through
:mod:`limo_rl.run.objectfs`; credentials and the endpoint come from the usual environment
(``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...), never from the recipe.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from limo_rl.errors import ModelURIError
from limo_rl.run.artifacts import atomic_write_json, hash_obj, hash_path
from limo_rl.run.fetchlock import node_fetch_lock, partial_dir
from limo_rl.run.objectfs import (
    OBJECT_STORE_SCHEMES,
    etag,
    is_object_store_uri,
    list_objects,
    open_filesystem,
)

log = logging.getLogger(__name__)

CACHE_ENV = "LIMO_RL_MODEL_CACHE"
__all__ = ["CACHE_ENV", "OBJECT_STORE_SCHEMES", "cache_root", "fetch_model", "is_object_store_uri", "local_model_path"]


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "limo_rl" / "models")


def _filesystem(uri: str) -> tuple[Any, str]:
    return open_filesystem(uri, lambda scheme, package: ModelURIError(
        f"{uri}: reading {scheme}:// needs {package}: pip install 'limo-rl[objectstore]'"))


def _listing(fs: Any, root: str, uri: str) -> list[tuple[str, int, str]]:
    """(relative key, size, ETag or generation) of every object under the prefix, sorted."""
    try:
        found = list_objects(fs, root, fresh=False)
    except (OSError, ValueError) as exc:  # no bucket, no credentials, endpoint down
        raise ModelURIError(f"{uri}: cannot list the objects there ({type(exc).__name__}: {exc})") from None
    rows = [(rel, int(info.get("size") or 0), etag(info) or str(info.get("generation") or info.get("mtime") or ""))
            for rel, info in found.items()]
    if not any(rel == "config.json" for rel, _, _ in rows):
        raise ModelURIError(f"{uri}: no config.json there (not a Hugging Face model folder)"
                            if rows else f"{uri}: no objects under this prefix")
    return sorted(rows)


def fetch_model(uri: str) -> tuple[Path, str]:
    """The model folder at ``uri`` in this node's cache, and its content hash; downloads only when new."""
    uri = uri.rstrip("/")
    fs, root = _filesystem(uri)
    rows = _listing(fs, root, uri)
    cache = cache_root()
    key = hash_obj(rows)
    index = cache / "by-listing" / f"{key}.json"
    found = _cached(cache, index)
    if found is not None:
        return found
    (cache / "by-content").mkdir(parents=True, exist_ok=True)
    with node_fetch_lock(cache, key, uri):  # one download per node; the others wait here, then reuse it
        found = _cached(cache, index)
        if found is not None:
            return found
        return _download(fs, root, uri, rows, cache, index, partial_dir(cache, key))


def _cached(cache: Path, index: Path) -> tuple[Path, str] | None:
    if index.is_file():
        content = json.loads(index.read_text())["content"]
        folder = cache / "by-content" / content
        if (folder / "config.json").is_file():
            return folder, content
    return None


def _download(fs: Any, root: str, uri: str, rows: list[tuple[str, int, str]], cache: Path, index: Path,
              tmp: Path) -> tuple[Path, str]:
    if tmp.exists():  # a holder that died half way (its flock went with it): start again
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        log.info("fetching %s (%d objects, %.1f MB) into %s", uri, len(rows), sum(r[1] for r in rows) / 1e6, cache)
        for rel, _, _ in rows:
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f"{root}/{rel}", str(dest))
        content = hash_path(tmp)
        folder = cache / "by-content" / content
        if not (folder / "config.json").is_file():
            if folder.exists():  # a partial folder from an older layout: replace it
                shutil.rmtree(folder)
            try:
                os.replace(tmp, folder)  # the one step that publishes it: a reader sees all or nothing
            except OSError:  # another process on this node published the same content first
                if not (folder / "config.json").is_file():
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_json(index, {"content": content, "uri": uri, "objects": len(rows)})
    return folder, content


def local_model_path(model: str) -> str:
    """What an engine or trainer on this node loads: a cached folder for an object-store URI, else ``model``."""
    return str(fetch_model(model)[0]) if is_object_store_uri(model) else model
