"""What a run shares: cards beside each SFT set and student, a W&B table of chains, artifacts.

The driver calls these after the stages it runs; each reads the stage's files, so a card or a
table shows what is on disk, never a figure held only in memory.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from limo_rl.data.io import iter_problems
from limo_rl.generate.shards import read_shard, shard_files
from limo_rl.hub.cards import TRAIN_KEYS, evaluation_results, write_dataset_card, write_model_card
from limo_rl.run.artifacts import read_jsonl
from limo_rl.run.layout import SFT
from limo_rl.run.provenance import package_versions
from limo_rl.run.readers import read_train_metrics
from limo_rl.types import ChainRef
from limo_rl.verify.stage import iter_verdict_objects

log = logging.getLogger(__name__)
TABLE_ROWS = 64  # sample chains per table: half selected, half rejected (as many as there are)


def provenance(run_dir: Path, manifest: dict[str, Any], stage_key: str, seed: int, rnd: int | None) -> dict[str, Any]:
    git = manifest.get("git") or {}
    return {"run": run_dir.name, "stage": stage_key, "seed": seed, "round": rnd,
            "recipe_hash": manifest.get("config_hash"), "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"), "limo_rl": (manifest.get("packages") or {}).get("limo_rl")}


def sft_card(sft_dir: Path, recipe: Any, prov: dict[str, Any], teacher: str | None,
             verdicts_path: Path | None, static: bool = False) -> Path:
    """Parquet + dataset card for one SFT set (loop round or static arm)."""
    rows = read_jsonl(sft_dir / SFT)
    counts: dict[str, Any] = {"examples": len(rows), "problems": len({r.get("problem_id") for r in rows})}
    grader: dict[str, Any] | None = None
    if verdicts_path is not None and verdicts_path.exists():  # a verdicts file or a folder of verdict shards
        graded = correct = 0
        version = None
        for _, v in iter_verdict_objects(verdicts_path):
            graded += 1
            correct += bool(v.get("correct"))
            version = version or v.get("grader_version")
        counts["chains_graded"], counts["chains_correct"] = graded, correct
        grader = {"name": "limo_rl.verify", "version": version,
                  "math_verify": package_versions(("math-verify",)).get("math-verify"),
                  "config": recipe.verify.model_dump(mode="json")}
    where = f"static arm, seed {prov['seed']}" if static else f"loop round {prov['round']}, seed {prov['seed']}"
    info = {
        "title": f"limo_rl SFT set: {prov['run']} ({where})",
        "provenance": prov,
        "teacher": teacher,
        "grader": grader,
        "selection": (recipe.loop.static.model_dump(mode="json") if static
                      else recipe.select.model_dump(mode="json")),
        "pool": None if static else {k: getattr(recipe.pool, k) for k in ("source", "split", "revision")},
        "counts": counts,
    }
    if static:
        info["selection"] = {"strategy": f"static set {recipe.loop.static.source}", **info["selection"]}
    return write_dataset_card(sft_dir, info)


def student_card(model_dir: Path, recipe: Any, prov: dict[str, Any], sft_files: Sequence[Path],
                 eval_dir: Path | None, label: str, run_dir: Path) -> Path | None:
    tm = read_train_metrics(model_dir.parent) or {}
    info = {
        "title": f"limo_rl student: {prov['run']} ({label.replace('/', ' ')})",
        "base_model": recipe.train.model,
        "datasets": [str(f.parent.relative_to(run_dir)) if f.parent.is_relative_to(run_dir) else str(f.parent)
                     for f in sft_files],
        "training": recipe.train.model_dump(mode="json"),
        "train_metrics": {k: tm[k] for k in TRAIN_KEYS if tm.get(k) is not None},
        "evaluation": evaluation_results(eval_dir) if eval_dir is not None else {},
        "provenance": prov,
    }
    return write_model_card(model_dir, info)


def chains_table(tracker: Any, verdicts_path: Path, sft_path: Path, chains_dir: Path, seed: int,
                 problems_path: Path | None = None) -> None:
    """A W&B table of sample chains: selected and rejected, with the question and gold answer, verdict,
    density and check kinds.

    Streams: a seeded reservoir of verdict rows per class (selected / rejected), then one pass over the
    chain shards for the texts of the few sampled chains (and one over the problems for their questions),
    so memory does not grow with the pool."""
    if tracker is None:
        return
    selected = {ref.key for r in read_jsonl(sft_path) if (ref := ChainRef.parse(r.get("chain_ref", ""))) is not None}
    rng = random.Random(seed)
    half = TABLE_ROWS // 2
    kept: dict[bool, list[tuple[tuple[str, int], dict]]] = {True: [], False: []}
    seen = {True: 0, False: 0}
    for _, v in iter_verdict_objects(verdicts_path):
        key = (str(v.get("problem_id")), int(v.get("sample_index", -1)))
        cls = key in selected
        seen[cls] += 1
        if len(kept[cls]) < half:
            kept[cls].append((key, v))
        elif (j := rng.randrange(seen[cls])) < half:
            kept[cls][j] = (key, v)
    wanted = {k for rows in kept.values() for k, _ in rows}
    texts: dict[tuple[str, int], tuple[int, str]] = {}
    for shard in shard_files(chains_dir):
        for c in read_shard(shard):
            if (c.problem_id, c.sample_index) in wanted:
                texts[(c.problem_id, c.sample_index)] = (c.n_tokens, c.text[:2000])
    problems = _questions(problems_path, {k[0] for k in wanted}) if problems_path is not None else {}
    sample = []
    for cls in (True, False):
        for key, v in kept[cls]:
            if key not in texts:
                continue
            kinds = sorted({s.get("kind", "?") for s in v.get("verification_steps") or []})
            question, gold = problems.get(key[0], (None, None))
            sample.append([cls, key[0], key[1], question, gold, bool(v.get("correct")), v.get("status"),
                           v.get("extracted"),
                           round(float(v.get("verification_density") or 0.0), 3), ", ".join(kinds),
                           round(float(v.get("score") or 0.0), 3), *texts[key]])
    tracker.log_table("chains/sample", ["selected", "problem_id", "sample_index", "question", "gold_answer",
                                        "correct", "status", "extracted", "verification_density", "check_kinds",
                                        "score", "n_tokens", "text"], sample)


def _questions(problems_path: Path, ids: set[str]) -> dict[str, tuple[str, str]]:
    """Problem id -> (question, gold answer) for the ``ids`` wanted, streaming the problems file."""
    return {p.id: (p.question[:2000], p.answer) for p in iter_problems(problems_path) if p.id in ids}


def verify_figures(summary: dict[str, Any]) -> dict[str, float]:
    """The verify stage's figures for the tracker: chains graded, correct rate, mean verification density."""
    names = {"chains": "verify/chains", "accuracy": "verify/correct_rate",
             "mean_verification_density": "verify/mean_verification_density"}
    return {names[k]: float(v) for k, v in summary.items() if k in names and isinstance(v, (int, float))}


def select_figures(stats: dict[str, Any]) -> dict[str, float]:
    """The select stage's figures for the tracker: selected, kept after each step, budget bound, and the mean
    verification density, score and length of all chains and of the selected ones."""
    out: dict[str, Any] = {"select/selected": stats.get("selected"),
                           "select/problems_with_candidates": stats.get("problems_with_candidates"),
                           "select/budget_bound": float(bool(stats.get("budget_bound")))}
    for step in stats.get("steps") or []:
        out[f"select/kept_after_{step.get('step')}"] = step.get("kept")
    for name, d in (stats.get("distributions") or {}).items():
        for part in ("all", "selected"):
            out[f"select/{name}_{part}_mean"] = ((d or {}).get(part) or {}).get("mean")
    return {k: float(v) for k, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
