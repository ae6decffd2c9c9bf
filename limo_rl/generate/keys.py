"""What the generate stage depends on (its cache inputs): the whole section, the teacher, the pool, the
round and the seed (each sample's seed derives from them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from limo_rl.config import Recipe
from limo_rl.run.hashing import hash_file


def cache_inputs(recipe: Recipe, teacher_fingerprint: str, problems_path: Path, rnd: int, seed: int) -> dict[str, Any]:
    return {"generate": recipe.generate.model_dump(), "teacher": teacher_fingerprint,
            "problems": hash_file(problems_path), "round": rnd, "seed": seed}
