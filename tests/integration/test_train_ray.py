"""Training under Ray Train: a 2-worker run whose loss falls and whose student reloads and
generates; a rerun with the same inputs is a no-op; a SIGKILLed training process resumes from
its newest complete checkpoint with the step count continuing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from limo_rl.config import TrainConfig
from limo_rl.resolve import resolve_model
from limo_rl.train import run_training
from limo_rl.train.checkpoints import COMPLETE_MARKER, checkpoint_step, newest_complete
from limo_rl.types import SFTExample, chat_messages

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def sum_examples(n: int) -> list[SFTExample]:
    out = []
    for i in range(n):
        a, b = i % 17 + 3, i % 11 + 5
        reply = f"{a} + {b} = {a + b}. Check: {a + b} - {b} = {a}. The answer is \\boxed{{{a + b}}}."
        out.append(SFTExample(id=f"s{i}", messages=chat_messages(f"What is {a} + {b}?")
                              + ({"role": "assistant", "content": reply},)))
    return out


class RecordingTracker:
    """A Tracker that keeps what it is given (the protocol of limo_rl.console.tracking)."""

    def __init__(self) -> None:
        self.logged: list[tuple[dict, int | None]] = []
        self.summaries: dict = {}

    def log(self, metrics, step=None):
        self.logged.append((dict(metrics), step))

    def log_image(self, name, path):
        pass

    def summary(self, values):
        self.summaries.update(values)

    def finish(self):
        pass


def test_two_worker_ray_train_run(ray_cluster, tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = TrainConfig(epochs=2, learning_rate=2e-3, per_device_batch_size=4, num_workers=2, logging_steps=2,
                      max_length=256, validation_split=0.1, select_checkpoint="best_val")
    tracker = RecordingTracker()
    res = run_training(sum_examples(48), resolve_model(str(tiny_model_dir)), cfg, tmp_path / "train", seed=1,
                       tracker=tracker)
    m = res.metrics
    assert m["world_size"] == 2 and "TorchTrainer" in m["trainer"] and m["strategy"] == "ddp"
    assert m["n_validation"] == 5 and m["n_train"] == 43
    steps_per_epoch = -(-43 // (4 * 2))
    assert m["global_step"] == 2 * steps_per_epoch and m["epoch"] == 2.0
    losses = [r["loss"] for r in map(json.loads, res.log_path.read_text().splitlines()) if "loss" in r]
    assert losses[-1] < 0.7 * losses[0]
    assert m["eval_loss"] < m["first_loss"] and m["tokens_per_s"] > 0
    assert Path(m["final_checkpoint"]).parent == res.checkpoints_dir
    assert checkpoint_step(m["final_checkpoint"]) == m["global_step"]
    assert m["best_checkpoint"] is not None
    # weights and checkpoints follow the umask like every other file of a run (safetensors alone writes 0600)
    from limo_rl.run.artifacts import current_umask

    saved = [*res.model_dir.glob("*.safetensors"), *res.checkpoints_dir.glob("checkpoint-*/*.safetensors")]
    assert saved and {f.stat().st_mode & 0o777 for f in saved} == {0o666 & ~current_umask()}
    logged_keys = set().union(*(k for k, _ in tracker.logged))
    assert {"train/loss", "train/learning_rate", "train/epoch", "train/tokens_per_s"} <= logged_keys
    assert tracker.summaries["train/world_size"] == 2

    # the student reloads (weights, tokenizer, chat template), carries the trained weights, and generates
    tok = AutoTokenizer.from_pretrained(str(res.model_dir))
    assert "{% generation %}" in tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(str(res.model_dir))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    batch = tok.apply_chat_template(list(sum_examples(1)[0].messages), return_tensors="pt", return_dict=True)
    with torch.no_grad():
        student_loss = model(**batch, labels=batch["input_ids"]).loss.item()
        base_loss = base(**batch, labels=batch["input_ids"]).loss.item()
    assert student_loss < base_loss - 0.5
    prompt = tok.apply_chat_template(list(chat_messages("What is 4 + 6?")), add_generation_prompt=True,
                                     return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]

    # same inputs again: nothing is retrained
    t0 = time.perf_counter()
    again = run_training(sum_examples(48), resolve_model(str(tiny_model_dir)), cfg, tmp_path / "train", seed=1)
    assert again.metrics == m and time.perf_counter() - t0 < 5


def _wait_for_no_process_under(path: str, timeout_s: float) -> bool:
    """True once no process's command line names ``path`` (a Ray temp folder), within ``timeout_s``."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if path.encode() in (entry / "cmdline").read_bytes():
                        alive.append(entry.name)
                except OSError:
                    continue
        if not alive:
            return True
        time.sleep(0.5)
    return False


def _train_cmd(data: Path, model: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "limo_rl.cli", "--quiet", "train", "--data", str(data), "--model", str(model),
            "--out", str(out), "train.num_workers=1", "train.epochs=3", "train.per_device_batch_size=4",
            "train.validation_split=0", "train.max_length=128", "train.logging_steps=5"]


def test_sigkill_then_rerun_resumes_from_the_newest_complete_checkpoint(tiny_model_dir, tmp_path):
    data = tmp_path / "sft.jsonl"
    n = 160
    data.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in sum_examples(n)))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    ray_tmp = tempfile.mkdtemp(prefix="lrk-", dir="/tmp")
    env.update(OMP_NUM_THREADS="1", RAY_TMPDIR=ray_tmp)
    steps_per_epoch = n // 4

    proc = subprocess.Popen(_train_cmd(data, tiny_model_dir, out), cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while newest_complete(out / "checkpoints") is None:
            assert proc.poll() is None, f"training exited early: {proc.stderr.read()[-3000:]}"
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI process and every process it started
        proc.wait()
    # the private cluster's workers are in sessions of their own: its watchdog ends them once the CLI is gone
    # (under load this takes a moment, and a worker left running would go on training into the rerun's folder)
    assert _wait_for_no_process_under(ray_tmp, 120), "the killed run's Ray processes outlived it by 120 s"
    killed_at = newest_complete(out / "checkpoints")
    assert not (out / "model").exists(), "the run finished before it could be killed"
    first_step = checkpoint_step(killed_at)
    assert first_step is not None and first_step % steps_per_epoch == 0 and first_step < 3 * steps_per_epoch

    res = subprocess.run(_train_cmd(data, tiny_model_dir, out), cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["resumed_step"] >= first_step
    assert metrics["resumed_from"].endswith(f"checkpoint-{metrics['resumed_step']}")
    assert metrics["global_step"] == 3 * steps_per_epoch and metrics["epoch"] == 3.0
    # the second process trained only the remaining epochs (each epoch sees the same tokens), and every
    # epoch's checkpoint exists once
    done_epochs = metrics["resumed_step"] // steps_per_epoch
    assert metrics["train_tokens"] * 3 == metrics["tokens_seen_total"] * (3 - done_epochs)
    steps = sorted(checkpoint_step(p) for p in (out / "checkpoints").iterdir() if (p / COMPLETE_MARKER).exists())
    # train.save_total_limit (default 2) keeps the newest two: the resumed run rotated the first one out
    assert steps == [2 * steps_per_epoch, 3 * steps_per_epoch]
    history = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    logged_steps = [r["step"] for r in history if "loss" in r]
    assert logged_steps == sorted(set(logged_steps))  # continued, not repeated
    assert (out / "model" / "config.json").is_file()
