"""What every recipe section shares: the strict base model, the benchmark names and their check, and
Ray resource amounts. Pure core: pydantic only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

BENCHMARK_NAMES = (
    "aime24", "aime25", "amc23", "math500", "minerva_math", "olympiadbench", "gpqa_diamond",
    "cn_math_2024", "gaokao", "kaoyan", "grade_school_math", "toy_eval", "toy_dev", "toy_confirm",
)


def _check_resources(v: dict[str, float]) -> dict[str, float]:
    for name, amount in v.items():
        if name in ("CPU", "GPU", "memory", "object_store_memory"):
            raise ValueError(f"{name!r} is a built-in Ray resource: set it with cpus_per_actor / cpus_per_worker / "
                             "use_gpu; resources names custom ones (a label a node was started with)")
        if not amount > 0:
            raise ValueError(f"{name}: the amount must be positive, got {amount}")
    return v


RayResources = Annotated[dict[str, float], AfterValidator(_check_resources)]


class _Section(BaseModel):
    # strict: YAML `true` is not the integer 1 and "3" is not 3; allow_inf_nan=False: `.inf`/`.nan` are no setting
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)


def _check_benchmarks(names: Sequence[str]) -> list[str]:
    bad = [n for n in names if n not in BENCHMARK_NAMES]
    if bad:
        raise ValueError(f"unknown benchmark(s) {bad}; known: {', '.join(BENCHMARK_NAMES)}")
    return list(names)
