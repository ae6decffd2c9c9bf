"""Hub weights downloaded once per node before the engines start.

An engine that finds its hub model missing downloads it inside its own start: vLLM does it in
the engine core, whose readiness wait (``VLLM_ENGINE_READY_TIMEOUT_S``, 600 s by default) a 65 GB
download overruns, and eight actors on a node start eight downloads of the same files. So the
actor pool first runs one download task pinned to each node that can hold an engine actor
(``NodeAffinitySchedulingStrategy``, soft=False; no CPU asked, so it never waits behind the
actors), into that node's own Hugging Face cache (``HF_HOME``, node-local unless the cluster
mounts it shared), bounded by ``hardware.actor_start_timeout_s``; the engines then load from the
cache. The engines' own wait is raised to the same bound (:func:`engine_start_env`).

Only hub ids are fetched: local folders need nothing, object-store models are fetched by each
node's model cache (:mod:`limo_rl.run.modelstore`), and ``HF_HUB_OFFLINE`` turns this off.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from limo_rl.resolve import looks_like_hub_id
from limo_rl.runtime.procs import cancel_unfinished

log = logging.getLogger(__name__)


def engine_start_env(engine: str, start_timeout_s: float) -> dict[str, str]:
    """Environment that lets an engine take ``hardware.actor_start_timeout_s`` to come up (vLLM's own
    readiness wait would give up at 600 s)."""
    return {"VLLM_ENGINE_READY_TIMEOUT_S": str(int(start_timeout_s))} if engine == "vllm" else {}


def needs_prefetch(model: str) -> bool:
    """A hub id that is not a local folder, with the hub allowed."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    return not offline and looks_like_hub_id(model) and not Path(model).exists()


def _snapshot(model: str) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(model)


def prefetch_on_nodes(model: str, node_ids: Sequence[str], *, timeout_s: float,
                      download: Callable[[str], Any] | None = None) -> list[Any]:
    """Run ``download(model)`` once on each of ``node_ids`` (in parallel) and wait up to ``timeout_s``;
    returns what each returned. A download that fails or does not finish in time raises (a Ray error,
    or ``GetTimeoutError``): the engines would fail the same way, later."""
    if not node_ids:
        return []
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0, max_retries=1)(download or _snapshot)
    refs = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)).remote(model)
            for node_id in node_ids]
    log.info("fetching %s onto %d node(s) before the engines start", model, len(node_ids))
    try:
        return ray.get(refs, timeout=timeout_s)
    except BaseException:
        cancel_unfinished(refs)
        raise


def engine_nodes(nodes: Sequence[Any], bundle: dict[str, float]) -> list[str]:
    """Ids of the nodes whose resources hold one engine actor's ``bundle``."""
    return [n.node_id for n in nodes
            if all(n.resources.get(k, 0.0) + 1e-9 >= v for k, v in bundle.items() if v > 0)]
