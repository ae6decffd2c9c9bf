"""Issue 15 case 6: a SIGKILLed `limo-rl grade` leaves no grading worker running (they used to spin at
100% CPU with no parent). The loop driver's Ray cluster is checked in test_stage_trust_e2e.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from limo_rl.runtime.procs import children_of, pid_alive, start_ticks

REPO = Path(__file__).resolve().parents[2]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("inf")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_killed_grade_leaves_no_worker(tmp_path):
    inp = tmp_path / "in.jsonl"
    # symbolic work that runs for minutes (a tower of powers), with a long per-check timeout: the workers stay busy
    rows = [{"id": f"r{i}", "output": "\\boxed{9^{9^{9^{9}}} - 7}", "gold": f"{i} + 1"} for i in range(40)]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "limo_rl.cli", "-q", "grade", str(inp), "--out",
                             str(tmp_path / "out.jsonl"), "--workers", "2", "--timeout", "300"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while len(workers) < 2:
            assert proc.poll() is None, "grade ended before its workers started"
            assert time.monotonic() < deadline, "the grading workers did not start"
            workers = [p for p in children_of([proc.pid])
                       if b"limo_rl.verify._worker" in Path(f"/proc/{p}/cmdline").read_bytes()]
            time.sleep(0.2)
        while any(_cpu_seconds(p) < 1.0 for p in workers):  # busy in the symbolic check, not importing
            assert time.monotonic() < deadline, "the grading workers never got busy"
            time.sleep(0.2)
        ticks = {p: start_ticks(p) for p in workers}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while any(pid_alive(p, t) for p, t in ticks.items()) and time.monotonic() - t0 < 5:
            time.sleep(0.1)
        alive = [p for p, t in ticks.items() if pid_alive(p, t)]
        assert not alive, f"grading workers {alive} outlived the killed grade command by 5 s"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in children_of([proc.pid]):
            with __import__("contextlib").suppress(OSError):
                os.kill(p, signal.SIGKILL)


def test_a_straggler_that_ignores_sigterm_is_ended_and_one_that_exits_is_left_alone():
    """RaySession.close ends the cluster's workers still running after ray.shutdown() (an interrupted
    TrainController outlived it by minutes): each gets the wait to exit, then SIGTERM, then SIGKILL."""
    from limo_rl.runtime.procs import end_stragglers, identity

    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\n"
                                 "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    try:
        assert stubborn.stdout.readline().strip() == "up"  # its SIGTERM handler is in place
        ids = [identity(stubborn.pid), identity(quick.pid)]
        t0 = time.monotonic()
        ended = end_stragglers(ids, wait_s=1.5)
        assert ended == [stubborn.pid]
        assert stubborn.wait(timeout=10) == -signal.SIGKILL and quick.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 8
        assert end_stragglers([identity(quick.pid)], wait_s=0.1) == []  # gone (reaped): nothing to end
    finally:
        for p in (stubborn, quick):
            if p.poll() is None:
                p.kill()
