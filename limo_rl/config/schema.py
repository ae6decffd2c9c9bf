"""The recipe schema: one typed, validated description of a whole run (loading: :mod:`.loading`).

A recipe is YAML. It may name a ``base:`` recipe (a path relative to the file) that it
deep-merges over, so an ablation is a few lines. Command-line overrides come in both
forms a W&B sweep agent produces (``select.budget=817`` from ``${args_no_hyphens}`` and
``--select.budget=817`` from ``${args}``); values parse as YAML scalars.

Validation runs before any compute and reports every problem at once, each naming the
file, the dotted key, the bad value and what is allowed; an unknown key suggests the
closest valid one. Checks that depend on the machine (is vLLM installed, is an API key
set) live in :mod:`limo_rl.runtime.preflight`, so a Qwen-scale recipe still validates on a laptop.

Pure core: imports pydantic and yaml only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from limo_rl.config.sections import BENCHMARK_NAMES, _Section
from limo_rl.config.stages import (
    SELECT_FEATURES,
    SELECT_STRATEGIES,
    SFT_MANAGED,
    TRL_TRAIN_NAMES,
    DecontaminateConfig,
    DedupConfig,
    DifficultyConfig,
    EvaluateConfig,
    FieldMap,
    GenerateConfig,
    OpenAIConfig,
    PoolConfig,
    QualityWeights,
    SelectConfig,
    ToyPoolConfig,
    TrainConfig,
    VerifyConfig,
    VLLMConfig,
    WeakFilterConfig,
)

# Re-exported: the stage sections are importable from here, as before the split.
__all__ = [
    "BENCHMARK_NAMES", "CONTROL_NAMES", "GPU_NAMES", "SELECT_FEATURES", "SELECT_STRATEGIES", "SFT_MANAGED",
    "STATIC_PROBLEMS", "TRL_TRAIN_NAMES", "CompareConfig", "DecontaminateConfig", "DedupConfig", "DifficultyConfig",
    "EvaluateConfig", "FieldMap", "GenerateConfig", "HardwareConfig", "LoopConfig", "OpenAIConfig", "PoolConfig",
    "QualityWeights", "Recipe", "RunConfig", "SelectConfig", "StaticArmConfig", "ToyConfig", "ToyPoolConfig",
    "TrackingConfig", "TrainConfig", "VLLMConfig", "VerifyConfig", "WeakFilterConfig",
]


# ---------------------------------------------------------------------------------------- run, tracking
class RunConfig(_Section):
    name: str = "quickstart"
    output_dir: str = "runs"
    seed: int = Field(0, ge=0)
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, description="several seeds: the loop runs once per seed")
    share_stages: bool = Field(
        True, description="reuse finished stages of other runs in output_dir with the same content key "
        "(<output_dir>/.stages, limo_rl.run.stagestore); local output folders only")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v.replace("{hash}", "h")):
            raise ValueError("must be a folder name: letters, digits, '.', '_' or '-', starting with a letter or digit "
                             "(a '{hash}' placeholder becomes the recipe's hash, for sweeps)")
        return v

    @field_validator("output_dir")
    @classmethod
    def _run_dir(cls, v: str) -> str:
        # a local folder, or an object store (limo_rl.run.objectstore); any other URI would become a folder named "x:"
        m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", v)
        if m and m.group(1) not in ("s3", "gs"):
            raise ValueError(f"{m.group(1)}:// is not a supported run store: use a local path (a shared filesystem "
                             "on a multi-node cluster), s3://bucket/prefix or gs://bucket/prefix")
        if m and not v[len(m.group(0)):].strip("/"):
            raise ValueError(f"{v}: name a bucket (s3://bucket/prefix)")
        return v.rstrip("/") if m else v

    def all_seeds(self) -> list[int]:
        return list(self.seeds) if self.seeds else [self.seed]


class TrackingConfig(_Section):
    backend: Literal["wandb", "none"] = "none"
    mode: Literal["offline", "online", "auto"] = Field(
        "offline", description="auto: online when WANDB_API_KEY (or ~/.netrc) is there, else offline")
    project: str = "limo_rl"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = Field(default_factory=list)



# ---------------------------------------------------------------------------------------- compare
class CompareConfig(_Section):
    primary: list[str] = Field(
        default_factory=list, description="the primary contrasts, e.g. ['loop/round2 vs static']: Holm's correction "
        "runs over these only and the other comparisons are descriptive (none: all in one Holm family). In a family "
        "a contrast may also name a variant, an arm or VARIANT:ARM")

    @field_validator("primary")
    @classmethod
    def _named(cls, v: list[str]) -> list[str]:
        if any(not c.strip() for c in v):
            raise ValueError("a primary contrast must name something ('A vs B', a variant or an arm)")
        return [" ".join(c.split()) for c in v]


# ---------------------------------------------------------------------------------------- loop
class StaticArmConfig(_Section):
    enabled: bool = True
    source: str = "GAIR/LIMO"
    format: Literal["auto", "jsonl", "parquet", "hf", "toy"] = "auto"
    split: str = "train"
    revision: str | None = None
    limit: int | None = Field(None, ge=1, description="the first N rows of the static set")
    match: Literal["none", "size", "steps"] = Field(
        "none", description="size: a seeded draw of the static set at the loop's realised SFT size (round 1); "
                            "steps: train the static arm for the loop's optimizer steps")
    match_seed: int | None = Field(None, ge=0, description="seed of the size draw; default the run seed")
    curve: list[int] = Field(default_factory=list, description="data-size curve: also train the static arm on "
                                                               "seeded draws of these sizes")
    curve_draws: int = Field(1, ge=1, description="draws per curve size")
    allow_contaminated: list[str] = Field(
        default_factory=list, description="static problem ids allowed to overlap an evaluated benchmark")


class ToyConfig(_Section):
    """The CPU-scale world (limo_rl.toy): how to build toy://teacher and toy://base."""

    seed: int = Field(0, ge=0)
    bootstrap_steps: int = Field(600, ge=1, description="pretraining steps (peak lr 3e-3, cosine)")
    continue_steps: int = Field(
        300, ge=0, description="continued pretraining on fresh problems where bare answers are the most common "
        "style, at a lower peak lr (1e-3): the teacher's greedy habit becomes a bare answer while its samples "
        "still write steps (its headroom); 0 skips it")
    corpus_size: int = Field(3000, ge=1)
    difficulty: int = Field(2, ge=1, le=6)


# own_incorrect: the teacher's incorrect finished step chains; terse_correct: the bare right answer;
# format_only: the right procedure on perturbed operands (a world that can write it: limo_rl.resolve);
# gold_*: the world's right procedure without a check, with a true one, a hollow one, a caught slip;
# random/window/unsolved/easy: the problems the set is drawn from (the world's chains on each), by the last round's
# pass rates (limo_rl.select.controls); static_problems: the static set's problems, chains sampled from the last
# round's teacher and selected like the loop's, at its size (any scale: limo_rl.loop.static_problems)
STATIC_PROBLEMS = "static_problems"  # the one control the loop's teacher samples (the planner counts it)
CONTROL_NAMES = ("own_incorrect", "terse_correct", "format_only", "gold_steps", "gold_verified", "gold_hollow",
                 "gold_caught", "random", "window", "unsolved", "easy", STATIC_PROBLEMS)


class LoopConfig(_Section):
    rounds: int = Field(1, ge=0, description="rounds of the loop arm; 0: only the static arm and baselines")
    next_teacher: Literal["student", "fixed"] = "student"
    student_init: Literal["base", "previous"] = "base"
    data: Literal["fresh", "accumulate"] = "fresh"
    static: StaticArmConfig = Field(default_factory=StaticArmConfig)
    baselines: bool = True
    controls: list[Literal[CONTROL_NAMES]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="control arms (control/<name>) built from the last loop round's chains, "
        "matched to its SFT set in examples, trained and evaluated like it (limo_rl.select.controls)")

    @field_validator("controls")
    @classmethod
    def _distinct_controls(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"a control is named twice: {v}")
        return v

    @model_validator(mode="after")
    def _controls_need_a_round(self) -> LoopConfig:
        if self.controls and self.rounds < 1:
            raise ValueError(f"loop.controls {self.controls} are built from the last loop round: loop.rounds must "
                             "be at least 1")
        return self


# ---------------------------------------------------------------------------------------- hardware
GPU_NAMES = ("a100-40gb", "a100-80gb", "l40s-48gb", "h100-80gb", "h200-141gb")


class HardwareConfig(_Section):
    """The machines a recipe is written for: ``limo-rl plan`` checks memory, context, disk and time against them."""

    nodes: int = Field(1, ge=1)
    gpus_per_node: int = Field(0, ge=0)
    gpu: Literal[GPU_NAMES] | None = None  # type: ignore[valid-type]
    cpu_memory_gib: float = Field(64.0, gt=0, description="host memory per node")
    disk_gib: float = Field(100.0, gt=0, description="run storage shared by the nodes")
    max_hours: float | None = Field(None, gt=0, description="the planner flags a longer estimate")
    wait_for_nodes_s: float = Field(
        0.0, ge=0, description="an autoscaler may add nodes: a stage waits this long for its resources (0: fail at once)")
    actor_start_timeout_s: float = Field(1800.0, gt=0, description="longest wait for engine actors to load a model")


# ---------------------------------------------------------------------------------------- recipe
class Recipe(_Section):
    run: RunConfig = Field(default_factory=RunConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    toy: ToyConfig = Field(default_factory=ToyConfig)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    select: SelectConfig = Field(default_factory=SelectConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)

    @model_validator(mode="after")
    def _shared_checkpoint_rule(self) -> Recipe:
        """Every arm is judged by the same dev set, and the static arm trains on its whole set."""
        t, static = self.train, self.loop.static.enabled
        trained_arms = self.loop.rounds + int(static)
        if t.select_checkpoint == "best_val" and not t.validation_file and trained_arms > 1:
            raise ValueError("train.select_checkpoint = 'best_val' would pick each arm's checkpoint on a hold-out of "
                             "its own SFT set (a different judge per arm): give train.validation_file, one dev set "
                             "for every arm, or use 'last'")
        if t.validation_split > 0 and not t.validation_file and static:
            raise ValueError(f"train.validation_split = {t.validation_split} carves a hold-out from each arm's SFT "
                             "set, so the static arm would not train on its whole set: set it to 0 (and give "
                             "train.validation_file for a shared dev set)")
        return self

    @field_validator("select")
    @classmethod
    def _select_has_producers(cls, v: SelectConfig) -> SelectConfig:
        # No section validates without a stage that produces its input: a recipe enabling the weak filter
        # would otherwise fail at the select stage, after generation and grading have run.
        if v.weak_filter.enabled:
            raise ValueError("select.weak_filter.enabled: no stage of a recipe run produces weak-model verdicts; "
                             "use it ad hoc: limo-rl select ... --weak-verdicts FILE")
        return v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
