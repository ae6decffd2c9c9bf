"""The recipe: its schema (:mod:`.schema`; the stage sections in :mod:`.stages`, their shared base in
:mod:`.sections`), loading with ``base:`` and overrides (:mod:`.loading`), and the checks that depend
on this machine (:mod:`.preflight`).

Split so each part can be read alone; every public name is re-exported here, so
``from limo_rl.config import Recipe, load_recipe, preflight`` works as before. Pure core:
pydantic and yaml only.
"""

from limo_rl.config.loading import (
    apply_overrides,
    deep_merge,
    iter_recipe_files,
    load_recipe,
    load_stage_recipe,
    load_yaml_tree,
    parse_override,
    validate_recipe,
)
from limo_rl.config.preflight import preflight
from limo_rl.config.schema import (
    BENCHMARK_NAMES,
    GPU_NAMES,
    SELECT_FEATURES,
    SELECT_STRATEGIES,
    DecontaminateConfig,
    DedupConfig,
    DifficultyConfig,
    EvaluateConfig,
    FieldMap,
    GenerateConfig,
    HardwareConfig,
    LoopConfig,
    OpenAIConfig,
    PoolConfig,
    QualityWeights,
    Recipe,
    RunConfig,
    SelectConfig,
    StaticArmConfig,
    ToyConfig,
    ToyPoolConfig,
    TrackingConfig,
    TrainConfig,
    VerifyConfig,
    VLLMConfig,
    WeakFilterConfig,
)
from limo_rl.errors import RecipeError

__all__ = [
    "BENCHMARK_NAMES",
    "GPU_NAMES",
    "DecontaminateConfig",
    "DedupConfig",
    "DifficultyConfig",
    "EvaluateConfig",
    "FieldMap",
    "GenerateConfig",
    "HardwareConfig",
    "LoopConfig",
    "OpenAIConfig",
    "PoolConfig",
    "QualityWeights",
    "Recipe",
    "RecipeError",
    "RunConfig",
    "SELECT_FEATURES",
    "SELECT_STRATEGIES",
    "SelectConfig",
    "StaticArmConfig",
    "ToyConfig",
    "ToyPoolConfig",
    "TrackingConfig",
    "TrainConfig",
    "VLLMConfig",
    "VerifyConfig",
    "WeakFilterConfig",
    "apply_overrides",
    "deep_merge",
    "iter_recipe_files",
    "load_recipe",
    "load_stage_recipe",
    "load_yaml_tree",
    "parse_override",
    "preflight",
    "validate_recipe",
]
