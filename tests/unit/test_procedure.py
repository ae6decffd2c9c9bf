"""Verdicts about procedures (seeds x problems): Student's t, the crossed-design variance, and coverage of the
true procedure difference in a simulation with a known seed variance (limo_rl.evaluate.procedure)."""

from __future__ import annotations

import numpy as np
import pytest

from limo_rl.evaluate.paired import PairingError, decide, paired_bootstrap_ci
from limo_rl.evaluate.procedure import (
    CHECKPOINTS,
    SEEDS_X_PROBLEMS,
    compare_procedures,
    crossed_variance,
)
from limo_rl.evaluate.tdist import t_quantile, t_sf2


@pytest.mark.parametrize(("df", "q975"), [(1, 12.7062), (2, 4.3027), (5, 2.5706), (30, 2.0423), (1e6, 1.9600)])
def test_t_quantiles_match_the_tables(df, q975):
    assert t_quantile(0.975, df) == pytest.approx(q975, abs=2e-4)
    assert t_sf2(q975, df) == pytest.approx(0.05, abs=1e-4)
    assert t_sf2(0.0, df) == pytest.approx(1.0)


def test_crossed_variance_of_a_constructed_table():
    # no seed effect and no problem effect: V is the residual mean square over S n
    d = [[1.0, -1.0, 0.0, 0.0], [-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]]
    mean, v, df, comp = crossed_variance(d)
    assert mean == 0.0 and comp["seed"] == 0.0
    arr = np.asarray(d)
    resid = arr - arr.mean(1, keepdims=True) - arr.mean(0, keepdims=True) + arr.mean()
    ms_r = (resid ** 2).sum() / (2 * 3)
    ms_p = 3 * ((arr.mean(0) - arr.mean()) ** 2).sum() / 3
    assert v == pytest.approx((max(ms_p, ms_r)) / 12)
    # a pure seed effect: every problem of seed s differs by the same amount
    mean, v, df, comp = crossed_variance([[0.1] * 50, [0.0] * 50, [0.2] * 50])
    assert mean == pytest.approx(0.1) and comp["seed"] == pytest.approx(0.01) and df == pytest.approx(2.0)
    assert v == pytest.approx(0.01 / 3)  # the seed variance over 3 seeds: more problems would not shrink it


def _cells(rng, seeds: int, n: int, delta: float, tau: float, sv: float = 0.06):
    """Arms a and b over ``seeds`` training seeds each: per-seed quality shifts of SD ``tau``, a problem
    population with per-problem arm contrasts, one binary sample per (seed, problem). True difference: delta."""
    base, v = rng.uniform(0.25, 0.75, n), rng.normal(0, sv, n)
    ua, ub = rng.normal(0, tau, seeds), rng.normal(0, tau, seeds)
    pa = np.clip(base[None] + delta / 2 + ua[:, None] + v[None] / 2, 0, 1)
    pb = np.clip(base[None] - delta / 2 + ub[:, None] - v[None] / 2, 0, 1)
    a = (rng.random((seeds, n)) < pa).astype(float)
    b = (rng.random((seeds, n)) < pb).astype(float)
    to_map = lambda x: {s: {f"p{i}": [x[s, i]] for i in range(n)} for s in range(seeds)}  # noqa: E731
    return to_map(a), to_map(b), a - b


@pytest.mark.parametrize("tau", [0.03, 0.08])
def test_seed_level_interval_covers_the_procedure_difference(tau):
    """At 5 seeds the 95% interval covers the true difference at about its nominal rate, whatever the seed
    variance; the checkpoint interval (seeds pooled, problems resampled) falls short once seeds matter."""
    rng = np.random.default_rng(7)
    delta, sims, hits, pooled_hits = 0.03, 300, 0, 0
    for k in range(sims):
        a, b, d = _cells(rng, 5, 150, delta, tau)
        r = compare_procedures(a, b)
        hits += r.ci_low <= delta <= r.ci_high
        lo, hi = paired_bootstrap_ci(d.mean(axis=0), samples=300, seed=k)
        pooled_hits += lo <= delta <= hi
    coverage, pooled = hits / sims, pooled_hits / sims
    assert 0.92 <= coverage <= 0.985, coverage
    if tau >= 0.08:
        assert pooled < 0.8 < coverage, (pooled, coverage)


def test_one_seed_compares_checkpoints_and_several_seeds_procedures():
    rng = np.random.default_rng(0)
    a, b, _ = _cells(rng, 3, 80, 0.1, 0.02)
    r = compare_procedures(a, b, label_a="loop", label_b="static", benchmark="toy_dev")
    assert r.unit == SEEDS_X_PROBLEMS and r.n_seeds == 3 and r.test == "seed_problem_t" and r.df >= 1
    assert r.n_problems == 80 and r.ci_low < r.difference < r.ci_high and 0 <= r.p_value <= 1
    assert r.mean_a - r.mean_b == pytest.approx(r.difference)
    one = compare_procedures({0: a[0]}, {0: b[0], 1: b[1]})
    assert one.unit == CHECKPOINTS and one.n_seeds == 1 and one.df is None
    # Holm over a family; the verdict's MDE is the adjusted one, as is the decision
    out = decide([r, one])
    assert out[0].mde_adjusted > out[0].mde
    assert "beats" in out[0].verdict or f"(smallest detectable: {out[0].mde_adjusted:.3f})" in out[0].verdict
    with pytest.raises(PairingError):
        compare_procedures({0: a[0]}, {1: b[1]})
