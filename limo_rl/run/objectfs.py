"""The object-store filesystem (``s3://``, ``gs://``) under the run store and the model store: one fsspec wrapper.

:mod:`limo_rl.run.objectstore` (a run folder in a bucket) and :mod:`limo_rl.run.modelstore` (a model
folder fetched into a node-local cache) both reach the store through this module: which URIs are
object-store URIs, the fsspec filesystem of one (``s3fs`` for ``s3://``, ``gcsfs`` for ``gs://``,
with the one install hint when the package is missing), the objects under a prefix, and what an
object's listing says about its bytes (size, ETag). Endpoint and credentials come from the
standard environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), never from a recipe.

fsspec is imported lazily.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

OBJECT_STORE_SCHEMES = ("s3", "gs")
PACKAGES = {"s3": "s3fs", "gs": "gcsfs"}


def is_object_store_uri(name: str) -> bool:
    return name.partition("://")[0] in OBJECT_STORE_SCHEMES and "://" in name


def open_filesystem(uri: str, missing: Callable[[str, str], Exception]) -> tuple[Any, str]:
    """(fsspec filesystem, path without the scheme) of an object-store URI; without fsspec or the
    scheme's package, raises ``missing(scheme, package)``."""
    scheme = uri.partition("://")[0]
    try:
        import fsspec

        return fsspec.core.url_to_fs(uri)
    except ImportError:
        raise missing(scheme, PACKAGES[scheme]) from None


def list_objects(fs: Any, prefix: str, *, fresh: bool = True) -> dict[str, dict[str, Any]]:
    """Relative key -> object info of every object (no folder entries) under ``prefix``, as ``fs.find``
    lists them (its errors pass through: FileNotFoundError when nothing is there on some stores).
    ``fresh``: drop fsspec's cached listing first (another process may have written)."""
    if fresh:
        fs.invalidate_cache(prefix)
    found = fs.find(prefix, detail=True)
    return {k[len(prefix):].lstrip("/"): v for k, v in found.items() if v.get("type") != "directory"}


def etag(info: dict[str, Any]) -> str:
    """An object's ETag as its listing gives it ('' when none)."""
    return str(info.get("ETag") or info.get("etag") or "")


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def same_bytes(info: dict[str, Any] | None, local: Path) -> bool:
    """Does the object described by ``info`` hold the bytes of ``local``? (size, then a single-part ETag = md5)."""
    if not info or int(info.get("size") or -1) != local.stat().st_size:
        return False
    tag = etag(info).strip('"')
    return bool(tag) and "-" not in tag and tag == md5_file(local)
