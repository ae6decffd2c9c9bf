"""The generate stage on Ray: shards of problems, one engine per actor, resumable, nothing lost.

Why an actor pool of our own on Ray core rather than Ray Data ``map_batches``: the unit of
work and of durability is the *shard* (written atomically as one parquet file by this
driver, skipped on rerun), a failed shard must be retried a bounded number of times and then
reported by name with its error, and one progress bar must count chains and tokens. A small
pool of long-lived actors (each loads its engine once) fed from a queue of shards does all of
that in ~100 lines; Ray Data would hide the per-shard outcome behind its own retry and block
layout. The driver writes the files, so actors on other nodes need no shared filesystem.

Locally, ``ray.init()`` starts a private cluster; under ``ray job submit`` (``RAY_ADDRESS``
set) it joins that cluster. A cluster the driver did not start is never shut down. The actors
(:mod:`limo_rl.generate.pool`) reserve ``cpus_per_actor`` CPUs each, GPUs only where the engine
uses them, and never more than the cluster has, since an actor more than the cluster holds
would wait forever; a caller with several calls (the evaluation's benchmarks) passes one pool.
Every prompt is checked against the engine's context window before the first shard runs: a problem
whose prompt plus ``max_new_tokens`` does not fit is dropped and counted (a warning, ``dropped_over_window``
in the stage's figures, and a record in its shard's metadata), never sent to the engine, while the other
problems are generated; a caller that must not lose a problem (an evaluation) passes
``drop_over_window=False`` and gets a ContextLengthError naming it instead. ``on_shard`` is called with
each shard file as it lands (an object-store run commits it there at once: a fresh node resumes at the
shard).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl.console.progress import bar
from limo_rl.context_window import ContextLengthError, overflow_message
from limo_rl.errors import StageFailure
from limo_rl.generate.pool import ActorPool, PoolError, SampleCounter, short_error
from limo_rl.generate.prompts import build_request, prompt_hash, sample_seeds, spec_hash
from limo_rl.generate.shards import (
    ShardPlan,
    plan_shards,
    set_aside_stale,
    shard_dropped,
    shard_is_complete,
    write_shard,
)
from limo_rl.resolve import model_world
from limo_rl.run.artifacts import atomic_write_json
from limo_rl.run.layout import CHAINS, STAGE_STATS
from limo_rl.types import Chain, Completion, GenerationRequest, Problem

log = logging.getLogger(__name__)


class GenerationError(StageFailure):
    """Shards that kept failing (``failed``: shard name -> last error). Finished shards are kept."""

    def __init__(self, message: str, failed: dict[str, str] | None = None):
        super().__init__(message)
        self.failed = dict(failed or {})


@dataclass
class GenerationResult:
    chains_dir: Path
    n_chains: int
    stats: dict[str, Any] = field(default_factory=dict)


def chains_for_shard(
    plan: ShardPlan, requests: dict[str, GenerationRequest], seeds: dict[str, tuple[int, ...]],
    completions: Sequence[Sequence[Completion]], *, round: int, teacher: str, ids: Sequence[str] | None = None,
) -> list[Chain]:
    """Shard completions -> Chain rows; a wrong number of samples is an error, never a silent gap.
    ``ids``: the problems of the shard that were sent (default: all of them)."""
    ids = plan.problem_ids if ids is None else tuple(ids)
    if len(completions) != len(ids):
        raise RuntimeError(f"{plan.name}: engine returned {len(completions)} results for {len(ids)} problems")
    rows = []
    for pid, comps in zip(ids, completions, strict=True):
        req = requests[pid]
        if len(comps) != req.sampling.n:
            raise RuntimeError(f"{plan.name}: problem {pid}: {len(comps)} samples, expected {req.sampling.n}")
        ph = prompt_hash(req.messages)
        for j, c in enumerate(comps):
            rows.append(Chain(problem_id=pid, sample_index=j, round=round, teacher=teacher, engine=c.engine,
                              seed=seeds[pid][j], prompt_hash=ph, text=c.text, n_tokens=int(c.n_tokens),
                              finish_reason=c.finish_reason))
    return rows


def chain_stats(chains: Sequence[Chain]) -> dict[str, Any]:
    n = len(chains)
    tokens = sum(c.n_tokens for c in chains)
    return {
        "chains": n,
        "tokens": tokens,
        "mean_tokens": tokens / n if n else 0.0,
        "truncation_rate": sum(c.finish_reason == "length" for c in chains) / n if n else 0.0,
    }


def shard_stats(paths: Sequence[Path]) -> dict[str, Any]:
    """:func:`chain_stats` over shard files, reading only their token and finish columns, one at a time."""
    import pyarrow.parquet as pq

    n = tokens = truncated = 0
    for path in paths:
        t = pq.read_table(path, columns=["n_tokens", "finish_reason"]).to_pydict()
        n += len(t["n_tokens"])
        tokens += sum(t["n_tokens"])
        truncated += sum(r == "length" for r in t["finish_reason"])
    return {"chains": n, "tokens": tokens, "mean_tokens": tokens / n if n else 0.0,
            "truncation_rate": truncated / n if n else 0.0}


def run_generation(
    problems: Sequence[Problem], cfg: Any, model: str, out_dir: Path, *, round: int = 1, base_seed: int = 0,
    teacher_name: str | None = None, tracker: Any = None, wait_s: float = 0.0, start_timeout_s: float = 1800.0,
    pool: ActorPool | None = None, on_shard: Callable[[Path], None] | None = None, drop_over_window: bool = True,
    model_id: str | None = None, gpus_per_node: int | None = None,
) -> GenerationResult:
    """Sample ``cfg.n`` chains per problem with ``cfg.engine`` on Ray; shards under ``out_dir/chains``.

    ``wait_s``: how long the actors may wait for an autoscaler (``hardware.wait_for_nodes_s``);
    ``start_timeout_s``: how long they may take to load the model (``hardware.actor_start_timeout_s``);
    ``gpus_per_node``: ``hardware.gpus_per_node``, which decides ``device: auto`` (None: ad hoc, the nodes up now).

    Resumable: complete shards of the same spec are skipped; shards of another spec are set
    aside. ``pool``: actors to reuse (closed by its owner); else the call starts and ends its own. Raises
    GenerationError (after every other shard is written) for shards that kept failing. Problems whose prompt
    does not fit the window are dropped and counted (``drop_over_window``, see the module docstring);
    ``on_shard(path)`` runs after each shard is written. ``model_id``: the model's identity in the shard keys
    (default: ``model``); a caller whose model path is node-local (a toy model built in an object-store run's
    working-copy cache) passes a content fingerprint, so shards committed by another node stay valid.
    """
    t_start = time.perf_counter()
    model = str(model)
    if model_world(model) is not None:
        raise ValueError(f"model {model!r}: resolve it with limo_rl.resolve.resolve_model first (at the entry)")
    out_dir = Path(out_dir)
    chains_dir = out_dir / CHAINS
    chains_dir.mkdir(parents=True, exist_ok=True)
    teacher = teacher_name or model
    requests: dict[str, GenerationRequest] = {}
    for p in problems:
        if p.id in requests:
            raise ValueError(f"problem id {p.id!r} appears twice; ids key shards and must be unique")
        requests[p.id] = build_request(p, cfg, base_seed=base_seed, round=round)
    seeds = {pid: sample_seeds(base_seed, round, pid, cfg.n) for pid in requests}
    spec = spec_hash(cfg, model_id or model, round=round, base_seed=base_seed, teacher=teacher)
    plans = plan_shards({pid: prompt_hash(r.messages) for pid, r in requests.items()}, cfg.shard_size, spec)
    set_aside_stale(chains_dir, keep={p.name for p in plans})
    todo = [p for p in plans if not shard_is_complete(chains_dir / p.name, p, cfg.n)]
    redo = {p.name for p in todo if (chains_dir / p.name).exists()}
    if redo:  # never overwritten in place, never resumed: kept aside, made again
        set_aside_stale(chains_dir, keep={p.name for p in plans} - redo,
                        why="shards that failed their check on resume (edited, incomplete or of unknown origin)")
    log.info("generate: %d problems x %d samples in %d shard(s); %d done, %d to run (engine %s, model %s)",
             len(requests), cfg.n, len(plans), len(plans) - len(todo), len(todo), cfg.engine, model)

    new_tokens, gen_wall, engine_version, nodes = 0, 0.0, "", []
    if todo:
        new_tokens, gen_wall, engine_version, nodes = _run_pool(
            todo, requests, seeds, cfg, model, chains_dir, round=round, teacher=teacher, spec=spec, wait_s=wait_s,
            start_timeout_s=start_timeout_s, pool=pool, on_shard=on_shard, drop_over_window=drop_over_window,
            gpus_per_node=gpus_per_node)

    stats = shard_stats([chains_dir / p.name for p in plans])
    n_chains = stats["chains"]
    dropped = [r for p in plans for r in shard_dropped(chains_dir / p.name)]
    if dropped:
        log.warning("generate: %d of %d problem(s) dropped, their prompt + max_new_tokens beyond the engine's "
                    "window (listed under 'dropped' in %s): %s", len(dropped), len(requests),
                    out_dir / STAGE_STATS, "; ".join(overflow_message(r) for r in dropped[:3]))
    stats.update({
        "problems": len(requests), "dropped_over_window": len(dropped), "dropped": dropped[:100],
        "shards": len(plans), "shards_skipped": len(plans) - len(todo), "shards_generated": len(todo),
        "new_tokens": new_tokens, "tokens_per_s": new_tokens / gen_wall if gen_wall > 0 else 0.0,
        "generate_wall_s": gen_wall,
        "wall_s": time.perf_counter() - t_start, "engine": cfg.engine, "engine_version": engine_version,
        "actor_nodes": nodes, "model": model, "teacher": teacher, "round": round, "base_seed": base_seed,
        "spec_hash": spec,
    })
    atomic_write_json(out_dir / STAGE_STATS, stats)
    if tracker is not None:
        tracker.log({f"generate/{k}": v for k, v in stats.items() if isinstance(v, (int, float))})
    return GenerationResult(chains_dir=chains_dir, n_chains=n_chains, stats=stats)


def _run_pool(
    todo: list[ShardPlan], requests: dict[str, GenerationRequest], seeds: dict[str, tuple[int, ...]],
    cfg: Any, model: str, chains_dir: Path, *, round: int, teacher: str, spec: str, wait_s: float = 0.0,
    start_timeout_s: float = 1800.0, pool: ActorPool | None = None, on_shard: Callable[[Path], None] | None = None,
    drop_over_window: bool = True, gpus_per_node: int | None = None,
) -> tuple[int, float, str, list[str]]:
    import ray

    own = pool is None
    pool = pool if pool is not None else ActorPool()
    bar_ = None
    try:
        try:
            actors = pool.acquire(cfg, model, min(cfg.num_actors, len(todo)), wait_s=wait_s,
                                  start_timeout_s=start_timeout_s, gpus_per_node=gpus_per_node)
        except PoolError as exc:
            raise GenerationError(str(exc)) from None
        engine_version = pool.version
        n_actors = len(actors)
        over = _over_window(actors[0], [requests[pid] for p in todo for pid in p.problem_ids], ray)
        if over and not drop_over_window:
            raise ContextLengthError(overflow_message(next(iter(over.values()))))
        nodes = sorted(set(ray.get([a.node_id.remote() for a in actors])))
        log.info("generate: %d actor(s) on node(s) %s", n_actors, ", ".join(nodes))
        out = _Landing(chains_dir, spec, engine_version, over, on_shard)
        kept = {p.index: out.kept(p) for p in todo}
        empty = [p for p in todo if not kept[p.index]]
        for plan in empty:  # nothing of it fits: an empty shard, no engine call
            out.write(plan, [])
            out.commit(plan)

        total = sum(len(ids) for ids in kept.values()) * cfg.n
        bar_ = bar(total=total, desc="generate", unit="samples")
        t0 = time.perf_counter()
        tokens, failed = _dispatch(ray, pool, actors, todo, kept, requests, seeds, cfg, out, bar_, total=total,
                                   done=len(empty), round=round, teacher=teacher)
        wall = time.perf_counter() - t0
        if failed:
            lines = "\n".join(f"  - {name}: {err}" for name, err in sorted(failed.items()))
            raise GenerationError(
                f"{len(failed)} of {len(todo)} shard(s) kept failing (finished shards are kept under "
                f"{chains_dir}; a rerun retries only the missing ones):\n{lines}", failed)
        return tokens, wall, engine_version, nodes
    finally:
        if bar_ is not None:
            bar_.close()
        if own:
            pool.close()


def _dispatch(
    ray: Any, pool: ActorPool, actors: list[Any], todo: list[ShardPlan], kept: dict[int, list[str]],
    requests: dict[str, GenerationRequest], seeds: dict[str, tuple[int, ...]], cfg: Any, out: _Landing, bar_: Any,
    *, total: int, done: int, round: int, teacher: str,
) -> tuple[int, dict[str, str]]:
    """Run the shards with problems left on the actors, one shard per idle actor, retrying failed shards up to
    ``cfg.max_shard_retries`` times; (new tokens, shard name -> error of the shards that kept failing)."""
    counter = ray.remote(num_cpus=0)(SampleCounter).remote()
    written = 0  # samples in shards written; the counter also holds those of shards still running
    queue, idle = deque(p for p in todo if kept[p.index]), list(range(len(actors)))
    inflight: dict[Any, tuple[int, ShardPlan]] = {}
    attempts: dict[int, int] = {}
    failed: dict[str, str] = {}
    tokens, t0 = 0, time.perf_counter()
    while queue or inflight:
        while queue and idle:
            a, plan = idle.pop(), queue.popleft()
            ref = actors[a].run.remote([requests[pid] for pid in kept[plan.index]],
                                       [seeds[pid] for pid in kept[plan.index]], counter)
            inflight[ref] = (a, plan)
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=POLL_S)
        if not ready:  # shards still running: count their finished samples (retries can overcount: capped)
            _show_samples(bar_, max(written, min(total, _counted(counter, ray))))
            continue
        a, plan = inflight.pop(ready[0])
        try:
            completions = ray.get(ready[0])
            rows = chains_for_shard(plan, requests, seeds, completions, round=round, teacher=teacher,
                                    ids=kept[plan.index])
            out.write(plan, rows)
        except ray.exceptions.RayActorError as exc:  # the actor died: replace it, retry the shard
            error = f"actor died: {_short(exc)}"
            actors[a] = pool.respawn(a)
        except (ray.exceptions.RayTaskError, RuntimeError, ValueError) as exc:
            error = _short(exc)
        else:
            idle.append(a)
            out.commit(plan)  # outside the retry: a failed commit stops the stage
            done += 1
            tokens += sum(c.n_tokens for c in rows)
            written += len(rows)
            _show_samples(bar_, max(written, min(total, _counted(counter, ray))))
            bar_.set_postfix(shards=f"{done}/{len(todo)}", tok_s=f"{tokens / (time.perf_counter() - t0):.0f}")
            continue
        idle.append(a)
        if _give_up(plan, error, attempts, cfg.max_shard_retries):
            failed[plan.name] = error
        else:
            queue.append(plan)
    return tokens, failed


def _give_up(plan: ShardPlan, error: str, attempts: dict[int, int], retries: int) -> bool:
    """Count a failure of ``plan``; True once it failed more than ``retries`` times (else it is retried)."""
    attempts[plan.index] = attempts.get(plan.index, 0) + 1
    if attempts[plan.index] > retries:
        log.error("generate: %s failed %d time(s), giving up: %s", plan.name, attempts[plan.index], error)
        return True
    log.warning("generate: %s failed (%s); retry %d/%d", plan.name, error, attempts[plan.index], retries)
    return False


POLL_S = 10.0  # how often the driver reads the sample counter while shards run


def _counted(counter: Any, ray: Any) -> int:
    try:
        return int(ray.get(counter.total.remote(), timeout=POLL_S))
    except Exception:  # the counter is for the console only: never let it stop a generation
        return 0


def _show_samples(bar_: Any, n: int) -> None:
    if n > bar_.n:
        bar_.update(n - bar_.n)


@dataclass
class _Landing:
    """Where a finished shard goes: written with the records of its dropped problems, then handed on."""

    chains_dir: Path
    spec: str
    engine_version: str
    over: dict[str, dict[str, Any]]  # problem id -> overflow record (prompt beyond the window)
    on_shard: Callable[[Path], None] | None = None

    def kept(self, plan: ShardPlan) -> list[str]:
        return [pid for pid in plan.problem_ids if pid not in self.over]

    def write(self, plan: ShardPlan, rows: list[Chain]) -> None:
        meta = {"shard_key": plan.key, "spec_hash": self.spec, "engine_version": self.engine_version}
        dropped = [self.over[pid] for pid in plan.problem_ids if pid in self.over]
        if dropped:
            meta["dropped"] = json.dumps(dropped)
        write_shard(self.chains_dir / plan.name, rows, meta)

    def commit(self, plan: ShardPlan) -> None:
        if self.on_shard is not None:
            self.on_shard(self.chains_dir / plan.name)


def _over_window(actor: Any, requests: list[GenerationRequest], ray: Any) -> dict[str, dict[str, Any]]:
    """Problem id -> overflow record of every prompt + max_new_tokens beyond the engine's window, before
    any sampling (counted by the engine's own tokenizer and chat template)."""
    return {r["problem_id"]: r for r in ray.get(actor.over_window.remote(requests))}


_short = short_error
