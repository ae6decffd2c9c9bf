"""``run_training``: SFT examples in, a Hugging Face student out, on Ray Train.

The driver side of training. It checks the examples, carves the validation split (or reads
a named validation set; never a test benchmark, unlike LIMO's epoch-9-of-15 pick), picks the
batching mode for the device, and launches :func:`limo_rl.train.runner.train_worker` on
``num_workers`` Ray Train workers (``TorchTrainer``: gloo on CPU, NCCL on GPUs; DDP, DeepSpeed
ZeRO-3 or FSDP from the recipe). Rerunning with the same inputs resumes from the newest
complete checkpoint; a finished run with the same inputs is returned as is; with changed
inputs old checkpoints are moved aside (kept, never deleted) and training starts fresh.

``out_dir`` must be visible to every worker (one node, or a shared filesystem): workers write
checkpoints and the model there, as with Ray Train's own ``storage_path``. Or, with ``store_uri``
(an object-store run, :mod:`limo_rl.run.objectstore`), ``out_dir`` is the driver's working copy: rank 0
uploads each complete checkpoint (its done-marker last, rotated in the store as on disk), the model and
the metrics to ``store_uri``, Ray Train's own storage is there too, and the driver brings the model,
metrics and log back, never the checkpoints; a resume starts from the newest complete checkpoint in
the store, fetched by any worker that does not have it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.config import TrainConfig
from limo_rl.errors import StageFailure
from limo_rl.resolve import ModelRef
from limo_rl.run.artifacts import atomic_write_json, atomic_write_jsonl, hash_obj, hash_path, read_jsonl
from limo_rl.run.layout import CHECKPOINTS, MODEL, TRAIN_ROWS
from limo_rl.run.modelstore import is_object_store_uri, local_model_path
from limo_rl.run.objectstore import download_tree, put_file, read_json, storage_for
from limo_rl.run.stagecache import previous_input_hash, set_aside
from limo_rl.runtime.cluster import Bundle
from limo_rl.runtime.raysession import ray_session
from limo_rl.train.batching import resolve_batching
from limo_rl.train.checkpoints import checkpoint_step, complete_checkpoints
from limo_rl.train.rows import check_example, read_sft_jsonl, split_validation, to_rows
from limo_rl.train.runner import LOG_FILE, METRICS_FILE, PROGRESS_FILE, train_worker
from limo_rl.train.schedule import check_schedule
from limo_rl.train.store_checkpoints import complete_in_store
from limo_rl.train.watch import TrainWatcher, log_rows
from limo_rl.types import SFTExample

log = logging.getLogger(__name__)

INPUTS_FILE = "train_inputs.json"


class TrainError(StageFailure):
    """Training could not run or failed; the message says where and why."""


def failure_summary(exc: BaseException, limit: int = 600) -> str:
    """One line for a failed training: each worker's own last error line (Ray's WorkerGroupError carries
    every rank's traceback; the reason, e.g. ``OSError: [Errno 28] No space left on device``, is the last line)."""
    def last_line(err: BaseException) -> str:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        line = lines[-1] if lines else ""
        return line if ":" in line or not line else f"{type(err).__name__}: {line}"

    failures = getattr(exc, "worker_failures", None) or {}
    if isinstance(failures, dict) and failures:
        by_msg: dict[str, list[str]] = {}
        for rank, err in sorted(failures.items(), key=lambda kv: str(kv[0])):
            by_msg.setdefault(last_line(err) or type(err).__name__, []).append(str(rank))
        text = "; ".join(f"rank {','.join(ranks)}: {msg}" for msg, ranks in by_msg.items())
    else:
        text = last_line(exc) or type(exc).__name__
    return text[:limit]


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    metrics: dict[str, Any]
    checkpoints_dir: Path
    log_path: Path


def drop_over_length(examples: Sequence[SFTExample], model_path: str, max_length: int,
                     ) -> tuple[list[SFTExample], list[dict[str, Any]]]:
    """Examples whose rendered chat fits ``max_length`` tokens, and a record of each one dropped.

    TRL would cut an over-long conversation at ``max_length`` (the answer and the end-of-turn token
    lost: the student learns to trail off) or, packed, split it across rows. Dropping it instead,
    counted and shown per arm, treats the loop's chains and the static set alike.
    """
    from limo_rl.train.chat_template import load_tokenizer_for_training

    tok, _, _ = load_tokenizer_for_training(model_path)
    kept, dropped = [], []
    for ex in examples:
        ids = tok.apply_chat_template(list(ex.messages), tokenize=True, return_dict=True)["input_ids"]
        if len(ids) > max_length:
            dropped.append({"id": ex.id, "tokens": len(ids), "max_length": max_length})
        else:
            kept.append(ex)
    if dropped:
        log.warning("%d of %d SFT examples exceed train.max_length = %d tokens and are dropped (not truncated)",
                    len(dropped), len(examples), max_length)
    return kept, dropped


def _validation_set(
    examples: Sequence[SFTExample], cfg: TrainConfig, seed: int, validation: Sequence[SFTExample] | None
) -> tuple[list[SFTExample], list[SFTExample]]:
    if validation is not None:
        return list(examples), list(validation)
    if cfg.validation_file:
        return list(examples), read_sft_jsonl(cfg.validation_file)
    return split_validation(examples, cfg.validation_split, seed)


def _set_aside_stale(out_dir: Path, input_hash: str) -> None:
    """Inputs changed: old checkpoints and outputs set aside (nothing deleted), by the one stage-cache
    policy (:mod:`limo_rl.run.stagecache`) applied to train's own inputs record."""
    previous = previous_input_hash(out_dir, INPUTS_FILE)
    if (out_dir / INPUTS_FILE).is_file() and previous != input_hash:
        set_aside(out_dir, previous, (CHECKPOINTS, MODEL, METRICS_FILE, LOG_FILE, TRAIN_ROWS))


def _finished(out_dir: Path, input_hash: str) -> dict[str, Any] | None:
    """The metrics of a training that finished with these inputs and whose model is still the one it wrote
    (its digest, recorded by the worker: an edited model is never reported as trained, marker or not)."""
    metrics_path = out_dir / METRICS_FILE
    if not metrics_path.is_file() or not (out_dir / MODEL / "config.json").is_file():
        return None
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or metrics.get("input_hash") != input_hash:
        return None
    if metrics.get("model_digest") != hash_path(out_dir / MODEL):
        log.warning("%s: the model no longer matches the digest its training recorded (edited, or written by an "
                    "older limo_rl); it is set aside and trained again", out_dir / MODEL)
        set_aside(out_dir, input_hash, (MODEL, METRICS_FILE), "model modified after training")
        return None
    return metrics


def _replay_log(tracker: Any, log_path: Path, metrics: dict[str, Any]) -> None:
    """A training finished earlier: its whole curve and figures (the tracker namespaces them)."""
    if tracker is None:
        return
    if log_path.is_file():
        log_rows(tracker, read_jsonl(log_path))
    _log_summary(tracker, metrics)


def _log_summary(tracker: Any, metrics: dict[str, Any]) -> None:
    if tracker is not None:
        tracker.summary({f"train/{k}": v for k, v in metrics.items()
                         if isinstance(v, (int, float, str)) and k != "input_hash"})


def worker_bundle(cfg: TrainConfig) -> Bundle:
    """What one training worker asks of Ray: its CPUs, one GPU with ``use_gpu``, and ``train.resources``."""
    return {"CPU": cfg.cpus_per_worker, **({"GPU": 1} if cfg.use_gpu else {}), **cfg.resources}


def stage_bundles(cfg: TrainConfig) -> list[Bundle]:
    """The train stage's GPU bundles (one per worker) for the cluster checks; none on CPUs."""
    return [worker_bundle(cfg)] * cfg.num_workers if cfg.use_gpu else []


def _launch(config: dict[str, Any], cfg: TrainConfig, out_dir: Path, store_uri: str | None = None) -> None:
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    with ray_session():  # the command's session (worker output per limo_rl.runtime.worker_logs)
        have = ray.cluster_resources()
        for name, amount in cfg.resources.items():  # Ray Train would wait for them forever
            if have.get(name, 0) < amount * cfg.num_workers:
                raise TrainError(f"train.resources: {cfg.num_workers} worker(s) need {amount * cfg.num_workers:g} "
                                 f"of the custom resource {name!r} but the Ray cluster has {have.get(name, 0):g}")
        storage: dict[str, Any] = {"storage_path": str(out_dir / "ray")}
        if store_uri is not None:  # workers on any node persist Ray Train's state to the store
            path, fs = storage_for(f"{store_uri}/ray")
            storage = {"storage_path": path, "storage_filesystem": fs}
        trainer = TorchTrainer(
            train_worker,
            train_loop_config=config,
            torch_config=TorchConfig(backend="nccl" if cfg.use_gpu else "gloo", timeout_s=cfg.process_group_timeout_s),
            scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                         resources_per_worker=worker_bundle(cfg)),
            run_config=RunConfig(name=f"train-{int(time.time() * 1000)}", **storage,
                                 failure_config=FailureConfig(max_failures=0)),
        )
        try:
            trainer.fit()
        except Exception as exc:  # Ray wraps the workers' exceptions; keep their reasons, one line
            log.debug("training failed", exc_info=True)
            raise TrainError(f"training in {out_dir} failed: {failure_summary(exc)} (the workers' output is "
                             "under the run's logs/workers/; complete checkpoints are kept and a rerun resumes)"
                             ) from exc


def _resume_points(out_dir: Path, input_hash: str, store_uri: str | None) -> list[Path]:
    """The complete checkpoints to resume from, oldest first. With ``store_uri``: those a worker on any node
    uploaded too (the working copy may be fresh), if of these inputs: listed, not downloaded (the worker that
    resumes fetches the chosen one); and this training's inputs record goes to the store."""
    done_ckpts = complete_checkpoints(out_dir / CHECKPOINTS)
    if store_uri is not None:
        if (read_json(f"{store_uri}/{INPUTS_FILE}") or {}).get("input_hash") == input_hash:
            names = {p.name for p in done_ckpts} | set(complete_in_store(store_uri))
            done_ckpts = [out_dir / CHECKPOINTS / n for n in sorted(names, key=checkpoint_step)]
        put_file(out_dir / INPUTS_FILE, f"{store_uri}/{INPUTS_FILE}")
    return done_ckpts


def _model_of(base_model: ModelRef) -> tuple[str, str]:
    """(what the workers load, what identifies it in the training's key)."""
    model_path = base_model.path
    if not is_object_store_uri(model_path) and Path(model_path).expanduser().exists():
        model_path = str(Path(model_path).expanduser().resolve())  # workers load it from any working folder
    # an object-store model is identified by its content (a changed object at the same URI retrains)
    return model_path, base_model.fingerprint if is_object_store_uri(model_path) else model_path


def _write_rows(out_dir: Path, train_set: Sequence[SFTExample], val_set: Sequence[SFTExample],
                dropped: Sequence[dict[str, Any]]) -> None:
    """What this training saw: its train and validation examples and those dropped for length."""
    atomic_write_jsonl(out_dir / TRAIN_ROWS / "train.jsonl", [e.to_dict() for e in train_set])
    atomic_write_jsonl(out_dir / TRAIN_ROWS / "validation.jsonl", [e.to_dict() for e in val_set])
    atomic_write_jsonl(out_dir / TRAIN_ROWS / "dropped_over_length.jsonl", dropped)


def run_training(
    examples: Sequence[SFTExample],
    base_model: ModelRef,
    cfg: TrainConfig,
    out_dir: Path,
    *,
    seed: int = 0,
    tracker: Any = None,
    validation: Sequence[SFTExample] | None = None,
    store_uri: str | None = None,
) -> TrainResult:
    """Fine-tune ``base_model`` on ``examples``; the student lands in ``out_dir/"model"`` (HF format).

    ``base_model``: resolved by the caller, at its entry (:func:`limo_rl.resolve.resolve_model`, under the
    recipe's world settings), never again here.

    ``metrics``: train_loss, first_loss, eval_loss, tokens_per_s, global_step, epoch, world_size,
    trainer, strategy, batching, final_checkpoint, best_checkpoint, resumed_from, resumed_step, ...
    """
    out_dir = Path(out_dir).resolve()
    if not examples:
        raise TrainError("no SFT examples to train on")
    for i, ex in enumerate(examples):
        check_example(ex, f"example #{i}")
    seed = cfg.seed if cfg.seed is not None else seed
    model_path, model_id = _model_of(base_model)
    examples, dropped = drop_over_length(examples, local_model_path(model_path), cfg.max_length)
    if not examples:
        raise TrainError(f"every SFT example exceeds train.max_length = {cfg.max_length} tokens")
    train_set, val_set = _validation_set(examples, cfg, seed, validation)
    for i, ex in enumerate(val_set):
        check_example(ex, f"validation example #{i}")
    batching = resolve_batching(cfg.batching, use_gpu=cfg.use_gpu,
                                flash_attention=importlib.util.find_spec("flash_attn") is not None,
                                per_device_batch_size=cfg.per_device_batch_size)
    train_rows, val_rows = to_rows(train_set), to_rows(val_set)
    cfg_dict = cfg.key_dict(mode="json")  # sft_args only when set: earlier trainings keep their hash
    check_schedule(len(train_rows), cfg_dict, packing=batching == "packing")  # before anything is written
    input_hash = hash_obj({"train": train_rows, "val": val_rows, "model": model_id, "cfg": cfg_dict,
                           "seed": seed, "batching": batching})
    out_dir.mkdir(parents=True, exist_ok=True)
    _set_aside_stale(out_dir, input_hash)
    log_path = out_dir / LOG_FILE
    done = _finished(out_dir, input_hash)
    if done is not None:
        log.info("training in %s already finished with these inputs", out_dir)
        _replay_log(tracker, log_path, done)
        return TrainResult(out_dir / MODEL, done, out_dir / CHECKPOINTS, log_path)
    atomic_write_json(out_dir / INPUTS_FILE, {"input_hash": input_hash, "base_model": model_path, "seed": seed,
                                              "batching": batching, "n_train": len(train_rows),
                                              "n_validation": len(val_rows)})
    _write_rows(out_dir, train_set, val_set, dropped)
    done_ckpts = _resume_points(out_dir, input_hash, store_uri)
    n_ckpt = len(done_ckpts)
    log.info("training %s on %d examples (%d validation), %d worker(s), %s, %s batching%s", model_path,
             len(train_rows), len(val_rows), cfg.num_workers, cfg.strategy, batching,
             f"; resuming ({n_ckpt} complete checkpoint(s))" if n_ckpt else "")
    config = {"train_rows": train_rows, "val_rows": val_rows, "base_model": model_path,
              "cfg": {**cfg_dict, "process_group_timeout_s": cfg.process_group_timeout_s},  # not in the key
              "out_dir": str(out_dir), "seed": seed, "batching": batching, "input_hash": input_hash,
              "resume_from": str(done_ckpts[-1]) if done_ckpts else None,  # one choice for every worker
              "launcher": f"ray.train.torch.TorchTrainer, {cfg.num_workers} worker(s)",
              "n_dropped_over_length": len(dropped), "store_dir": store_uri}
    (out_dir / PROGRESS_FILE).unlink(missing_ok=True)
    watcher = TrainWatcher(out_dir, LOG_FILE, PROGRESS_FILE, tracker).start()
    try:
        _launch(config, cfg, out_dir, store_uri)
    finally:
        watcher.stop()  # forwards the last rows: the tracker holds the whole curve, logged live
    if store_uri is not None:  # what rank 0 wrote on its own node: the model, metrics and log (the checkpoints
        download_tree(store_uri, out_dir)  # stay in the store: runstore.STORE_ONLY)
    metrics_path = out_dir / METRICS_FILE
    if not metrics_path.is_file():
        raise TrainError(f"training in {out_dir} ended without writing {METRICS_FILE}")
    metrics = json.loads(metrics_path.read_text())
    _log_summary(tracker, metrics)
    return TrainResult(out_dir / MODEL, metrics, out_dir / CHECKPOINTS, log_path)

