"""Is the run folder one filesystem seen by every node? Checked before compute on a multi-node cluster.

Training workers write checkpoints and the student into the run folder on their own node; the
driver, the evaluation actors and the next round's teacher read them back from wherever they
run. A local folder that is not the same shared mount on every node fails late and confusingly
(a worker resuming from nothing, a student "missing" on another node), so before the first
stage that uses Ray the driver writes a probe file with a random token and a task pinned to
every alive node must read the same token back; otherwise :class:`SharedStorageError` names
the nodes that cannot. A single-node cluster is trivially shared and not probed.

An autoscaling cluster starts with its head alone, so the first probe has nothing to check: the driver
names the run folder once (:func:`watch_shared`) and it is probed again whenever a node is alive that has
not read it yet (:func:`probe_joined_nodes`): when a stage first uses Ray, and right after a stage's
wait for an autoscaler (``hardware.wait_for_nodes_s``, :func:`limo_rl.runtime.cluster.wait_for_resources`).

Ray is imported lazily.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from limo_rl.errors import LimoError
from limo_rl.runtime.procs import cancel_unfinished

log = logging.getLogger(__name__)

PROBE_NAME = ".limo-shared-probe"
PROBE_TIMEOUT_S = 300.0  # a node busy starting workers can take a while to run a zero-CPU task


class SharedStorageError(LimoError):
    """The run folder is not visible from every Ray node (not a shared filesystem)."""


def _read_probe(path: str) -> tuple[str, str | None, str]:
    """Run on one node: (node id, the probe's content or None, the error)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    try:
        return node, Path(path).read_text(), ""
    except OSError as exc:
        return node, None, f"{type(exc).__name__}: {exc}"


def unreadable_nodes(results: list[tuple[str, str | None, str]], token: str,
                     addresses: dict[str, str]) -> list[str]:
    """The nodes whose read did not return ``token``, each as 'node <id> (<ip>): <why>'."""
    bad = []
    for node, content, error in results:
        if content == token:
            continue
        why = error or ("a different file (another folder by the same name)" if content is not None else "no file")
        bad.append(f"node {node[:12]} ({addresses.get(node, '?')}): {why}")
    return bad


def check_shared_storage(run_dir: Path, timeout_s: float = PROBE_TIMEOUT_S) -> int:
    """Every alive Ray node reads a file the driver wrote under ``run_dir``; returns the nodes checked.

    Raises :class:`SharedStorageError` naming the nodes that could not (or did not answer in time).
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2:
        return len(nodes)
    run_dir = Path(run_dir).resolve()
    token = secrets.token_hex(16)
    probe = run_dir / PROBE_NAME
    tmp = probe.with_name(f"{PROBE_NAME}.{os.getpid()}.tmp")
    tmp.write_text(token)
    os.replace(tmp, probe)
    addresses = {n["NodeID"]: n.get("NodeManagerAddress", "?") for n in nodes}
    read = ray.remote(num_cpus=0, max_retries=0)(_read_probe)
    refs = {n["NodeID"]: read.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(str(probe)) for n in nodes}
    try:
        ready, pending = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
        results: list[tuple[str, str | None, str]] = []
        for node, ref in refs.items():
            if ref in ready:
                try:
                    results.append(ray.get(ref))
                except ray.exceptions.RayError as exc:
                    results.append((node, None, f"the probe task failed: {str(exc).strip().splitlines()[-1]}"))
            else:
                results.append((node, None, f"no answer within {timeout_s:g} s"))
        cancel_unfinished(pending)
    finally:
        probe.unlink(missing_ok=True)
    bad = unreadable_nodes(results, token, addresses)
    if bad:
        raise SharedStorageError(
            f"run.output_dir: {run_dir} is not one filesystem seen by every Ray node; these cannot read the file "
            f"the driver wrote there: {'; '.join(bad)}. Mount a shared filesystem at the same path on every node "
            "(NFS, EFS, Filestore, a CSI volume) and point run.output_dir at it")
    log.info("run folder %s is shared by all %d Ray node(s)", run_dir, len(nodes))
    return len(nodes)


_watched: dict[str, set[str]] = {}  # run folder every node must see -> ids of the nodes alive at its last probe


def watch_shared(run_dir: Path) -> None:
    """From now on, ``run_dir`` must be seen by every node that joins (see :func:`probe_joined_nodes`)."""
    _watched.setdefault(str(Path(run_dir).resolve()), set())


def forget_shared() -> None:
    """A new run (or Ray session): every folder is probed afresh."""
    _watched.clear()


def probe_joined_nodes() -> int:
    """Probe each watched run folder again when a node is alive that was not at its last probe; returns the
    probes run. Raises :class:`SharedStorageError` as :func:`check_shared_storage` does."""
    if not _watched:
        return 0
    import ray

    if not ray.is_initialized():
        return 0
    alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
    probes = 0
    for folder, seen in list(_watched.items()):
        if not Path(folder).is_dir():  # a run that ended (its folder cleaned): nothing to share any more
            del _watched[folder]
        elif not alive <= seen:
            check_shared_storage(Path(folder))
            seen |= alive
            probes += 1
    return probes
