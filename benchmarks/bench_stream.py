"""Benchmark: the streaming verify + select driver against the former in-memory one, 10k to 200k chains.

Synthetic chains (k=16 samples per problem, ~450 characters each, a boxed integer answer, a
third wrong, odd samples of some problems truncated) are written as parquet shards of 64
problems (1,024 chains) exactly as the generate stage writes them. Then, per chain count, a
fresh subprocess runs and measures one driver:

* ``stream`` (this code): :func:`limo_rl.verify.stage.grade_shards` (one verdict shard per chain
  shard, each written once) then :func:`limo_rl.select.stream.select_from_shards` (one pass);
* ``legacy`` (the driver before issue 20, rebuilt here): every chain read into memory, the whole
  verdict file rewritten after each 512-chain chunk, then problems, chains and verdicts all in
  memory for :func:`limo_rl.select.run_selection`.

Grading mode: by default the real :class:`~limo_rl.verify.grade.Grader` with ``features=False``
(real answer extraction and the in-process exact tier; integers never need the symbolic
workers), so the figures measure the driver's I/O and memory, not density analysis, which is
per-chain work in worker processes and linear anyway. ``--grader full`` computes every feature.

Peak driver memory: ``ru_maxrss`` of the subprocess minus its RSS after imports and a warm-up
(Linux, KiB); the grader's worker processes are not the driver. CPU time (the subprocess and its
children) is printed beside wall time: on a shared machine it is the steadier figure for linearity.
Memory is bounded by one shard plus the selection's heaps (``budget`` entries per balance group,
which fill up as the pool grows) and ~100 bytes per problem id. Prints seconds, chains/s, peak MiB, and the
ratios 200k/10k (linear time: ~20x; flat memory: ~1x). The legacy driver runs up to 50k chains
by default (its rewrites are quadratic: ``--legacy-max 200000`` to see it at 200k).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stream.py`` (~2 min on 2 idle cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

K = 16
PROBLEMS_PER_SHARD = 64
FILLER = ("We add the two parts. Let me verify: {a} + {b} = {s}, which matches the claim. "
          "Perhaps a cleaner route exists, but since the terms are symmetric we proceed. ")


def make_data(root: Path, n_chains: int, seed: int = 0) -> None:
    """problems.jsonl and chains/shard-*.parquet with ``n_chains`` chains (k=16), written shard by shard."""
    from limo_rl.data.io import write_problems
    from limo_rl.generate.shards import write_shard
    from limo_rl.types import Chain, Problem

    rng = random.Random(seed)
    n_problems = n_chains // K
    problems = [Problem(id=f"q{i:07d}", question=f"Compute {i} + {i}.", answer=str(2 * i),
                        source=("amc", "aime", "olympiad")[i % 3]) for i in range(n_problems)]
    write_problems(root / "problems.jsonl", problems)
    (root / "chains").mkdir(parents=True, exist_ok=True)
    for s, start in enumerate(range(0, n_problems, PROBLEMS_PER_SHARD)):
        rows = []
        for p in problems[start:start + PROBLEMS_PER_SHARD]:
            i = int(p.id[1:])
            n_right = i % (K + 1)
            for j in range(K):
                a, b = rng.randint(1, 999), rng.randint(1, 999)
                ans = p.answer if j < n_right else str(2 * i + 1)
                text = "".join(FILLER.format(a=a, b=b, s=a + b) for _ in range(3)) + f"So \\boxed{{{ans}}}."
                rows.append(Chain(problem_id=p.id, sample_index=j, round=1, teacher="t", engine="hf", seed=j,
                                  prompt_hash="h", text=text, n_tokens=len(text) // 4 + rng.randint(0, 50),
                                  finish_reason="length" if (j == K - 1 and i % 5 == 0) else "stop"))
        write_shard(root / "chains" / f"shard-{s:05d}-bench.parquet", rows)


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def child(root: Path, mode: str, grader_mode: str) -> dict:
    import importlib

    from limo_rl.config import SelectConfig, VerifyConfig

    grade_mod = importlib.import_module("limo_rl.verify.grade")  # the module (the package exports grade())

    if grader_mode == "correctness":
        real = grade_mod.Grader.grade_many
        grade_mod.Grader.grade_many = lambda self, items, progress=True, **kw: real(
            self, items, progress=False, features=False)
    vcfg = VerifyConfig(workers=1)
    scfg = SelectConfig.model_validate({"difficulty": {"min_correct": 1, "max_correct": 3}, "budget": 817,
                                        "balance_by": "source"})
    # warm-up before the baseline RSS: every module either driver imports, lazy ones included
    import limo_rl.select.stream  # noqa: F401
    from limo_rl.generate.shards import read_shard, shard_files

    with grade_mod.Grader(vcfg) as g:
        g.grade_many([("so \\boxed{2}", "2", "auto", 4)], progress=False)
    read_shard(shard_files(root / "chains")[0])
    rss0 = _rss_kib()
    ru, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = ru.ru_utime + ru.ru_stime + ch.ru_utime + ch.ru_stime
    t0 = time.perf_counter()
    if mode == "stream":
        from limo_rl.data.io import iter_rows
        from limo_rl.select.stream import select_from_shards
        from limo_rl.verify.stage import grade_shards

        golds = {}
        for _, row in iter_rows(root / "problems.jsonl"):
            golds[row["id"]] = row["answer"]
        grade_shards(root / "chains", golds, vcfg, root / "verdicts")
        t1 = time.perf_counter()
        res = select_from_shards(root / "problems.jsonl", root / "chains", root / "verdicts", scfg, None,
                                 root / "select")
    else:
        from limo_rl.data.io import read_problems
        from limo_rl.generate.shards import read_chains
        from limo_rl.run.artifacts import atomic_write_jsonl
        from limo_rl.select import run_selection
        from limo_rl.verify.grade import Grader
        from limo_rl.verify.stage import read_verdicts

        chains = read_chains(root / "chains")
        problems = {p.id: p for p in read_problems(root / "problems.jsonl")}
        done: dict = {}
        path = root / "verdicts.jsonl"
        with Grader(vcfg) as grader:
            for i in range(0, len(chains), 512):  # the former grade_chains: rewrite everything per chunk
                chunk = chains[i:i + 512]
                for c, v in zip(chunk, grader.grade_many([(c.text, problems[c.problem_id].answer, "auto", c.n_tokens)
                                                          for c in chunk]), strict=True):
                    done[(c.problem_id, c.sample_index)] = v
                atomic_write_jsonl(path, [{"problem_id": k[0], "sample_index": k[1], **v.to_dict()}
                                          for k, v in done.items()])
        del chains, problems, done
        t1 = time.perf_counter()
        res = run_selection(read_problems(root / "problems.jsonl"), read_chains(root / "chains"),
                            read_verdicts(path), scfg, None, root / "select")
    t2 = time.perf_counter()
    ru, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime + ch.ru_utime + ch.ru_stime - cpu0
    return {"verify_s": t1 - t0, "select_s": t2 - t1, "total_s": t2 - t0, "cpu_s": cpu,
            "peak_mib": (ru.ru_maxrss - rss0) / 1024, "selected": res.n_selected}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,50000,200000")
    ap.add_argument("--legacy-max", type=int, default=50000, help="largest size the legacy driver runs at")
    ap.add_argument("--grader", choices=("correctness", "full"), default="correctness")
    ap.add_argument("--child", nargs=2, metavar=("ROOT", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1], args.grader)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load: {os.getloadavg()[0]:.2f} (1-min), {os.cpu_count()} cores; grader: {args.grader}; k={K}, "
          f"{PROBLEMS_PER_SHARD * K} chains per shard")
    results: dict[tuple[str, int], dict] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_stream-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LIMO_RL_QUIET": "1"}
    try:
        for n in sizes:
            data = tmp / f"n{n}"
            make_data(data, n)
            for mode in ("stream", "legacy"):
                if mode == "legacy" and n > args.legacy_max:
                    continue
                run = tmp / f"{mode}{n}"
                shutil.copytree(data, run)
                out = subprocess.run([sys.executable, __file__, "--grader", args.grader, "--child", str(run), mode],
                                     capture_output=True, text=True, env=env, check=False)
                if out.returncode != 0:
                    sys.exit(f"{mode} at {n} failed:\n{out.stderr[-3000:]}")
                r = results[(mode, n)] = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"{mode:<7} {n:>7} chains: verify {r['verify_s']:7.1f}s  select {r['select_s']:6.1f}s  "
                      f"total {r['total_s']:7.1f}s ({n / r['total_s']:6.0f} chains/s), CPU {r['cpu_s']:7.1f}s  peak driver memory "
                      f"{r['peak_mib']:7.1f} MiB  selected {r['selected']}", flush=True)
                shutil.rmtree(run)
            shutil.rmtree(data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lo, hi = sizes[0], sizes[-1]
    for mode in ("stream", "legacy"):
        top = max((n for (m, n) in results if m == mode), default=None)
        if top is None or top == lo:
            continue
        a, b = results[(mode, lo)], results[(mode, top)]
        print(f"{mode}: {top // lo}x the chains -> wall time x{b['total_s'] / a['total_s']:.1f}, CPU time "
              f"x{b['cpu_s'] / a['cpu_s']:.1f}, peak memory x{b['peak_mib'] / max(a['peak_mib'], 1e-9):.2f}")
    for n in sizes:
        if ("legacy", n) in results:
            s, leg = results[("stream", n)], results[("legacy", n)]
            print(f"at {n}: legacy/stream wall time x{leg['total_s'] / s['total_s']:.1f}, CPU time "
                  f"x{leg['cpu_s'] / s['cpu_s']:.1f}, "
                  f"memory x{leg['peak_mib'] / max(s['peak_mib'], 1e-9):.1f}")
    print(f"(streaming up to {hi} chains; load at the end: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
