"""An honest resource planner: does a recipe fit the hardware it names, and how long will it take?

Everything comes from the recipe, the model shapes (:mod:`limo_rl.loop.models`: ``config.json``,
or a labelled table for hub ids) and the ``hardware`` section; every assumption is printed.

The formulas and every assumption behind them: :mod:`limo_rl.loop.costs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from limo_rl.config import Recipe
from limo_rl.config.schema import STATIC_PROBLEMS
from limo_rl.data.benchmarks import generated_benchmark_size
from limo_rl.evaluate.harness import eval_shard_size
from limo_rl.evaluate.presets import resolve_protocol
from limo_rl.loop.costs import (
    GIB,
    GPU_SPECS,
    OVERHEAD_GIB,
    PROMPT_TOKENS,
    decode_tokens_per_s,
    max_num_seqs,
    train_memory_gib,
    vllm_engine,
)
from limo_rl.loop.models import ModelInfoError, ModelShape, model_shape
from limo_rl.resolve import generated_source

KNOWN_POOL_SIZES = {"AI-MO/NuminaMath-CoT": 859_494}
# problems of the hub benchmarks; a generated benchmark's size comes from its world (limo_rl.resolve)
BENCHMARK_SIZES = {"aime24": 30, "aime25": 30, "amc23": 40, "math500": 500, "minerva_math": 272,
                   "olympiadbench": 675, "gpqa_diamond": 198}
DEFAULT_BENCHMARK_SIZE = 500


@dataclass(frozen=True)
class Assumptions:
    mean_tokens_fraction: float = 0.4  # mean chain length / max_new_tokens
    hbm_efficiency: float = 0.5
    mfu: float = 0.3
    verify_chains_per_s_per_worker: float = 20.0
    checkpoint_gib_per_s: float = 1.0  # checkpoint and model writes to the run storage, all ranks together


@dataclass(frozen=True)
class StagePlan:
    stage: str
    units: int  # actors or workers
    cpus_per_unit: float
    gpus_per_unit: float
    mem_per_gpu_gib: float | None
    note: str
    hours: float = 0.0

    @property
    def gpus(self) -> float:
        return self.units * self.gpus_per_unit

    @property
    def cpus(self) -> float:
        return self.units * self.cpus_per_unit


@dataclass
class Plan:
    stages: list[StagePlan]
    problems: list[str] = field(default_factory=list)  # what does not fit, one line each
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return not self.problems


def _pool_size(recipe: Recipe) -> int | None:
    pool = recipe.pool
    world = generated_source(pool.source, pool.format)
    n = world.pool_size(pool) if world is not None else KNOWN_POOL_SIZES.get(pool.source)
    if pool.limit is not None:
        n = min(n, pool.limit) if n is not None else pool.limit
    return n


def benchmark_size(name: str) -> int:
    """Problems of a benchmark: the known table, a generated benchmark's own size (its world's), else 500."""
    return BENCHMARK_SIZES.get(name) or generated_benchmark_size(name) or DEFAULT_BENCHMARK_SIZE


def _eval_benchmarks(recipe: Recipe) -> list[tuple[int, int]]:
    """(problems, samples per problem) of each benchmark evaluated."""
    ev = recipe.evaluate
    # the preset's samples per problem
    benches = ev.benchmarks if ev.confirm else ev.dev_benchmarks  # unconfirmed: the dev benchmarks instead
    return [(min(benchmark_size(b), ev.limit or 10**9), resolve_protocol(ev, b).n) for b in benches]


def _eval_samples(recipe: Recipe) -> int:
    return sum(size * n for size, n in _eval_benchmarks(recipe))


def eval_hours(m: ModelShape, eng: dict[str, float], recipe: Recipe, *, tp: int, engines: int, mean_new: float,
               bandwidth: float, efficiency: float, cap: int) -> float:
    """Hours to evaluate one model: per benchmark, its shards on the engines they reach (one each), each engine
    decoding the samples it holds as one batch (at most ``cap``)."""
    hours = 0.0
    for size, n in _eval_benchmarks(recipe):
        shard = eval_shard_size(size, engines, recipe.generate.shard_size)
        used = min(engines, math.ceil(size / shard))
        per_engine = math.ceil(size / shard / used) * shard * n  # samples on the busiest engine
        tps = decode_tokens_per_s(m, eng, tp=tp, mean_context=PROMPT_TOKENS + mean_new / 2, bandwidth=bandwidth,
                                  efficiency=efficiency, max_seqs=min(cap, per_engine))
        hours += per_engine * mean_new / tps / 3600
    return hours


@dataclass
class _Ctx:
    """What the planning steps share: the recipe, the assumptions, the GPU, the models and the running plan."""

    recipe: Recipe
    a: Assumptions
    plan: Plan
    teacher: ModelShape
    student: ModelShape
    hours: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # numbers one step hands the next

    @property
    def gpu(self) -> tuple[float, float, float]:
        return GPU_SPECS[self.recipe.hardware.gpu or ""]

    @property
    def seeds(self) -> int:
        return len(self.recipe.run.all_seeds())

    def short(self, line: str) -> None:
        self.plan.problems.append(line)


def plan_recipe(recipe: Recipe, a: Assumptions | None = None) -> Plan:
    """The plan of ``recipe`` on ``recipe.hardware``; ``Plan.problems`` lists what does not fit."""
    a = a or Assumptions()
    hw = recipe.hardware
    plan = Plan(stages=[])
    if hw.gpu is None or hw.gpus_per_node == 0:
        return _cpu_plan(recipe, plan)
    try:
        teacher = model_shape(recipe.generate.model)
        student = model_shape(recipe.train.model)
    except ModelInfoError as exc:
        plan.problems.append(str(exc))
        return plan
    for m in {teacher.name: teacher, student.name: student}.values():
        plan.notes.append(f"{m.name}: {m.params / 1e9:.2f}B params, context {m.max_position_embeddings}, "
                          f"shape from {m.source}")
    ctx = _Ctx(recipe, a, plan, teacher, student)
    if recipe.generate.engine != "vllm":
        ctx.short(f"generate.engine = {recipe.generate.engine!r}: the planner sizes vLLM engines only on GPU recipes")
        return plan
    _plan_generation(ctx)
    _plan_training(ctx)
    _plan_evaluation(ctx)
    _plan_disk_and_time(ctx)
    return plan


def _cpu_plan(recipe: Recipe, plan: Plan) -> Plan:
    gen, tr = recipe.generate, recipe.train
    plan.notes.append("a CPU recipe (hardware names no GPU): only CPU counts are planned")
    plan.stages += [
        StagePlan("generate", gen.num_actors, gen.cpus_per_actor, 0.0, None, f"{gen.engine} engine actors"),
        StagePlan("verify", 1, float(recipe.verify.workers), 0.0, None, "grading worker processes"),
        StagePlan("train", tr.num_workers, tr.cpus_per_worker, 0.0, None, f"{tr.strategy} on CPU (gloo)"),
    ]
    if tr.use_gpu or gen.engine == "vllm":
        plan.problems.append("hardware: the recipe uses GPUs (train.use_gpu or generate.engine=vllm) but names "
                             "none: set hardware.gpu and hardware.gpus_per_node")
    return plan


def _check_contexts(ctx: _Ctx, mml: int) -> None:
    """Each model's use (generation, evaluation, the teacher's baseline) fits ``max_model_len`` and its context."""
    recipe, teacher, student = ctx.recipe, ctx.teacher, ctx.student
    uses = [("generate", teacher, recipe.generate.max_new_tokens)] if recipe.loop.rounds else []
    uses.append(("evaluate", student, recipe.evaluate.max_new_tokens))
    if recipe.loop.baselines and teacher.name != student.name:
        uses.append(("evaluate", teacher, recipe.evaluate.max_new_tokens))  # the teacher's baseline, same engine
    for label, m, new in uses:
        limit = min(mml, m.max_position_embeddings)
        if mml > m.max_position_embeddings:
            ctx.short(f"{label}: generate.vllm.max_model_len = {mml} exceeds {m.name}'s context "
                      f"{m.max_position_embeddings}")
        if PROMPT_TOKENS + new > limit:
            key = "generate.max_new_tokens" if label == "generate" else "evaluate.max_new_tokens"
            ctx.short(f"{label}: {key} = {new} + a {PROMPT_TOKENS}-token prompt exceeds the context {limit} "
                      f"({m.name})")


def _plan_generation(ctx: _Ctx) -> None:
    """vLLM engines, generation and grading (evaluation runs on the same engine settings)."""
    recipe, a, teacher = ctx.recipe, ctx.a, ctx.teacher
    hw, gen, rounds = recipe.hardware, recipe.generate, recipe.loop.rounds
    mem, bw, _ = ctx.gpu
    tp = gen.vllm.tensor_parallel_size
    mml = gen.vllm.max_model_len or teacher.max_position_embeddings
    per_node = hw.gpus_per_node // tp
    if tp > hw.gpus_per_node:
        ctx.short(f"generate.vllm.tensor_parallel_size = {tp} > hardware.gpus_per_node = {hw.gpus_per_node}: "
                  "one vLLM engine must fit on one node")
    elif gen.num_actors > hw.nodes * per_node:
        ctx.short(f"generate.num_actors = {gen.num_actors} engines of {tp} GPU(s) need {gen.num_actors * tp} GPUs "
                  f"({per_node} per node) but the hardware has {hw.nodes} node(s) x {hw.gpus_per_node}")
    _check_contexts(ctx, mml)
    eng = vllm_engine(teacher, tp=tp, util=gen.vllm.gpu_memory_utilization, gpu_mem_gib=mem, max_model_len=mml)
    if eng["full_sequences"] < 1:
        ctx.short(f"generate: {teacher.name} at TP={tp} leaves {eng['kv_room_gib']:.1f} GiB/GPU of KV cache, less "
                  f"than one {mml}-token sequence; raise tensor_parallel_size or lower max_model_len")
    mean_new = a.mean_tokens_fraction * gen.max_new_tokens
    cap = max_num_seqs(hw.gpu or "")
    tps = decode_tokens_per_s(teacher, eng, tp=tp, mean_context=PROMPT_TOKENS + mean_new / 2, bandwidth=bw,
                              efficiency=a.hbm_efficiency, max_seqs=cap)
    engines = min(gen.num_actors, hw.nodes * max(per_node, 1))
    n_pool = _pool_size(recipe)
    if n_pool is None:
        ctx.short(f"pool.source = {recipe.pool.source!r}: size unknown to the planner; set pool.limit")
        n_pool = 0
    # control/static_problems samples the static set's problems once a seed
    extra = (recipe.loop.static.limit or 817) if rounds and STATIC_PROBLEMS in recipe.loop.controls else 0
    gen_tokens = (n_pool * rounds + extra) * gen.n * mean_new * ctx.seeds
    ctx.hours["generate"] = gen_tokens / (tps * engines) / 3600
    ctx.plan.stages.append(StagePlan(
        "generate", gen.num_actors, gen.cpus_per_actor, float(tp), eng["weights_gib"] + max(eng["kv_room_gib"], 0),
        f"vLLM TP={tp}: weights {eng['weights_gib']:.1f} GiB/GPU, KV room {eng['kv_room_gib']:.1f} GiB/GPU "
        f"({eng['full_sequences']:.0f} sequences of {mml}); ~{tps / tp:,.0f} tok/s per GPU; "
        f"{n_pool:,} problems x {gen.n} x {rounds} round(s){f' + {extra:,} static problems' if extra else ''} = "
        f"{gen_tokens / 1e9:.2f}e9 tokens",
        ctx.hours["generate"]))
    n_chains = (n_pool * rounds + extra) * gen.n * ctx.seeds
    ctx.hours["verify"] = n_chains / (a.verify_chains_per_s_per_worker * recipe.verify.workers) / 3600
    ctx.plan.stages.append(StagePlan("verify", 1, float(recipe.verify.workers), 0.0, None,
                                     f"{n_chains:,} chains on {recipe.verify.workers} grading worker(s)",
                                     ctx.hours["verify"]))
    ctx.figures.update(tp=tp, mml=mml, cap=cap, engines=engines, mean_new=mean_new, gen_tokens=gen_tokens,
                       n_chains=n_chains)


def _check_train_memory(ctx: _Ctx, tm: dict[str, float], tm_off: dict[str, float]) -> None:
    hw, mem = ctx.recipe.hardware, ctx.gpu[0]
    if tm["total"] <= mem:
        return
    host = tm_off["host_per_rank"] * min(ctx.recipe.train.num_workers, hw.gpus_per_node)
    if tm_off["total"] <= mem and host <= hw.cpu_memory_gib:
        ctx.short(f"train: ~{tm['total']:.0f} GiB/GPU > {mem:g} GiB; it would fit with optimizer offload "
                  f"({tm_off['total']:.0f} GiB/GPU, {host:.0f} GiB host/node), which the train stage does not "
                  "offer yet: raise train.num_workers or lower train.max_length")
    else:
        ctx.short(f"train: ~{tm['total']:.0f} GiB/GPU > {mem:g} GiB (even with optimizer offload: "
                  f"{tm_off['total']:.0f} GiB/GPU, {host:.0f} GiB host/node)")


def _plan_training(ctx: _Ctx) -> None:
    recipe, a, student, f = ctx.recipe, ctx.a, ctx.student, ctx.figures
    hw, tr, loop, rounds = recipe.hardware, recipe.train, recipe.loop, recipe.loop.rounds
    world, total_gpus, peak = tr.num_workers, hw.nodes * hw.gpus_per_node, ctx.gpu[2]
    if not tr.use_gpu:
        ctx.short("train.use_gpu = false on a GPU recipe")
    if world > total_gpus:
        ctx.short(f"train.num_workers = {world} > {total_gpus} GPUs ({hw.nodes} x {hw.gpus_per_node})")
    if tr.max_length > student.max_position_embeddings:
        ctx.short(f"train.max_length = {tr.max_length} exceeds {student.name}'s context "
                  f"{student.max_position_embeddings}")
    kw = {"world": world, "strategy": tr.strategy, "max_length": tr.max_length, "batch": tr.per_device_batch_size,
          "checkpointing": tr.gradient_checkpointing}
    tm, tm_off = train_memory_gib(student, **kw), train_memory_gib(student, **kw, offload=True)
    ctx.plan.figures["train_memory"], ctx.plan.figures["train_memory_offload"] = tm, tm_off
    _check_train_memory(ctx, tm, tm_off)
    n_ctl = len(loop.controls) if rounds else 0  # control arms: the last round's size each
    n_train = ((rounds if loop.data == "fresh" else rounds * (rounds + 1) / 2) * recipe.select.budget
               + (817 if loop.static.enabled else 0) + n_ctl * recipe.select.budget)
    train_tokens = n_train * tr.epochs * min(tr.max_length, PROMPT_TOKENS + f["mean_new"]) * ctx.seeds
    flops = (8 if tr.gradient_checkpointing else 6) * student.params * train_tokens
    n_trainings = (rounds + (1 if loop.static.enabled else 0) + n_ctl) * ctx.seeds
    ckpt = 14 * student.params / GIB
    steps = math.ceil(max(n_train / max(rounds + loop.static.enabled + n_ctl, 1), 1)
                      / (world * tr.per_device_batch_size * tr.gradient_accumulation_steps)) * tr.epochs
    saves = tr.epochs if tr.save_strategy == "epoch" else math.ceil(steps / tr.save_steps)
    written = n_trainings * (saves * ckpt + 2 * student.params / GIB)  # every checkpoint, then the model
    hours = ctx.hours
    hours["checkpoints"] = written / a.checkpoint_gib_per_s / 3600
    hours["train"] = flops / (world * peak * a.mfu) / 3600 + hours["checkpoints"]
    ctx.plan.stages.append(StagePlan(
        "train", world, tr.cpus_per_worker, 1.0, tm["total"],
        f"{tr.strategy}, world {world}: states {tm['states']:.1f} + working {tm['working']:.1f} + activations "
        f"{tm['activations']:.1f} + logits {tm['logits']:.1f} + {OVERHEAD_GIB:g} GiB (with offload "
        f"{tm_off['total']:.0f} GiB); {train_tokens / 1e6:.0f}M tokens; {saves} checkpoint(s) of {ckpt:.0f} GiB "
        f"per training ({hours['checkpoints']:.1f} h of writes)", hours["train"]))
    f.update(n_ctl=n_ctl, n_trainings=n_trainings, ckpt=ckpt, saves=saves)


def _plan_evaluation(ctx: _Ctx) -> None:
    """Students, the static arm and the baselines, on the generation engines' settings."""
    recipe, a, f = ctx.recipe, ctx.a, ctx.figures
    gen, loop, seeds = recipe.generate, recipe.loop, ctx.seeds
    mem, bw, _ = ctx.gpu
    n_models = (loop.rounds + (1 if loop.static.enabled else 0) + f["n_ctl"]
                + ((2 if gen.model != recipe.train.model else 1) if loop.baselines else 0)) * seeds
    ev_eng = vllm_engine(ctx.student, tp=f["tp"], util=gen.vllm.gpu_memory_utilization, gpu_mem_gib=mem,
                         max_model_len=f["mml"])
    ev_new = a.mean_tokens_fraction * recipe.evaluate.max_new_tokens
    ctx.hours["evaluate"] = n_models * eval_hours(ctx.student, ev_eng, recipe, tp=f["tp"], engines=f["engines"],
                                                  mean_new=ev_new, bandwidth=bw, efficiency=a.hbm_efficiency,
                                                  cap=f["cap"])
    ctx.plan.stages.append(StagePlan("evaluate", gen.num_actors, gen.cpus_per_actor, float(f["tp"]),
                                     ev_eng["weights_gib"], f"{n_models} model(s) x {_eval_samples(recipe):,} samples",
                                     ctx.hours["evaluate"]))


def _plan_disk_and_time(ctx: _Ctx) -> None:
    tr, hw, f, hours, short = ctx.recipe.train, ctx.recipe.hardware, ctx.figures, ctx.hours, ctx.short
    saves, ckpt, n_trainings = f["saves"], f["ckpt"], f["n_trainings"]
    kept = min(saves, tr.save_total_limit + (tr.select_checkpoint == "best_val")) if tr.save_total_limit else saves
    rotating = ckpt if saves > kept else 0.0  # the running training writes its newest before deleting the oldest
    disk = {"chains": f["gen_tokens"] * 1.5 / GIB + f["n_chains"] * 600 / GIB,
            "models": n_trainings * 2 * ctx.student.params / GIB,
            "checkpoints": n_trainings * kept * ckpt + rotating}
    disk["total"] = sum(disk.values())
    ctx.plan.figures["disk_gib"] = disk
    if disk["total"] > hw.disk_gib:
        short(f"disk: ~{disk['total']:,.0f} GiB needed (checkpoints {disk['checkpoints']:,.0f}: {kept} kept x "
              f"{n_trainings} training(s) x {ckpt:.0f} GiB, +1 while rotating) > hardware.disk_gib = {hw.disk_gib:g}; "
              "set train.save_total_limit")
    hours["total"] = sum(v for k, v in hours.items() if k != "checkpoints")  # checkpoint writes are in train
    ctx.plan.figures["hours"] = hours
    if hw.max_hours is not None and hours["total"] > hw.max_hours:
        short(f"time: ~{hours['total']:,.0f} h > hardware.max_hours = {hw.max_hours:g} "
              f"(generation {hours['generate']:,.0f} h): lower pool.limit or generate.n")


def shortfalls(plans: list[StagePlan], resources: dict[str, float], gpu_mem_gib: float | None = None,
               gpus_per_node: list[float] | None = None) -> list[str]:
    """What a live cluster lacks for each stage (stages run one after another, so each is checked alone)."""
    short = []
    have_cpu, have_gpu = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    for p in plans:
        if p.gpus > have_gpu:
            short.append(f"{p.stage}: needs {p.gpus:g} GPU(s), the cluster has {have_gpu:g}")
        if p.cpus > have_cpu:
            short.append(f"{p.stage}: needs {p.cpus:g} CPU(s), the cluster has {have_cpu:g}")
        if gpus_per_node is not None and p.gpus_per_unit > max(gpus_per_node or [0]):
            short.append(f"{p.stage}: one unit needs {p.gpus_per_unit:g} GPUs on one node; the largest node has "
                         f"{max(gpus_per_node or [0]):g}")
        if gpu_mem_gib and p.mem_per_gpu_gib and p.mem_per_gpu_gib > gpu_mem_gib:
            short.append(f"{p.stage}: needs ~{p.mem_per_gpu_gib:.0f} GiB per GPU, GPUs have {gpu_mem_gib:.0f} GiB")
    return short


def render(plan: Plan, recipe: Recipe | None = None, a: Assumptions | None = None) -> str:
    a = a or Assumptions()
    rows = []
    if recipe is not None:
        hw = recipe.hardware
        rows.append(f"hardware: {hw.nodes} node(s) x {hw.gpus_per_node} {hw.gpu or 'no GPU'}, "
                    f"{hw.cpu_memory_gib:g} GiB host memory per node, {hw.disk_gib:g} GiB run storage")
    rows += [f"model: {n}" for n in plan.notes]
    rows.append("stage      units  GPU/unit  mem/GPU  hours  notes")
    for p in plan.stages:
        mem = f"{p.mem_per_gpu_gib:6.1f}G" if p.mem_per_gpu_gib else "      -"
        rows.append(f"{p.stage:<10} {p.units:>5}  {p.gpus_per_unit:>8g}  {mem}  {p.hours:5.1f}  {p.note}")
    if "disk_gib" in plan.figures:
        d = plan.figures["disk_gib"]
        rows.append(f"disk: ~{d['total']:,.0f} GiB (chains {d['chains']:,.0f}, models {d['models']:,.0f}, "
                    f"checkpoints {d['checkpoints']:,.0f})")
    if "hours" in plan.figures:
        rows.append(f"time: ~{plan.figures['hours']['total']:,.1f} h end to end")
    rows.append(f"assumptions: chains average {a.mean_tokens_fraction:.0%} of max_new_tokens; decode at "
                f"{a.hbm_efficiency:.0%} of HBM bandwidth; training at {a.mfu:.0%} MFU; "
                f"{a.verify_chains_per_s_per_worker:g} chains/s per grading worker; checkpoints written at "
                f"{a.checkpoint_gib_per_s:g} GiB/s")
    rows += [f"DOES NOT FIT  {p}" for p in plan.problems] or ["fits: every check passed"]
    return "\n".join(rows)
