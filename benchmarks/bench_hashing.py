"""Benchmark: the stage cache's content hashes (issue 15) against the old sampled hash.

Run on demand:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hashing.py [--mib 1024] [--dir /tmp]

Writes one random file of ``--mib`` MiB and times, in the same run:

* ``sampled``  the old resume check (size + 3 x 4 MiB samples): the baseline, fast and blind to most edits;
* ``sha256``   a full streaming hash (:func:`limo_rl.run.hashing.hash_bytes_of`, what a first check costs);
* ``blake2b``  the same through blake2b, the other candidate;
* ``cached``   :func:`limo_rl.run.hashing.hash_file` on an unchanged file, timed inside a fresh process
  (what every rerun costs): a stat and one SQLite lookup.

The page cache is warm after the write (the numbers are CPU-bound hash speeds, an upper bound of
disk speed on most machines); run ``sync; echo 3 > /proc/sys/vm/drop_caches`` first for cold reads.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sampled(path: Path) -> str:
    """The old ``hash_file`` for files over 256 MiB (removed: corruption between samples was missed)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        h.update(f"sampled:{size}:".encode())
        for offset in (0, size // 2, max(size - (4 << 20), 0)):
            fh.seek(offset)
            h.update(fh.read(4 << 20))
    return h.hexdigest()


def full(path: Path, algo: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algo).hexdigest()


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="bench-hash-cache-")
    env = dict(os.environ, LIMO_RL_CACHE_DIR=cache, PYTHONPATH=str(REPO))
    fd, name = tempfile.mkstemp(prefix="bench-hash-", dir=args.dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            for _ in range(args.mib):
                fh.write(os.urandom(1 << 20))
        mb = args.mib * (1 << 20) / 1e6
        t_sampled = min(timed(sampled, path) for _ in range(3))
        t_sha = timed(full, path, "sha256")
        t_b2 = timed(full, path, "blake2b")
        code = ("import time; from limo_rl.run.hashing import hash_file; t0 = time.perf_counter(); "
                f"hash_file({str(path)!r}); print(time.perf_counter() - t0)")
        run = [sys.executable, "-c", code]
        subprocess.run(run, env=env, check=True, capture_output=True)  # the first check fills the on-disk cache
        t_cached = float(subprocess.run(run, env=env, check=True, capture_output=True, text=True).stdout)
        print(f"file: {args.mib} MiB ({mb:.0f} MB) in {args.dir}; load {os.getloadavg()[0]:.2f}")
        print(f"{'method':10s} {'seconds':>9s} {'MB/s':>9s}  vs sha256")
        for label, t in (("sampled", t_sampled), ("sha256", t_sha), ("blake2b", t_b2), ("cached", t_cached)):
            print(f"{label:10s} {t:9.4f} {mb / t:9.0f}  {t_sha / t:8.2f}x")
        print("sampled reads 12 MiB of the file; sha256 and blake2b every byte; cached none "
              "(timed inside a fresh process: a stat and a SQLite lookup)")
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
