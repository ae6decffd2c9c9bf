"""What the Ray cluster has, node by node, and waiting (bounded) for what a stage needs.

Why not ``torch.cuda`` on the driver: under ``ray job submit`` the driver runs on the head
node, which on KubeRay and ``ray up`` clusters has no GPU, while the GPUs live on workers
(and, with an autoscaler, on workers that do not exist yet). So GPU checks read Ray's
per-node resources (``ray.nodes()``), and a stage's actors are sized from the recipe: the
stage asks for its bundles (one per actor or training worker) and either they fit on the
nodes now, or, when the recipe says an autoscaler may add nodes
(``hardware.wait_for_nodes_s > 0``), the request is handed to the autoscaler
(``ray.autoscaler.sdk.request_resources``) and the stage waits up to that long, then stops
with a message naming what is missing. A bundle larger than any node (``tensor_parallel_size``
above a node's GPU count) is reported at once on a static cluster, never waited on forever.

Each stage sizes its own bundles from the recipe (``generate.pool.engine_bundle`` with the one GPU
rule ``generate.pool.engine_gpus``, ``train.launcher.worker_bundle``); the loop's cluster preflight
checks those same bundles here (:func:`bundle_problems`). Placement is checked by first-fit of the bundles on each node's total resources (what the
stage would get with the cluster to itself, as the loop runs one stage at a time).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from limo_rl.errors import RecipeError
from limo_rl.run.storage import probe_joined_nodes
from limo_rl.runtime.raysession import ray_session, request_nodes

log = logging.getLogger(__name__)
Bundle = dict[str, float]


class ClusterError(RecipeError):
    """The cluster cannot run a stage (one line: which stage, what it needs, what the nodes have)."""


@dataclass(frozen=True)
class Node:
    node_id: str
    address: str
    cpus: float
    gpus: float
    memory_gib: float
    resources: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.address}: {self.cpus:g} CPU, {self.gpus:g} GPU, {self.memory_gib:.0f} GiB"


def nodes_from_ray(raw: Sequence[dict[str, Any]]) -> list[Node]:
    """Alive nodes from ``ray.nodes()`` records."""
    out = []
    for n in raw:
        if not n.get("Alive", n.get("alive", False)):
            continue
        res = {k: float(v) for k, v in (n.get("Resources") or {}).items()}
        out.append(Node(str(n.get("NodeID", "")), str(n.get("NodeManagerAddress", "?")), res.get("CPU", 0.0),
                        res.get("GPU", 0.0), res.get("memory", 0.0) / 1024**3, res))
    return out


def cluster_nodes(address: str | None = None) -> list[Node]:
    """The alive nodes of the cluster this process is connected to (or of ``address``, joined briefly)."""
    import ray

    with ray_session(address=address, log_to_driver=False):
        return nodes_from_ray(ray.nodes())


def unplaced(bundles: Sequence[Bundle], nodes: Sequence[Node]) -> list[Bundle]:
    """The bundles that do not fit by first-fit (largest first) on the nodes' total resources."""
    free = [dict(n.resources) for n in nodes]
    left = []
    for b in sorted(bundles, key=lambda b: (-b.get("GPU", 0.0), -b.get("CPU", 0.0))):
        for f in free:
            if all(f.get(k, 0.0) + 1e-9 >= v for k, v in b.items() if v > 0):
                for k, v in b.items():
                    f[k] = f.get(k, 0.0) - v
                break
        else:
            left.append(b)
    return left


def _fmt(b: Bundle) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in b.items() if v) + "}"


def shape_problem(what: str, bundles: Sequence[Bundle], nodes: Sequence[Node]) -> str | None:
    """A message when no node could ever hold one of ``bundles`` (e.g. TP above a node's GPU count)."""
    for b in bundles:
        if not any(all(n.resources.get(k, 0.0) + 1e-9 >= v for k, v in b.items() if v > 0) for n in nodes):
            biggest = max(nodes, key=lambda n: n.gpus, default=None)
            return (f"{what}: one unit needs {_fmt(b)} on a single node, but no node has that "
                    f"(largest: {biggest.describe() if biggest else 'no nodes'})")
    return None


def wait_for_resources(
    bundles: Sequence[Bundle], *, what: str, wait_s: float, poll_s: float = 5.0,
    nodes_fn: Callable[[], list[Node]] | None = None, request: Callable[[list[Bundle]], None] | None = None,
) -> list[Node]:
    """Return the nodes once ``bundles`` fit; wait up to ``wait_s`` for an autoscaler, else ClusterError."""
    nodes_fn = nodes_fn or cluster_nodes
    nodes = nodes_fn()
    if not unplaced(bundles, nodes):
        return nodes
    if wait_s <= 0:
        msg = shape_problem(what, bundles, nodes)
        left = unplaced(bundles, nodes)
        raise ClusterError(msg or (
            f"{what}: needs {len(bundles)} x {_fmt(bundles[0])}; {len(left)} do not fit on the cluster "
            f"({'; '.join(n.describe() for n in nodes) or 'no nodes'}). Use a bigger cluster, lower the stage's "
            "size, or set hardware.wait_for_nodes_s if an autoscaler can add nodes"))
    (request or request_nodes)(list(bundles))
    log.warning("%s: waiting up to %.0f s for the autoscaler to add nodes for %d x %s", what, wait_s, len(bundles),
                _fmt(bundles[0]))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        nodes = nodes_fn()
        if not unplaced(bundles, nodes):
            log.info("%s: resources are there (%d node(s))", what, len(nodes))
            probe_joined_nodes()  # the nodes that joined must see the run folder too (limo_rl.run.storage)
            return nodes
    left = unplaced(bundles, nodes)
    raise ClusterError(f"{what}: waited {wait_s:.0f} s (hardware.wait_for_nodes_s) and {len(left)} of "
                       f"{len(bundles)} x {_fmt(bundles[0])} still do not fit "
                       f"({'; '.join(n.describe() for n in nodes) or 'no nodes'})")


def bundle_problems(wanted: Sequence[tuple[str, Sequence[Bundle]]], nodes: Sequence[Node]) -> list[str]:
    """One line per stage whose bundles (each stage's own, e.g. :func:`limo_rl.generate.pool.stage_bundles`)
    do not fit on ``nodes``: a bundle no node could ever hold, or more bundles than the nodes hold."""
    out = []
    for stage, bundles in wanted:
        msg = shape_problem(stage, bundles, nodes)
        if msg is None and unplaced(bundles, nodes):
            have = sum(n.gpus for n in nodes)
            msg = (f"{stage}: needs {sum(b.get('GPU', 0) for b in bundles):g} GPU(s) in {len(bundles)} x "
                   f"{_fmt(bundles[0])}; the cluster's nodes have {have:g} GPU(s) "
                   f"({'; '.join(n.describe() for n in nodes)})")
        if msg:
            out.append(msg)
    return out
