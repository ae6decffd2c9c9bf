"""Evaluation metrics against hand-computed cases and an independent brute force."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import pytest

from limo_rl.evaluate.metrics import (
    ProblemSamples,
    benchmark_metrics,
    bootstrap_ci,
    exact_equal,
    group_answers,
    maj_at_k,
    mean_correct,
    pass_at_k,
    per_problem_scores,
)


# ---------------------------------------------------------------------------------------- pass@k
@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),  # none correct
        (5, 0, 5, 0.0),
        (5, 5, 1, 1.0),  # all correct
        (5, 5, 5, 1.0),
        (2, 1, 1, 0.5),
        (4, 1, 2, 1 - 3 / 6),  # 1 - C(3,2)/C(4,2)
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (3, 2, 2, 1.0),  # every pair holds a correct one
        (16, 4, 1, 0.25),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_combinatorial_definition():
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12), (n, c, k)


def test_pass_at_k_undefined_when_n_below_k():
    with pytest.raises(ValueError, match="undefined"):
        pass_at_k(4, 2, 8)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_pass_at_1_is_mean_over_samples():
    assert mean_correct([True, False, False, True]) == 0.5
    assert mean_correct([False] * 3) == 0.0
    assert pass_at_k(4, 2, 1) == pytest.approx(mean_correct([True, False, False, True]))


# ---------------------------------------------------------------------------------------- maj@k
def _brute_maj(classes, correct, k):
    """Average over every size-k subset of the vote, ties shared evenly: an independent reference."""
    rep_ok = {}
    for c, ok in zip(classes, correct, strict=True):
        if c is not None:
            rep_ok.setdefault(c, ok)
    total = Fraction(0)
    subsets = list(itertools.combinations(range(len(classes)), k))
    for sub in subsets:
        votes = {}
        for i in sub:
            if classes[i] is not None:
                votes[classes[i]] = votes.get(classes[i], 0) + 1
        if not votes:
            continue
        top = max(votes.values())
        tied = [c for c, v in votes.items() if v == top]
        total += Fraction(sum(rep_ok[c] for c in tied), len(tied))
    return float(total / len(subsets))


def test_maj_tie_in_the_vote_earns_half():
    assert maj_at_k([0, 0, 1, 1], [True, True, False, False], 4) == 0.5


def test_maj_clear_majority_wrong_and_right():
    assert maj_at_k([0, 0, 0, 1], [False, False, False, True], 4) == 0.0
    assert maj_at_k([0, 0, 0, 1], [True, True, True, False], 4) == 1.0


def test_maj_none_and_all_answers_missing():
    assert maj_at_k([None, None, None], [False] * 3, 3) == 0.0
    assert maj_at_k([0, 0, 0], [False] * 3, 2) == 0.0
    # abstainers do not vote: one correct answer beats two missing ones
    assert maj_at_k([None, None, 0], [False, False, True], 3) == 1.0


def test_maj_subsets_hand_computed():
    # subsets of 2 from [A, A, B]: {A,A} -> 1, {A,B} -> tie 1/2, {A,B} -> 1/2  => 2/3
    assert maj_at_k([0, 0, 1], [True, True, False], 2) == pytest.approx(2 / 3)
    # maj@1 is the share of samples whose answer is correct; an abstainer scores 0
    assert maj_at_k([0, 1, None, 0], [True, False, False, True], 1) == pytest.approx(0.5)


def test_maj_two_correct_classes_tied_with_a_wrong_one():
    assert maj_at_k([0, 1, 2], [True, True, False], 3) == pytest.approx(2 / 3)


def test_maj_matches_brute_force_on_random_cases():
    rng = random.Random(7)
    for _ in range(60):
        n = rng.randint(1, 8)
        n_cls = rng.randint(1, 4)
        classes = [rng.choice([*range(n_cls), None]) for _ in range(n)]
        ok_cls = {c: rng.random() < 0.4 for c in range(n_cls)}
        correct = [bool(c is not None and ok_cls[c]) for c in classes]
        for k in range(1, n + 1):
            assert maj_at_k(classes, correct, k) == pytest.approx(_brute_maj(classes, correct, k), abs=1e-12)


def test_maj_k_out_of_range():
    with pytest.raises(ValueError, match="undefined"):
        maj_at_k([0, 0], [True, True], 3)


def test_group_answers_uses_the_judge():
    def frac_equal(a, b):
        try:
            return Fraction(a) == Fraction(b)
        except ValueError:
            return None  # undecidable counts as different

    assert group_answers(["1/2", "0.5", "3", None, " 3", "x", "x"], frac_equal) == [0, 0, 1, None, 1, 2, 2]
    assert group_answers(["1/2", "0.5"], exact_equal) == [0, 1]
    assert group_answers(["", None], exact_equal) == [None, None]


# ---------------------------------------------------------------------------------------- per benchmark
def _ps(pid, correct, extracted=None, tokens=None, truncated=None):
    n = len(correct)
    return ProblemSamples(
        pid, tuple(correct), tuple(extracted or ["1"] * n), tuple(tokens or [10] * n),
        tuple(truncated or [False] * n),
    )


def test_per_problem_scores_names_and_n_below_k():
    probs = [
        _ps("a", [True, False], ["5", "6"], [10, 30], [False, True]),
        _ps("b", [False, False], [None, "7"], [20, 20]),
    ]
    scores, skipped = per_problem_scores(probs, [1, 2, 4], exact_equal)
    assert list(scores) == ["pass@1[avg of 2]", "pass@2", "maj@2", "no_answer_rate", "truncation_rate", "mean_tokens"]
    assert scores["pass@1[avg of 2]"] == [0.5, 0.0]
    assert scores["pass@2"] == [1.0, 0.0]
    assert scores["maj@2"] == [0.5, 0.0]  # a: a 1-1 tie; b: the only vote is wrong
    assert scores["no_answer_rate"] == [0.0, 0.5]
    assert scores["truncation_rate"] == [0.5, 0.0]
    assert scores["mean_tokens"] == [20.0, 20.0]
    assert len(skipped) == 1 and "pass@4" in skipped[0] and "have 2" in skipped[0]


def test_benchmark_metrics_all_correct_and_none_correct():
    allc = benchmark_metrics([_ps(str(i), [True] * 4) for i in range(5)], [1, 4], exact_equal, seed=1)
    assert allc.primary == "pass@1[avg of 4]" and allc.n_problems == 5 and allc.n_samples == 20
    for name in ("pass@1[avg of 4]", "pass@4", "maj@4"):
        m = allc.metrics[name]
        assert (m.value, m.ci_low, m.ci_high) == (1.0, 1.0, 1.0)
    none = benchmark_metrics([_ps(str(i), [False] * 4, ["9"] * 4) for i in range(5)], [4], exact_equal)
    assert none.metrics["pass@4"].value == 0.0 and none.metrics["maj@4"].value == 0.0
    doc = none.to_dict()
    assert set(doc) == {"n_problems", "n_samples", "primary", "metrics"}
    assert set(doc["metrics"]["pass@4"]) == {"value", "ci_low", "ci_high"}


def test_bootstrap_ci_width_seed_and_bounds():
    rng = random.Random(3)
    vals = [float(rng.random() < 0.5) for _ in range(400)]
    a = bootstrap_ci({"m": vals}, samples=2000, seed=5)["m"]
    b = bootstrap_ci({"m": vals}, samples=2000, seed=5)["m"]
    c = bootstrap_ci({"m": vals}, samples=2000, seed=6)["m"]
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    assert a.value == pytest.approx(sum(vals) / len(vals))
    assert a.ci_low < a.value < a.ci_high
    se = math.sqrt(a.value * (1 - a.value) / len(vals))
    assert a.ci_high - a.ci_low == pytest.approx(2 * 1.96 * se, rel=0.15)
    narrow = bootstrap_ci({"m": vals}, samples=2000, level=0.5, seed=5)["m"]
    assert narrow.ci_high - narrow.ci_low < a.ci_high - a.ci_low
    flat = bootstrap_ci({"m": vals}, samples=0)["m"]
    assert flat.ci_low == flat.value == flat.ci_high
