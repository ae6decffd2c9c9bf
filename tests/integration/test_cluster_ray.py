"""Cluster preflight against a real (local, CPU-only) Ray cluster: GPU needs are named, never waited on."""

from __future__ import annotations

import pytest

from limo_rl.config import load_recipe
from limo_rl.loop.preflight import cluster_problems
from limo_rl.runtime.cluster import ClusterError, cluster_nodes, wait_for_resources


def test_real_cluster_nodes_and_named_gpu_shortfall(ray_cluster):  # the session's private 2-CPU cluster
    nodes = cluster_nodes()
    assert len(nodes) == 1 and nodes[0].cpus == 2
    tp = int(nodes[0].gpus) + 2  # more GPUs than the one node has (0 here, 1 on a GPU runner)
    r = load_recipe(None, ["generate.engine=vllm", "generate.device=cuda", f"generate.vllm.tensor_parallel_size={tp}"])
    probs = cluster_problems(r, ["generate"])
    assert len(probs) == 1 and f"GPU: {tp}}} on a single node" in probs[0]
    assert cluster_problems(load_recipe(None), ["generate", "train"]) == []  # the CPU quickstart
    with pytest.raises(ClusterError, match="do not fit"):
        wait_for_resources([{"CPU": 1, "GPU": tp}], what="train", wait_s=0.2, poll_s=0.05)


def _standing_request():
    """The autoscaler request this cluster holds (v1 autoscaler: a KV entry that stands until replaced)."""
    import json

    from ray._private.ray_constants import AUTOSCALER_RESOURCE_REQUEST_CHANNEL
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(AUTOSCALER_RESOURCE_REQUEST_CHANNEL)
    return json.loads(raw) if raw else []


def test_gpu_recipe_waits_for_gpu_nodes_and_withdraws_its_request(ray_cluster, tiny_model_dir, monkeypatch):
    """An autoscaling GPU recipe on a cluster whose GPU group is at 0 nodes: the pool asks the autoscaler for
    GPU bundles (never starts the engine on the CPU head), and the request is gone once the pool closes."""
    import limo_rl.runtime.cluster as cluster
    from limo_rl.config import GenerateConfig
    from limo_rl.generate.pool import ActorPool

    if cluster_nodes()[0].gpus:
        pytest.skip("this runner has GPUs: the head is not GPU-less")
    seen = []
    real = cluster.request_nodes
    monkeypatch.setattr(cluster, "request_nodes", lambda bs: (real(bs), seen.append(_standing_request())))
    cfg = GenerateConfig(engine="hf", device="auto", num_actors=2, max_new_tokens=4)
    with ActorPool() as pool, pytest.raises(ClusterError, match="waited"):
        pool.acquire(cfg, str(tiny_model_dir), 2, wait_s=0.3, gpus_per_node=8)  # the recipe names 8 GPUs a node
    assert seen == [[{"CPU": 1, "GPU": 1.0}] * 2]  # asked the autoscaler for GPU actors
    assert _standing_request() == []  # withdrawn when the pool closed
    # a CPU recipe (no GPUs per node) on the same cluster starts on CPUs without asking anything
    with ActorPool() as pool:
        assert len(pool.acquire(cfg, str(tiny_model_dir), 1, gpus_per_node=0)) == 1
    assert len(seen) == 1


def test_hub_weights_are_fetched_once_per_engine_node(ray_cluster, monkeypatch):
    """The download runs pinned to each named node (no CPU asked: it never queues behind the actors). A failed
    download is never force-cancelled (Ray 2.60 aborted this very pytest process when a force-cancel raced the
    failed task's reply: CI died without a summary); one still running at the timeout is."""
    import time

    import ray

    from limo_rl.generate.prefetch import engine_nodes, prefetch_on_nodes

    def fake_download(model):
        import ray

        return model, ray.get_runtime_context().get_node_id()

    nodes = cluster_nodes()
    ids = engine_nodes(nodes, {"CPU": 1, "GPU": 0})
    assert ids == [nodes[0].node_id] and engine_nodes(nodes, {"CPU": 1, "GPU": 1}) == []
    assert prefetch_on_nodes("org/model", ids, timeout_s=120, download=fake_download) == [("org/model", ids[0])]
    cancelled, real_cancel = [], ray.cancel
    monkeypatch.setattr(ray, "cancel", lambda ref, **kw: (cancelled.append((ref, kw)), real_cancel(ref, **kw)))
    with pytest.raises(ValueError, match="no such repo"):
        prefetch_on_nodes("org/model", ids, timeout_s=120, download=lambda m: (_ for _ in ()).throw(ValueError("no such repo")))
    assert cancelled == []
    with pytest.raises(ray.exceptions.GetTimeoutError):
        prefetch_on_nodes("org/model", ids, timeout_s=0.5, download=lambda m: time.sleep(60))
    assert [kw for _, kw in cancelled] == [{"force": True}]
    with pytest.raises((ray.exceptions.TaskCancelledError, ray.exceptions.WorkerCrashedError)):
        ray.get(cancelled[0][0], timeout=60)  # the hung download's worker is gone, not left sleeping
