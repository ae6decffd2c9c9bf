"""What the verify stage depends on (its cache inputs): the section, the generate stage's sealed chains and
the pool (the gold answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from limo_rl.config import Recipe
from limo_rl.run.hashing import hash_file
from limo_rl.run.stagecache import outputs_key


def cache_inputs(recipe: Recipe, chains_dir: Path, problems_path: Path) -> dict[str, Any]:
    """``chains_dir``: the ``chains`` folder of a finished generate stage (keyed by its stage's seal)."""
    return {"verify": recipe.verify.model_dump(), "chains": outputs_key(chains_dir.parent),
            "problems": hash_file(problems_path)}
