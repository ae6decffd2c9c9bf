"""Speed of the evaluation metrics, each against a baseline measured in the same run.

* maj@k for k < n: the exact dynamic program over class counts (limo_rl.evaluate.metrics)
  against enumerating every size-k subset and voting (the obvious exact method).
* bootstrap CIs: the vectorized numpy resampling against a plain Python loop over resamples.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_evaluate.py
"""

from __future__ import annotations

import itertools
import random
import time

from limo_rl.evaluate.metrics import bootstrap_ci, maj_at_k


def _brute_maj(classes, correct, k):
    ok = {}
    for c, x in zip(classes, correct, strict=True):
        if c is not None:
            ok.setdefault(c, x)
    total, count = 0.0, 0
    for sub in itertools.combinations(range(len(classes)), k):
        votes = {}
        for i in sub:
            if classes[i] is not None:
                votes[classes[i]] = votes.get(classes[i], 0) + 1
        count += 1
        if votes:
            top = max(votes.values())
            tied = [c for c, v in votes.items() if v == top]
            total += sum(ok[c] for c in tied) / len(tied)
    return total / count


def _timed(fn, *args, repeat=1):
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn(*args)
    return (time.perf_counter() - t0) / repeat, out


def bench_maj(n: int = 16, k: int = 8, problems: int = 30, seed: int = 0) -> None:
    rng = random.Random(seed)
    cases = []
    for _ in range(problems):
        classes = [rng.choice([0, 0, 0, 1, 2, 3, None]) for _ in range(n)]
        correct = [c == 0 for c in classes]
        cases.append((classes, correct))
    t_dp, dp = _timed(lambda: [maj_at_k(c, ok, k) for c, ok in cases])
    t_bf, bf = _timed(lambda: [_brute_maj(c, ok, k) for c, ok in cases])
    assert max(abs(a - b) for a, b in zip(dp, bf, strict=True)) < 1e-9
    print(f"maj@{k} of n={n}, {problems} problems: exact DP {t_dp * 1e3:.1f} ms, subset enumeration "
          f"{t_bf * 1e3:.1f} ms ({t_bf / t_dp:.1f}x faster)")


def bench_bootstrap(problems: int = 500, metrics: int = 8, samples: int = 1000, seed: int = 0) -> None:
    rng = random.Random(seed)
    scores = {f"m{i}": [rng.random() for _ in range(problems)] for i in range(metrics)}

    def loop():
        r = random.Random(seed)
        out = {}
        for name, vals in scores.items():
            means = sorted(sum(vals[r.randrange(problems)] for _ in range(problems)) / problems
                           for _ in range(samples))
            out[name] = (means[int(0.025 * samples)], means[int(0.975 * samples) - 1])
        return out

    t_np, _ = _timed(lambda: bootstrap_ci(scores, samples=samples, seed=seed))
    t_py, _ = _timed(loop)
    print(f"bootstrap {samples} resamples x {problems} problems x {metrics} metrics: numpy {t_np * 1e3:.1f} ms, "
          f"python loop {t_py * 1e3:.1f} ms ({t_py / t_np:.1f}x faster)")


if __name__ == "__main__":
    bench_maj()
    bench_maj(n=20, k=10, problems=3)
    bench_bootstrap()
