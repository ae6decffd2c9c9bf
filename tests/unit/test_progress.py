"""The console: one line per stage, warnings once, everything else in the run's log file."""

from __future__ import annotations

import io
import logging
import os

import pytest

from limo_rl.console import figures, progress


@pytest.fixture
def console(monkeypatch):
    """A plain (non-TTY) display writing to a buffer, with fresh logging switches."""
    saved = dict(os.environ)
    for name in (progress.QUIET_ENV, progress.VERBOSE_ENV, progress.LOG_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    buf = io.StringIO()
    monkeypatch.setattr(progress, "_display", progress.Display(buf))
    progress.setup_logging(0, False)
    yield buf
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, progress._TAG, False)]:
        root.removeHandler(h)
        h.close()
    monkeypatch.setattr(progress, "_log_file", None)
    os.environ.clear()
    os.environ.update(saved)


def test_stage_names_say_arm_round_seed():
    assert figures.stage_place("seed0/loop/round2/generate") == "loop · round 2 · seed 0"
    assert figures.stage_place("seed3/static/train") == "static · seed 3"
    assert figures.stage_place("seed1/baselines/base/evaluate") == "base · seed 1"
    assert figures.stage_place("pool") == ""


def test_figures_in_a_few_words():
    assert figures.summarize("generate", {"chains": 1600, "tokens_per_s": 7312.4, "truncation_rate": 0.02,
                                           "engine": "hf"}) == "1,600 chains, 7,312 tok/s, truncated 2%"
    assert figures.summarize("generate", {"chains": 10, "dropped_over_window": 1}) \
        == "10 chains, 1 problem(s) dropped (prompt beyond the window)"
    assert figures.summarize("evaluate", {"toy_eval/pass@1[avg of 1]": 0.4375}) == \
        "toy_eval pass@1[avg of 1] 43.8%"
    assert figures.summarize("train", {"global_step": 12, "train_loss": 0.41234}) == "12 steps, loss 0.412"


def test_one_line_per_stage_and_a_failure_line(console):
    with progress.stage("generate", "seed0/loop/round1/generate") as figs:
        b = progress.bar(total=10, desc="generate", unit="chain")
        for _ in range(10):
            b.update(1)
        b.close()
        figs.update({"chains": 10})
    with pytest.raises(RuntimeError), progress.stage("train", "seed0/static/train"):
        raise RuntimeError("boom")
    progress.display().stage_done("select", "seed0/static/data", "reused")
    lines = console.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("✓ generate") and "loop · round 1 · seed 0" in lines[0] and "10 chains" in lines[0]
    assert lines[1].startswith("✗ train") and "static · seed 0" in lines[1]
    assert lines[2].startswith("· data") and "reused" in lines[2]


def test_heartbeat_when_not_a_tty(console, monkeypatch):
    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.0)
    with progress.stage("train", "seed0/loop/round1/train"):
        b = progress.bar(total=4, unit="steps")
        b.update(2)
        b.close()
    lines = console.getvalue().splitlines()
    assert any(ln.startswith("  ... train loop · round 1 · seed 0: 2/4 steps") for ln in lines), lines


def test_quiet_prints_no_stage_lines(console, monkeypatch):
    monkeypatch.setenv(progress.QUIET_ENV, "1")
    with progress.stage("pool", "pool"):
        pass
    assert console.getvalue() == ""


def test_warnings_once_on_console_rest_in_log_file(console, tmp_path):
    from transformers.utils import logging as hf_logging

    from limo_rl.runtime.worker_logs import route_ray_logs

    hf_logging.get_logger("transformers.trainer")  # transformers re-attaches its own stderr handler
    route_ray_logs()  # as start_ray does once Ray is up (an earlier test's ray.init may have detached them)
    lg = logging.getLogger("limo_rl.test")
    lg.info("before the run folder exists")
    for _ in range(3):
        lg.warning("widen select.difficulty")
    logging.getLogger("ray.train").warning("Failed to query Ray Train Controller actor state.")
    with progress.stage("train", "seed0/static/train"):  # a stage start adopts the libraries' loggers
        logging.getLogger("transformers.trainer").info("a library's info")
        logging.getLogger("transformers.trainer").warning("a library's warning")
    log_file = progress.attach_log_dir(tmp_path / "logs")
    lg.info("after")
    shown = console.getvalue().splitlines()
    assert shown[0] == "warning: widen select.difficulty" and shown[1].startswith("✓ train"), shown
    assert len(shown) == 2  # a library's warning goes to the file only, not (via its own handler) to stderr
    text = log_file.read_text()
    for needle in ("before the run folder exists", "Failed to query Ray Train Controller", "a library's info",
                   "a library's warning", "after"):
        assert needle in text
    assert text.count("widen select.difficulty") == 3


def test_workers_get_the_print_patch_off_and_the_log_dir(console, tmp_path):
    progress.attach_log_dir(tmp_path / "logs")
    from limo_rl.runtime import worker_logs

    env = worker_logs.worker_env()
    assert env["RAY_TRAIN_ENABLE_PRINT_PATCH"] == "0"
    assert env[progress.LOG_DIR_ENV] == str((tmp_path / "logs").resolve())
    assert worker_logs.ray_init_kwargs() == {"log_to_driver": False, "configure_logging": False}


def test_worker_output_goes_to_the_run_logs(tmp_path):
    """Python prints and C-level writes of a worker land in logs/workers/, nothing on its console."""
    import subprocess
    import sys

    code = ("import os, sys; from limo_rl.runtime.worker_logs import redirect_worker_output; "
            "p = redirect_worker_output('train-rank0'); print('from python'); sys.stdout.flush(); "
            "os.write(2, b'from C level\\n'); print(p, file=sys.__stderr__)")
    env = {**os.environ, progress.LOG_DIR_ENV: str(tmp_path)}
    env.pop(progress.VERBOSE_ENV, None)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", res
    (log,) = (tmp_path / "workers").glob("train-rank0-*.log")
    text = log.read_text()
    assert "from python" in text and "from C level" in text
    env[progress.VERBOSE_ENV] = "1"  # -v: the worker keeps its streams (Ray forwards them to the console)
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "from python" in res.stdout and "from C level" in res.stderr


def test_heartbeat_at_least_every_interval_while_a_stage_runs(console, monkeypatch):
    """Nothing updates for a while (a long shard, a verify pass): the heartbeat still says where things are."""
    import time

    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.1)
    with progress.stage("generate", "seed0/loop/round1/generate"):
        b = progress.bar(total=8192, unit="samples")
        b.update(3200)  # then silence
        time.sleep(0.6)
        b.close()
    beats = [ln for ln in console.getvalue().splitlines() if ln.startswith("  ... generate loop · round 1")]
    assert len(beats) >= 2, console.getvalue()
    assert any("3,200/8,192 samples" in ln and "min into the stage" in ln for ln in beats), beats
    n = len(console.getvalue().splitlines())
    time.sleep(0.3)  # the stage is over: no more heartbeats
    assert len(console.getvalue().splitlines()) == n
    with progress.stage("verify", "seed0/loop/round1/verify"):  # a stage without a bar
        time.sleep(0.3)
    assert any(ln.startswith("  ... verify loop · round 1 · seed 0: running (") for ln in console.getvalue().splitlines())
