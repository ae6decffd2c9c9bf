"""The benchmark registry (local overrides, answer types, field quirks) and the static LIMO set."""

from __future__ import annotations

import json

import pytest

from limo_rl.config import BENCHMARK_NAMES, StaticArmConfig, ToyConfig
from limo_rl.data.benchmarks import REGISTRY, _gpqa_row, benchmark_answer_type, load_benchmark
from limo_rl.data.io import DataError
from limo_rl.data.static import load_static, load_static_set
from limo_rl.resolve import WorldSettings
from limo_rl.types import LIMO_SYSTEM_PROMPT


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return str(path)


def test_registry_covers_the_config_names_with_answer_types():
    assert set(REGISTRY) == set(BENCHMARK_NAMES)
    assert benchmark_answer_type("aime24") == "number" and benchmark_answer_type("gpqa_diamond") == "choice"
    assert benchmark_answer_type("math500") == "expression"
    for name in ("aime24", "aime25", "amc23", "math500", "minerva_math", "olympiadbench", "gpqa_diamond"):
        assert REGISTRY[name].hf_id
    with pytest.raises(DataError, match="unknown benchmark 'aime23'"):
        benchmark_answer_type("aime23")


def test_local_overrides_map_real_field_names(tmp_path):
    amc = _jsonl(tmp_path / "amc.jsonl", [{"id": 0, "problem": "P0", "question": "P0", "answer": 27.0},
                                          {"id": 1, "problem": "P1", "question": "P1", "answer": 36.5}])
    ps = load_benchmark("amc23", amc)
    assert [(p.id, p.answer, p.source) for p in ps] == [("amc23-0", "27", "amc23"), ("amc23-1", "36.5", "amc23")]
    m5 = _jsonl(tmp_path / "m5.jsonl", [{"problem": "Q", "solution": "s \\boxed{3}", "answer": "3",
                                         "subject": "Algebra", "unique_id": "test/x.json"}] * 3)
    ps = load_benchmark("math500", m5, limit=2)
    assert [p.id for p in ps] == ["math500-0", "math500-1"] and ps[0].subject == "Algebra"
    kao = _jsonl(tmp_path / "k.jsonl", [{"id": 0, "problem": "Q", "answer": {"a": "1", "b": "2"}}])
    assert load_benchmark("kaoyan", kao)[0].answer == "a: 1; b: 2"
    gk = _jsonl(tmp_path / "g.jsonl", [{"idx": 4, "question": "Q A. 1 B. 2", "answer": "2", "choice_answer": "B"}])
    (g,) = load_benchmark("gaokao", gk)
    assert g.id == "gaokao-4" and g.meta["choice_answer"] == "B"
    bad = _jsonl(tmp_path / "bad.jsonl", [{"id": 1, "problem": "Q", "answer": "1"}, {"id": 2, "answer": "2"}])
    with pytest.raises(DataError, match=r"bad.jsonl:2: missing field 'problem' or 'question'"):
        load_benchmark("aime24", bad)
    with pytest.raises(DataError, match="no Hugging Face copy"):
        load_benchmark("kaoyan")


def test_gpqa_raw_rows_become_lettered_questions():
    raw = {"Question": "Which is heavier?", "Correct Answer": "lead", "Incorrect Answer 1": "air",
           "Incorrect Answer 2": "foam", "Incorrect Answer 3": "helium", "Record ID": "rec1"}
    row = _gpqa_row(raw)
    assert row == _gpqa_row(dict(raw))  # deterministic
    letter = row["answer"]
    assert f"{letter}. lead" in row["question"] and row["question"].count("\n") >= 4


def test_toy_eval_benchmark():
    ps = load_benchmark("toy_eval", limit=5)
    assert len(ps) == 5 and all(p.source == "toy_eval" for p in ps)


def test_static_limo_schema_gives_problems_and_examples(tmp_path):
    rows = [{"question": f"Q{i}", "solution": f"Think... so \\boxed{{{i}}}", "answer": str(i)} for i in range(5)]
    rows[3].pop("answer")  # answer recovered from the solution's box
    src = _jsonl(tmp_path / "limo.jsonl", rows)
    problems, examples = load_static(StaticArmConfig(source=src, limit=4), LIMO_SYSTEM_PROMPT)
    assert len(problems) == len(examples) == 4 and problems[3].answer == "3"
    ex = examples[1]
    assert [m["role"] for m in ex.messages] == ["system", "user", "assistant"]
    assert ex.messages[0]["content"] == LIMO_SYSTEM_PROMPT and ex.messages[2]["content"] == rows[1]["solution"]
    assert ex.source == "static" and ex.problem_id == problems[1].id
    no_sys = load_static_set(StaticArmConfig(source=src), None)
    assert len(no_sys) == 5 and [m["role"] for m in no_sys[0].messages] == ["user", "assistant"]
    bad = _jsonl(tmp_path / "bad.jsonl", rows[:2] + [{"question": "Q", "answer": "1"}])
    with pytest.raises(DataError, match=r"bad.jsonl:3: field 'solution'"):
        load_static_set(StaticArmConfig(source=bad), None)


def test_static_toy_gold_set():
    problems, examples = load_static(StaticArmConfig(source="toy", limit=7), "SYS", WorldSettings({"toy": ToyConfig(seed=1)}))
    assert len(examples) == 7 and examples[0].messages[0] == {"role": "system", "content": "SYS"}
    assert len(problems) == 7 and all(p.answer for p in problems)
