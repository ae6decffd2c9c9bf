"""Process identity and clean-up: no process of ours outlives the command that started it.

Three mechanisms, each for a place where a SIGKILL (OOM killer, preemption, ``kill -9``) of the
driver used to leave work running:

* :func:`die_with_parent` runs first thing in a child (a grading worker): it forks a tiny watchdog
  process that SIGKILLs the child once its parent is gone. Not a thread (sympy's big-integer work
  holds the GIL for minutes, so no thread would run) and not ``prctl(PR_SET_PDEATHSIG)`` (it fires
  when the parent's *thread* that forked the child exits, killing workers spawned from short-lived
  threads); a poll every 0.25 s is cheap and exact about the process.
* :func:`spawn_reaper` starts a tiny detached watchdog (``python -m limo_rl.runtime.procs``) that waits
  for the driver to die and then ends the private Ray cluster the driver started (the pids are
  recorded with their start times, so a recycled pid is never signalled).
* :func:`kill_recorded` does the same from a later command (the next ``run``, ``limo-rl clean``)
  with the record kept in the run folder, touching only processes that record names.

:func:`cancel_unfinished` is the one way a Ray task is force-cancelled (its worker killed): only while
it has not finished, since a force-cancel racing a finished task's reply aborts the driver.

A process is identified by (pid, start time in clock ticks since boot, from /proc), so "alive"
never means "some other process that got the same pid". Standard library only (Ray is touched
lazily, and only by the Ray helpers), Linux-first (elsewhere liveness falls back to ``os.kill(pid, 0)``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int, ticks: int | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when ``ticks`` is given, is the process that started then."""
    if pid <= 0:
        return False
    if Path("/proc/self/stat").exists():
        now = start_ticks(pid)
        if now is None or _state(pid) in ("Z", "X"):
            return False
        return ticks is None or now == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def identity(pid: int | None = None) -> dict[str, Any]:
    """What names a process across machines and pid reuse: pid, host, start ticks."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": socket.gethostname(), "start_ticks": start_ticks(pid)}


def children_of(pids: Iterable[int]) -> list[int]:
    """Every descendant of ``pids`` (from /proc), deepest first."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = set(pids)
    while frontier:
        nxt = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found.extend(sorted(nxt))
        frontier = nxt
    return found[::-1]


def kill_recorded(processes: Sequence[Mapping[str, Any]], grace_s: float = 3.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``grace_s``, the recorded processes (and their descendants) that still
    run *as recorded* (same host, pid and start time). Returns the pids signalled."""
    host = socket.gethostname()
    roots = [int(p["pid"]) for p in processes
             if p.get("host", host) == host and pid_alive(int(p["pid"]), p.get("start_ticks"))]
    targets = [(pid, start_ticks(pid)) for pid in [*children_of(roots), *roots]]
    for pid, _ in targets:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(pid_alive(p, t) for p, t in targets):
        time.sleep(0.1)
    for pid, ticks in targets:
        if pid_alive(pid, ticks):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    return [p for p, _ in targets]


def cluster_workers() -> list[dict[str, Any]]:
    """The identities of every descendant of the private Ray cluster this process started (its workers and
    actors), taken before a shutdown: after it, a worker that outlives its raylet is init's child."""
    cluster = local_ray_cluster()
    if not cluster:
        return []
    kids = children_of(int(p["pid"]) for p in cluster["processes"])
    return [identity(pid) for pid in kids if start_ticks(pid) is not None]


def end_stragglers(processes: Sequence[Mapping[str, Any]], wait_s: float = 5.0) -> list[int]:
    """Give ``processes`` (identities) ``wait_s`` to exit on their own, then end those still running as
    recorded (:func:`kill_recorded`). Returns the pids signalled. A Ray actor interrupted mid-training (a
    ``TrainController``) was seen running for minutes after ``ray.shutdown()``."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(pid_alive(int(p["pid"]), p.get("start_ticks")) for p in processes):
        time.sleep(0.1)
    left = [p for p in processes if pid_alive(int(p["pid"]), p.get("start_ticks"))]
    return kill_recorded(left) if left else []


def cancel_unfinished(refs: Sequence[Any]) -> list[Any]:
    """Force-cancel the Ray tasks of ``refs`` that have not finished (their workers are killed); returns them.
    A finished task is never cancelled: Ray 2.60 aborts the *driver* ("Tried to complete task that was not
    pending") when a force-cancel races the reply of a task that already ended (seen killing pytest)."""
    if not refs:
        return []
    import ray

    _, unfinished = ray.wait(list(refs), num_returns=len(refs), timeout=0)
    for ref in unfinished:
        with contextlib.suppress(Exception):  # it ended meanwhile: nothing to cancel
            ray.cancel(ref, force=True)
    return unfinished


PARENT_ENV = "LIMO_RL_PARENT_PID"  # set by the spawner: the parent a child must die with


def die_with_parent(poll_s: float = 0.25) -> int | None:
    """In a child process, first thing: fork a tiny watchdog that SIGKILLs this process as soon as its parent
    is gone. A process, not a thread: work such as sympy's big-integer arithmetic holds the GIL for minutes,
    so no thread of the busy child would run (and ``PR_SET_PDEATHSIG`` fires when the parent's *thread*
    exits, which would kill children spawned from short-lived threads). Returns the watchdog's pid."""
    me, parent = os.getpid(), int(os.environ.get(PARENT_ENV) or os.getppid())
    if os.getppid() != parent:  # the parent died before we got here
        os.kill(me, signal.SIGKILL)
    pticks = start_ticks(parent)
    pid = os.fork()
    if pid:
        return pid
    try:  # the watchdog: hold none of the child's pipes (a reader must see EOF when the child dies)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 16)
        while os.getppid() == me:
            if not pid_alive(parent, pticks):
                os.kill(me, signal.SIGKILL)
                break
            time.sleep(poll_s)
    finally:
        os._exit(0)


def spawn_reaper(processes: Sequence[Mapping[str, Any]], parent: Mapping[str, Any] | None = None) -> subprocess.Popen:
    """Start a detached watchdog that ends ``processes`` (see :func:`kill_recorded`) once ``parent``
    (default: this process) is gone. It ends itself when the processes are all gone first."""
    parent = dict(parent or identity())
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.Popen(
        [sys.executable, "-m", "limo_rl.runtime.procs", json.dumps({"parent": parent, "processes": list(processes)})],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, env=env,
    )


def _reap(spec: Mapping[str, Any], poll_s: float = 0.5) -> None:
    parent, processes = spec["parent"], spec["processes"]
    while pid_alive(int(parent["pid"]), parent.get("start_ticks")):
        if not any(pid_alive(int(p["pid"]), p.get("start_ticks")) for p in processes):
            return
        time.sleep(poll_s)
    kill_recorded(processes)


if __name__ == "__main__":  # the watchdog of spawn_reaper
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the driver's terminal is the driver's business
    _reap(json.loads(sys.argv[1]))


_GUARDED: set[str] = set()


def local_ray_cluster() -> dict[str, Any] | None:
    """The processes of the Ray cluster this process started with ``ray.init()`` (a head it owns), with
    their identities; None when Ray is not up here or this process only joined someone else's cluster."""
    ray = sys.modules.get("ray")
    worker = getattr(getattr(ray, "_private", None), "worker", None) if ray else None
    node = getattr(worker, "_global_node", None)
    if node is None or not getattr(node, "head", False):
        return None
    pids = [info.process.pid for infos in getattr(node, "all_processes", {}).values() for info in infos
            if getattr(info, "process", None) is not None]
    return {"driver": identity(), "session_dir": str(node.get_session_dir_path()),
            "processes": [identity(pid) for pid in pids if start_ticks(pid) is not None]}


def guard_local_ray(record: str | Path | None = None) -> dict[str, Any] | None:
    """After ``ray.init()`` started a private cluster: make it die with this process (a watchdog) and,
    with ``record``, write its processes there so ``limo-rl clean`` can end them if even that fails."""
    cluster = local_ray_cluster()
    if not cluster:
        return None
    if cluster["session_dir"] not in _GUARDED:  # one watchdog per cluster, however often this is called
        _GUARDED.add(cluster["session_dir"])
        spawn_reaper(cluster["processes"])
    if record is not None:
        path = Path(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(cluster, indent=1))
        os.replace(tmp, path)
    return cluster
