"""The generate stage on the session's real 2-CPU Ray cluster with the tiny Qwen2 model."""

from __future__ import annotations

import pytest

from limo_rl.config import GenerateConfig
from limo_rl.generate import read_chains, run_generation
from limo_rl.run.artifacts import derive_seed
from limo_rl.types import Problem

pytestmark = pytest.mark.slow

MAX_NEW = 8


def _problems(k: int = 5) -> list[Problem]:
    return [Problem(id=f"q{i:02d}", question=f"What is {i} + {2 * i}?", answer=str(3 * i)) for i in range(k)]


def _cfg(**kw) -> GenerateConfig:
    base = dict(n=2, max_new_tokens=MAX_NEW, temperature=1.0, top_p=1.0, batch_size=2, shard_size=2,
                num_actors=2, cpus_per_actor=1.0, max_shard_retries=0)
    return GenerateConfig(**{**base, **kw})


def _key(chains):
    return [(c.problem_id, c.sample_index, c.seed, c.text, c.n_tokens, c.finish_reason) for c in chains]


def test_two_actors_cover_every_sample_and_match_one_actor(ray_cluster, tiny_model_dir, tmp_path):
    problems = _problems()
    res2 = run_generation(problems, _cfg(), str(tiny_model_dir), tmp_path / "a2", round=3, base_seed=7,
                          teacher_name="tiny")
    chains = read_chains(res2.chains_dir)
    assert res2.n_chains == len(chains) == 10
    assert [(c.problem_id, c.sample_index) for c in chains] == [(p.id, j) for p in problems for j in range(2)]
    assert {c.round for c in chains} == {3} and {c.teacher for c in chains} == {"tiny"}
    assert {c.engine for c in chains} == {"hf"}
    assert all(c.seed == derive_seed(7, 3, c.problem_id, c.sample_index) for c in chains)
    assert all(0 < c.n_tokens <= MAX_NEW for c in chains)
    # A random-init model almost never emits its end-of-turn token in 8 steps: truncation is visible.
    assert all(c.finish_reason == "length" for c in chains if c.n_tokens == MAX_NEW)
    assert sum(c.finish_reason == "length" for c in chains) >= 8
    assert res2.stats["truncation_rate"] == sum(c.finish_reason == "length" for c in chains) / 10
    assert res2.stats["shards"] == 3 and res2.stats["shards_generated"] == 3
    assert res2.stats["tokens"] == sum(c.n_tokens for c in chains) and res2.stats["tokens_per_s"] > 0
    # the two samples of a problem differ (per-sample sampling, not copies)
    assert any(chains[2 * i].text != chains[2 * i + 1].text for i in range(5))

    # Same recipe on one actor: the same chains, byte for byte.
    res1 = run_generation(problems, _cfg(num_actors=1), str(tiny_model_dir), tmp_path / "a1", round=3,
                          base_seed=7, teacher_name="tiny")
    assert _key(read_chains(res1.chains_dir)) == _key(chains)

    # A rerun skips every finished shard and rewrites nothing.
    files = sorted(res2.chains_dir.glob("shard-*.parquet"))
    before = {p.name: p.stat().st_mtime_ns for p in files}
    again = run_generation(problems, _cfg(), str(tiny_model_dir), tmp_path / "a2", round=3, base_seed=7,
                           teacher_name="tiny")
    assert again.stats["shards_skipped"] == 3 and again.stats["shards_generated"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in again.chains_dir.glob("shard-*.parquet")} == before
    assert _key(read_chains(again.chains_dir)) == _key(chains)

    # Another seed is another spec: old shards are set aside (kept), new chains differ.
    other = run_generation(problems, _cfg(num_actors=1), str(tiny_model_dir), tmp_path / "a2", round=3,
                           base_seed=8, teacher_name="tiny")
    assert other.stats["shards_generated"] == 3
    assert len(list((tmp_path / "a2" / "chains").glob("stale-*/shard-*.parquet"))) == 3
    assert _key(read_chains(other.chains_dir)) != _key(chains)
    assert len(read_chains(other.chains_dir)) == 10


def test_actors_start_at_the_niceness_of_the_policy(ray_cluster, tiny_model_dir, monkeypatch):
    """Each actor carries the niceness in its own environment (on a joined cluster the job's would be 15):
    the session cluster runs its workers at 0, so an actor at 7 proves the actor's own setting applies."""
    import os

    from limo_rl.generate.pool import ActorPool

    monkeypatch.setenv("RAY_worker_niceness", "7")
    with ActorPool() as pool:
        actors = pool.acquire(_cfg(num_actors=1), str(tiny_model_dir), 1)
        assert ray_cluster.get(actors[0].__ray_call__.remote(lambda _self: os.nice(0))) == 7
    assert ray_cluster.get(ray_cluster.remote(lambda: os.nice(0)).remote()) == 0  # the session's own workers
