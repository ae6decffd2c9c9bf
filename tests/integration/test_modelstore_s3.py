"""s3:// models (issue 20): resolved by content hash, fetched into a node-local cache, loaded by an engine.

The object store is a real S3-compatible server (moto in server mode) on 127.0.0.1; the client is
s3fs through fsspec, configured only by the standard AWS environment variables.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from limo_rl.config import ToyConfig  # noqa: E402
from limo_rl.errors import ModelURIError  # noqa: E402
from limo_rl.resolve import resolve_model  # noqa: E402
from limo_rl.run.artifacts import hash_path  # noqa: E402
from limo_rl.run.modelstore import CACHE_ENV, local_model_path  # noqa: E402
from limo_rl.toy.bootstrap import PRETRAINED_DIR, toy_model_key  # noqa: E402
from tests.integration.s3_server import moto_server, new_bucket, s3_env  # noqa: E402

TEACHER = PRETRAINED_DIR / toy_model_key("teacher", ToyConfig())  # the shipped teacher: a real model folder


@pytest.fixture(scope="module")
def s3_server():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path):
    import s3fs

    for k, v in {**s3_env(s3_server), CACHE_ENV: str(tmp_path / "node-cache")}.items():
        monkeypatch.setenv(k, v)
    bucket = new_bucket(s3_server)
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server})
    return fs, bucket


def upload(fs, folder: Path, dest: str) -> None:
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        fs.put_file(str(f), f"{dest}/{f.relative_to(folder)}")
    fs.invalidate_cache()


def test_s3_model_resolves_by_content_and_is_cached_per_node(s3, tmp_path):
    fs, bucket = s3
    upload(fs, TEACHER, f"{bucket}/models/teacher")
    uri = f"s3://{bucket}/models/teacher"
    ref = resolve_model(uri, label="generate.model")
    assert ref.path == uri  # actors and workers fetch it on their own node
    assert ref.fingerprint == f"content:{hash_path(TEACHER)}"
    local = Path(local_model_path(uri))
    assert local.parent == tmp_path / "node-cache" / "by-content"
    assert hash_path(local) == hash_path(TEACHER)
    # the same listing again is a lookup, not a download: a local edit survives
    (local / "generation_config.json").write_text("{}")
    assert Path(local_model_path(uri)) == local and (local / "generation_config.json").read_text() == "{}"
    assert not list((tmp_path / "node-cache").glob(".fetch-*"))  # no half-fetched folder left


def test_changed_object_is_a_new_model(s3, tmp_path):
    fs, bucket = s3
    changed = tmp_path / "changed"
    shutil.copytree(TEACHER, changed)
    upload(fs, TEACHER, f"{bucket}/m")
    first = resolve_model(f"s3://{bucket}/m")
    (changed / "generation_config.json").write_text('{"do_sample": true, "changed": 1}')
    upload(fs, changed, f"{bucket}/m")
    second = resolve_model(f"s3://{bucket}/m")
    assert first.fingerprint != second.fingerprint == f"content:{hash_path(changed)}"
    assert len(list((tmp_path / "node-cache" / "by-content").iterdir())) == 2


def test_not_a_model_is_a_named_error(s3, tmp_path):
    fs, bucket = s3
    fs.pipe_file(f"{bucket}/notamodel/readme.txt", b"hi")
    fs.invalidate_cache()
    with pytest.raises(ModelURIError, match="no config.json"):
        resolve_model(f"s3://{bucket}/notamodel")
    with pytest.raises(ModelURIError, match="no objects"):
        resolve_model(f"s3://{bucket}/nothing-here")


@pytest.mark.slow
def test_engine_loads_an_s3_model_from_the_node_cache(s3):
    from limo_rl.config import GenerateConfig
    from limo_rl.generate.pool import ShardWorker
    from limo_rl.generate.prompts import build_request, sample_seeds
    from limo_rl.types import Problem

    fs, bucket = s3
    upload(fs, TEACHER, f"{bucket}/t")
    cfg = GenerateConfig(n=1, max_new_tokens=24, temperature=0.0, device="cpu")
    worker = ShardWorker(cfg.model_dump(mode="json"), f"s3://{bucket}/t", 1)  # what a Ray actor runs
    req = build_request(Problem(id="p1", question="What is 2 + 3?", answer="5"), cfg)
    out = worker.run([req], [sample_seeds(0, 1, "p1", 1)])
    assert len(out) == 1 and len(out[0]) == 1 and out[0][0].n_tokens > 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
