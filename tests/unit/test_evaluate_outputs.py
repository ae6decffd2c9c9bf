"""Figures and tracker logging of the evaluation harness (its import purity: tests/unit/test_structure.py)."""

from __future__ import annotations

from limo_rl.evaluate.harness import _log_benchmark, plot_metrics
from limo_rl.evaluate.metrics import ProblemSamples, benchmark_metrics, exact_equal


class Recorder:
    def __init__(self):
        self.logged, self.images = [], []

    def log(self, metrics, step=None):
        self.logged.append(dict(metrics))

    def log_image(self, name, path):
        self.images.append((name, path))


def _entry(correct):
    probs = [ProblemSamples(str(i), tuple(c), ("1",) * len(c), (5,) * len(c), (False,) * len(c))
             for i, c in enumerate(correct)]
    return benchmark_metrics(probs, [1, 2, 4], exact_equal, bootstrap_samples=50).to_dict()


def test_tracker_gets_every_metric_with_its_interval():
    rec = Recorder()
    entry = _entry([[True, False, True, True], [False] * 4])
    _log_benchmark(rec, "loop/round1", "aime24", entry)
    (figs,) = rec.logged
    assert figs["eval/loop/round1/aime24/pass@1[avg of 4]"] == entry["metrics"]["pass@1[avg of 4]"]["value"]
    assert {"eval/loop/round1/aime24/maj@4", "eval/loop/round1/aime24/pass@2/ci_low",
            "eval/loop/round1/aime24/mean_tokens/ci_high"} <= set(figs)
    _log_benchmark(None, "x", "aime24", entry)  # no tracker: nothing to do, no error


def test_plot_metrics_writes_a_png(tmp_path):
    doc = {"model": "m", "label": "", "benchmarks": {"aime24": _entry([[True, False, True, True]] * 3),
                                                     "math500": _entry([[True], [False]])}}
    path = plot_metrics(doc, tmp_path / "metrics.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_metrics({"benchmarks": {}}, tmp_path / "none.png") is None


def test_samples_parquet_names_arm_round_seed_and_question(tmp_path):
    import pyarrow.parquet as pq

    from limo_rl.evaluate.harness import _sample_rows, _write_outputs, problem_samples
    from limo_rl.types import Chain, Problem, Verdict

    problems = [Problem(f"q{i}", f"what is {i}?", str(i)) for i in range(2)]
    chains = [Chain(p.id, j, 0, "m", "hf", 100 + j, "h", f"it is {p.answer}", 4, "stop") for p in problems
              for j in range(2)]
    verdicts = {(c.problem_id, c.sample_index): Verdict(c.sample_index == 0, "ok", c.text[-1]) for c in chains}
    samples = problem_samples(problems, chains, verdicts, 2)
    rows = _sample_rows("toy_eval", problems, chains, verdicts, samples, exact_equal,
                        {"arm": "loop", "round": 2, "seed": 7})
    _write_outputs(tmp_path, {"benchmarks": {}, "ci_level": 0.95}, rows, None, "")
    got = pq.read_table(tmp_path / "samples.parquet").to_pylist()
    assert len(got) == 4
    for r in got:
        assert (r["arm"], r["round"], r["seed"]) == ("loop", 2, 7)
        assert r["question"] == f"what is {r['problem_id'][1:]}?" and r["gold"] == r["problem_id"][1:]
        assert r["sample_seed"] == 100 + r["sample_index"]


def test_arm_and_round_of_a_scope():
    from limo_rl.run.layout import arm_of

    assert arm_of("loop/round2/seed0") == ("loop", 2)
    assert arm_of("baseline/teacher/seed3") == ("teacher", None)
    assert arm_of("static/n10/draw0/seed0") == ("static/n10/draw0", None)


def test_evaluation_shards_keep_every_engine_busy():
    """AIME24 (30 problems x 16) and MATH500 on 8 engines: 8 shards each, not 1 and 2 of generate.shard_size."""
    from limo_rl.config import EvaluateConfig, GenerateConfig
    from limo_rl.evaluate.harness import eval_shard_size, protocol_generate_config
    from limo_rl.evaluate.presets import resolve_protocol
    from limo_rl.generate.shards import plan_shards

    gen = GenerateConfig(num_actors=8, shard_size=256)
    for bench, size in (("aime24", 30), ("math500", 500), ("amc23", 40)):
        proto = resolve_protocol(EvaluateConfig(preset="limo", benchmarks=[bench]), bench)
        cfg = protocol_generate_config(gen, proto, "m", size)
        shards = plan_shards({f"p{i:03d}": "h" for i in range(size)}, cfg.shard_size, "spec")
        assert len(shards) == 8 and cfg.n == proto.n and cfg.num_actors == 8, bench
    assert eval_shard_size(3, 8, 256) == 1  # fewer problems than engines: one problem a shard
    assert eval_shard_size(100_000, 8, 256) == 256  # never above generate.shard_size
    assert protocol_generate_config(gen, proto, "m").shard_size == 256  # no problem count: as configured
