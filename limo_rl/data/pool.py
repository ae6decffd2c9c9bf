"""Build a run's problem pool: load, validate, dedup, decontaminate, cut; every removal accounted for.

Steps, each recorded in ``pool_stats.json`` with how many problems it removed and why:

1. read rows from JSONL, parquet, a local dataset folder or a Hugging Face id, mapping
   fields per ``pool.fields`` (an answer may come from the last ``\\boxed{}`` of the
   solution); a malformed row stops the build (default) or is skipped, counted and listed
   in ``bad_rows.jsonl`` with its file, row and field;
2. exact dedup on normalized text, then near-dedup by shingle Jaccard (``dedup.jsonl``
   names the kept problem each removed one duplicates);
3. decontamination against the benchmarks this run evaluates on (or the recipe's list),
   ``decontamination.jsonl`` naming the benchmark item each removed problem matched;
4. ``pool.limit``: a seeded random sample of N survivors (``pool.seed``; file order kept), as
   LIMO sampled its candidate pool, never the first N rows (a file sorted by source or difficulty
   would hand the run one slice of it); cut last, so it never reintroduces what was removed.

A generated source (``source: toy``) makes its pool through its world (:func:`limo_rl.resolve.generated_source`).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from limo_rl.config import DecontaminateConfig, PoolConfig
from limo_rl.data.benchmarks import load_benchmark
from limo_rl.data.decontam import find_contaminated
from limo_rl.data.dedup import find_duplicates
from limo_rl.data.io import DataError, write_problems
from limo_rl.data.sources import FieldSpec, RowSource, iter_source, row_to_problem
from limo_rl.data.text import tokens
from limo_rl.resolve import WorldSettings, generated_source
from limo_rl.run.artifacts import atomic_write_json, atomic_write_jsonl
from limo_rl.run.layout import DECONTAMINATION, POOL_PROBLEMS, POOL_STATS
from limo_rl.types import Problem

log = logging.getLogger(__name__)


@dataclass
class PoolResult:
    problems_path: Path
    stats: dict[str, Any]
    n_problems: int = 0
    reports: dict[str, Path] = field(default_factory=dict)


def load_pool_rows(cfg: PoolConfig) -> tuple[list[Problem], list[dict[str, str]]]:
    """The pool's problems before filtering, and the skipped bad rows (``on_bad_row: skip``)."""
    generated = generated_source(cfg.source, cfg.format)
    if generated is not None:
        return generated.problems(cfg), []
    src = RowSource(cfg.source, cfg.format, cfg.split, cfg.revision)
    fm = cfg.fields
    spec = FieldSpec(question=(fm.question,), answer=fm.answer, solution=fm.solution, subject=fm.subject,
                     id=fm.id, answer_from_solution=cfg.answer_from_solution)
    problems: list[Problem] = []
    bad: list[dict[str, str]] = []
    seen: dict[str, str] = {}
    for i, row, where in iter_source(src):
        try:
            p = row_to_problem(row, where, spec, src.label, i - 1)
            if p.id in seen:
                raise DataError(f"{where}: field {fm.id!r} value {p.id!r} repeats {seen[p.id]}")
        except DataError as exc:
            if cfg.on_bad_row == "stop":
                raise
            bad.append({"where": where, "error": str(exc)})
            continue
        seen[p.id] = where
        problems.append(p)
    return problems, bad


def decontaminate(
    problems: Sequence[Problem], benchmarks: Mapping[str, Sequence[Problem]], cfg: DecontaminateConfig,
    toks: Sequence[list[str]] | None = None,
) -> tuple[list[Problem], list[dict[str, Any]], dict[str, Any]]:
    """(kept problems, report rows, stats) for ``problems`` against loaded ``benchmarks``."""
    found, idx = find_contaminated(problems, benchmarks, n=cfg.ngram, ignore_common=cfg.ignore_common,
                                   pool_tokens=toks, fields=cfg.fields)
    items = {(name, p.id): p for name, p in idx.items}
    report = [c.to_report(problems[c.index], items[(c.benchmark, c.benchmark_id)]) for c in found]
    drop = {c.index for c in found}
    stats = {
        "step": "decontaminate", "removed": len(drop), "ngram": cfg.ngram, "fields": list(cfg.fields),
        "benchmarks": {name: len(v) for name, v in sorted(benchmarks.items())},
        "by_benchmark": dict(sorted(Counter(c.benchmark for c in found).items())),
        "ignored_common_ngrams": idx.ignored, "ignore_common": cfg.ignore_common,
    }
    return [p for i, p in enumerate(problems) if i not in drop], report, stats


def load_benchmarks(
    names: Sequence[str], paths: Mapping[str, str], world: WorldSettings | None = None,
) -> dict[str, list[Problem]]:
    """Every named benchmark, or a DataError: decontamination never runs against a partial set."""
    out = {}
    for name in names:
        try:
            out[name] = load_benchmark(name, paths.get(name), world=world)
        except DataError as exc:
            raise DataError(f"decontamination needs benchmark {name!r}: {exc}") from None
    return out


def build_pool(
    cfg: PoolConfig, eval_benchmarks: list[str], eval_paths: dict[str, str], out_dir: Path,
    world: WorldSettings | None = None,
) -> PoolResult:
    """Write ``problems.jsonl`` and its reports under ``out_dir``; returns paths and per-step stats.
    ``world``: the recipe's world settings, for generated benchmarks (None: each world's defaults)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    problems, bad = load_pool_rows(cfg)
    steps: list[dict[str, Any]] = [{"step": "read", "kept": len(problems) + len(bad)}]
    steps.append({"step": "bad_rows", "removed": len(bad), "policy": cfg.on_bad_row})
    reports = {"bad_rows": atomic_write_jsonl(out_dir / "bad_rows.jsonl", bad)}

    dd = cfg.dedup
    toks = [tokens(p.question) for p in problems]  # tokenized once for dedup and decontamination
    dups = find_duplicates([p.question for p in problems], exact=dd.exact, near_threshold=dd.near_threshold,
                           shingle=dd.shingle, toks=toks)
    for kind in ("exact", "near"):
        steps.append({"step": f"{kind}_dedup", "removed": sum(d.kind == kind for d in dups)})
    reports["dedup"] = atomic_write_jsonl(out_dir / "dedup.jsonl", (
        {"problem_id": problems[d.index].id, "duplicate_of": problems[d.kept].id, "kind": d.kind,
         "similarity": round(d.similarity, 4)} for d in dups))
    drop = {d.index for d in dups}
    problems = [p for i, p in enumerate(problems) if i not in drop]
    toks = [t for i, t in enumerate(toks) if i not in drop]
    if dd.near_threshold is not None:
        steps[-1].update(threshold=dd.near_threshold, shingle=dd.shingle)

    dc = cfg.decontaminate
    report: list[dict[str, Any]] = []
    if dc.enabled:
        names = list(dc.benchmarks) if dc.benchmarks is not None else list(eval_benchmarks)
        problems, report, dstats = decontaminate(problems, load_benchmarks(names, eval_paths, world), dc, toks)
        steps.append(dstats)
    else:
        steps.append({"step": "decontaminate", "removed": 0, "disabled": True})
    reports["decontamination"] = atomic_write_jsonl(out_dir / DECONTAMINATION, report)

    if cfg.limit is not None and len(problems) > cfg.limit:
        steps.append({"step": "limit", "removed": len(problems) - cfg.limit, "limit": cfg.limit,
                      "sample": "seeded random", "seed": cfg.seed})
        picked = set(random.Random(f"limo-rl/pool-limit/{cfg.seed}").sample(range(len(problems)), cfg.limit))
        problems = [p for i, p in enumerate(problems) if i in picked]
    stats = {
        "source": cfg.source, "format": cfg.format, "split": cfg.split, "revision": cfg.revision,
        "steps": steps, "problems": len(problems), "bad_row_examples": bad[:20],
        "by_source": dict(sorted(Counter(p.source for p in problems).items())),
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    path = write_problems(out_dir / POOL_PROBLEMS, problems)
    atomic_write_json(out_dir / POOL_STATS, stats)
    log.info("pool: %d problems (%s)", len(problems),
             ", ".join(f"{s['step']} -{s['removed']}" for s in steps if "removed" in s))
    return PoolResult(problems_path=path, stats=stats, n_problems=len(problems), reports=reports)
