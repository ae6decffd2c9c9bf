"""Cluster checks from Ray's per-node resources: placement, TP vs node size, bounded autoscaler waits."""

from __future__ import annotations

import pytest

from limo_rl.config import RecipeError, load_recipe
from limo_rl.loop.preflight import cluster_problems, stage_bundles
from limo_rl.runtime.cluster import ClusterError, Node, nodes_from_ray, unplaced, wait_for_resources
from limo_rl.runtime.preflight import preflight


def _node(i: int, cpus: float, gpus: float) -> Node:
    return Node(f"n{i}", f"10.0.0.{i}", cpus, gpus, 100.0, {"CPU": cpus, "GPU": gpus, "memory": 100 * 1024**3})


def test_nodes_from_ray_records_keep_alive_nodes_only():
    raw = [{"NodeID": "a", "Alive": True, "NodeManagerAddress": "10.0.0.1",
            "Resources": {"CPU": 16.0, "memory": 64 * 1024**3}},
           {"NodeID": "b", "Alive": False, "NodeManagerAddress": "10.0.0.2", "Resources": {"CPU": 8.0, "GPU": 8.0}},
           {"NodeID": "c", "Alive": True, "NodeManagerAddress": "10.0.0.3", "Resources": {"CPU": 96.0, "GPU": 8.0}}]
    nodes = nodes_from_ray(raw)
    assert [(n.node_id, n.cpus, n.gpus) for n in nodes] == [("a", 16.0, 0.0), ("c", 96.0, 8.0)]
    assert nodes[0].memory_gib == 64.0


def test_placement_is_per_node_not_a_total():
    two_by_four = [_node(1, 32, 4), _node(2, 32, 4)]
    assert unplaced([{"CPU": 1, "GPU": 4}] * 2, two_by_four) == []
    assert len(unplaced([{"CPU": 1, "GPU": 8}], two_by_four)) == 1  # 8 GPUs in total, but not on one node
    assert len(unplaced([{"CPU": 1, "GPU": 2}] * 5, two_by_four)) == 1


def test_static_cluster_names_tp_above_node_size_at_once():
    r = load_recipe(None, ["generate.engine=vllm", "generate.device=cuda", "generate.vllm.tensor_parallel_size=8",
                           "generate.num_actors=1"])
    probs = cluster_problems(r, ["generate"], nodes_fn=lambda: [_node(0, 16, 0), _node(1, 32, 4), _node(2, 32, 4)])
    assert len(probs) == 1 and "needs {CPU: 1, GPU: 8} on a single node" in probs[0] and "4 GPU" in probs[0]
    r2 = load_recipe(None, ["generate.engine=vllm", "generate.device=cuda", "generate.vllm.tensor_parallel_size=4",
                            "generate.num_actors=3"])
    probs = cluster_problems(r2, ["generate"], nodes_fn=lambda: [_node(1, 32, 4), _node(2, 32, 4)])
    assert len(probs) == 1 and "needs 12 GPU(s)" in probs[0]
    assert cluster_problems(r2, ["generate"], nodes_fn=lambda: [_node(i, 32, 4) for i in range(3)]) == []
    # vLLM's CPU build: device auto on hardware without GPUs asks Ray for no GPU (no check, no wait)
    cpu_vllm = load_recipe(None, ["generate.engine=vllm", "generate.vllm.tensor_parallel_size=4"])
    assert stage_bundles(cpu_vllm, "generate") == [] and cluster_problems(cpu_vllm, ["generate"],
                                                                          nodes_fn=lambda: [_node(0, 2, 0)]) == []
    # the same recipe on hardware that names GPUs: GPU bundles
    gpu_vllm = load_recipe(None, ["generate.engine=vllm", "generate.vllm.tensor_parallel_size=4",
                                  "hardware.gpus_per_node=8"])
    assert stage_bundles(gpu_vllm, "generate") == [{"CPU": 1, "GPU": 4.0}]
    # a driver on a GPU-less head is fine: only the workers' GPUs count
    gpu_train = load_recipe(None, ["train.use_gpu=true", "train.num_workers=8"])
    assert cluster_problems(gpu_train, ["train"], nodes_fn=lambda: [_node(0, 16, 0), _node(1, 96, 8)]) == []


def test_autoscaler_wait_is_bounded_and_succeeds_when_nodes_come():
    calls, requested = {"n": 0}, []

    def nodes():
        calls["n"] += 1
        return [_node(0, 16, 0)] + ([_node(1, 96, 8)] if calls["n"] >= 3 else [])

    got = wait_for_resources([{"CPU": 1, "GPU": 4}] * 2, what="generate", wait_s=5, poll_s=0.01, nodes_fn=nodes,
                             request=requested.append)
    assert len(got) == 2 and requested == [[{"CPU": 1, "GPU": 4}] * 2]
    with pytest.raises(ClusterError, match=r"generate: waited 0 s .*2 of 2 x \{CPU: 1, GPU: 4\} still do not fit"):
        wait_for_resources([{"CPU": 1, "GPU": 4}] * 2, what="generate", wait_s=0.05, poll_s=0.01,
                           nodes_fn=lambda: [_node(0, 16, 0)], request=lambda b: None)
    with pytest.raises(ClusterError, match="1 do not fit .*hardware.wait_for_nodes_s"):  # static: no wait at all
        wait_for_resources([{"CPU": 1, "GPU": 1}] * 2, what="train", wait_s=0, nodes_fn=lambda: [_node(0, 16, 1)])
    with pytest.raises(ClusterError, match="on a single node"):
        wait_for_resources([{"CPU": 1, "GPU": 1}], what="train", wait_s=0, nodes_fn=lambda: [_node(0, 16, 0)])


def test_with_an_autoscaler_preflight_leaves_the_wait_to_the_stage():
    r = load_recipe(None, ["train.use_gpu=true", "train.num_workers=8", "hardware.wait_for_nodes_s=600"])
    assert cluster_problems(r, ["train"], nodes_fn=lambda: [_node(0, 16, 0)]) == []
    assert stage_bundles(r, "train") == [{"CPU": 1.0, "GPU": 1.0}] * 8


def test_preflight_checks_the_recipe_against_its_hardware_without_cuda():
    r = load_recipe(None, ["generate.engine=openai", "train.use_gpu=true", "hardware.gpus_per_node=8",
                           "hardware.gpu=h100-80gb", "train.num_workers=8"])
    preflight(r, ["train"])  # no CUDA on this machine: the driver's own GPUs are never asked about
    big = load_recipe(None, ["train.use_gpu=true", "hardware.gpus_per_node=8", "train.num_workers=16"])
    with pytest.raises(RecipeError, match="train.num_workers = 16 > the 8 GPUs"):
        preflight(big, ["train"])


def test_autoscaler_request_is_withdrawn_once_and_only_when_made(monkeypatch):
    import ray
    import ray.autoscaler.sdk as sdk

    import limo_rl.runtime.raysession as raysession

    calls = []
    monkeypatch.setattr(sdk, "request_resources", lambda **kw: calls.append(kw["bundles"]))
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setitem(raysession._pending, "request", False)
    raysession.release_resources()
    assert calls == []  # nothing asked, nothing withdrawn
    with pytest.raises(ClusterError, match="waited"):
        wait_for_resources([{"CPU": 1, "GPU": 8}], what="train", wait_s=0.05, poll_s=0.01,
                           nodes_fn=lambda: [_node(0, 16, 0)])
    assert calls == [[{"CPU": 1, "GPU": 8}]]
    raysession.release_resources()
    raysession.release_resources()
    assert calls == [[{"CPU": 1, "GPU": 8}], []]  # withdrawn once
