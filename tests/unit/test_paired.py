"""Paired comparisons (limo_rl.evaluate.paired) on constructed cases with hand-computed answers."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from limo_rl.evaluate.paired import (
    PairingError,
    binom_two_sided,
    compare,
    decide,
    holm,
    mcnemar_exact,
    mde_multiplier,
    min_detectable_effect,
    paired_bootstrap_ci,
    sign_flip_test,
)


def arms(correct_a, correct_b):
    """One sample per problem: lists of 0/1 -> {problem_id: [x]}."""
    return ({f"p{i}": [x] for i, x in enumerate(correct_a)}, {f"p{i}": [x] for i, x in enumerate(correct_b)})


def test_known_effect_on_known_problems():
    # 40 problems: a solves all, b solves the first 20 -> a wins 20 discordant problems, b none.
    a, b = arms([1] * 40, [1] * 20 + [0] * 20)
    r = decide([compare(a, b, label_a="loop/round1", label_b="base", benchmark="toy_eval")])[0]
    assert r.difference == pytest.approx(0.5) and (r.mean_a, r.mean_b) == (1.0, 0.5)
    assert r.test == "mcnemar_exact" and r.discordant == (20, 0)
    assert r.p_value == pytest.approx(2 * 0.5**20)
    assert r.p_adjusted == r.p_value  # one comparison: Holm changes nothing
    assert r.ci_low > 0.3 and r.ci_high <= 0.7 and r.ci_low <= 0.5 <= r.ci_high
    assert r.verdict == "loop/round1 beats base"
    # the other direction names the other winner
    r2 = decide([compare(b, a, label_a="base", label_b="loop/round1")])[0]
    assert r2.difference == pytest.approx(-0.5) and r2.verdict == "loop/round1 beats base"


def test_identical_arms():
    rnd = random.Random(3)
    xs = [rnd.randint(0, 1) for _ in range(100)]
    a, b = arms(xs, xs)
    r = decide([compare(a, b, label_a="static", label_b="base")])[0]
    assert r.difference == 0.0 and (r.ci_low, r.ci_high) == (0.0, 0.0)
    assert r.p_value == 1.0 and r.p_adjusted == 1.0 and r.sd_diff == 0.0
    k = mde_multiplier()
    assert r.mde == pytest.approx(k * k / (100 + k * k))  # the binary floor: 0.073 at 100 problems
    assert r.verdict == f"no detectable difference (smallest detectable: {r.mde:.3f})"
    assert r.verdict.endswith("(smallest detectable: 0.073)")


def test_several_seeds_and_samples_kept_together():
    # 12 problems; a: 3 seeds x 2 samples all right; b: half of its 6 right -> d_i = 0.5 everywhere.
    a = {f"p{i}": [1] * 6 for i in range(12)}
    b = {f"p{i}": [1, 0, 1, 0, 1, 0] for i in range(12)}
    r = compare(a, b)
    assert r.difference == pytest.approx(0.5) and r.test == "sign_flip_exact" and r.discordant is None
    # |sum d| = 6 only for the all-plus and all-minus sign patterns: p = 2 / 2^12
    assert r.p_value == pytest.approx(2 / 2**12)
    assert (r.ci_low, r.ci_high) == (pytest.approx(0.5), pytest.approx(0.5))  # no spread across problems
    # per-problem means pool every sample: the difference equals the difference of pass@1[avg of n]
    rnd = random.Random(0)
    a = {f"p{i}": [rnd.randint(0, 1) for _ in range(8)] for i in range(30)}
    b = {f"p{i}": [rnd.randint(0, 1) for _ in range(4)] for i in range(30)}
    r = compare(a, b)
    pass1 = lambda arm: np.mean([np.mean(v) for v in arm.values()])  # noqa: E731
    assert r.difference == pytest.approx(pass1(a) - pass1(b))
    assert r.test == "sign_flip_exact" and 0.0 < r.p_value <= 1.0  # d_i on the lattice 1/8: exact
    mc, kind = sign_flip_test([x - y for x, y in zip(
        [np.mean(a[p]) for p in sorted(a)], [np.mean(b[p]) for p in sorted(b)], strict=True)], max_denominator=0)
    assert kind == "sign_flip_mc" and abs(mc - r.p_value) < 0.015


def test_sign_flip_exact_against_enumeration_by_hand():
    # d = (1, 1, -0.5): |T| = 1.5; patterns (+,+,+)=1.5, (-,-,-)=-1.5, (+,+,-)=2.5, (-,-,+)=-2.5,
    # (+,-,+)=-0.5 ... -> |T*| >= 1.5 in 4 of 8 patterns.
    p, kind = sign_flip_test([1.0, 1.0, -0.5, 0.0])
    assert kind == "sign_flip_exact" and p == pytest.approx(4 / 8)
    # the lattice dynamic program, full enumeration and Monte Carlo agree
    d = [0.25] * 14 + [-0.25] * 4 + [0.5, -0.75]
    exact, kind = sign_flip_test(d)
    enumerated, _ = sign_flip_test(d, exact_max=20, max_denominator=0)
    mc, kind_mc = sign_flip_test(d, exact_max=10, flips=20000, seed=1, max_denominator=0)
    assert kind == "sign_flip_exact" and exact == pytest.approx(enumerated)
    assert kind_mc == "sign_flip_mc" and abs(mc - exact) < 0.01
    # 14 of +1 and 4 of -1 (no lattice shortcut needed): p = P(|2X - 18| >= 10), X ~ Bin(18, 1/2)
    by_hand = sum(math.comb(18, x) for x in range(19) if abs(2 * x - 18) >= 10) / 2**18
    assert sign_flip_test([1.0] * 14 + [-1.0] * 4)[0] == pytest.approx(by_hand)
    # on one binary sample per problem the sign-flip test is McNemar's exact test
    assert sign_flip_test([1.0] * 7 + [-1.0])[0] == pytest.approx(mcnemar_exact(7, 1))


def test_mcnemar_exact_by_hand():
    # n10 = 7, n01 = 1: P(X <= 1) for Bin(8, 1/2) = (1 + 8) / 256; two-sided 18/256
    assert mcnemar_exact(7, 1) == pytest.approx(18 / 256)
    assert mcnemar_exact(1, 7) == pytest.approx(18 / 256)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    assert binom_two_sided(0, 5) == pytest.approx(2 / 32)
    a, b = arms([1] * 7 + [0] + [1] * 5 + [0] * 3, [0] * 7 + [1] + [1] * 5 + [0] * 3)
    r = compare(a, b)
    assert r.discordant == (7, 1) and r.p_value == pytest.approx(18 / 256)


def test_holm_against_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []
    # decide() uses it: a comparison significant alone is not after the correction
    strong = compare(*arms([1] * 30, [0] * 30), label_a="x", label_b="y")
    weak = compare(*arms([1] * 6 + [0] * 24, [0] * 30), label_a="u", label_b="v")
    assert weak.p_value == pytest.approx(2 / 64) and weak.p_value < 0.05
    out = decide([strong, weak, compare(*arms([1] * 10, [1] * 10)), compare(*arms([0] * 10, [0] * 10))])
    assert out[1].p_adjusted == pytest.approx(min(1.0, 3 * weak.p_value))  # rank 2 of 4: times 3
    assert out[0].verdict == "x beats y" and out[1].verdict.startswith("no detectable difference")


def test_mde_formula():
    k = mde_multiplier(0.05, 0.8)
    assert k == pytest.approx(1.959964 + 0.841621, abs=1e-5)
    assert min_detectable_effect(0.39, 100) == pytest.approx(k * 0.039)  # ~0.109 at 100 problems
    assert min_detectable_effect(0.39, 400) == pytest.approx(k * 0.39 / 20)  # ~0.055: 4x the problems halves it
    assert min_detectable_effect(0.39, 100, alpha=0.01) > min_detectable_effect(0.39, 100)
    r = decide([compare(*arms([1] * 50, [0] * 50)), compare(*arms([1] * 50, [1] * 50))])
    assert r[0].mde_adjusted > r[0].mde  # at alpha / m


def test_ci_coverage_and_test_size():
    """Over 300 simulated paired datasets the 95% CI covers the true difference ~95% of the time,
    and under H0 the tests reject at about 5%."""
    rng = np.random.default_rng(7)
    n, true_pa, true_pb, trials = 120, 0.6, 0.5, 300
    covered, rejected_null = 0, 0
    for t in range(trials):
        skill = rng.random(n)  # problem difficulty shared by both arms: positive correlation
        a = (rng.random(n) < np.clip(skill + (true_pa - 0.5), 0, 1)).astype(int)
        b = (rng.random(n) < np.clip(skill + (true_pb - 0.5), 0, 1)).astype(int)
        true = np.mean(np.clip(skill + 0.1, 0, 1) - skill)  # the expected difference given these problems
        lo, hi = paired_bootstrap_ci(a - b, samples=500, seed=t)
        covered += lo <= true <= hi
        c = (rng.random(n) < skill).astype(int)
        d = (rng.random(n) < skill).astype(int)
        rejected_null += compare(*arms(list(c), list(d))).p_value < 0.05
    assert 0.90 <= covered / trials <= 0.99
    assert rejected_null / trials <= 0.08


def test_unpaired_arms_are_an_error():
    with pytest.raises(PairingError, match="different problems"):
        compare({"p1": [1], "p2": [0]}, {"p1": [1], "p3": [0]})
    with pytest.raises(PairingError, match="no problems"):
        compare({}, {})
    with pytest.raises(PairingError, match="no samples"):
        compare({"p1": []}, {"p1": [1]})


def test_result_serializes():
    r = decide([compare(*arms([1, 0, 1], [0, 0, 1]), label_a="static", label_b="base", benchmark="toy_eval",
                        metric="pass@1[avg of 1]")])[0]
    d = r.to_dict()
    for key in ("a", "b", "benchmark", "metric", "difference", "ci_low", "ci_high", "p_value", "p_adjusted",
                "verdict", "mde", "n_problems"):
        assert key in d
    assert d["discordant"] == [1, 0] and not math.isnan(d["p_value"])
