"""Cluster preflight against a real (local, CPU-only) Ray cluster: GPU needs are named, never waited on."""

from __future__ import annotations

import pytest

from limo_rl.cluster import ClusterError, cluster_nodes, cluster_problems, wait_for_resources
from limo_rl.config import load_recipe


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
