"""End to end: ``limo-rl evaluate`` on the tiny model and a local benchmark file (real Ray, HF engine,
real grader), a resumed rerun, and the scoring path with planted chains of a known-good "model"."""

from __future__ import annotations

import json
import time

import pytest

from limo_rl.cli import main
from limo_rl.config import VerifyConfig
from limo_rl.evaluate.harness import _grade_cached, _memo_equal, problem_samples
from limo_rl.evaluate.metrics import benchmark_metrics
from limo_rl.types import Chain, Problem

pytestmark = pytest.mark.slow

RATES = ("pass@1[avg of 2]", "pass@2", "maj@2", "no_answer_rate", "truncation_rate")


def _write_bench(path, n=3):
    rows = [{"id": f"q{i}", "question": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_cli_evaluate_tiny_model_and_resume(ray_cluster, tiny_model_dir, tmp_path, capsys):
    import pyarrow.parquet as pq

    bench = tmp_path / "bench.jsonl"
    _write_bench(bench)
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(tiny_model_dir), "--benchmark-file", f"toy_eval={bench}", "--n", "2",
            "--temperature", "0.8", "--k", "1,2,4", "--max-new-tokens", "12", "--bootstrap-samples", "200",
            "--label", "tiny", "--out", str(out), "--batch-size", "4"]
    assert main(argv) == 0
    printed = capsys.readouterr().out

    doc = json.loads((out / "metrics.json").read_text())
    assert doc["model"] == str(tiny_model_dir.resolve()) and doc["label"] == "tiny"
    b = doc["benchmarks"]["toy_eval"]
    assert (b["n_problems"], b["n_samples"], b["primary"]) == (3, 6, "pass@1[avg of 2]")
    assert set(RATES) | {"mean_tokens"} == set(b["metrics"])
    for name in RATES:
        m = b["metrics"][name]
        assert 0.0 <= m["ci_low"] <= m["value"] <= m["ci_high"] <= 1.0, (name, m)
    assert 0 < b["metrics"]["mean_tokens"]["value"] <= 12
    assert any("pass@4" in s for s in b["skipped"])  # k=4 > n=2 is reported, not faked

    table = (out / "metrics.md").read_text()
    assert table in printed
    head = [ln for ln in table.splitlines() if ln.startswith("| toy_eval | 3 | 6 | pass@1[avg of 2] |")]
    assert len(head) == 1
    listed = {ln.split("|")[2].strip() for ln in table.splitlines() if ln.startswith("| toy_eval | ") and
              ln.count("|") == 6}
    assert set(RATES) | {"mean_tokens"} <= listed
    assert "Acc" not in table and "pass@4" in table  # named in the not-reported list

    samples = pq.read_table(out / "samples.parquet").to_pylist()
    assert len(samples) == 6
    assert {(r["problem_id"], r["sample_index"]) for r in samples} == {(f"toy_eval-q{i}", j) for i in range(3) for j in (0, 1)}
    mean_correct = sum(r["correct"] for r in samples) / 6
    assert b["metrics"]["pass@1[avg of 2]"]["value"] == pytest.approx(mean_correct)
    assert (out / "metrics.png").stat().st_size > 0

    # A rerun resumes: no shard is generated again and the numbers are identical.
    t0 = time.perf_counter()
    assert main(argv) == 0
    rerun_s = time.perf_counter() - t0
    stats = json.loads((out / "toy_eval" / "generate" / "stats.json").read_text())
    assert stats["shards_generated"] == 0 and stats["shards_skipped"] >= 1
    assert json.loads((out / "metrics.json").read_text())["benchmarks"] == doc["benchmarks"]
    assert rerun_s < 60


def test_scoring_with_planted_chains_of_a_good_model(tmp_path):
    """The harness's grading and scoring glue on chains whose correctness we know."""
    problems = [Problem(id="a", question="?", answer="1/2"), Problem(id="b", question="?", answer="7"),
                Problem(id="c", question="?", answer="3")]
    texts = {
        "a": ["so \\boxed{0.5}", "thus \\boxed{\\frac{1}{2}}", "\\boxed{2}"],  # 2 right (equal forms), 1 wrong
        "b": ["\\boxed{7}", "\\boxed{7}", "no idea"],  # 2 right, 1 missing
        "c": ["\\boxed{4}", "\\boxed{4}", "\\boxed{3}"],  # the majority is wrong, the right one truncated
    }
    # sample 2 of each problem hit the length limit: a chain cut off has no final answer (issue 14), so
    # c's truncated \boxed{3} does not count
    chains = [Chain(problem_id=pid, sample_index=i, round=0, teacher="planted", engine="none", seed=i,
                    prompt_hash="x", text=t, n_tokens=10 + i, finish_reason="stop" if i < 2 else "length")
              for pid, ts in texts.items() for i, t in enumerate(ts)]
    chains_dir = tmp_path / "chains"
    chains_dir.mkdir()
    (chains_dir / "planted.txt").write_text("stands in for the shards: the grade cache hashes this folder")
    from limo_rl.verify import Grader

    cfg = VerifyConfig(workers=1)
    verdicts = _grade_cached(chains, problems, cfg, "expression", chains_dir, tmp_path / "verify")
    assert (tmp_path / "verify" / "verdicts.jsonl").is_file()
    samples = problem_samples(problems, chains, verdicts, 3)
    assert [s.correct for s in samples] == [(True, True, False), (True, True, False), (False, False, False)]
    with Grader(cfg) as grader:
        bm = benchmark_metrics(samples, [1, 2, 3], _memo_equal(grader, "expression"), bootstrap_samples=100)
    m = {k: v.value for k, v in bm.metrics.items()}
    assert m["pass@1[avg of 3]"] == pytest.approx(4 / 9)
    assert m["pass@3"] == pytest.approx(2 / 3)
    assert m["pass@2"] == pytest.approx((1 + 1 + 0) / 3)
    # maj@3: a -> 0.5 and \frac{1}{2} vote together (1); b -> 7 (1); c -> 4 wins (0)
    assert m["maj@3"] == pytest.approx(2 / 3)
    assert m["no_answer_rate"] == pytest.approx(3 / 9)  # the three truncated chains
    assert m["truncation_rate"] == pytest.approx(1 / 3)
    assert m["mean_tokens"] == pytest.approx(11.0)
    # A cached grade is reused: delete nothing, regrade nothing (the marker matches).
    before = (tmp_path / "verify" / "verdicts.jsonl").stat().st_mtime_ns
    _grade_cached(chains, problems, cfg, "expression", chains_dir, tmp_path / "verify")
    assert (tmp_path / "verify" / "verdicts.jsonl").stat().st_mtime_ns == before
