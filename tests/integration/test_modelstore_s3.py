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


FETCH = """
import json, logging, sys, time
from pathlib import Path
import s3fs
from limo_rl.run.modelstore import fetch_model

uri, go, delay = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
real = s3fs.S3FileSystem.get_file
def slow(self, *a, **k):  # a big model: each object takes a while
    time.sleep(delay)
    return real(self, *a, **k)
s3fs.S3FileSystem.get_file = slow
logging.basicConfig(level=logging.INFO, format="%(message)s")
while not go.exists():
    time.sleep(0.01)
folder, content = fetch_model(uri)
print(json.dumps({"folder": str(folder), "content": content}))
"""


def _fetchers(tmp_path, uri, delays):
    import os
    import subprocess

    script = tmp_path / "fetch.py"
    script.write_text(FETCH)
    go = tmp_path / "go"
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    procs = [subprocess.Popen([sys.executable, str(script), uri, str(go), str(d)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for d in delays]
    return procs, go


def _downloads(log: str) -> int:
    return sum(line.startswith("fetching s3://") for line in log.splitlines())


def test_two_fetchers_on_one_node_download_once(s3, tmp_path):
    """Two processes fetch one s3:// model into the same node cache at once: one downloads, the other waits
    on the node's lock and reuses the published folder."""
    import json

    fs, bucket = s3
    upload(fs, TEACHER, f"{bucket}/models/teacher")
    procs, go = _fetchers(tmp_path, f"s3://{bucket}/models/teacher", [0.3, 0.3])
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    logs = "".join(e for _, e in outs)
    assert _downloads(logs) == 1, logs  # one download on the node
    assert logs.count("to finish fetching") == 1, logs  # the other waited for it
    got = [json.loads(o) for o, _ in outs]
    assert got[0] == got[1] and hash_path(Path(got[0]["folder"])) == hash_path(TEACHER)


def test_a_dead_fetcher_is_taken_over(s3, tmp_path):
    """The process holding the node's fetch lock is SIGKILLed half way: the waiting one takes the lock over,
    clears the partial download and fetches the model whole."""
    import json
    import time

    fs, bucket = s3
    upload(fs, TEACHER, f"{bucket}/models/teacher")
    uri = f"s3://{bucket}/models/teacher"
    (holder,), go = _fetchers(tmp_path, uri, [5.0])
    go.touch()
    cache = tmp_path / "node-cache"
    deadline = time.monotonic() + 30
    while not list(cache.glob(".fetch-*")):  # the holder is downloading (its first object is slow)
        assert time.monotonic() < deadline and holder.poll() is None
        time.sleep(0.05)
    import subprocess

    waiter_log = tmp_path / "waiter.log"
    with waiter_log.open("w") as log:
        waiter = subprocess.Popen([sys.executable, str(tmp_path / "fetch.py"), uri, str(go), "0"], text=True,
                                  stdout=subprocess.PIPE, stderr=log,
                                  env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[2])})
        while "to finish fetching" not in waiter_log.read_text():  # it waits on the holder's lock
            assert time.monotonic() < deadline + 30 and waiter.poll() is None
            time.sleep(0.05)
        holder.kill()
        holder.wait()
        out, _ = waiter.communicate(timeout=60)
    err = waiter_log.read_text()
    assert waiter.returncode == 0, err[-2000:]
    assert _downloads(err) == 1
    assert hash_path(Path(json.loads(out)["folder"])) == hash_path(TEACHER)
    assert not list(cache.glob(".fetch-*"))
