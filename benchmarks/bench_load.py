"""The quickstart beside other work: wall time quiet, then beside busy processes, and the ratio.

A laptop or a shared node always has other work. Ray starts its workers at niceness 15 by default,
so once runnable processes outnumber cores any ordinary process takes nearly all the CPU from them;
limo_rl's Ray policy (:func:`limo_rl.runtime.raysession.worker_niceness`) starts them at 0. This benchmark runs
the same recipe quiet, then beside ``--busy`` processes (``python -c "while True: pass"`` at nice 0),
each in a fresh output folder (its own toy cache, as a first run has), and prints both wall times and their ratio (a fair share on 2 cores with two
busy loops is 2x; the target is at most 2.5x). ``--niceness 15`` adds a loaded run under Ray's default,
the baseline the policy replaced, measured in the same sitting.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_load.py                  # the full quickstart
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_load.py --tiny --niceness 15   # minutes, + baseline

Prints one JSON line per run and a summary; ``--out FILE`` keeps them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = ["tracking.backend=none", "pool.toy.n=48", "generate.n=4", "generate.shard_size=12",
        "generate.max_new_tokens=160", "train.epochs=1", "evaluate.limit=64", "evaluate.max_new_tokens=160",
        "loop.static.limit=64", "loop.rounds=1", "select.difficulty.min_pass_rate=0.0",
        "select.difficulty.max_pass_rate=1.0"]


@contextlib.contextmanager
def busy(n: int) -> Iterator[None]:
    """``n`` processes spinning at nice 0 for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def load_avg() -> float:
    return os.getloadavg()[0]


def run_once(name: str, out_dir: Path, overrides: list[str], niceness: int | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="lrb-", dir="/tmp")
    if niceness is not None:
        env["RAY_worker_niceness"] = str(niceness)
    cmd = [sys.executable, "-m", "limo_rl.cli", "-q", "run", "recipes/quickstart.yaml",
           f"run.output_dir={out_dir / name}", f"run.name={name}", *overrides]
    load0, t0 = load_avg(), time.monotonic()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if res.returncode != 0:
        raise SystemExit(f"{name}: limo-rl run failed (rc {res.returncode}):\n{res.stderr[-3000:]}")
    return {"run": name, "wall_s": round(wall, 1), "load_before": round(load0, 2), "load_after": round(load_avg(), 2),
            "worker_niceness": niceness if niceness is not None else "policy"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a test-sized quickstart (minutes) instead of the full one")
    ap.add_argument("--busy", type=int, default=2, help="busy processes beside the loaded run (default 2)")
    ap.add_argument("--niceness", type=int, default=None,
                    help="also run loaded with RAY_worker_niceness=N (15: Ray's default, the old baseline)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    overrides = TINY if args.tiny else []
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        rows.append(run_once("quiet", Path(tmp), overrides, None))
        print(json.dumps(rows[-1]), flush=True)
        with busy(args.busy):
            rows.append(run_once("loaded", Path(tmp), overrides, None))
            print(json.dumps(rows[-1]), flush=True)
            if args.niceness is not None:
                rows.append(run_once(f"loaded_nice{args.niceness}", Path(tmp), overrides, args.niceness))
                print(json.dumps(rows[-1]), flush=True)
    quiet = rows[0]["wall_s"]
    summary = {"recipe": "quickstart" + (" (tiny)" if args.tiny else ""), "busy": args.busy, "cores": os.cpu_count(),
               **{f"{r['run']}_s": r["wall_s"] for r in rows},
               **{f"{r['run']}_ratio": round(r["wall_s"] / quiet, 2) for r in rows[1:]}}
    print(json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps({"runs": rows, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
