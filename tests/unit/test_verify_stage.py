"""grade_chains: JSONL verdict rows, resume without duplicates; read_verdicts errors (the pure-core boundary: tests/unit/test_structure.py)."""

from __future__ import annotations

import importlib
import json

import pytest

from limo_rl.config import VerifyConfig
from limo_rl.types import Chain, Problem
from limo_rl.verify.stage import grade_chains, read_verdicts


def _chain(pid: str, k: int, text: str) -> Chain:
    return Chain(problem_id=pid, sample_index=k, round=1, teacher="t", engine="hf", seed=0, prompt_hash="h",
                 text=text, n_tokens=len(text) // 4 + 1, finish_reason="stop")


def test_grade_chains_writes_rows_and_resumes(tmp_path, monkeypatch):
    problems = {"p1": Problem("p1", "q", "12"), "p2": Problem("p2", "q", "C")}
    chains = [_chain("p1", 0, "so \\boxed{12}"), _chain("p1", 1, "so \\boxed{13}"), _chain("p2", 0, "\\boxed{C}")]
    out = tmp_path / "verdicts.jsonl"
    cfg = VerifyConfig(workers=1)
    v = grade_chains(chains[:2], problems, cfg, out, answer_types={"p2": "choice"})
    assert [x.correct for x in v] == [True, False]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["problem_id"], r["sample_index"]) for r in rows] == [("p1", 0), ("p1", 1)]

    graded: list = []
    grade_mod = importlib.import_module("limo_rl.verify.grade")  # the module (the package exports grade())
    real = grade_mod.Grader.grade_many

    def spy(self, items, progress=True, **kw):
        graded.extend(items)
        return real(self, items, progress=progress, **kw)

    monkeypatch.setattr(grade_mod.Grader, "grade_many", spy)
    v = grade_chains(chains, problems, cfg, out, answer_types={"p2": "choice"})
    assert len(graded) == 1 and graded[0][0] == "\\boxed{C}"  # only the new chain was graded
    assert [x.correct for x in v] == [True, False, True]
    back = read_verdicts(out)
    assert len(back) == 3 and back[("p2", 0)].correct and back[("p1", 1)].status == "ok"


def test_unknown_problem_is_named(tmp_path):
    with pytest.raises(ValueError, match="'zz'"):
        grade_chains([_chain("zz", 0, "x")], {}, VerifyConfig(), tmp_path / "v.jsonl")


def test_read_verdicts_names_line_and_field(tmp_path):
    p = tmp_path / "v.jsonl"
    p.write_text('{"problem_id": "a", "sample_index": 0, "correct": true, "status": "ok"}\n{"problem_id": "b"}\n')
    with pytest.raises(ValueError, match=r"v.jsonl:2: missing field 'sample_index'"):
        read_verdicts(p)
    p.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"v.jsonl:1: not valid JSON"):
        read_verdicts(p)


def test_verdicts_record_the_grader_and_another_mode_regrades(tmp_path):
    """verify.mode is part of the grader's identity: rows made by the other mode are not resumed."""
    problems = {"p1": Problem("p1", "q", "\\frac{1}{3}")}
    chains = [_chain("p1", 0, "so \\boxed{0.3333333}"), _chain("p1", 1, "<think>so \\boxed{\\frac13}")]
    out = tmp_path / "verdicts.jsonl"
    ours = grade_chains(chains, problems, VerifyConfig(workers=1), out)
    assert [v.correct for v in ours] == [False, False]  # a rounded decimal; an answer cut off in its thinking
    assert ours[1].status == "no_answer" and {v.grader_version for v in ours} == {"limo_rl-verify-4"}
    theirs = grade_chains(chains, problems, VerifyConfig(workers=1, mode="math_verify"), out)
    assert {v.grader_version for v in theirs} == {"math_verify@limo_rl-verify-4"}
    assert theirs[0].correct is True  # plain math-verify rounds to 6 decimals
    with pytest.raises(ValueError, match="mode"):
        VerifyConfig(mode="sympy")
