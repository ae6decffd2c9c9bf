"""A private Ray head for tests: its own temp dir, ports and token; stopped by killing only its processes.

Never `ray stop` in a test: it kills every Ray process on the host. The head is started in a
new session (start_new_session), so every process it spawns (GCS, raylet, dashboard, workers)
shares that session id, and teardown kills exactly that session.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[3]) == sid:  # fields after comm: state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


def kill_session(sid: int, grace_s: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_pids(sid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while session_pids(sid) and time.monotonic() < deadline:
            time.sleep(0.2)


@dataclass
class Head:
    address: str  # the dashboard, for `ray job submit --address`
    env: dict[str, str]  # environment for CLI calls (token, RAY_TMPDIR, PATH)
    sid: int  # session id shared by every process of this cluster


@contextlib.contextmanager
def private_ray_head(num_cpus: int = 2, log_path: Path | None = None) -> Iterator[Head]:
    """A token-authenticated head on free ports, in its own temp dir and process session."""
    tmpdir = tempfile.mkdtemp(prefix="lrh-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",)}
    env.update({
        "RAY_TMPDIR": tmpdir, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", "OMP_NUM_THREADS": "1",
    })
    dash = free_port()
    args = [
        str(VENV_BIN / "ray"), "start", "--head", "--block", f"--num-cpus={num_cpus}", f"--temp-dir={tmpdir}",
        f"--port={free_port()}", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1", "--include-dashboard=true",
        f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}", f"--metrics-export-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}", "--disable-usage-stats",
    ]
    log = open(log_path or Path(tmpdir) / "head.log", "w")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {proc.returncode}; see {log.name}")
            try:
                req = urllib.request.Request(f"{address}/api/version",
                                             headers={"Authorization": f"Bearer {env['RAY_AUTH_TOKEN']}"})
                urllib.request.urlopen(req, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Ray dashboard at {address} did not come up; see {log.name}") from None
                time.sleep(1)
        yield Head(address, env, proc.pid)
    finally:
        kill_session(proc.pid)
        log.close()
