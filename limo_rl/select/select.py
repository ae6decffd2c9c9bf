"""Selection: from problems, chains and verdicts to the SFT set, with every cut counted.

The order follows LIMO's curation (paper v3), each step configurable:

1. optional weak-model pre-filter (drop what a weaker model already solves);
2. difficulty window on the pass rate over the k samples of each problem;
3. candidates: only chains judged correct that finished (``finish_reason != "length"``);
   a truncated chain that happens to box the right answer teaches the model not to stop;
   with ``select.process_consistent``, only chains whose process holds too (no false equality
   anywhere, no false check: a right answer reached through wrong arithmetic teaches the wrong
   arithmetic);
4. rank candidates by the strategy's score (+ recipe weights), keep the top m per problem;
5. cut to the budget (817 by default) by score, optionally round-robin across sources or
   subjects so no group crowds out the rest; ties follow the declared rule.

Outputs: ``sft.jsonl`` (chat messages with the generation system prompt, each linked to its
chain by ``chain_ref``), ``difficulty.jsonl`` (every problem's pass rate and fate) and
``stats.json`` (counts after each step, pass-rate histogram, score and length
distributions of all vs candidate vs selected chains). Pure core.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.artifacts import atomic_write_json, atomic_write_jsonl
from limo_rl.config import SelectConfig
from limo_rl.data.io import DataError, iter_rows
from limo_rl.data.static import sft_example
from limo_rl.select.difficulty import difficulty_filter, histogram, weak_filter
from limo_rl.select.strategies import check_weights, features, process_consistent, score_chain, tie_key
from limo_rl.types import Chain, Problem, SFTExample, Verdict

log = logging.getLogger(__name__)


@dataclass
class SelectionResult:
    sft_path: Path
    stats_path: Path
    n_selected: int
    stats: dict[str, Any]
    examples: list[SFTExample]


@dataclass(frozen=True)
class Ranked:
    chain: Chain
    score: float
    feats: dict[str, float]
    group: str
    key: Any


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, min, p10, p50, p90, max (nearest-rank percentiles)."""
    if not values:
        return {"count": 0, "mean": None, "min": None, "p10": None, "p50": None, "p90": None, "max": None}
    s = sorted(values)

    def pct(q: float) -> float:
        return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]

    return {"count": len(s), "mean": sum(s) / len(s), "min": s[0], "p10": pct(0.1), "p50": pct(0.5),
            "p90": pct(0.9), "max": s[-1]}


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


def run_selection(
    problems: Sequence[Problem], chains: Sequence[Chain], verdicts: Mapping[tuple[str, int], Verdict],
    cfg: SelectConfig, system_prompt: str | None, out_dir: Path, *, seed: int = 0,
    weak_verdicts: Mapping[tuple[str, int], Verdict] | None = None,
) -> SelectionResult:
    """Select the SFT set; writes ``sft.jsonl``, ``difficulty.jsonl`` and ``stats.json`` under ``out_dir``."""
    out_dir = Path(out_dir)
    seed = cfg.seed if cfg.seed is not None else seed
    by_id = {p.id: p for p in problems}
    steps: list[dict[str, Any]] = [{"step": "problems", "kept": len(by_id)}]
    ids = list(by_id)
    fate: dict[str, str] = {}
    if cfg.weak_filter.enabled:
        if weak_verdicts is None:
            raise ValueError("select.weak_filter.enabled is true but no weak-model verdicts were given")
        ids, weak_removed = weak_filter(ids, weak_verdicts, cfg.weak_filter)
        fate.update(weak_removed)
        steps.append({"step": "weak_filter", "removed": len(weak_removed), "kept": len(ids)})
    kept_ids, removed, rates = difficulty_filter(ids, verdicts, cfg.difficulty)
    fate.update(removed)
    reasons = Counter(
        r if r == "no verdicts" else ("below window" if " < " in r else "above window") for r in removed.values()
    )
    steps.append({"step": "difficulty", "removed": len(removed), "kept": len(kept_ids),
                  "reasons": dict(sorted(reasons.items()))})
    atomic_write_jsonl(out_dir / "difficulty.jsonl", (
        {"problem_id": pid, "correct": rates[pid].correct if pid in rates else 0,
         "samples": rates[pid].samples if pid in rates else 0,
         "pass_rate": rates[pid].rate if pid in rates else None,
         "kept": pid not in fate, "reason": fate.get(pid)} for pid in by_id))

    keep = set(kept_ids)
    chain_counts: Counter[str] = Counter()
    all_feats: list[dict[str, float]] = []
    cands: list[tuple[Chain, dict[str, float]]] = []
    seen: set[tuple[str, int]] = set()
    for c in chains:
        k = (c.problem_id, c.sample_index)
        if k in seen:
            raise DataError(f"chain {c.problem_id}/{c.sample_index} appears twice in the input")
        seen.add(k)
        if c.problem_id not in by_id:
            chain_counts["unknown_problem"] += 1
            continue
        v = verdicts.get(k)
        if v is not None:
            all_feats.append(features(c, v))
        if c.problem_id not in keep:
            chain_counts["problem_filtered"] += 1
        elif v is None:
            chain_counts["no_verdict"] += 1
        elif not v.correct:
            chain_counts["incorrect"] += 1
        elif c.finish_reason == "length":
            chain_counts["truncated"] += 1
        elif cfg.process_consistent and not process_consistent(v):
            chain_counts["inconsistent"] += 1
        else:
            cands.append((c, features(c, v)))
    if cfg.weights and cands:
        check_weights(cfg.weights, set.intersection(*(set(f) for _, f in cands)))
    group_of = (lambda p: str(getattr(p, cfg.balance_by) or "unknown")) if cfg.balance_by else (lambda p: "")
    ranked = [Ranked(c, s := score_chain(cfg.strategy, c, f, cfg.weights, seed), f, group_of(by_id[c.problem_id]),
                     (-s, tie_key(c, cfg.tie_break))) for c, f in cands]
    ranked.sort(key=lambda r: r.key)
    per: Counter[str] = Counter()
    top_m = []
    for r in ranked:
        if per[r.chain.problem_id] < cfg.per_problem:
            per[r.chain.problem_id] += 1
            top_m.append(r)
    selected = balanced_cut(top_m, cfg.budget, cfg.balance_by is not None)
    steps += [
        {"step": "chains", "total": len(chains), "excluded": dict(sorted(chain_counts.items())),
         "candidates": len(cands)},
        {"step": "per_problem", "removed": len(ranked) - len(top_m), "kept": len(top_m), "m": cfg.per_problem},
        {"step": "budget", "removed": len(top_m) - len(selected), "kept": len(selected), "budget": cfg.budget,
         "balance_by": cfg.balance_by},
    ]
    examples = [
        sft_example(by_id[r.chain.problem_id], r.chain.text, system_prompt,
                    ex_id=f"sel-r{r.chain.round}-{r.chain.problem_id}-{r.chain.sample_index}", source="loop",
                    chain_ref=f"{r.chain.round}/{r.chain.problem_id}/{r.chain.sample_index}", score=r.score)
        for r in selected
    ]
    sel_feats = [r.feats for r in selected]
    cand_feats = [f for _, f in cands]
    stats = {
        "strategy": cfg.strategy, "seed": seed, "tie_break": cfg.tie_break, "weights": dict(cfg.weights),
        "steps": steps, "selected": len(examples),
        "problems_with_candidates": len({c.problem_id for c, _ in cands}),
        "selected_by_group": dict(sorted(Counter(r.group for r in selected).items())) if cfg.balance_by else None,
        "pass_rate_histogram": histogram({pid: rates[pid] for pid in ids if pid in rates}),
        "distributions": {
            name: {label: summary([f[name] for f in fs]) for label, fs in
                   (("all", all_feats), ("candidates", cand_feats), ("selected", sel_feats))}
            for name in ("score", "verification_density", "n_tokens")
        },
        "selected_strategy_score": summary([r.score for r in selected]),
    }
    sft_path = atomic_write_jsonl(out_dir / "sft.jsonl", (e.to_dict() for e in examples))
    stats_path = atomic_write_json(out_dir / "stats.json", stats)
    log.info("select[%s]: %d problems -> %d in window -> %d candidate chains -> %d selected",
             cfg.strategy, len(by_id), len(kept_ids), len(cands), len(examples))
    return SelectionResult(sft_path, stats_path, len(examples), stats, examples)


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
