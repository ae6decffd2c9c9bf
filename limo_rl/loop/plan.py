"""A pure resource planner: what each stage of a recipe asks of a cluster, and what is short.

Memory figures are estimates from the model size (read from the name, e.g. ``...-32B...``,
or given with ``--params``): bf16 weights take 2 bytes per parameter; vLLM shards them over
``tensor_parallel_size`` GPUs and fills ``gpu_memory_utilization`` of each card; full
fine-tuning with Adam in mixed precision keeps ~16 bytes per parameter (weights, gradients,
fp32 master weights and two moments), which ZeRO-3 / FSDP shard over the training world
size (activations come on top). Against a live cluster (``limo-rl plan --address``), the
plan is compared with ``ray.cluster_resources()`` before anything launches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from limo_rl.config import Recipe

GIB = 1024**3


@dataclass(frozen=True)
class StagePlan:
    stage: str
    units: int  # actors or workers
    cpus_per_unit: float
    gpus_per_unit: float
    mem_per_gpu_gib: float | None
    note: str

    @property
    def gpus(self) -> float:
        return self.units * self.gpus_per_unit

    @property
    def cpus(self) -> float:
        return self.units * self.cpus_per_unit


def params_from_name(name: str) -> float | None:
    """``Qwen2.5-32B-Instruct`` -> 32e9; ``...-1.5B`` -> 1.5e9; None if the name says nothing."""
    m = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])", name.split("/")[-1])
    return float(m.group(1)) * 1e9 if m else None


def plan_recipe(recipe: Recipe, params: dict[str, float] | None = None) -> list[StagePlan]:
    params = params or {}
    gen, tr = recipe.generate, recipe.train
    plans = []
    teacher_params = params.get("teacher") or params_from_name(gen.model)
    if gen.engine == "vllm":
        tp = gen.vllm.tensor_parallel_size
        weights = teacher_params * 2 / tp / GIB if teacher_params else None
        note = (f"vLLM, TP={tp}, weights ~{weights:.1f} GiB/GPU, KV cache fills up to "
                f"{gen.vllm.gpu_memory_utilization:.0%} of each GPU" if weights else f"vLLM, TP={tp}")
        plans.append(StagePlan("generate", gen.num_actors, gen.cpus_per_actor, float(tp),
                               weights, note))
    elif gen.engine == "hf":
        gpu = 1.0 if gen.device == "cuda" else 0.0
        weights = teacher_params * 2 / GIB if (teacher_params and gpu) else None
        plans.append(StagePlan("generate", gen.num_actors, gen.cpus_per_actor, gpu, weights,
                               f"transformers on {'GPU' if gpu else gen.device}"))
    else:
        plans.append(StagePlan("generate", 1, 1.0, 0.0, None,
                               f"OpenAI-compatible server at {gen.openai.base_url} (runs elsewhere)"))
    student_params = params.get("student") or params_from_name(tr.model)
    world = tr.num_workers
    if student_params and tr.use_gpu:
        shard = world if tr.strategy in ("deepspeed_zero3", "fsdp") else 1
        mem = student_params * 16 / shard / GIB
        note = f"{tr.strategy}, world size {world}, ~{mem:.1f} GiB/GPU of model+optimizer state before activations"
    else:
        mem, note = None, f"{tr.strategy}, world size {world} ({'GPU' if tr.use_gpu else 'CPU, gloo'})"
    plans.append(StagePlan("train", world, tr.cpus_per_worker, 1.0 if tr.use_gpu else 0.0, mem, note))
    plans.append(StagePlan("evaluate", plans[0].units, plans[0].cpus_per_unit, plans[0].gpus_per_unit,
                           plans[0].mem_per_gpu_gib, "same engine as generate, on each student"))
    plans.append(StagePlan("verify", 1, float(recipe.verify.workers), 0.0, None,
                           f"{recipe.verify.workers} grading worker processes on the driver node"))
    return plans


def shortfalls(plans: list[StagePlan], resources: dict[str, float], gpu_mem_gib: float | None = None) -> list[str]:
    """What the cluster lacks for each stage (stages run one after another, so each is checked alone)."""
    short = []
    have_cpu, have_gpu = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    for p in plans:
        if p.gpus > have_gpu:
            short.append(f"{p.stage}: needs {p.gpus:g} GPU(s), the cluster has {have_gpu:g}")
        if p.cpus > have_cpu:
            short.append(f"{p.stage}: needs {p.cpus:g} CPU(s), the cluster has {have_cpu:g}")
        if gpu_mem_gib and p.mem_per_gpu_gib and p.mem_per_gpu_gib > gpu_mem_gib:
            short.append(f"{p.stage}: needs ~{p.mem_per_gpu_gib:.0f} GiB per GPU, GPUs have {gpu_mem_gib:.0f} GiB")
    return short


def render(plans: list[StagePlan]) -> str:
    rows = ["stage      units  CPU/unit  GPU/unit  GPUs  mem/GPU   notes"]
    for p in plans:
        mem = f"{p.mem_per_gpu_gib:6.1f}G" if p.mem_per_gpu_gib else "      -"
        rows.append(f"{p.stage:<10} {p.units:>5}  {p.cpus_per_unit:>8g}  {p.gpus_per_unit:>8g}  {p.gpus:>4g}  {mem}   {p.note}")
    return "\n".join(rows)
