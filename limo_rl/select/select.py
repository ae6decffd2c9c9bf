"""Selection: from problems, chains and verdicts to the SFT set, with every cut counted.

The order follows LIMO's curation (paper v3), each step configurable:

1. optional weak-model pre-filter (drop what a weaker model already solves);
2. difficulty window on the pass rate over the k samples of each problem;
3. candidates: only chains judged correct that finished (``finish_reason != "length"``);
   a truncated chain that happens to box the right answer teaches the model not to stop;
   with ``select.process_consistent``, only chains whose process holds too, judged on the final
   attempt (no false step left uncaught: a right answer reached through wrong arithmetic teaches
   the wrong arithmetic, while an error a check caught and a redo replaced is the verification
   worth teaching); given a length rule (``fits``: the rendered conversation within ``train.max_length``,
   :class:`limo_rl.train.length.ChainLength`), only chains training will keep, so a problem whose best
   chain is too long gives its next-best one instead of losing its example at training;
4. rank candidates by the strategy's score (+ recipe weights), keep the top m distinct chains per problem
   (an identical text sampled twice is one chain: m copies of it would teach nothing m chains do not);
5. cut to the budget (817 by default) by score, optionally round-robin across sources or
   subjects so no group crowds out the rest; ties follow the declared rule.

Outputs: ``sft.jsonl`` (chat messages with the generation system prompt, each linked to its
chain by ``chain_ref``), ``difficulty.jsonl`` (every problem's pass rate and fate) and
``stats.json`` (counts after each step, pass-rate histogram, score and length
distributions of all vs candidate vs selected chains). Pure core.

The work is done problem by problem (:class:`Selection`): a problem's chains and verdicts come
in, its difficulty row goes out, and only its best ``per_problem`` candidates survive, in
bounded heaps of ``budget`` entries (one per group when balancing) that keep no chain text.
So the same core serves :func:`run_selection` (everything in memory, for small sets and tests)
and :func:`limo_rl.select.stream.select_from_shards` (one pass over chain and verdict shards,
driver memory bounded by a shard): the texts of the few selected chains are fetched at the end.
Percentiles in ``stats.json`` are exact up to 10,000 values per distribution and from a seeded
uniform reservoir beyond that (``"approximate": true``); counts, means, min and max stay exact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import logging
import random
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from limo_rl.config import SelectConfig
from limo_rl.data.io import DataError, iter_rows
from limo_rl.data.static import sft_example
from limo_rl.run.artifacts import atomic_output, atomic_write_json, atomic_write_jsonl
from limo_rl.run.layout import DIFFICULTY, SFT, STAGE_STATS
from limo_rl.select.difficulty import PassRate, in_window, pass_rates
from limo_rl.select.strategies import check_weights, features, process_consistent, score_chain, tie_key
from limo_rl.types import Chain, ChainRef, Problem, SFTExample, Verdict

log = logging.getLogger(__name__)
EXACT_VALUES = 10_000  # values kept per distribution before percentiles come from a reservoir


@dataclass
class SelectionResult:
    sft_path: Path
    stats_path: Path
    n_selected: int
    stats: dict[str, Any]
    examples: list[SFTExample]


@dataclass(frozen=True)
class Ranked:
    chain: Chain  # text stripped: the selected texts are fetched at the end
    score: float
    feats: dict[str, float]
    group: str
    key: Any
    where: Any = None  # where the chain's text lives (a shard path), for the fetch


@dataclass
class ProblemGroup:
    """One problem's chains and verdicts. ``group`` None: a problem id not in the problems file."""

    problem_id: str
    group: str | None
    chains: Sequence[Chain]
    verdicts: Mapping[int, Verdict]  # sample_index -> verdict
    where: Any = None


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, min, p10, p50, p90, max (nearest-rank percentiles)."""
    d = Distribution()
    for v in values:
        d.add(v)
    return d.summary()


class Distribution:
    """count/mean/min/max exactly; percentiles exact up to ``cap`` values, then from a seeded reservoir."""

    def __init__(self, cap: int = EXACT_VALUES, seed: int = 0):
        self.cap, self.rng = cap, random.Random(seed)
        self.values = array("d")
        self.n, self.total, self.lo, self.hi = 0, 0.0, float("inf"), float("-inf")

    def add(self, x: float) -> None:
        self.n += 1
        self.total += x
        self.lo, self.hi = min(self.lo, x), max(self.hi, x)
        if len(self.values) < self.cap:
            self.values.append(x)
        elif (j := self.rng.randrange(self.n)) < self.cap:
            self.values[j] = x

    def summary(self) -> dict[str, Any]:
        if not self.n:
            return {"count": 0, "mean": None, "min": None, "p10": None, "p50": None, "p90": None, "max": None}
        s = sorted(self.values)

        def pct(q: float) -> float:
            return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]

        out = {"count": self.n, "mean": self.total / self.n, "min": self.lo, "p10": pct(0.1), "p50": pct(0.5),
               "p90": pct(0.9), "max": self.hi}
        if self.n > len(s):
            out["approximate"] = True
        return out


class _Worst:
    """Heap order reversed: the heap top is the worst kept entry (largest key)."""

    __slots__ = ("r",)

    def __init__(self, r: Ranked):
        self.r = r

    def __lt__(self, other: _Worst) -> bool:
        return self.r.key > other.r.key


def balanced_cut(ranked: Sequence[Ranked], budget: int, balance: bool) -> list[Ranked]:
    """The best ``budget`` of ``ranked`` (already sorted best first); round-robin over groups if ``balance``."""
    if not balance:
        return list(ranked[:budget])
    queues: dict[str, list[Ranked]] = {}
    for r in ranked:
        queues.setdefault(r.group, []).append(r)
    order = sorted(queues)
    out: list[Ranked] = []
    pos = dict.fromkeys(order, 0)
    while len(out) < budget and any(pos[g] < len(queues[g]) for g in order):
        for g in order:
            if len(out) >= budget:
                break
            if pos[g] < len(queues[g]):
                out.append(queues[g][pos[g]])
                pos[g] += 1
    return sorted(out, key=lambda r: r.key)


_FEATS = ("score", "verification_density", "n_tokens")


class Selection:
    """The selection, fed one problem at a time; memory: the heaps (``budget`` per group) and counters."""

    def __init__(self, cfg: SelectConfig, seed: int, weak_rates: Mapping[str, PassRate] | None,
                 difficulty_out: TextIO | None = None, fits: Callable[[str, str], bool] | None = None):
        self.cfg, self.seed, self.weak_rates, self.out = cfg, seed, weak_rates, difficulty_out
        self.fits = fits  # (problem id, chain text) -> whether training keeps it; None: no length rule
        self.n_problems = self.weak_removed = self.diff_kept = self.n_chains = 0
        self.n_cands = self.n_top = self.with_cands = self.duplicates = 0
        self.reasons: Counter[str] = Counter()
        self.chain_counts: Counter[str] = Counter()
        self.hist, self.by_correct = [0] * 10, Counter()
        self.dists = {(f, lab): Distribution(seed=i) for i, (f, lab) in
                      enumerate((f, lab) for f in _FEATS for lab in ("all", "candidates"))}
        self.heaps: dict[str, list[_Worst]] = {}
        self.feature_names: set[str] | None = None

    def _fate(self, g: ProblemGroup) -> str | None:
        """Why a problem's chains are all left out (weak filter, difficulty window), or None; counted, and its
        line written to ``difficulty.jsonl``."""
        cfg = self.cfg
        fate = None
        wr = self.weak_rates.get(g.problem_id) if self.weak_rates is not None else None
        if wr is not None and wr.rate > cfg.weak_filter.max_pass_rate:
            fate = f"weak model pass rate {wr.rate:.3f} > {cfg.weak_filter.max_pass_rate}"
            self.weak_removed += 1
        pr = None
        if g.verdicts:
            pr = PassRate(sum(bool(v.correct) for v in g.verdicts.values()), len(g.verdicts))
        if fate is None:
            if pr is not None:
                self.hist[min(int(pr.rate * 10), 9)] += 1
                self.by_correct[pr.correct] += 1
            fate = "no verdicts" if pr is None else in_window(pr, cfg.difficulty)
            if fate is None:
                self.diff_kept += 1
            else:
                self.reasons["no verdicts" if fate == "no verdicts" else
                             ("below window" if " < " in fate else "above window")] += 1
        if self.out is not None:
            self.out.write(json.dumps({
                "problem_id": g.problem_id, "correct": pr.correct if pr else 0, "samples": pr.samples if pr else 0,
                "pass_rate": pr.rate if pr else None, "kept": fate is None, "reason": fate}) + "\n")
        return fate

    def add(self, g: ProblemGroup) -> None:
        cfg = self.cfg
        self.n_chains += len(g.chains)
        if g.group is None:
            self.chain_counts["unknown_problem"] += len(g.chains)
            return
        self.n_problems += 1
        fate = self._fate(g)
        cands = []
        for c in g.chains:
            v = g.verdicts.get(c.sample_index)
            if v is not None:
                f = features(c, v)
                for name in _FEATS:
                    self.dists[(name, "all")].add(f[name])
            if fate is not None:
                self.chain_counts["problem_filtered"] += 1
            elif v is None:
                self.chain_counts["no_verdict"] += 1
            elif not v.correct:
                self.chain_counts["incorrect"] += 1
            elif c.finish_reason == "length":
                self.chain_counts["truncated"] += 1
            elif cfg.process_consistent and not process_consistent(v):
                self.chain_counts["inconsistent"] += 1
            elif self.fits is not None and not self.fits(g.problem_id, c.text):
                self.chain_counts["over_length"] += 1
            else:
                cands.append((c, f))
        if not cands:
            return
        self.with_cands += 1
        self.n_cands += len(cands)
        ranked = []
        for c, f in cands:
            for name in _FEATS:
                self.dists[(name, "candidates")].add(f[name])
            keys = set(f)
            self.feature_names = keys if self.feature_names is None else self.feature_names & keys
            s = score_chain(cfg.strategy, c, f, cfg.weights, self.seed)
            kept = {name: f[name] for name in _FEATS}  # a heap entry keeps what the stats need, no text
            ranked.append((Ranked(dataclasses.replace(c, text=""), s, kept, g.group,
                                  (-s, tie_key(c, cfg.tie_break)), g.where),
                           hashlib.blake2b(c.text.encode("utf-8"), digest_size=16).digest()))
        ranked.sort(key=lambda rt: rt[0].key)
        taken: set[bytes] = set()  # the m chains kept for a problem are distinct texts
        top = []
        for r, digest in ranked:
            if digest in taken:
                self.duplicates += 1
            elif len(top) < cfg.per_problem:
                taken.add(digest)
                top.append(r)
        for r in top:
            self.n_top += 1
            heap = self.heaps.setdefault(r.group if cfg.balance_by else "", [])
            if len(heap) < cfg.budget:
                heapq.heappush(heap, _Worst(r))
            elif r.key < heap[0].r.key:
                heapq.heapreplace(heap, _Worst(r))

    def finish(self, problems: Callable[[set[str]], Mapping[str, Problem]],
               texts: Callable[[Sequence[Ranked]], Mapping[tuple[str, int], str]],
               system_prompt: str | None, out_dir: Path) -> SelectionResult:
        cfg = self.cfg
        if cfg.weights and self.feature_names is not None:
            check_weights(cfg.weights, self.feature_names)
        top = sorted((w.r for h in self.heaps.values() for w in h), key=lambda r: r.key)
        selected = balanced_cut(top, cfg.budget, cfg.balance_by is not None)
        by_id = problems({r.chain.problem_id for r in selected})
        text = texts(selected)
        examples = [
            sft_example(by_id[r.chain.problem_id], text[(r.chain.problem_id, r.chain.sample_index)], system_prompt,
                        ex_id=f"sel-r{r.chain.round}-{r.chain.problem_id}-{r.chain.sample_index}", source="loop",
                        chain_ref=str(ChainRef.of(r.chain)), score=r.score)
            for r in selected
        ]
        steps: list[dict[str, Any]] = [{"step": "problems", "kept": self.n_problems}]
        after_weak = self.n_problems - self.weak_removed
        if cfg.weak_filter.enabled:
            steps.append({"step": "weak_filter", "removed": self.weak_removed, "kept": after_weak})
        steps += [
            {"step": "difficulty", "removed": after_weak - self.diff_kept, "kept": self.diff_kept,
             "reasons": dict(sorted(self.reasons.items()))},
            {"step": "chains", "total": self.n_chains, "excluded": dict(sorted(self.chain_counts.items())),
             "candidates": self.n_cands},
            {"step": "per_problem", "removed": self.n_cands - self.n_top, "kept": self.n_top, "m": cfg.per_problem,
             "duplicates": self.duplicates},
            {"step": "budget", "removed": self.n_top - len(selected), "kept": len(selected), "budget": cfg.budget,
             "balance_by": cfg.balance_by},
        ]
        bound = self.n_top > cfg.budget
        if not bound:
            log.warning("select: the budget did not bind: %d chains passed every filter, budget %d; a budget "
                        "ablation at or above %d trains on this same set", self.n_top, cfg.budget, self.n_top)
        sel_dist = {name: summary([r.feats[name] for r in selected]) for name in _FEATS}
        stats = {
            "strategy": cfg.strategy, "seed": self.seed, "tie_break": cfg.tie_break, "weights": dict(cfg.weights),
            "steps": steps, "selected": len(examples), "budget_bound": bound,
            "problems_with_candidates": self.with_cands,
            "selected_by_group": dict(sorted(Counter(r.group for r in selected).items())) if cfg.balance_by else None,
            "pass_rate_histogram": {"edges": [i / 10 for i in range(11)], "counts": list(self.hist),
                                    "by_correct": {str(k): self.by_correct[k] for k in sorted(self.by_correct)}},
            "distributions": {name: {"all": self.dists[(name, "all")].summary(),
                                     "candidates": self.dists[(name, "candidates")].summary(),
                                     "selected": sel_dist[name]} for name in _FEATS},
            "selected_strategy_score": summary([r.score for r in selected]),
        }
        sft_path = atomic_write_jsonl(out_dir / SFT, (e.to_dict() for e in examples))
        stats_path = atomic_write_json(out_dir / STAGE_STATS, stats)
        log.info("select[%s]: %d problems -> %d in window -> %d candidate chains -> %d selected",
                 cfg.strategy, self.n_problems, self.diff_kept, self.n_cands, len(examples))
        return SelectionResult(sft_path, stats_path, len(examples), stats, examples)


def run_groups(groups: Iterable[ProblemGroup], cfg: SelectConfig, system_prompt: str | None, out_dir: Path, *,
               seed: int, weak_rates: Mapping[str, PassRate] | None,
               problems: Callable[[set[str]], Mapping[str, Problem]],
               texts: Callable[[Sequence[Ranked]], Mapping[tuple[str, int], str]],
               fits: Callable[[str, str], bool] | None = None) -> SelectionResult:
    """Feed ``groups`` (every known problem once, in the order difficulty.jsonl lists them) and finish;
    ``fits``: the length rule (chains training would drop are passed over)."""
    out_dir = Path(out_dir)
    if cfg.weak_filter.enabled and weak_rates is None:
        raise ValueError("select.weak_filter.enabled is true but no weak-model verdicts were given")
    with atomic_output(out_dir / DIFFICULTY) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        sel = Selection(cfg, seed, weak_rates if cfg.weak_filter.enabled else None, fh, fits)
        for g in groups:
            sel.add(g)
        result = sel.finish(problems, texts, system_prompt, out_dir)
    return result


def run_selection(
    problems: Sequence[Problem], chains: Sequence[Chain], verdicts: Mapping[tuple[str, int], Verdict],
    cfg: SelectConfig, system_prompt: str | None, out_dir: Path, *, seed: int = 0,
    weak_verdicts: Mapping[tuple[str, int], Verdict] | None = None, fits: Callable[[str, str], bool] | None = None,
) -> SelectionResult:
    """Select the SFT set from data in memory; writes ``sft.jsonl``, ``difficulty.jsonl`` and ``stats.json``."""
    seed = cfg.seed if cfg.seed is not None else seed
    by_id = {p.id: p for p in problems}
    chains_by: dict[str, list[Chain]] = {}
    text: dict[tuple[str, int], str] = {}
    for c in chains:
        k = (c.problem_id, c.sample_index)
        if k in text:
            raise DataError(f"chain {c.problem_id}/{c.sample_index} appears twice in the input")
        text[k] = c.text
        chains_by.setdefault(c.problem_id, []).append(c)
    verdicts_by: dict[str, dict[int, Verdict]] = {}
    for (pid, idx), v in verdicts.items():
        verdicts_by.setdefault(pid, {})[idx] = v
    group_of = (lambda p: str(getattr(p, cfg.balance_by) or "unknown")) if cfg.balance_by else (lambda p: "")

    def groups() -> Iterable[ProblemGroup]:
        for pid, p in by_id.items():
            yield ProblemGroup(pid, group_of(p), chains_by.get(pid, []), verdicts_by.get(pid, {}))
        for pid, cs in chains_by.items():
            if pid not in by_id:
                yield ProblemGroup(pid, None, cs, {})

    weak = pass_rates(by_id, weak_verdicts) if weak_verdicts is not None else None
    return run_groups(groups(), cfg, system_prompt, out_dir, seed=seed, weak_rates=weak,
                      problems=lambda ids: by_id, texts=lambda rs: text, fits=fits)


def read_sft(path: str | Path) -> list[SFTExample]:
    """An SFT set (JSONL or parquet of SFTExample rows); malformed rows raise DataError naming file and row."""
    out = []
    for i, row in iter_rows(path):
        if not isinstance(row, dict) or not isinstance(row.get("messages"), list) or not row.get("id"):
            raise DataError(f"{path}:{i}: expected an SFT example with fields 'id' and 'messages'")
        try:
            out.append(SFTExample.from_dict(row))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}:{i}: {exc}") from None
    return out
