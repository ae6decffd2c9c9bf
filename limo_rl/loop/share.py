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

from limo_rl.artifacts import package_versions, read_jsonl
from limo_rl.hub.cards import TRAIN_KEYS, evaluation_results, write_dataset_card, write_model_card

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
    rows = read_jsonl(sft_dir / "sft.jsonl")
    counts: dict[str, Any] = {"examples": len(rows), "problems": len({r.get("problem_id") for r in rows})}
    grader: dict[str, Any] | None = None
    if verdicts_path is not None and verdicts_path.is_file():
        verdicts = read_jsonl(verdicts_path)
        counts["chains_graded"] = len(verdicts)
        counts["chains_correct"] = sum(bool(v.get("correct")) for v in verdicts)
        grader = {"name": "limo_rl.verify",
                  "version": next((v.get("grader_version") for v in verdicts if v.get("grader_version")), None),
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
    import json

    metrics_path = model_dir.parent / "train_metrics.json"
    tm = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    info = {
        "title": f"limo_rl student: {prov['run']} ({label.replace('/', ' ')})",
        "base_model": recipe.train.model,
        "datasets": [str(f.parent.relative_to(run_dir)) if f.parent.is_relative_to(run_dir) else str(f.parent)
                     for f in sft_files],
        "training": recipe.train.model_dump(mode="json"),
        "train_metrics": {k: tm[k] for k in TRAIN_KEYS if tm.get(k) is not None},
        "evaluation": evaluation_results(eval_dir / "metrics.json") if eval_dir is not None else {},
        "provenance": prov,
    }
    return write_model_card(model_dir, info)


def chains_table(tracker: Any, verdicts_path: Path, sft_path: Path, chains: Sequence[Any], seed: int) -> None:
    """A W&B table of sample chains: selected and rejected, with verdict, density and check kinds."""
    if tracker is None:
        return
    selected = {r.get("chain_ref", "").split("/", 1)[-1] for r in read_jsonl(sft_path)}
    verdicts = read_jsonl(verdicts_path)
    by_key = {(c.problem_id, c.sample_index): c for c in chains}
    rows = []
    for v in verdicts:
        key = (v.get("problem_id"), int(v.get("sample_index", -1)))
        chain = by_key.get(key)
        if chain is None:
            continue
        kinds = sorted({s.get("kind", "?") for s in v.get("verification_steps") or []})
        rows.append([f"{key[0]}/{key[1]}" in selected, key[0], key[1], bool(v.get("correct")), v.get("status"),
                     v.get("extracted"), round(float(v.get("verification_density") or 0.0), 3), ", ".join(kinds),
                     round(float(v.get("score") or 0.0), 3), chain.n_tokens, chain.text[:2000]])
    rng = random.Random(seed)
    chosen = [r for r in rows if r[0]]
    rejected = [r for r in rows if not r[0]]
    half = TABLE_ROWS // 2
    sample = rng.sample(chosen, min(half, len(chosen)))
    sample += rng.sample(rejected, min(TABLE_ROWS - len(sample), len(rejected)))
    tracker.log_table("chains/sample", ["selected", "problem_id", "sample_index", "correct", "status", "extracted",
                                        "verification_density", "check_kinds", "score", "n_tokens", "text"], sample)
