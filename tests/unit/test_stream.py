"""The streaming driver: verdict shards beside chain shards (resumable per shard), selection in one pass."""

from __future__ import annotations

import importlib
import json

import pytest

from limo_rl.config import SelectConfig, VerifyConfig
from limo_rl.data.io import write_problems
from limo_rl.generate.shards import write_shard
from limo_rl.select import run_selection
from limo_rl.select.select import Distribution, summary
from limo_rl.select.stream import select_from_shards
from limo_rl.types import Chain, Problem
from limo_rl.verify.stage import grade_shards, read_verdicts, verdict_shard_name, verdict_tag

grade_mod = importlib.import_module("limo_rl.verify.grade")


def _world(tmp_path, n_problems=12, k=4, per_shard=5):
    """Problem i is answered right by its first i % (k+1) samples; sample 3 of odd problems is truncated."""
    problems = [Problem(id=f"p{i:02d}", question=f"What is {i}+{i}?", answer=str(2 * i),
                        source="a" if i % 3 else "b") for i in range(n_problems)]
    write_problems(tmp_path / "problems.jsonl", problems)
    chains_dir = tmp_path / "chains"
    chains_dir.mkdir()
    all_chains = []
    for s, start in enumerate(range(0, n_problems, per_shard)):
        rows = []
        for p in problems[start:start + per_shard]:
            i = int(p.id[1:])
            for j in range(k):
                ans = p.answer if j < i % (k + 1) else "-1"
                text = f"{p.question} Let me check: {i}+{i}. " + "Verify again. " * j + f"\\boxed{{{ans}}}"
                rows.append(Chain(problem_id=p.id, sample_index=j, round=1, teacher="t", engine="hf", seed=j,
                                  prompt_hash="h", text=text, n_tokens=len(text) // 4,
                                  finish_reason="length" if (j == 3 and i % 2) else "stop"))
        write_shard(chains_dir / f"shard-{s:05d}-k{s}.parquet", rows)
        all_chains += rows
    return problems, all_chains, chains_dir


def _spy(monkeypatch):
    graded: list = []
    real = grade_mod.Grader.grade_many

    def spy(self, items, progress=True, **kw):
        graded.extend(items)
        return real(self, items, progress=False, **kw)

    monkeypatch.setattr(grade_mod.Grader, "grade_many", spy)
    return graded


def test_verdict_shards_resume_at_the_shard_without_duplicates(tmp_path, monkeypatch):
    problems, chains, chains_dir = _world(tmp_path)
    golds = {p.id: p.answer for p in problems}
    cfg = VerifyConfig(workers=1)
    vdir = tmp_path / "verdicts"
    graded = _spy(monkeypatch)
    summary1 = grade_shards(chains_dir, golds, cfg, vdir)
    assert len(graded) == len(chains) and summary1["chains"] == len(chains)
    files = sorted(p.name for p in vdir.glob("shard-*.jsonl"))
    tag = verdict_tag(cfg)
    assert files == sorted(verdict_shard_name(p, tag) for p in chains_dir.glob("*.parquet"))
    # a chain cut off by the length limit has no final answer (issue 14): only finished chains can be right
    expect_correct = sum(int(c.text.split("boxed{")[1].rstrip("}")) >= 0 and c.finish_reason == "stop"
                         for c in chains)
    assert summary1["accuracy"] == pytest.approx(expect_correct / len(chains))

    # a kill before shard 2 was written: only that shard is graded again; earlier files untouched
    mtimes = {p.name: p.stat().st_mtime_ns for p in vdir.glob("shard-*.jsonl")}
    victim = vdir / files[1]
    victim.unlink()
    (vdir / f".{files[1]}.tmp-1-1").write_text('{"torn": ')  # what a killed writer leaves
    graded.clear()
    summary2 = grade_shards(chains_dir, golds, cfg, vdir)
    assert len(graded) == sum(1 for c in chains if c.problem_id in {"p05", "p06", "p07", "p08", "p09"})
    assert summary2 == summary1
    assert not list(vdir.glob(".shard-*.tmp-*"))
    for name, t in mtimes.items():
        if name != files[1]:
            assert (vdir / name).stat().st_mtime_ns == t
    back = read_verdicts(vdir)  # a folder reads as one mapping; no key twice
    rows = sum(1 for p in vdir.glob("shard-*.jsonl") for _ in p.read_text().splitlines())
    assert len(back) == rows == len(chains)

    # another grader config: the old shards are set aside, not mixed in
    graded.clear()
    grade_shards(chains_dir, golds, VerifyConfig(workers=1, fallbacks=["boxed"]), vdir)
    assert len(graded) == len(chains)
    assert len(list(vdir.glob("shard-*.jsonl"))) == 3 and len(list(vdir.glob("stale-*/*.jsonl"))) == 3


def test_unknown_problem_in_a_shard_is_named(tmp_path):
    problems, _, chains_dir = _world(tmp_path, n_problems=3)
    with pytest.raises(ValueError, match="unknown problem 'p02'"):
        grade_shards(chains_dir, {"p00": "0", "p01": "2"}, VerifyConfig(workers=1), tmp_path / "v")


@pytest.mark.parametrize("cfg", [
    {"strategy": "limo_rules", "per_problem": 2, "budget": 5},
    {"strategy": "shortest_correct", "budget": 3, "balance_by": "source", "difficulty": {"min_correct": 1}},
    {"strategy": "verification_density", "budget": 100, "weights": {"n_tokens": 0.01}},
])
def test_streaming_selection_equals_in_memory_selection(tmp_path, cfg):
    problems, chains, chains_dir = _world(tmp_path)
    grade_shards(chains_dir, {p.id: p.answer for p in problems}, VerifyConfig(workers=1), tmp_path / "verdicts")
    verdicts = read_verdicts(tmp_path / "verdicts")
    sc = SelectConfig.model_validate(cfg)
    mem = run_selection(problems, chains, verdicts, sc, "SYS", tmp_path / "mem")
    ext = problems + [Problem(id="zz-no-chains", question="q?", answer="1", source="a")]
    write_problems(tmp_path / "problems.jsonl", ext)
    stream = select_from_shards(tmp_path / "problems.jsonl", chains_dir, tmp_path / "verdicts", sc, "SYS",
                                tmp_path / "stream")
    assert stream.n_selected > 0
    assert [e.to_dict() for e in stream.examples] == [e.to_dict() for e in mem.examples]
    assert (tmp_path / "stream" / "sft.jsonl").read_text() == (tmp_path / "mem" / "sft.jsonl").read_text()
    a, b = json.loads((tmp_path / "mem" / "stats.json").read_text()), stream.stats
    assert b["steps"][0]["kept"] == a["steps"][0]["kept"] + 1  # the extra problem counted, removed as no verdicts
    assert b["steps"][1]["reasons"].get("no verdicts", 0) == a["steps"][1]["reasons"].get("no verdicts", 0) + 1
    assert b["steps"][2:] == a["steps"][2:] and b["distributions"] == a["distributions"]
    rows = [json.loads(x) for x in (tmp_path / "stream" / "difficulty.jsonl").read_text().splitlines()]
    assert rows[-1] == {"problem_id": "zz-no-chains", "correct": 0, "samples": 0, "pass_rate": None,
                        "kept": False, "reason": "no verdicts"}
    mem_rows = [json.loads(x) for x in (tmp_path / "mem" / "difficulty.jsonl").read_text().splitlines()]
    assert rows[:-1] == mem_rows


def test_streaming_weak_filter_and_mixed_shards_error(tmp_path):
    problems, chains, chains_dir = _world(tmp_path)
    grade_shards(chains_dir, {p.id: p.answer for p in problems}, VerifyConfig(workers=1), tmp_path / "verdicts")
    weak = tmp_path / "weak.jsonl"
    weak.write_text(json.dumps({"problem_id": "p02", "sample_index": 0, "correct": True, "status": "ok"}) + "\n")
    res = select_from_shards(tmp_path / "problems.jsonl", chains_dir, tmp_path / "verdicts",
                             SelectConfig.model_validate({"weak_filter": {"enabled": True}, "budget": 100}), None,
                             tmp_path / "sel", weak_verdicts=weak)
    assert "p02" not in {e.problem_id for e in res.examples} and res.stats["steps"][1]["removed"] == 1
    write_shard(chains_dir / "shard-00009-dup.parquet", [c for c in chains if c.problem_id == "p01"])
    with pytest.raises(ValueError, match="'p01' also in shard-00000"):
        select_from_shards(tmp_path / "problems.jsonl", chains_dir, tmp_path / "verdicts", SelectConfig(), None,
                           tmp_path / "sel2")


def test_distribution_is_exact_then_bounded():
    values = [float((i * 7919) % 1000) for i in range(5000)]
    exact = summary(values)
    assert exact["count"] == 5000 and exact["min"] == 0.0 and exact["max"] == 999.0 and "approximate" not in exact
    d = Distribution(cap=500)
    for v in values:
        d.add(v)
    approx = d.summary()
    assert len(d.values) == 500 and approx["approximate"] is True
    assert approx["count"] == 5000 and approx["mean"] == pytest.approx(exact["mean"])
    assert abs(approx["p50"] - exact["p50"]) < 100  # a 500-value reservoir of a uniform 0..999


def test_grade_chains_appends_and_drops_a_torn_last_line(tmp_path, monkeypatch):
    from limo_rl.verify.stage import grade_chains

    problems, chains, _ = _world(tmp_path, n_problems=3)
    by_id = {p.id: p for p in problems}
    out = tmp_path / "v.jsonl"
    grade_chains(chains[:5], by_id, VerifyConfig(workers=1), out)
    lines = out.read_text().splitlines(keepends=True)
    with open(out, "a") as fh:  # killed mid-append of the next chunk: a torn row after the recorded ones
        fh.write(lines[0][:20])
    graded = _spy(monkeypatch)
    verdicts = grade_chains(chains, by_id, VerifyConfig(workers=1), out)
    assert len(graded) == len(chains) - 5  # the torn row is dropped, the 5 recorded ones are not graded again
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    keys = [(r["problem_id"], r["sample_index"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(chains) == len(verdicts)
