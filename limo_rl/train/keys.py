"""What the train stage depends on (its cache inputs): the train section as the keys see it
(:meth:`~limo_rl.config.TrainConfig.key_dict`), the initial model, the seed, the SFT files' contents and the
validation file's; ``extra`` names how an arm drew its examples from those files (a match, a curve point)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from limo_rl.config import TrainConfig
from limo_rl.run.hashing import content_key, hash_file


def cache_inputs(cfg: TrainConfig, init_fingerprint: str, seed: int, sft_files: Sequence[Path],
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"train": cfg.key_dict(), "init": init_fingerprint, "seed": seed,
            "data": [hash_file(f) for f in sft_files],
            "validation": content_key(cfg.validation_file) if cfg.validation_file else None,
            **(extra or {})}
