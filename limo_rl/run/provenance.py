"""What a run was made with: package versions and the git commit (the manifest records both; cards cite them)."""

from __future__ import annotations

import importlib.metadata
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "limo_rl", "torch", "transformers", "trl", "accelerate", "ray", "vllm", "datasets",
    "sympy", "math-verify", "wandb", "pydantic",
)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def package_versions(names: Sequence[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    def _git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}
