"""Difficulty filter: keep problems whose pass rate over k samples lies in a window.

LIMO (paper v3) first drops problems a weaker model solves, then samples a strong model
32 times and keeps problems it solves only 1-3 times (``min_correct``/``max_correct``);
open-r1's default window is a pass rate of 0.1-0.9 (``min_pass_rate``/``max_pass_rate``).
Both forms are supported and combine (a problem must satisfy every bound given). A problem
with no verdicts has no pass rate and is removed with that reason, never silently.

Pure core: standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from limo_rl.config import DifficultyConfig, WeakFilterConfig
from limo_rl.types import Verdict


@dataclass(frozen=True)
class PassRate:
    correct: int
    samples: int

    @property
    def rate(self) -> float:
        return self.correct / self.samples if self.samples else 0.0


def pass_rates(problem_ids: Iterable[str],
               verdicts: Mapping[tuple[str, int], Verdict] | Iterable[tuple[tuple[str, int], Verdict]],
               ) -> dict[str, PassRate]:
    """Correct / sampled per problem id (only ids with at least one verdict appear).

    ``verdicts`` is a mapping or a stream of its items (a verdict file read row by row)."""
    wanted = problem_ids if isinstance(problem_ids, (set, frozenset, Mapping)) else set(problem_ids)
    counts: dict[str, list[int]] = {}
    for (pid, _), v in (verdicts.items() if isinstance(verdicts, Mapping) else verdicts):
        if pid in wanted:
            c = counts.setdefault(pid, [0, 0])
            c[0] += bool(v.correct)
            c[1] += 1
    return {pid: PassRate(c, n) for pid, (c, n) in counts.items()}


def in_window(pr: PassRate, cfg: DifficultyConfig) -> str | None:
    """None if kept, else the reason it is removed."""
    if pr.rate < cfg.min_pass_rate:
        return f"pass rate {pr.rate:.3f} < min_pass_rate {cfg.min_pass_rate}"
    if pr.rate > cfg.max_pass_rate:
        return f"pass rate {pr.rate:.3f} > max_pass_rate {cfg.max_pass_rate}"
    if cfg.min_correct is not None and pr.correct < cfg.min_correct:
        return f"{pr.correct} correct < min_correct {cfg.min_correct}"
    if cfg.max_correct is not None and pr.correct > cfg.max_correct:
        return f"{pr.correct} correct > max_correct {cfg.max_correct}"
    return None


def difficulty_filter(
    problem_ids: Iterable[str], verdicts: Mapping[tuple[str, int], Verdict], cfg: DifficultyConfig,
) -> tuple[list[str], dict[str, str], dict[str, PassRate]]:
    """(kept ids in input order, removed id -> reason, pass rates)."""
    ids = list(problem_ids)
    rates = pass_rates(ids, verdicts)
    kept, removed = [], {}
    for pid in ids:
        pr = rates.get(pid)
        reason = "no verdicts" if pr is None else in_window(pr, cfg)
        if reason is None:
            kept.append(pid)
        else:
            removed[pid] = reason
    return kept, removed, rates


def weak_filter(
    problem_ids: Iterable[str], weak_verdicts: Mapping[tuple[str, int], Verdict], cfg: WeakFilterConfig,
) -> tuple[list[str], dict[str, str]]:
    """LIMO's first stage: drop problems the weaker model solves above ``cfg.max_pass_rate``.

    A problem the weak model was never run on is kept (there is no evidence it is easy) and
    counted under ``"weak: no verdicts"`` by the caller's stats.
    """
    ids = list(problem_ids)
    rates = pass_rates(ids, weak_verdicts)
    kept, removed = [], {}
    for pid in ids:
        pr = rates.get(pid)
        if pr is not None and pr.rate > cfg.max_pass_rate:
            removed[pid] = f"weak model pass rate {pr.rate:.3f} > {cfg.max_pass_rate}"
        else:
            kept.append(pid)
    return kept, removed


def histogram(rates: Mapping[str, PassRate], bins: int = 10) -> dict[str, object]:
    """Pass-rate histogram (``bins`` equal bins on [0, 1], the last closed) and counts by number correct."""
    edges = [i / bins for i in range(bins + 1)]
    counts = [0] * bins
    by_correct: dict[int, int] = {}
    for pr in rates.values():
        counts[min(int(pr.rate * bins), bins - 1)] += 1
        by_correct[pr.correct] = by_correct.get(pr.correct, 0) + 1
    return {"edges": edges, "counts": counts, "by_correct": {str(k): by_correct[k] for k in sorted(by_correct)}}
