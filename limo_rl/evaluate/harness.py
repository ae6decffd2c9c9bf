"""The evaluation harness: generate n samples per benchmark problem, grade them, score them.

For each benchmark of ``evaluate.benchmarks`` (test) and ``evaluate.dev_benchmarks`` (dev: for
choices, marked ``"split": "dev"`` in metrics.json) it resolves the sampling protocol (the
``limo`` preset or the section's own fields, :mod:`limo_rl.evaluate.presets`), reuses the
generate stage (``run_generation``: Ray actors, parquet shards, resumable per problem) and
the verifier (``grade_chains``: answers graded in killable worker processes), with one pool of
engine actors for all benchmarks (each engine loads once per model), then computes
the metrics of :mod:`limo_rl.evaluate.metrics` with answers grouped for maj@k by the
verifier's own equivalence judge.

Layout under ``out_dir``::

    <benchmark>/generate/...        the generate stage's shards (resume point)
    <benchmark>/verify/verdicts.jsonl  grades, cached by the hash of the chains and verify config
    samples.parquet                 one row per sample, every benchmark
    metrics.json                    {"model", "benchmarks": {name: {n_problems, n_samples, primary, metrics}}}
    metrics.md                      the markdown table
    metrics.png                     primary metric per benchmark with its CI (logged to the tracker)

A rerun skips finished generation shards and cached grades and rewrites the outputs.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from limo_rl.config import EvaluateConfig, GenerateConfig, VerifyConfig
from limo_rl.data.benchmarks import benchmark_answer_type, load_benchmark
from limo_rl.evaluate.metrics import ProblemSamples, benchmark_metrics, group_answers
from limo_rl.evaluate.presets import BenchmarkProtocol, resolve_protocol
from limo_rl.evaluate.table import render_metrics_table
from limo_rl.generate import read_chains, run_generation
from limo_rl.generate.pool import ActorPool
from limo_rl.resolve import WorldSettings
from limo_rl.run.artifacts import (
    atomic_output,
    atomic_write_json,
    atomic_write_text,
    derive_seed,
    hash_obj,
    hash_path,
    mark_stage_done,
    stage_decision,
)
from limo_rl.run.layout import EVAL_VERDICTS, GENERATE, METRICS, SAMPLES, VERIFY, bench_stage_dir
from limo_rl.run.produced import record_of
from limo_rl.run.readers import EvalMetrics
from limo_rl.run.stagecache import begin_stage
from limo_rl.types import Chain, Problem, Verdict
from limo_rl.verify import Grader, grade_chains, grader_id, read_verdicts

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    metrics_path: Path
    table_path: Path
    samples_path: Path
    figure_path: Path | None = None


def eval_shard_size(n_problems: int, engines: int, cap: int) -> int:
    """Problems per evaluation shard: enough shards for every engine, at most ``generate.shard_size``.

    A shard runs on one engine. Cut at the generation's 256 problems, AIME24's 30 x 16 samples would be
    one shard on one of 8 engines; cut at ceil(problems / engines), each engine gets its share of the
    samples (a shard holds whole problems: a problem's samples stay together, its seeds do not depend on
    the cut, so the figures are the same)."""
    return max(1, min(cap, math.ceil(n_problems / max(engines, 1))))


def protocol_generate_config(gen_cfg: GenerateConfig, proto: BenchmarkProtocol, model: str,
                             n_problems: int | None = None) -> GenerateConfig:
    """The generate config of one benchmark: the recipe's engine settings, the protocol's sampling, and
    with ``n_problems`` shards that keep every engine busy (:func:`eval_shard_size`)."""
    update = {"model": model, "n": proto.n, "temperature": proto.temperature, "top_p": proto.top_p,
              "max_new_tokens": proto.max_new_tokens, "system_prompt": proto.system_prompt}
    if n_problems is not None:
        update["shard_size"] = eval_shard_size(n_problems, gen_cfg.num_actors, gen_cfg.shard_size)
    return gen_cfg.model_copy(update=update)


def problem_samples(
    problems: Sequence[Problem], chains: Sequence[Chain], verdicts: Mapping[tuple[str, int], Verdict], n: int
) -> list[ProblemSamples]:
    """Assemble each problem's n graded samples; a missing chain or verdict is an error naming it."""
    by_problem: dict[str, list[Chain]] = {}
    for c in chains:
        by_problem.setdefault(c.problem_id, []).append(c)
    out = []
    for p in problems:
        got = sorted(by_problem.get(p.id, []), key=lambda c: c.sample_index)
        if [c.sample_index for c in got] != list(range(n)):
            raise RuntimeError(f"problem {p.id!r}: expected samples 0..{n - 1}, found "
                               f"{[c.sample_index for c in got]}")
        vs = []
        for c in got:
            v = verdicts.get((p.id, c.sample_index))
            if v is None:
                raise RuntimeError(f"problem {p.id!r} sample {c.sample_index}: no verdict")
            vs.append(v)
        out.append(ProblemSamples(
            problem_id=p.id,
            correct=tuple(bool(v.correct) for v in vs),
            extracted=tuple(v.extracted for v in vs),
            n_tokens=tuple(int(c.n_tokens) for c in got),
            truncated=tuple(c.finish_reason == "length" for c in got),
        ))
    return out


def _grade_cached(
    chains: Sequence[Chain], problems: Sequence[Problem], verify_cfg: VerifyConfig, answer_type: str,
    chains_dir: Path, verify_dir: Path,
) -> dict[tuple[str, int], Verdict]:
    key = hash_obj({
        "chains": hash_path(chains_dir), "verify": verify_cfg.model_dump(), "answer_type": answer_type,
        "gold": {p.id: p.answer for p in problems},
    })
    path = verify_dir / EVAL_VERDICTS
    decision = stage_decision(verify_dir, key)
    if decision.run:
        # grade_chains resumes from rows already in the file; rows graded for other chains or gold are stale,
        # and rows of a sealed file that was modified are untrusted: both are set aside, never resumed.
        begin_stage(verify_dir, key, names=[path.name, record_of(path).name],
                    damaged=decision.reason if decision.damaged else None, announce=False)
        grade_chains(chains, {p.id: p for p in problems}, verify_cfg, path,
                     answer_types={p.id: answer_type for p in problems})
        mark_stage_done(verify_dir, key, [EVAL_VERDICTS])
    else:
        log.info("grades of %s are cached", verify_dir)
    return read_verdicts(path)


def plan_benchmarks(cfg: EvaluateConfig, world: WorldSettings | None = None) -> list[tuple[str, BenchmarkProtocol,
                                                                                            list[Problem], str]]:
    """Load and check every benchmark of ``cfg``: (name, protocol, problems, answer type) each. A bad row
    raises DataError naming its file and row; callers run this before they build or write anything."""
    plan = []
    for bench in cfg.all_benchmarks():
        problems = load_benchmark(bench, cfg.paths.get(bench), cfg.limit, world=world,
                                  revision=cfg.revisions.get(bench))
        if not problems:
            raise ValueError(f"benchmark {bench!r} has no problems ({cfg.paths.get(bench) or 'built-in'})")
        plan.append((bench, resolve_protocol(cfg, bench), problems, benchmark_answer_type(bench)))
    return plan


def run_evaluation(
    model: str,
    cfg: EvaluateConfig,
    gen_cfg: GenerateConfig,
    verify_cfg: VerifyConfig,
    out_dir: Path,
    *,
    seed: int = 0,
    tracker: Any = None,
    label: str = "",
    world: WorldSettings | None = None,
    pool: ActorPool | None = None,
    arm: str | None = None,
    rnd: int | None = None,
    hardware: Any = None,
) -> EvalResult:
    """Evaluate ``model`` on ``cfg.benchmarks``; writes samples.parquet, metrics.json and metrics.md.

    ``world``: the recipe's world settings, for generated benchmarks (``toy_eval``). ``pool``: engine
    actors to reuse (their owner closes them); else one pool serves every benchmark of this call.
    ``arm``, ``rnd`` (its round) and ``seed``: what the model is in its run, written on every row of samples.parquet
    so the files of several arms line up in one table.
    ``hardware``: the recipe's section (GPUs per node decide ``device: auto``; the autoscaler wait and
    engine start limits), None for an ad hoc call.
    """

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_seed = cfg.seed if cfg.seed is not None else seed
    doc: dict[str, Any] = {
        "model": str(model), "label": label, "preset": cfg.preset, "seed": base_seed,
        "ci_level": cfg.ci_level, "bootstrap_samples": cfg.bootstrap_samples, "benchmarks": {},
    }
    plan = plan_benchmarks(cfg, world)  # before any compute: a bad file fails in seconds, not after generation
    doc["grader"] = grader_id(verify_cfg.mode)  # which grader made these figures (mode and version)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    # One actor pool for every benchmark (it holds the Ray session too): the engine (vLLM's start
    # alone is ~20 s on CPU) loads once per model, not once per benchmark.
    own_pool = ActorPool() if pool is None else contextlib.nullcontext(pool)
    with own_pool as pool, Grader(verify_cfg) as grader:
        for bench, proto, problems, answer_type in plan:
            gcfg = protocol_generate_config(gen_cfg, proto, str(model), len(problems))
            log.info("evaluate %s on %s: %d problems x %d samples (T=%s, max_new_tokens=%d)", model, bench,
                     len(problems), proto.n, proto.temperature, proto.max_new_tokens)
            gen = run_generation(problems, gcfg, str(model), bench_stage_dir(out_dir, bench, GENERATE), round=0,
                                 base_seed=base_seed,
                                 teacher_name=str(model), pool=pool,  # not the label: renaming must not regenerate
                                 drop_over_window=False,  # a benchmark problem is never dropped unseen: an error
                                 **_hardware_args(hardware))
            wanted = {p.id for p in problems}
            chains = [c for c in read_chains(gen.chains_dir) if c.problem_id in wanted]
            verdicts = _grade_cached(chains, problems, verify_cfg, answer_type, Path(gen.chains_dir),
                                     bench_stage_dir(out_dir, bench, VERIFY))
            samples = problem_samples(problems, chains, verdicts, proto.n)
            equal = _memo_equal(grader, answer_type)
            bm = benchmark_metrics(samples, proto.ks, equal, bootstrap_samples=cfg.bootstrap_samples,
                                   ci_level=cfg.ci_level, seed=derive_seed(base_seed, 0, bench))
            entry = bm.to_dict()
            entry["protocol"] = {**proto.to_dict(), "answer_type": answer_type}
            entry["split"] = "dev" if bench in cfg.dev_benchmarks else "test"
            doc["benchmarks"][bench] = entry
            who = {"arm": arm if arm is not None else (label or None), "round": rnd, "seed": seed}
            rows.extend(_sample_rows(bench, problems, chains, verdicts, samples, equal, who))
            _log_benchmark(tracker, label, bench, entry)
    doc["wall_s"] = round(time.perf_counter() - t0, 3)
    return _write_outputs(out_dir, doc, rows, tracker, label)


def _hardware_args(hw: Any) -> dict[str, Any]:
    """run_generation's cluster arguments from a recipe's hardware section (none for an ad hoc call)."""
    if hw is None:
        return {}
    return {"wait_s": hw.wait_for_nodes_s, "start_timeout_s": hw.actor_start_timeout_s,
            "gpus_per_node": hw.gpus_per_node}


def _memo_equal(grader: Any, answer_type: str):
    """The verifier's equivalence judge, memoized (grouping asks the same pairs for every k)."""
    cache: dict[tuple[str, str], bool | None] = {}

    def equal(a: str, b: str) -> bool | None:
        if (a, b) not in cache:
            cache[(a, b)] = grader.equal(a, b, answer_type=answer_type)
        return cache[(a, b)]

    return equal


def _sample_rows(bench, problems, chains, verdicts, samples, equal, who) -> list[dict[str, Any]]:
    gold = {p.id: p.answer for p in problems}
    question = {p.id: p.question for p in problems}
    classes = {s.problem_id: group_answers(s.extracted, equal) for s in samples}
    rows = []
    for c in sorted(chains, key=lambda c: (c.problem_id, c.sample_index)):
        v = verdicts[(c.problem_id, c.sample_index)]
        rows.append({
            **who, "benchmark": bench, "problem_id": c.problem_id, "sample_index": c.sample_index,
            "question": question[c.problem_id], "gold": gold[c.problem_id],
            "extracted": v.extracted, "correct": bool(v.correct), "status": v.status,
            "answer_class": classes[c.problem_id][c.sample_index], "n_tokens": c.n_tokens,
            "finish_reason": c.finish_reason, "sample_seed": c.seed, "engine": c.engine, "text": c.text,
        })
    return rows


def _log_benchmark(tracker: Any, label: str, bench: str, entry: Mapping[str, Any]) -> None:
    if tracker is None:
        return
    prefix = f"eval/{label}/{bench}" if label else f"eval/{bench}"
    figures = {}
    for name, m in entry["metrics"].items():
        figures[f"{prefix}/{name}"] = m["value"]
        figures[f"{prefix}/{name}/ci_low"] = m["ci_low"]
        figures[f"{prefix}/{name}/ci_high"] = m["ci_high"]
    tracker.log(figures)


def _write_outputs(out_dir: Path, doc: dict[str, Any], rows: list[dict[str, Any]], tracker: Any,
                   label: str) -> EvalResult:
    import pyarrow as pa
    import pyarrow.parquet as pq

    samples_path = out_dir / SAMPLES
    schema = pa.schema([  # seed: the run's; sample_seed: the one this sample was drawn with
        ("arm", pa.string()), ("round", pa.int64()), ("seed", pa.int64()),
        ("benchmark", pa.string()), ("problem_id", pa.string()), ("sample_index", pa.int64()),
        ("question", pa.string()), ("gold", pa.string()), ("extracted", pa.string()), ("correct", pa.bool_()),
        ("status", pa.string()), ("answer_class", pa.int64()), ("n_tokens", pa.int64()),
        ("finish_reason", pa.string()), ("sample_seed", pa.int64()), ("engine", pa.string()), ("text", pa.string()),
    ])
    with atomic_output(samples_path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    metrics_path = atomic_write_json(out_dir / METRICS, doc)
    table_path = atomic_write_text(out_dir / "metrics.md", render_metrics_table(doc, doc["ci_level"]))
    figure_path = plot_metrics(doc, out_dir / "metrics.png")
    if tracker is not None and figure_path is not None:
        tracker.log_image(f"eval/{label}/metrics" if label else "eval/metrics", figure_path)
    log.info("evaluation written to %s", out_dir)
    return EvalResult(doc, metrics_path, table_path, samples_path, figure_path)


def plot_metrics(doc: Mapping[str, Any], path: Path) -> Path | None:
    """Primary metric per benchmark with its CI, and pass@k / maj@k curves where n > 1."""
    ev = EvalMetrics.from_doc(doc)
    benches = ev.benchmarks
    if not benches:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(benches)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    vals = [benches[b].metrics[benches[b].primary or ""] for b in names]
    ax1.bar(range(len(names)), [100 * m.value for m in vals],
            yerr=[[100 * (m.value - m.ci_low) for m in vals], [100 * (m.ci_high - m.value) for m in vals]],
            capsize=4)
    ax1.set_xticks(range(len(names)), [f"{b}\n{benches[b].primary}" for b in names], fontsize=8)
    ax1.set_ylabel("%")
    ax1.set_title(f"{ev.label or ev.model}")
    for b in names:
        for family in ("pass", "maj"):
            pts = sorted((int(k.split("@")[1]), m.value) for k, m in benches[b].metrics.items()
                         if k.startswith(f"{family}@") and "[" not in k)
            if pts and family == "pass":
                pts.insert(0, (1, benches[b].metrics[benches[b].primary or ""].value))
            if len(pts) > 1:
                ax2.plot([k for k, _ in pts], [100 * v for _, v in pts], marker="o", label=f"{b} {family}@k")
    ax2.set_xlabel("k")
    ax2.set_xscale("log", base=2)
    ax2.set_title("pass@k (unbiased) and maj@k")
    if ax2.lines:
        ax2.legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
