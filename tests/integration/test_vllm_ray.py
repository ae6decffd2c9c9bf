"""vLLM inside Ray actors: generation, resume, and evaluation, on one engine actor reused throughout.

The shipped toy teacher on vLLM's CPU build; one ActorPool serves a generation, its resume after a
lost shard, and an evaluation over two benchmarks, so the engine starts once (the pool counts its
starts). Closing the pool ends the engine processes and the actor without ray.kill.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from limo_rl.config import EvaluateConfig, GenerateConfig, VerifyConfig
from limo_rl.generate import read_chains, run_generation
from limo_rl.generate.pool import ActorPool
from limo_rl.toy.problems import eval_problems, make_problems
from tests.integration.vllm_helpers import needs_vllm, toy_teacher

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
needs_vllm()


def engine_processes() -> set[int]:
    import psutil

    out = set()
    for p in psutil.process_iter(["name", "cmdline"]):
        text = " ".join([p.info.get("name") or "", *(p.info.get("cmdline") or [])])
        if "EngineCore" in text:
            out.add(p.pid)
    return out


def key(chains):
    return [(c.problem_id, c.sample_index, c.seed, c.text, c.n_tokens, c.finish_reason, c.engine) for c in chains]


def test_generate_resume_and_evaluate_on_one_vllm_actor(ray_cluster, tmp_path):
    model = str(toy_teacher())
    cfg = GenerateConfig(engine="vllm", n=2, temperature=0.6, top_p=1.0, max_new_tokens=200, shard_size=4,
                         num_actors=1, cpus_per_actor=1, max_shard_retries=0, vllm={"max_model_len": 1024})
    problems = make_problems(10, seed=3)
    before = engine_processes()
    with ActorPool() as pool:
        res = run_generation(problems, cfg, model, tmp_path / "gen", round=1, base_seed=4, pool=pool)
        chains = read_chains(res.chains_dir)
        assert len(chains) == 20 and {c.engine for c in chains} == {"vllm"}
        assert res.stats["engine"] == "vllm" and res.stats["engine_version"].startswith("vllm vllm==")
        assert res.stats["shards_generated"] == 3 and res.stats["tokens_per_s"] > 0
        assert {c.finish_reason for c in chains} <= {"stop", "length"}
        assert len(engine_processes() - before) >= 1  # the engine core runs beside the actor

        # resume: a lost shard is regenerated, identical; the others are kept as they are
        shards = sorted(res.chains_dir.glob("shard-*.parquet"))
        kept = {p.name: p.stat().st_mtime_ns for p in shards[1:]}
        shards[0].unlink()
        again = run_generation(problems, cfg, model, tmp_path / "gen", round=1, base_seed=4, pool=pool)
        assert again.stats["shards_generated"] == 1 and again.stats["shards_skipped"] == 2
        assert key(read_chains(again.chains_dir)) == key(chains)
        assert {p.name: p.stat().st_mtime_ns for p in shards[1:]} == kept

        # evaluation through the same actor: two benchmarks, other sampling settings
        bench_file = tmp_path / "gsm.jsonl"
        bench_file.write_text("".join(json.dumps({"id": p.id, "question": p.question, "answer": p.answer}) + "\n"
                                      for p in eval_problems(6, seed=11)))
        ecfg = EvaluateConfig(benchmarks=["toy_eval", "grade_school_math"], limit=6, n=1, temperature=0.0,
                              max_new_tokens=200, bootstrap_samples=50,
                              paths={"grade_school_math": str(bench_file)})
        from limo_rl.evaluate.harness import run_evaluation

        ev = run_evaluation(model, ecfg, cfg, VerifyConfig(workers=1), tmp_path / "eval", pool=pool)
        assert pool.started == 1  # one engine start for generation, resume and both benchmarks
        actor = pool.actors[0]
    samples = pq.read_table(ev.samples_path).to_pylist()
    assert len(samples) == 12 and {s["engine"] for s in samples} == {"vllm"}
    assert set(ev.metrics["benchmarks"]) == {"toy_eval", "grade_school_math"}
    # the toy teacher's greedy reply is mostly a bare boxed answer (rarely right): real model text, graded
    assert sum(s["extracted"] is not None for s in samples) >= 9

    # closed: the engine core processes are gone and the actor has ended
    import ray

    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(actor.ready.remote(), timeout=60)
    assert engine_processes() - before == set()
