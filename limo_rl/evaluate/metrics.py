"""Exact evaluation metrics: pass@1 averaged over n samples, unbiased pass@k, maj@k, bootstrap CIs.

Why these estimators:

* ``pass@k`` follows Chen et al. (2021), "Evaluating Large Language Models Trained on Code",
  eq. 1: with n samples of which c are correct, ``1 - C(n-c, k) / C(n, k)`` is the unbiased
  estimate of the chance that at least one of k fresh samples is correct. It is undefined
  for k > n (there is no unbiased estimate), so it is reported only where every problem has
  at least k samples. ``pass@1`` is then exactly the mean correctness over the n samples,
  which we name ``pass@1[avg of n]`` (LIMO's AIME24/AMC23 protocol); LIMO's evaluation
  script printed pass@n under the name "Acc", which we never do.
* ``maj@k`` is majority voting over the extracted answers (self-consistency, Wang et al.
  2022). Answers are grouped into classes with an ``equal(a, b)`` judge (the verifier's, so
  ``1/2`` and ``0.5`` vote together). A sample without an answer abstains. For k < n we
  report the exact expectation over all size-k subsets of the n samples (the same
  subset-averaging idea that makes pass@k unbiased), computed by a small dynamic program
  over class counts rather than by sampling. A tie between the top classes is broken
  uniformly at random *in expectation*: a correct class tied with t others earns 1/(t+1).
* Confidence intervals are percentile bootstrap intervals over problems (the unit that
  varies between benchmarks), with a seeded generator; all metrics of a benchmark share
  the same resamples.

Pure core: standard library and numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

EqualFn = Callable[[str, str], "bool | None"]


# ---------------------------------------------------------------------------------------- pass@k
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021) for one problem with ``n`` samples, ``c`` correct."""
    if n < 1 or k < 1:
        raise ValueError(f"pass@k needs n >= 1 and k >= 1, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if k > n:
        raise ValueError(f"pass@{k} is undefined with only n={n} samples (needs k <= n)")
    if n - c < k:
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k/i): numerically stable for large n (Chen et al.'s form).
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_correct(correct: Sequence[bool]) -> float:
    """pass@1 as the mean over a problem's n samples."""
    if not correct:
        raise ValueError("no samples")
    return sum(1 for x in correct if x) / len(correct)


# ---------------------------------------------------------------------------------------- maj@k
def group_answers(answers: Sequence[str | None], equal: EqualFn) -> list[int | None]:
    """Class index per answer (None for a missing answer); ``equal`` returning None counts as different.

    Identical strings are grouped without asking ``equal``; otherwise each answer is compared
    with the first member of every existing class, in order, and joins the first that matches.
    """
    reps: list[str] = []
    by_text: dict[str, int] = {}
    out: list[int | None] = []
    for ans in answers:
        if ans is None or not str(ans).strip():
            out.append(None)
            continue
        ans = str(ans).strip()
        if ans in by_text:
            out.append(by_text[ans])
            continue
        cls = next((i for i, rep in enumerate(reps) if equal(rep, ans) is True), None)
        if cls is None:
            cls = len(reps)
            reps.append(ans)
        by_text[ans] = cls
        out.append(cls)
    return out


def maj_at_k(classes: Sequence[int | None], correct: Sequence[bool], k: int) -> float:
    """Expected majority-vote correctness over all size-k subsets of the n samples.

    ``classes[i]`` is sample i's answer class (None: no answer, it abstains) and
    ``correct[i]`` its verdict; a class is correct when its first member is. With k == n
    this is the plain vote over all samples; ties earn 1/(number of tied classes).
    """
    n = len(classes)
    if len(correct) != n:
        raise ValueError(f"maj@k: {n} classes but {len(correct)} verdicts")
    if k < 1 or k > n:
        raise ValueError(f"maj@{k} is undefined with n={n} samples (needs 1 <= k <= n)")
    counts: dict[int, int] = {}
    class_correct: dict[int, bool] = {}
    abstain = 0
    for cls, ok in zip(classes, correct, strict=True):
        if cls is None:
            abstain += 1
            continue
        counts[cls] = counts.get(cls, 0) + 1
        class_correct.setdefault(cls, bool(ok))
    targets = [c for c in counts if class_correct[c]]
    if not targets:
        return 0.0
    if k == n:  # the whole set votes: no subsets to average over
        top = max(counts.values())
        tied = [c for c, m in counts.items() if m == top]
        return sum(1 for c in tied if class_correct[c]) / len(tied)
    total = 0.0
    for target in targets:
        others = [m for c, m in counts.items() if c != target]
        m_t = counts[target]
        for v in range(1, min(m_t, k) + 1):
            ways_t = math.comb(m_t, v)
            by_ties = _ways_others_at_most(others, abstain, v, k - v)
            total += sum(ways_t * w / (t + 1) for t, w in enumerate(by_ties))
    return total / math.comb(n, k)


def _ways_others_at_most(others: Sequence[int], abstain: int, v: int, need: int) -> list[int]:
    """Ways to pick ``need`` samples from the other classes (each at most v) and the abstainers.

    Returns counts indexed by t, the number of other classes picked exactly v times.
    """
    # dp[s][t]: ways using s samples so far with t classes at exactly v.
    dp = [[0] * (len(others) + 1) for _ in range(need + 1)]
    for a in range(min(abstain, need) + 1):
        dp[a][0] = math.comb(abstain, a)
    for m in others:
        new = [[0] * (len(others) + 1) for _ in range(need + 1)]
        for s in range(need + 1):
            row = dp[s]
            for t, w in enumerate(row):
                if not w:
                    continue
                for x in range(min(m, v, need - s) + 1):
                    new[s + x][t + (x == v)] += w * math.comb(m, x)
        dp = new
    return dp[need]


# ---------------------------------------------------------------------------------------- per benchmark
@dataclass(frozen=True)
class ProblemSamples:
    """One problem's graded samples, as the metrics need them."""

    problem_id: str
    correct: tuple[bool, ...]
    extracted: tuple[str | None, ...]
    n_tokens: tuple[int, ...]
    truncated: tuple[bool, ...]

    def __post_init__(self) -> None:
        n = len(self.correct)
        if n == 0:
            raise ValueError(f"problem {self.problem_id!r}: no samples")
        if not (len(self.extracted) == len(self.n_tokens) == len(self.truncated) == n):
            raise ValueError(f"problem {self.problem_id!r}: per-sample fields differ in length")


@dataclass
class MetricValue:
    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass
class BenchmarkMetrics:
    n_problems: int
    n_samples: int
    primary: str
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_problems": self.n_problems,
            "n_samples": self.n_samples,
            "primary": self.primary,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }
        if self.skipped:
            out["skipped"] = list(self.skipped)
        return out


def primary_name(n: int) -> str:
    return f"pass@1[avg of {n}]"


def per_problem_scores(
    problems: Sequence[ProblemSamples], ks: Sequence[int], equal: EqualFn
) -> tuple[dict[str, list[float]], list[str]]:
    """Metric name -> one score per problem (same order), and the metrics skipped with why."""
    if not problems:
        raise ValueError("no problems to score")
    n_min = min(len(p.correct) for p in problems)
    n_max = max(len(p.correct) for p in problems)
    n_name = n_min if n_min == n_max else f"{n_min}-{n_max}"
    scores: dict[str, list[float]] = {f"pass@1[avg of {n_name}]": [mean_correct(p.correct) for p in problems]}
    skipped: list[str] = []
    ks = sorted({int(k) for k in ks})
    for k in ks:
        if k < 2:
            continue
        if k > n_min:
            skipped.append(f"pass@{k}, maj@{k}: need at least {k} samples per problem, have {n_min}")
            continue
        scores[f"pass@{k}"] = [pass_at_k(len(p.correct), sum(p.correct), k) for p in problems]
    groups = [group_answers(p.extracted, equal) for p in problems]
    for k in ks:
        if k < 2 or k > n_min:
            continue
        scores[f"maj@{k}"] = [maj_at_k(g, p.correct, k) for g, p in zip(groups, problems, strict=True)]
    scores["no_answer_rate"] = [sum(1 for e in p.extracted if e is None) / len(p.extracted) for p in problems]
    scores["truncation_rate"] = [sum(p.truncated) / len(p.truncated) for p in problems]
    scores["mean_tokens"] = [sum(p.n_tokens) / len(p.n_tokens) for p in problems]
    return scores, skipped


def bootstrap_ci(
    scores: Mapping[str, Sequence[float]], *, samples: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, MetricValue]:
    """Mean of each metric over problems with a percentile bootstrap CI (problems resampled, shared draws).

    ``samples=0`` gives a degenerate interval at the mean (no bootstrap).
    """
    import numpy as np

    names = list(scores)
    if not names:
        return {}
    table = np.asarray([list(scores[name]) for name in names], dtype=float)  # metrics x problems
    n_prob = table.shape[1]
    if n_prob == 0:
        raise ValueError("bootstrap_ci: no problems")
    means = table.mean(axis=1)
    if samples <= 0 or n_prob == 1:
        return {name: MetricValue(float(m), float(m), float(m)) for name, m in zip(names, means, strict=True)}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_prob, size=(samples, n_prob))
    boot = table[:, idx].mean(axis=2)  # metrics x samples
    alpha = (1.0 - level) / 2.0
    lo = np.quantile(boot, alpha, axis=1)
    hi = np.quantile(boot, 1.0 - alpha, axis=1)
    return {
        name: MetricValue(float(m), float(min(lo_i, m)), float(max(hi_i, m)))
        for name, m, lo_i, hi_i in zip(names, means, lo, hi, strict=True)
    }


def benchmark_metrics(
    problems: Sequence[ProblemSamples],
    ks: Sequence[int],
    equal: EqualFn,
    *,
    bootstrap_samples: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
) -> BenchmarkMetrics:
    """Every metric of one benchmark with its bootstrap CI."""
    scores, skipped = per_problem_scores(problems, ks, equal)
    values = bootstrap_ci(scores, samples=bootstrap_samples, level=ci_level, seed=seed)
    primary = next(iter(scores))
    return BenchmarkMetrics(
        n_problems=len(problems),
        n_samples=sum(len(p.correct) for p in problems),
        primary=primary,
        metrics=values,
        skipped=skipped,
    )


def exact_equal(a: str, b: str) -> bool:
    """The string-identity judge (for callers without a verifier at hand)."""
    return a.strip() == b.strip()
