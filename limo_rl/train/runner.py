"""One training worker: TRL ``SFTTrainer`` on conversational rows, assistant-only loss.

This is the function every Ray Train worker runs (and what a test may call in-process). It
follows LIMO's recipe shape (full fine-tune, cosine schedule, loss on the assistant turn)
with TRL 1.16's API: ``assistant_only_loss=True`` over ``{"messages": [...]}`` rows, a chat
template with ``{% generation %}`` markers that enclose the end-of-turn token (checked here by
rendering a probe chat, not assumed), checkpoints the HF Trainer can resume from (global step,
optimizer, scheduler and data order), and evaluation on a validation split, never a test set.

The heavy imports (torch, transformers, trl, ray) happen inside functions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from limo_rl.run.artifacts import atomic_write_json, atomic_write_jsonl, follow_umask, hash_path, read_jsonl
from limo_rl.run.layout import CHECKPOINTS, MODEL, TRAIN_METRICS
from limo_rl.run.modelstore import local_model_path
from limo_rl.run.objectstore import download_tree, put_file, upload_tree
from limo_rl.runtime.worker_logs import redirect_worker_output
from limo_rl.train.batching import Batching, batching_kwargs
from limo_rl.train.chat_template import load_tokenizer_for_training, shipped_config
from limo_rl.train.checkpoints import COMPLETE_MARKER, mark_complete, newest_complete, read_marker
from limo_rl.train.store_checkpoints import CheckpointUploads, node_ranks

log = logging.getLogger(__name__)

METRICS_FILE = TRAIN_METRICS
LOG_FILE = "train_log.jsonl"
PROGRESS_FILE = "train_progress.json"

def _attn_implementation(use_gpu: bool) -> str:
    import importlib.util

    if use_gpu and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def build_sft_config(cfg: dict[str, Any], out_dir: Path, *, seed: int, batching: Batching, has_val: bool,
                     world_rank: int = 0) -> Any:
    """An SFTConfig from the recipe's train section (a plain dict: it crosses the Ray boundary)."""
    from trl import SFTConfig

    strategy = cfg["strategy"]
    save = cfg["save_strategy"]
    extra: dict[str, Any] = {}
    if strategy == "deepspeed_zero3":
        extra["deepspeed"] = str(shipped_config("zero3.json"))
    elif strategy == "fsdp":
        # FSDP's own activation checkpointing, not the model's (which re-gathers each layer's shards once more);
        # ACCELERATE_USE_FSDP is what `accelerate launch` sets and from_pretrained's cpu_ram_efficient_loading reads
        fsdp = {**json.loads(shipped_config("fsdp.json").read_text()),
                "activation_checkpointing": bool(cfg["gradient_checkpointing"])}
        extra.update(fsdp=True, fsdp_config=fsdp)
        os.environ["ACCELERATE_USE_FSDP"] = "true"
    best = cfg["select_checkpoint"] == "best_val" and has_val
    return SFTConfig(
        output_dir=str(out_dir / CHECKPOINTS),
        num_train_epochs=cfg["epochs"],
        max_steps=cfg.get("max_steps") or -1,  # set: overrides epochs (loop.static.match = steps)
        learning_rate=cfg["learning_rate"],
        lr_scheduler_type=cfg["lr_scheduler"],
        warmup_steps=cfg["warmup_ratio"],  # transformers 5: a float < 1 is a ratio of total steps
        weight_decay=cfg["weight_decay"],
        max_grad_norm=cfg["max_grad_norm"],
        per_device_train_batch_size=cfg["per_device_batch_size"],
        per_device_eval_batch_size=cfg["per_device_batch_size"],
        gradient_accumulation_steps=cfg["gradient_accumulation_steps"],
        bf16=cfg["bf16"],
        fp16=False,
        # `gradient_checkpointing`, not `activation_checkpointing` (transformers >= 5.23 only): vLLM's
        # transformers pin is older, and both must train.
        gradient_checkpointing=cfg["gradient_checkpointing"] and strategy != "fsdp",  # FSDP: in its own config
        logging_steps=cfg["logging_steps"],
        logging_first_step=True,
        save_strategy=save,
        save_steps=cfg["save_steps"],
        save_total_limit=cfg["save_total_limit"],
        eval_strategy=save if has_val else "no",
        eval_steps=cfg["save_steps"] if has_val else None,
        load_best_model_at_end=best,
        metric_for_best_model="eval_loss" if best else None,
        greater_is_better=False if best else None,
        assistant_only_loss=True,
        include_num_input_tokens_seen="non_padding",
        use_cpu=not cfg["use_gpu"],
        ddp_backend=("nccl" if cfg["use_gpu"] else "gloo") if _world()[1] > 1 else None,
        ddp_find_unused_parameters=False,
        ddp_timeout=int(cfg.get("process_group_timeout_s") or 3600),  # accelerate's, when it starts the group
        dataloader_pin_memory=cfg["use_gpu"],
        report_to="none",
        disable_tqdm=True,  # the driver shows training progress (one live line), never per-step lines
        seed=seed,
        data_seed=seed,
        **batching_kwargs(batching, cfg["max_length"]),
        **extra,
        **(cfg.get("sft_args") or {}),  # train.sft_args: other SFTConfig fields, checked before any compute
    )


def weights_dtype(cfg: dict[str, Any]) -> str:
    """The dtype the model's weights are loaded in: fp32 master weights unless ZeRO-3 keeps them itself.

    With ``bf16`` the Trainer autocasts the forward and backward passes to bf16; loading the weights
    in bf16 as well would make DDP (and FSDP, which shards the loaded dtype) pure bf16: the optimizer
    would update bf16 weights, and small updates (lr 5e-6 times a gradient) round away. DeepSpeed's
    ZeRO-3 with ``bf16.enabled`` keeps its own fp32 master partition, so there bf16 weights are right
    and halve the memory of the loaded model.
    """
    if cfg["bf16"] and cfg["strategy"] == "deepspeed_zero3":
        return "bfloat16"
    return "float32"


def truncate_rows(dataset: Any, max_length: int) -> Any:
    """Cut tokenized rows to ``max_length`` (padding-free mode, where TRL does not) and drop unlabelled ones."""
    def cut(ex: dict[str, Any]) -> dict[str, Any]:
        return {"input_ids": ex["input_ids"][:max_length], "labels": ex["labels"][:max_length]}

    dataset = dataset.map(cut)
    return dataset.filter(lambda ex: any(v != -100 for v in ex["labels"]))


def _previous_history(out_dir: Path, until_step: int) -> list[dict[str, Any]]:
    path = out_dir / LOG_FILE
    if until_step <= 0 or not path.is_file():
        return []
    return [r for r in read_jsonl(path) if int(r.get("step", 0)) <= until_step]


def _make_callbacks(out_dir: Path, world_rank: int, resumed_step: int, store_dir: str | None = None,
                    upload_wait_s: float = 3600.0) -> list[Any]:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Marks finished checkpoints complete and keeps the log history on disk (rank 0)."""

        def __init__(self) -> None:
            self.history: list[dict[str, Any]] = _previous_history(out_dir, resumed_step)
            self.t0 = time.perf_counter()
            self.tok0 = 0
            self.last = (self.t0, 0)
            self.shown = 0.0
            self.uploads: CheckpointUploads | None = None  # an object-store run: this node's uploader (local rank 0)

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()
            self.tok0 = int(state.num_input_tokens_seen or 0)
            self.last = (self.t0, self.tok0)

        def on_step_end(self, args, state, control, **kw):
            if self.uploads is not None:  # checkpoints the store completed since: their local markers
                self.uploads.mark_local()
            # what the driver's live line shows (step of max_steps); throttled, rank 0 only
            now = time.perf_counter()
            if world_rank == 0 and (now - self.shown >= 1.0 or state.global_step >= state.max_steps):
                self.shown = now
                atomic_write_json(out_dir / PROGRESS_FILE, {
                    "step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch,
                    "tokens_seen": int(state.num_input_tokens_seen or 0) - self.tok0, "seconds": now - self.t0})

        def on_save(self, args, state, control, **kw):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                follow_umask(ckpt)  # each rank's own files too (sharded strategies write on every rank)
            if store_dir:  # an object-store run: each node uploads its part in the background; rank 0 marks it last
                nodes = node_ranks()  # every rank meets here: each one's files of this checkpoint are written
                if int(os.environ.get("LOCAL_RANK", "0")) == 0:
                    if self.uploads is None:
                        self.uploads = CheckpointUploads(store_dir, node=int(os.environ.get("NODE_RANK", "0")),
                                                         lead=world_rank == 0, wait_s=upload_wait_s)
                    self.uploads.submit(ckpt, step=state.global_step, epoch=state.epoch, nodes=nodes,
                                        limit=args.save_total_limit, best=state.best_model_checkpoint)
            elif world_rank == 0 and ckpt.is_dir():
                mark_complete(ckpt, state.global_step, state.epoch)

        def on_log(self, args, state, control, logs=None, **kw):
            if world_rank != 0 or not logs:
                return
            now, toks = time.perf_counter(), int(state.num_input_tokens_seen or 0)
            row = {"step": state.global_step, "epoch": state.epoch, **logs}
            if "loss" in logs and now > self.last[0] and toks > self.last[1]:
                row["tokens_per_s"] = (toks - self.last[1]) / (now - self.last[0])
                self.last = (now, toks)
            self.history.append(row)
            atomic_write_jsonl(out_dir / LOG_FILE, self.history)

    return [Progress()]


def _world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def build_trainer(config: dict[str, Any], resumed_step: int = 0) -> tuple[Any, str]:
    """The SFTTrainer for a worker config (datasets tokenized, labels built) and the template's source.

    Keys: train_rows, val_rows, base_model, cfg (TrainConfig as a dict), out_dir, seed, batching.
    """
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    cfg, out_dir, batching = config["cfg"], Path(config["out_dir"]), config["batching"]
    rank, _ = _world()
    torch.set_num_threads(max(1, int(cfg["cpus_per_worker"])))
    base_model = local_model_path(config["base_model"])  # an s3:// / gs:// model: from this node's cache
    tok, _, template_source = load_tokenizer_for_training(base_model)
    train_ds = Dataset.from_list(config["train_rows"])
    val_ds = Dataset.from_list(config["val_rows"]) if config.get("val_rows") else None
    # The config comes first: with ZeRO-3 (zero.Init) and FSDP (cpu_ram_efficient_loading) it decides how
    # from_pretrained places the weights, so a 32B model is never materialized whole on every worker.
    args = build_sft_config(cfg, out_dir, seed=config["seed"], batching=batching, has_val=val_ds is not None,
                            world_rank=rank)
    dtype = getattr(torch, weights_dtype(cfg))
    model = AutoModelForCausalLM.from_pretrained(
        base_model, dtype=dtype, attn_implementation=_attn_implementation(cfg["use_gpu"])
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds,
                         processing_class=tok, callbacks=_make_callbacks(
                             out_dir, rank, resumed_step, config.get("store_dir"),
                             float(cfg.get("process_group_timeout_s") or 3600)))
    if batching == "padding_free":
        trainer.train_dataset = truncate_rows(trainer.train_dataset, cfg["max_length"])
        if trainer.eval_dataset is not None:
            trainer.eval_dataset = truncate_rows(trainer.eval_dataset, cfg["max_length"])
    return trainer, template_source


def _node_id() -> str | None:
    """The Ray node rank 0 ran on (where training ran), None outside Ray."""
    import sys

    if "ray" not in sys.modules:
        return None
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _resume_point(config: dict[str, Any], out_dir: Path, rank: int) -> tuple[Path | None, int]:
    """The checkpoint to resume from (None: start fresh) and its step.

    The driver picks the checkpoint, once, so every worker resumes from the same step: each worker
    looking for itself could see a different newest one (a rank that finished writing one later, a
    node whose view of a shared folder lags)."""
    chosen = config["resume_from"] if "resume_from" in config else newest_complete(out_dir / CHECKPOINTS)
    resume = Path(chosen) if chosen else None
    if resume is not None and config.get("store_dir") and not (resume / COMPLETE_MARKER).is_file():
        # another node's working copy: this worker fetches the driver's choice from the store
        download_tree(f"{config['store_dir']}/{CHECKPOINTS}/{resume.name}", resume)
    if resume is not None and not (resume / "trainer_state.json").is_file():
        raise RuntimeError(f"rank {rank}: the checkpoint the driver chose, {resume}, is not readable on this "
                           f"node: {out_dir} must be one filesystem seen by every node")
    return resume, read_marker(resume)["global_step"] if resume else 0


def train_worker(config: dict[str, Any]) -> None:
    """Train on ``config["train_rows"]``, checkpointing under ``out_dir/checkpoints``; rank 0 saves the model.

    Keys: those of :func:`build_trainer` plus input_hash (and launcher, for the record).
    """
    cfg, out_dir, batching = config["cfg"], Path(config["out_dir"]), config["batching"]
    rank, world = _world()
    redirect_worker_output(f"train-rank{rank}")
    resume, resumed_step = _resume_point(config, out_dir, rank)
    trainer, template_source = build_trainer(config, resumed_step)
    tok = trainer.processing_class
    has_val = trainer.eval_dataset is not None
    if resume:
        log.info("resuming from %s (global step %d)", resume, resumed_step)
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    eval_loss = trainer.evaluate()["eval_loss"] if has_val else None
    state = trainer.state
    tmp = out_dir / ".model.tmp"
    if rank == 0 and tmp.exists():
        shutil.rmtree(tmp)
    _barrier()
    trainer.save_model(str(tmp))
    _barrier()
    progress = next(c for c in trainer.callback_handler.callbacks if hasattr(c, "history"))
    if progress.uploads is not None:  # after the last collective: every checkpoint up (rank 0: marked) first
        progress.uploads.finish()
    if rank != 0:
        return
    tok.save_pretrained(str(tmp))
    follow_umask(tmp)
    final_dir = out_dir / MODEL
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(tmp, final_dir)
    runtime = output.metrics.get("train_runtime") or (time.perf_counter() - progress.t0)
    tokens = int(state.num_input_tokens_seen or 0) - progress.tok0
    last_ckpt = newest_complete(out_dir / CHECKPOINTS)
    atomic_write_json(out_dir / METRICS_FILE, {
        "input_hash": config["input_hash"],
        "trainer": f"trl.SFTTrainer ({config.get('launcher', 'in-process')})",
        "strategy": cfg["strategy"],
        "batching": batching,
        "world_size": world,
        "node_id": _node_id(),
        "train_loss": output.training_loss,
        "first_loss": next((r["loss"] for r in progress.history if "loss" in r), None),
        "eval_loss": eval_loss,
        "global_step": state.global_step,
        "epoch": state.epoch,
        "max_steps": state.max_steps,
        "train_tokens": tokens,
        "tokens_seen_total": int(state.num_input_tokens_seen or 0),
        "train_runtime_s": runtime,
        "tokens_per_s": tokens / runtime if runtime else None,
        "resumed_from": str(resume) if resume else None,
        "resumed_step": resumed_step,
        "final_checkpoint": str(last_ckpt) if last_ckpt else None,
        "best_checkpoint": state.best_model_checkpoint,
        "select_checkpoint": cfg["select_checkpoint"] if has_val else "last",
        "chat_template_source": template_source,
        "n_train": len(config["train_rows"]),
        "n_validation": len(config.get("val_rows") or []),
        "n_dropped_over_length": config.get("n_dropped_over_length", 0),
        # what this run wrote: a rerun trusts a finished model only while it still hashes to this
        "model_digest": hash_path(final_dir),
    })
    if config.get("store_dir"):  # an object-store run: the driver may be on another node
        store = config["store_dir"]
        upload_tree(final_dir, f"{store}/model", delete_extra=True)
        for name in (LOG_FILE, METRICS_FILE):  # the metrics last: the driver's sign that training ended
            put_file(out_dir / name, f"{store}/{name}")
