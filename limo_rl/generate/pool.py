"""Engine actors on Ray: what each asks of the cluster, how they start, and how they end.

One :class:`ActorPool` holds the generate actors of one engine and model. ``run_generation``
makes its own when given none; the evaluation harness passes one pool to every benchmark, so
an engine (vLLM's start is ~20 s on CPU, minutes for a 32B model on GPUs) is loaded once per
model, not once per benchmark. The sampling settings travel with each request, so benchmarks
with different protocols share the actors.

Resources follow the recipe, never what the cluster has at the instant the pool starts (an
autoscaler adds GPU nodes only when asked): an actor asks for GPUs when ``generate.device`` is
cuda, or auto with ``hardware.gpus_per_node`` > 0 (:func:`engine_gpus`, the one rule; the cluster
preflight checks :func:`stage_bundles`, built from the same :func:`engine_bundle`), else CPUs only,
so vLLM's CPU build runs on a CPU cluster. Ad hoc commands have no hardware
section: there auto reads the largest GPU count of a node up now. A hub model is downloaded once
per engine node before the actors start, and vLLM may take ``hardware.actor_start_timeout_s`` to
come up (:mod:`limo_rl.generate.prefetch`). A vLLM actor on CPU gets its KV-cache size
(``VLLM_CPU_KVCACHE_SPACE``, GiB) and an unbound OpenMP pool of ``cpus_per_actor`` threads:
vLLM's default binds its threads to cores itself, and two actors on one node would then share
the same cores.

Ending: each actor first closes its engine (vLLM's engine core shuts down its own processes,
which hold the GPU memory), then exits through ``__ray_terminate__`` (pending work finishes,
atexit handlers run); only an actor that does not exit in time is killed. The next engine on
the same GPUs therefore finds them free.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from limo_rl.config import GenerateConfig
from limo_rl.console.progress import QUIET_ENV, is_quiet
from limo_rl.console.redact import SecretEnv
from limo_rl.generate.engines import make_engine
from limo_rl.generate.prefetch import engine_nodes, engine_start_env, needs_prefetch, prefetch_on_nodes
from limo_rl.run.artifacts import hash_obj
from limo_rl.run.modelstore import local_model_path
from limo_rl.runtime.cluster import Bundle, cluster_nodes, unplaced, wait_for_resources
from limo_rl.runtime.raysession import ray_session, release_resources, worker_env
from limo_rl.runtime.worker_logs import redirect_worker_output
from limo_rl.types import Completion, GenerationRequest

log = logging.getLogger(__name__)

# GenerateConfig fields that decide what an actor holds (sampling fields travel with the requests).
ENGINE_FIELDS = ("engine", "device", "dtype", "batch_size", "cpus_per_actor", "vllm", "openai", "resources")
CLOSE_TIMEOUT_S = 120.0


class ShardWorker:
    """One engine in one Ray actor; ``run`` samples a shard's requests and returns the completions."""

    def __init__(self, cfg_dict: dict[str, Any], model: str, threads: int, secrets: Any = None):
        if secrets:  # API keys arrive as an object-store argument: Ray logs runtime_env env vars, not these
            secrets.export()
        redirect_worker_output("generate")  # engine output -> <run>/logs/workers (console with -v)
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:  # pragma: no cover - torch is a hard dependency
            pass
        # an s3:// / gs:// model is fetched into this node's cache (a lookup when already there)
        self.engine = make_engine(GenerateConfig.model_validate(cfg_dict), local_model_path(model))

    def ready(self) -> str:
        return f"{self.engine.name} {self.engine.version}"

    def node_id(self) -> str:
        """The Ray node this engine runs on (recorded in stats.json: where generation ran)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def over_window(self, requests: list[GenerationRequest]) -> list[dict[str, Any]]:
        """The requests whose prompt + max_new_tokens exceed the engine's window (an engine that cannot
        tell, such as a remote server, reports none: the server refuses such a request itself)."""
        check = getattr(self.engine, "prompt_overflow", None)
        return check(requests) if check is not None else []

    def run(self, requests: list[GenerationRequest], seeds: list[tuple[int, ...]],
            counter: Any = None) -> list[list[Completion]]:
        """The shard's completions; ``counter`` (a :class:`SampleCounter` actor) hears of samples as they finish."""
        tell = (lambda k: counter.add.remote(k)) if counter is not None else None
        return self.engine.generate(requests, seeds, progress=tell)

    def close(self) -> bool:
        self.engine.close()
        return True


class SampleCounter:
    """A Ray actor (no CPU: it must never wait for one) that counts samples finished inside running shards,
    so the console moves while a shard of hours runs; the driver reads it between shard results."""

    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int) -> None:
        self.n += int(k)

    def total(self) -> int:
        return self.n


def engine_gpus(cfg: Any, gpus_per_node: int) -> float:
    """GPUs one engine actor asks Ray for: the one rule the actor pool and the cluster preflight share.

    Decided from the recipe, never from what the cluster has at this instant (an autoscaling
    cluster starts with its GPU group at 0 nodes: sizing from that would put CUDA vLLM on the CPU
    head): ``device: cuda`` asks for GPUs, ``auto`` asks for them when ``hardware.gpus_per_node``
    names some, ``cpu`` (and the openai engine) never. A vLLM engine takes ``tensor_parallel_size``
    GPUs, the hf engine one."""
    on_gpu = cfg.device == "cuda" or (cfg.device == "auto" and gpus_per_node > 0)
    if cfg.engine == "openai" or not on_gpu:
        return 0.0
    return float(cfg.vllm.tensor_parallel_size) if cfg.engine == "vllm" else 1.0


def actor_resources(cfg: Any, gpus_per_node: int) -> tuple[float, float]:
    """(CPUs, GPUs) one actor asks of Ray: GPUs by the recipe's rule (:func:`engine_gpus`)."""
    return cfg.cpus_per_actor, engine_gpus(cfg, gpus_per_node)


def engine_bundle(cfg: Any, gpus_per_node: int) -> Bundle:
    """What one engine actor asks of Ray: its CPUs, GPUs and ``generate.resources`` (which pin the nodes)."""
    cpus, gpus = actor_resources(cfg, gpus_per_node)
    return {"CPU": cpus, "GPU": gpus, **cfg.resources}


def stage_bundles(cfg: Any, gpus_per_node: int) -> list[Bundle]:
    """The generate stage's GPU bundles for the cluster preflight: one per actor; none for engines on CPUs
    (they are capped at what the nodes hold, never waited on)."""
    bundle = engine_bundle(cfg, gpus_per_node)
    return [bundle] * cfg.num_actors if bundle["GPU"] else []


def actor_env(cfg: Any, threads: int, gpus: float) -> dict[str, str]:
    """Environment of one actor: the Ray worker policy (where worker output goes, the print patch off,
    niceness), its thread counts, and vLLM's CPU settings when it runs on CPU."""
    env = worker_env()
    env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    if cfg.engine == "vllm" and gpus == 0:
        from limo_rl.generate.engines.vllm import cpu_env

        env.update(cpu_env(cfg.vllm, threads))
    if is_quiet():
        env[QUIET_ENV] = "1"
    return env


class _NodeRes:
    def __init__(self, resources: Mapping[str, float]):
        self.resources = dict(resources)


def fit_actors(wanted: int, cpus: float, gpus: float, nodes: Sequence[Mapping[str, float]],
               extra: Mapping[str, float] | None = None) -> int:
    """How many actors of (cpus, gpus, plus ``extra`` custom resources such as ``generate.resources``) the
    nodes (one resource dict each) hold, placed first-fit per node (an actor never spans nodes), at most
    ``wanted``; 0 when not even one fits."""
    bundles = [{"CPU": cpus, "GPU": gpus, **(extra or {})}] * wanted
    return wanted - len(unplaced(bundles, [_NodeRes(n) for n in nodes]))


def engine_key(cfg: Any, model: str) -> str:
    dumped = cfg.model_dump(mode="json")
    return hash_obj({"model": str(model), **{k: dumped[k] for k in ENGINE_FIELDS}})


class PoolError(RuntimeError):
    """The cluster cannot hold one actor, or the engine did not start."""


class ActorPool:
    """Generate actors for one (engine settings, model), started on demand and reused until closed.

    Use as a context manager. Ray comes from :func:`~limo_rl.runtime.raysession.ray_session`: the command's
    session when there is one (never stopped here), else one for the pool's life (a library call).
    """

    def __init__(self) -> None:
        self.key: str | None = None
        self.actors: list[Any] = []
        self.started = 0  # engines started over the pool's life (replacements included)
        self.version = ""
        self._spawn_args: tuple[Any, ...] | None = None
        self._session: contextlib.ExitStack | None = None  # Ray for the pool's life (the command's session if open)
        self._prefetched: set[str] = set()  # hub models already on every engine node

    def __enter__(self) -> ActorPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _ray_up(self) -> Any:
        import ray

        if self._session is None:  # joins RAY_ADDRESS when set; a session already up is used as is
            session = contextlib.ExitStack()
            session.enter_context(ray_session())
            self._session = session
        return ray

    def acquire(self, cfg: Any, model: str, n_wanted: int, *, wait_s: float = 0.0,
                start_timeout_s: float = 1800.0, gpus_per_node: int | None = None) -> list[Any]:
        """At least one and at most ``n_wanted`` ready actors for ``cfg``'s engine and ``model``.

        GPU actors (or any, when an autoscaler may add nodes: ``wait_s`` > 0) are never cut to what is
        up at this instant: they fit, or the call waits up to ``wait_s`` for them, or stops with a
        ClusterError naming what is missing. CPU-only actors on a static cluster are capped at what its
        nodes hold (an actor more would wait forever), with a warning. ``start_timeout_s`` bounds the
        wait for the engines to load (``hardware.actor_start_timeout_s``). ``gpus_per_node``: the recipe's
        ``hardware.gpus_per_node`` (None in ad hoc mode: the largest node up now)."""
        ray = self._ray_up()
        key = engine_key(cfg, model)
        if key != self.key:
            self.close_actors()
            if gpus_per_node is None:
                gpus_per_node = int(max((nd.gpus for nd in cluster_nodes()), default=0))
            bundle = engine_bundle(cfg, gpus_per_node)
            cpus, gpus = bundle["CPU"], bundle["GPU"]
            threads = max(1, int(cpus))
            cls = ray.remote(ShardWorker).options(
                num_cpus=cpus, num_gpus=gpus, resources=dict(cfg.resources),  # generate.resources pin the nodes
                runtime_env={"env_vars": {**actor_env(cfg, threads, gpus),
                                          **engine_start_env(cfg.engine, start_timeout_s)}})
            secrets = ray.put(SecretEnv([cfg.openai.api_key_env] if cfg.engine == "openai" else []))
            self._spawn_args = (cls, cfg.model_dump(mode="json"), str(model), threads, bundle, secrets)
            self.key = key
        cls, cfg_dict, model_s, threads, bundle, secrets = self._spawn_args  # type: ignore[misc]
        n, nodes = _placeable(cfg, bundle, n_wanted, wait_s)
        if n > len(self.actors) and cfg.engine != "openai" and needs_prefetch(model_s) \
                and model_s not in self._prefetched:
            try:  # one download per node, not one inside each engine's start (vLLM gives up at its own limit)
                prefetch_on_nodes(model_s, engine_nodes(nodes, bundle), timeout_s=start_timeout_s)
            except Exception as exc:
                raise PoolError(f"could not fetch {model_s} onto the nodes within {start_timeout_s:.0f} s "
                                f"(hardware.actor_start_timeout_s): {short_error(exc)}") from None
            self._prefetched.add(model_s)
        new = [cls.remote(cfg_dict, model_s, threads, secrets) for _ in range(n - len(self.actors))]
        if new:
            try:
                versions = ray.get([a.ready.remote() for a in new], timeout=start_timeout_s)
            except ray.exceptions.GetTimeoutError:
                for a in new:
                    ray.kill(a)
                raise PoolError(
                    f"{len(new)} {cfg.engine} actor(s) for {model} were not ready after {start_timeout_s:.0f} s "
                    "(hardware.actor_start_timeout_s): the model loads slowly from storage, or the actors cannot "
                    "be placed (see `ray status`)") from None
            except ray.exceptions.RayError as exc:
                for a in new:
                    ray.kill(a)
                raise PoolError(f"could not start the {cfg.engine} engine for {model}: {short_error(exc)}") from None
            self.version = versions[0]
            self.actors.extend(new)
            self.started += len(new)
            log.info("generate: %d actor(s) ready (%s)", len(self.actors), self.version)
        return self.actors[:max(n, 1)]

    def respawn(self, index: int) -> Any:
        """Replace a dead actor (the caller retries its shard on the new one)."""
        cls, cfg_dict, model_s, threads, _, secrets = self._spawn_args  # type: ignore[misc]
        self.actors[index] = cls.remote(cfg_dict, model_s, threads, secrets)
        self.started += 1
        return self.actors[index]

    def close_actors(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Close every engine, then let the actors exit; kill only those that do not end in time."""
        if not self.actors:
            return
        import ray

        actors, self.actors, self.key = self.actors, [], None
        closing = [a.close.remote() for a in actors]
        _, slow = ray.wait(closing, num_returns=len(closing), timeout=timeout_s)
        for ref in closing:
            if ref not in slow:
                try:
                    ray.get(ref)
                except ray.exceptions.RayError as exc:  # a dead actor has nothing left to close
                    log.debug("closing an engine: %s", short_error(exc))
        ending = [a.__ray_terminate__.remote() for a in actors]
        _, stuck = ray.wait(ending, num_returns=len(ending), timeout=timeout_s)
        for a, closed, ref in zip(actors, closing, ending, strict=True):
            if ref in stuck or closed in slow:
                log.warning("a generate actor did not end within %.0f s; killing it", timeout_s)
                ray.kill(a)

    def close(self) -> None:
        try:
            self.close_actors()
        finally:
            release_resources()  # the nodes an autoscaler added for these actors may go
            session, self._session = self._session, None
            if session is not None:
                session.close()  # Ray started for the pool alone ends; the command's session stays


def _placeable(cfg: Any, bundle: dict[str, float], n_wanted: int, wait_s: float) -> tuple[int, list[Any]]:
    """(actors to start, the cluster's nodes). GPU actors, or any when an autoscaler may add nodes, wait for
    all ``n_wanted`` (or ClusterError); CPU actors on a static cluster are capped at what the nodes hold."""
    if bundle["GPU"] > 0 or wait_s > 0:
        nodes = wait_for_resources([bundle] * n_wanted, what=f"generate ({n_wanted} {cfg.engine} actor(s))",
                                   wait_s=wait_s)
        return n_wanted, nodes
    nodes = cluster_nodes()
    n = fit_actors(n_wanted, bundle["CPU"], 0.0, [nd.resources for nd in nodes], cfg.resources)
    if n < 1:
        want = {"CPU": bundle["CPU"], **cfg.resources}
        raise PoolError(f"one generate actor needs {want} but no node of the Ray cluster has that "
                        f"({'; '.join(x.describe() for x in nodes)}); lower generate.cpus_per_actor")
    if n < n_wanted:
        log.warning("generate.num_actors = %d but the cluster's nodes fit %d actor(s); using %d", n_wanted, n, n)
    return n, nodes


def short_error(exc: BaseException, limit: int = 600) -> str:
    """The useful last lines of a (possibly remote) exception."""
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    tail = " | ".join(lines[-3:]) if lines else type(exc).__name__
    return tail[-limit:]
