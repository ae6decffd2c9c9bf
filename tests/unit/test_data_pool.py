"""Pool building: field maps, sources (JSONL, parquet, local HF folders), bad rows, counted filter steps."""

from __future__ import annotations

import json

import pytest

from limo_rl.config import PoolConfig
from limo_rl.data.io import DataError, read_problems
from limo_rl.data.pool import build_pool

AIME = ("Every morning Aya goes for a 9-kilometer-long walk and stops at a coffee shop afterwards. When she walks "
        "at a constant speed of s kilometers per hour, the walk takes her 4 hours.")


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _pool_rows():
    return [
        {"problem": "Find x if 2x + 3 = 11.", "solution": "2x = 8 so \\boxed{4}", "uid": "a"},
        {"problem": "find x if 2x+3 = 11", "solution": "\\boxed{4}", "uid": "b"},  # exact dup of a
        {"problem": AIME.replace("4 hours", "5 hours"), "solution": "\\boxed{204}", "uid": "c"},  # contaminated
        {"problem": "How many primes are below 20?", "solution": "They are 2,3,5,7,11,13,17,19: \\boxed{8}",
         "uid": "d"},
        {"problem": "Sum 1 to 10.", "solution": "\\boxed{55}", "uid": "e"},
    ]


def _cfg(source, **kw):
    base = {"source": source, "fields": {"question": "problem", "answer": None, "id": "uid"},
            "answer_from_solution": True, "decontaminate": {"benchmarks": ["aime24"]}}
    base.update(kw)
    return PoolConfig.model_validate(base)


def test_build_pool_counts_every_removal(tmp_path):
    src = _write_jsonl(tmp_path / "pool.jsonl", _pool_rows())
    bench = _write_jsonl(tmp_path / "aime24.jsonl", [{"id": 60, "problem": AIME, "answer": "204"}])
    res = build_pool(_cfg(str(src)), ["math500"], {"aime24": str(bench)}, tmp_path / "out")
    problems = read_problems(res.problems_path)
    assert [p.id for p in problems] == ["pool-a", "pool-d", "pool-e"]
    assert [p.answer for p in problems] == ["4", "8", "55"]
    steps = {s["step"]: s for s in res.stats["steps"]}
    assert steps["read"]["kept"] == 5 and steps["exact_dedup"]["removed"] == 1
    assert steps["decontaminate"]["removed"] == 1 and steps["decontaminate"]["by_benchmark"] == {"aime24": 1}
    removed = sum(s.get("removed", 0) for s in res.stats["steps"])
    assert steps["read"]["kept"] - removed == res.stats["problems"] == 3
    report = [json.loads(x) for x in (tmp_path / "out" / "decontamination.jsonl").read_text().splitlines()]
    assert report[0]["problem_id"] == "pool-c" and report[0]["benchmark_id"] == "aime24-60"
    dedup = [json.loads(x) for x in (tmp_path / "out" / "dedup.jsonl").read_text().splitlines()]
    assert dedup == [{"problem_id": "pool-b", "duplicate_of": "pool-a", "kind": "exact", "similarity": 1.0}]


def test_eval_benchmarks_are_the_default_and_missing_ones_stop(tmp_path):
    src = _write_jsonl(tmp_path / "pool.jsonl", _pool_rows())
    cfg = _cfg(str(src), decontaminate={})
    with pytest.raises(DataError, match="decontamination needs benchmark 'cn_math_2024'"):
        build_pool(cfg, ["cn_math_2024"], {}, tmp_path / "out")
    bench = _write_jsonl(tmp_path / "b.jsonl", [{"id": 1, "problem": AIME, "answer": "204"}])
    res = build_pool(cfg, ["cn_math_2024"], {"cn_math_2024": str(bench)}, tmp_path / "out")
    assert res.stats["steps"][-1]["by_benchmark"] == {"cn_math_2024": 1}


def test_bad_rows_stop_or_skip_with_file_row_field(tmp_path):
    rows = _pool_rows()
    rows.insert(1, {"problem": "No box here.", "solution": "just text", "uid": "bad1"})
    rows.insert(3, {"problem": "", "solution": "\\boxed{1}", "uid": "bad2"})
    rows.append({"problem": "Repeat id.", "solution": "\\boxed{2}", "uid": "a"})
    src = _write_jsonl(tmp_path / "pool.jsonl", rows)
    cfg = _cfg(str(src), decontaminate={"enabled": False})
    with pytest.raises(DataError, match=rf"{src}:2: field 'solution' has no \\boxed"):
        build_pool(cfg, [], {}, tmp_path / "o1")
    res = build_pool(_cfg(str(src), decontaminate={"enabled": False}, on_bad_row="skip"), [], {}, tmp_path / "o2")
    bad = [json.loads(x) for x in (tmp_path / "o2" / "bad_rows.jsonl").read_text().splitlines()]
    assert [b["where"] for b in bad] == [f"{src}:2", f"{src}:4", f"{src}:8"]
    assert "field 'problem' is empty" in bad[1]["error"] and "repeats" in bad[2]["error"]
    assert res.stats["steps"][1] == {"step": "bad_rows", "removed": 3, "policy": "skip"}


def test_index_ids_limit_and_near_dedup(tmp_path):
    rows = [{"question": f"Problem {i}: count the lattice points inside a circle of radius {i} centred at the "
                         f"origin of the plane.", "answer": str(i)} for i in range(10, 16)]
    rows.insert(2, {"question": rows[1]["question"] + " Justify.", "answer": "11"})
    src = _write_jsonl(tmp_path / "circ.jsonl", rows)
    cfg = PoolConfig.model_validate({"source": str(src), "limit": 3, "decontaminate": {"enabled": False},
                                     "dedup": {"near_threshold": 0.7}})
    res = build_pool(cfg, [], {}, tmp_path / "out")
    ids = [p.id for p in read_problems(res.problems_path)]
    survivors = ["circ-0", "circ-1", "circ-3", "circ-4", "circ-5", "circ-6"]  # circ-2 is the near duplicate
    assert len(ids) == 3 and set(ids) <= set(survivors) and ids == sorted(ids, key=survivors.index)
    steps = {s["step"]: s["removed"] for s in res.stats["steps"] if "removed" in s}
    assert steps["near_dedup"] >= 1 and steps["limit"] == 7 - 3 - steps["near_dedup"]
    # pool.limit is a seeded random sample: the same seed the same problems, other seeds other ones
    draws = []
    for seed in range(6):
        out = build_pool(cfg.model_copy(update={"seed": seed}), [], {}, tmp_path / f"s{seed}")
        draws.append(tuple(p.id for p in read_problems(out.problems_path)))
    assert draws[0] == tuple(ids) and len(set(draws)) > 1


def test_parquet_and_local_hf_folders(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"question": f"What is {i} squared plus {i}?", "answer": str(i * i + i)} for i in range(4)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    off = {"decontaminate": {"enabled": False}}
    r1 = build_pool(PoolConfig.model_validate({"source": str(tmp_path / "p.parquet"), **off}), [], {},
                    tmp_path / "o1")
    folder = tmp_path / "hfdata"
    folder.mkdir()
    _write_jsonl(folder / "train.jsonl", rows)
    r2 = build_pool(PoolConfig.model_validate({"source": str(folder), "format": "hf", "split": "train", **off}),
                    [], {}, tmp_path / "o2")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    r3 = build_pool(PoolConfig.model_validate({"source": str(tmp_path / "saved"), **off}), [], {}, tmp_path / "o3")
    answers = [[p.answer for p in read_problems(r.problems_path)] for r in (r1, r2, r3)]
    assert answers == [["0", "2", "6", "12"]] * 3
    with pytest.raises(DataError, match=r"hfdata: cannot load local folder \(split 'test'.*Unknown split"):
        build_pool(PoolConfig.model_validate({"source": str(folder), "format": "hf", "split": "test", **off}),
                   [], {}, tmp_path / "o4")


def test_toy_pool_is_clean_against_toy_eval(tmp_path):
    # toy questions are a template plus numbers ("Solve for x: 7x + 6 = 34."): an 8-gram is the template and all
    # but the last number, so the toy world compares whole questions (13-grams, longer than any toy question)
    cfg = PoolConfig.model_validate({"source": "toy", "toy": {"n": 50}, "decontaminate": {"ngram": 13}})
    res = build_pool(cfg, ["toy_eval"], {}, tmp_path)
    assert res.n_problems == 50 and res.stats["steps"][-1]["benchmarks"] == {"toy_eval": 1000}


def test_an_absurd_question_stops_the_build_or_is_dropped_and_counted(tmp_path):
    """Issue 25 item 5: a 10 MB "question" never reaches an engine: a bad row naming its file and row."""
    from limo_rl.data.sources import MAX_QUESTION_CHARS

    rows = _pool_rows()
    rows.insert(2, {"problem": "x" * (10 * 2**20), "solution": "\\boxed{1}", "uid": "huge"})
    rows.append({"problem": "y" * MAX_QUESTION_CHARS, "solution": "\\boxed{2}", "uid": "at-the-cap"})
    src = _write_jsonl(tmp_path / "pool.jsonl", rows)
    with pytest.raises(DataError, match=rf"{src}:3: field 'problem' holds 10,485,760 characters, more than the "
                                        "100,000 a question may have.*on_bad_row: skip"):
        build_pool(_cfg(str(src), decontaminate={"enabled": False}), [], {}, tmp_path / "o1")
    res = build_pool(_cfg(str(src), decontaminate={"enabled": False}, on_bad_row="skip"), [], {}, tmp_path / "o2")
    assert res.stats["steps"][1] == {"step": "bad_rows", "removed": 1, "policy": "skip"}
    assert [b["where"] for b in res.stats["bad_row_examples"]] == [f"{src}:3"]
    assert "pool-at-the-cap" in {p.id for p in read_problems(res.problems_path)}  # the cap itself is allowed
