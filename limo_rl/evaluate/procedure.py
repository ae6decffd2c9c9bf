"""Verdicts about training procedures: paired differences over seeds x problems, not checkpoints.

A claim such as "the loop beats the static set" is about a procedure: rerun it with another seed and
the student differs. :mod:`limo_rl.evaluate.paired` pools every seed of a problem and resamples
problems only, so its CI describes these checkpoints (seed-to-seed variance is left out). Here, with
two or more seeds per arm, the unit is the cell (seed s, problem i) of a crossed design:

    D[s, i] = mean_a(s, i) - mean_b(s, i)        (arm a's and b's mean correctness over samples)

on the problems both arms graded in every shared seed. The estimate is the grand mean of D, the
difference of the two procedures' ``pass@1[avg of n]`` averaged over seeds.

* **Variance** (two-way random effects, seeds and problems crossed, one cell each): with the
  mean squares of seeds ``MS_s`` (S - 1 df), of problems ``MS_p`` (n - 1 df) and the residual ``MS_r``
  ((S - 1)(n - 1) df), the variance components are ``σ²_seed = (MS_s - MS_r)/n``, ``σ²_prob =
  (MS_p - MS_r)/S`` (each clamped at 0) and ``σ²_res = MS_r``, and the variance of the grand mean is
  ``V = σ²_seed/S + σ²_prob/n + σ²_res/(S n)``: seed-to-seed variance enters through S, the only
  way it can shrink, and the shared problems' variance through n.
* **CI and test**: ``mean ± t_ν sqrt(V)`` and the two-sided t test of ``mean / sqrt(V)``, with ν by
  Satterthwaite from the mean squares V is made of. With few seeds and a real seed variance, ν
  approaches S - 1 and the interval widens as it must.
* **Why not a two-stage bootstrap** (seeds, then problems): resampling seeds sees at most S distinct
  values, and resampling both factors counts the residual twice. In the simulation of
  ``tests/unit/test_procedure.py`` (150 problems, one binary sample per cell, true difference 0.03,
  400 draws per cell of the table) the 95% intervals covered the true procedure difference as follows:

  ==========================  ==========  ======  ======  ======  ======
  seed SD per arm             method       S=2     S=3     S=5     S=8
  ==========================  ==========  ======  ======  ======  ======
  0.03 (seeds matter little)  this t      0.925   0.935   0.973   0.955
  0.03                        two-stage   0.980   0.975   0.990   0.993
  0.03                        pooled      0.863   0.860   0.893   0.883
  0.08 (seeds matter)         this t      0.880   0.908   0.950   0.965
  0.08                        two-stage   0.850   0.895   0.923   0.950
  0.08                        pooled      0.588   0.600   0.600   0.608
  ==========================  ==========  ======  ======  ======  ======

  ("pooled" is the checkpoint comparison: seeds pooled per problem, problems resampled.) The two-stage
  bootstrap is too wide when seeds matter little and too narrow when they matter; this interval is
  near nominal from 5 seeds on and errs less below. Two seeds cannot estimate a seed variance: plan 5+.
  A seed-level sign-flip test is exact but cannot reach p < 0.05 with fewer than 6 seeds (its smallest
  p is 2 / 2^S).
* **MDE** at this design: ``(t_{ν,1-α/2} + t_{ν,power}) sqrt(V)`` (:func:`limo_rl.evaluate.paired.procedure_mde`).

One seed cannot say anything about seed variance: :func:`compare_procedures` then returns the
checkpoint comparison of :mod:`paired` with ``unit`` saying so.

Pure core: standard library and numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from limo_rl.evaluate.paired import PairedResult, PairingError, compare, procedure_mde
from limo_rl.evaluate.tdist import t_quantile, t_sf2

SEEDS_X_PROBLEMS = "seeds x problems"
CHECKPOINTS = "problems (one seed: compares checkpoints)"
BySeed = Mapping[int, Mapping[str, Sequence[float]]]  # seed -> problem id -> correctness of each sample


# ---------------------------------------------------------------------------------------- the crossed design
def cell_differences(a: BySeed, b: BySeed) -> tuple[list[int], list[str], list[list[float]]]:
    """(seeds, problems, D[s][i]) over the seeds both arms have and the problems both graded in each of them."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise PairingError("the two arms share no seed")
    problems = set.intersection(*(set(a[s]) & set(b[s]) for s in seeds))
    if not problems:
        raise PairingError("no problem graded for both arms in every shared seed")
    ids = sorted(problems)
    rows = []
    for s in seeds:
        row = []
        for p in ids:
            xa, xb = a[s][p], b[s][p]
            if not xa or not xb:
                raise PairingError(f"seed {s}, problem {p!r}: an arm has no samples")
            row.append(sum(map(float, xa)) / len(xa) - sum(map(float, xb)) / len(xb))
        rows.append(row)
    return seeds, ids, rows


def crossed_variance(d: Sequence[Sequence[float]]) -> tuple[float, float, float, dict[str, float]]:
    """(grand mean, V = variance of the grand mean, Satterthwaite df, variance components) of an S x n table."""
    import numpy as np

    arr = np.asarray(d, dtype=float)
    s, n = arr.shape
    mean = float(arr.mean())
    if s < 2 or n < 2:
        raise PairingError(f"a crossed design needs at least 2 seeds and 2 problems (have {s} x {n})")
    rows, cols = arr.mean(axis=1), arr.mean(axis=0)
    ms_s = n * float(((rows - mean) ** 2).sum()) / (s - 1)
    ms_p = s * float(((cols - mean) ** 2).sum()) / (n - 1)
    resid = arr - rows[:, None] - cols[None, :] + mean
    ms_r = float((resid ** 2).sum()) / ((s - 1) * (n - 1))
    seed_part, prob_part = ms_s > ms_r, ms_p > ms_r
    # V = sum_k c_k MS_k / (S n), the coefficients following which components are positive
    # (a component clamped at 0 drops its mean square and, with it, the residual's share it offset)
    coef = {"seed": float(seed_part), "problem": float(prob_part),
            "residual": {(True, True): -1.0, (False, False): 1.0}.get((seed_part, prob_part), 0.0)}
    ms = {"seed": (ms_s, s - 1), "problem": (ms_p, n - 1), "residual": (ms_r, (s - 1) * (n - 1))}
    total = sum(coef[k] * ms[k][0] for k in ms)
    v = max(total, 0.0) / (s * n)
    denom = sum((coef[k] * ms[k][0]) ** 2 / ms[k][1] for k in ms if coef[k])
    df = total * total / denom if denom > 0 else math.inf
    components = {"seed": max(0.0, (ms_s - ms_r) / n), "problem": max(0.0, (ms_p - ms_r) / s), "residual": ms_r}
    return mean, v, max(df, 1.0), components


def compare_procedures(
    a: BySeed, b: BySeed, *, label_a: str = "a", label_b: str = "b", benchmark: str = "",
    metric: str = "pass@1", level: float = 0.95, alpha: float = 0.05, power: float = 0.8,
    bootstrap_samples: int = 2000, seed: int = 0,
) -> PairedResult:
    """Paired comparison of two procedures over seeds x problems (module docstring); the verdict is left
    unset (Holm over the declared family: :func:`limo_rl.evaluate.paired.decide`). With one shared seed it
    is :func:`limo_rl.evaluate.paired.compare` on that seed, and ``unit`` says it compares checkpoints."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        if not seeds:
            raise PairingError("the two arms share no seed")
        only = seeds[0]
        r = compare(a[only], b[only], label_a=label_a, label_b=label_b, benchmark=benchmark, metric=metric,
                    bootstrap_samples=bootstrap_samples, level=level, alpha=alpha, power=power, seed=seed)
        return replace(r, unit=CHECKPOINTS, n_seeds=1)
    seeds, ids, d = cell_differences(a, b)
    mean, v, df, _ = crossed_variance(d)
    se = math.sqrt(v)
    half = t_quantile(0.5 + level / 2.0, df) * se
    p = 1.0 if se == 0 else t_sf2(mean / se, df)
    if se == 0 and mean != 0:
        p = 0.0
    ma = sum(sum(map(float, a[s][i])) / len(a[s][i]) for s in seeds for i in ids) / (len(seeds) * len(ids))
    return PairedResult(label_a, label_b, benchmark, metric, len(ids), ma, ma - mean, mean, mean - half, mean + half,
                        "seed_problem_t", p, se, procedure_mde(se, df, alpha=alpha, power=power),
                        unit=SEEDS_X_PROBLEMS, n_seeds=len(seeds), df=df)

