"""What the evaluate stage asks of Ray: the generate engines, loaded with each student in turn (the same
actors as the generate stage's, by the same rule: :func:`limo_rl.generate.pool.engine_bundle`)."""

from __future__ import annotations

from typing import Any

from limo_rl.generate.pool import stage_bundles as engine_bundles
from limo_rl.runtime.cluster import Bundle


def stage_bundles(gen: Any, gpus_per_node: int) -> list[Bundle]:
    """The evaluate stage's GPU bundles for the cluster checks (``generate``'s engine settings)."""
    return engine_bundles(gen, gpus_per_node)
