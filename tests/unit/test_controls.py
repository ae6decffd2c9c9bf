"""Control sets (limo_rl.select.controls) and their arms (limo_rl.loop.controls): matched in examples, the
right kind of chain in each, keyed by content."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from limo_rl.config import Recipe, load_recipe
from limo_rl.data.io import write_problems
from limo_rl.generate.shards import write_shard
from limo_rl.loop.comparisons import comparison_pairs, mismatch_banner
from limo_rl.loop.controls import control_data, control_problem
from limo_rl.run.artifacts import atomic_write_jsonl, read_jsonl
from limo_rl.select.controls import (
    Candidate,
    LoopExample,
    build_control,
    collect_candidates,
    control_set_from_round,
    match_incorrect,
    writes_steps,
)
from limo_rl.select.select import ProblemGroup
from limo_rl.toy import format_only_chain, make_problems, toy_correct, write_chain
from limo_rl.toy.chains import boxed_answer, equalities
from limo_rl.types import Chain, Verdict


def _chain(pid: str, idx: int, text: str, finish: str = "stop") -> Chain:
    return Chain(problem_id=pid, sample_index=idx, round=2, teacher="t", engine="hf", seed=idx, prompt_hash="h",
                 text=text, n_tokens=len(text) // 4, finish_reason=finish)


def _verdict(correct: bool, status: str = "ok") -> Verdict:
    return Verdict(correct=correct, status=status, extracted="1" if status == "ok" else None)


def test_writes_steps_tells_work_from_a_bare_answer():
    assert not writes_steps("The answer is \\boxed{7}.")
    assert not writes_steps("\\boxed{7}")
    assert writes_steps("3+4=7.\nSo 3+4=7.\nThe answer is \\boxed{7}.")


def test_candidates_are_incorrect_finished_step_chains_once_per_text():
    steps = "1+1=3.\nSo it is 3.\nThe answer is \\boxed{3}."
    group = ProblemGroup("p", "", [
        _chain("p", 0, steps),                                        # incorrect, finished, steps: kept
        _chain("p", 1, steps),                                        # the same text again: once
        _chain("p", 2, "1+1=2.\nSo it is 2.\n\\boxed{2}"),            # correct: out
        _chain("p", 3, "The answer is \\boxed{5}."),                  # bare answer: out
        _chain("p", 4, "1+1=4.\nSo it is 4.\n\\boxed{4}", "length"),  # truncated: out
        _chain("p", 5, "1+1=\nthen\nno answer"),                      # no answer extracted: out
    ], {0: _verdict(False), 1: _verdict(False), 2: _verdict(True), 3: _verdict(False), 4: _verdict(False),
        5: _verdict(False, "no_answer")})
    assert [(c.problem_id, c.sample_index) for c in collect_candidates([group])] == [("p", 0)]


def test_own_incorrect_matches_examples_problems_first_then_nearest_length():
    loop = [LoopExample("a", "x" * 100), LoopExample("a", "x" * 40), LoopExample("b", "x" * 70)]
    cands = [Candidate("a", 0, 2, 95), Candidate("a", 1, 2, 45), Candidate("a", 2, 2, 300),
             Candidate("c", 0, 2, 20), Candidate("c", 1, 2, 72)]
    chosen, counts = match_incorrect(loop, cands)
    assert [(c.problem_id, c.sample_index) for c in chosen] == [("a", 0), ("a", 1), ("c", 1)]
    assert counts == {"on_loop_problems": 2, "from_other_problems": 1, "candidates": 5}
    short, _ = match_incorrect(loop, cands[:2])
    assert short[2] is None  # two candidates for three examples: a shortfall, not a repeat


def _toy_round(tmp_path: Path, n: int = 10):
    """A round in the toy world: per problem a correct steps chain, a slip (incorrect, with steps), a wrong bare
    answer and a truncated chain; the loop's set is the correct chains, with checks on half."""
    problems = make_problems(n, seed=3)
    write_problems(tmp_path / "problems.jsonl", problems)
    chains, verdicts, sft = [], [], []
    for i, p in enumerate(problems):
        right, _ = write_chain(p, "verified" if i % 2 else "steps", seed=i)
        slip, slip_answer = write_chain(p, "slip", seed=i)
        rows = [(right, "stop"), (slip, "stop"), ("The answer is \\boxed{0}.", "stop"), (right[:20], "length")]
        for j, (text, finish) in enumerate(rows):
            chains.append(_chain(p.id, j, text, finish))
            ok = toy_correct(text, p.answer) and finish == "stop"
            verdicts.append({"problem_id": p.id, "sample_index": j, **_verdict(ok, "ok" if boxed_answer(text)
                                                                                else "no_answer").to_dict()})
        sft.append({"id": f"loop/{i}", "messages": [{"role": "user", "content": p.question},
                                                    {"role": "assistant", "content": right}],
                    "problem_id": p.id, "source": "loop", "chain_ref": f"2/{p.id}/0"})
    (tmp_path / "chains").mkdir()
    write_shard(tmp_path / "chains" / "shard-00000-k.parquet", chains)
    (tmp_path / "verdicts").mkdir()
    atomic_write_jsonl(tmp_path / "verdicts" / "shard-00000-k.tag.jsonl", verdicts)
    atomic_write_jsonl(tmp_path / "sft.jsonl", sft)
    return problems, tmp_path


def _build(root: Path, name: str):
    return control_set_from_round(name, [root / "sft.jsonl"], root / "problems.jsonl", root / "chains",
                                  root / "verdicts", "sys", seed=0, format_writer=format_only_chain)


def test_control_sets_from_a_round_are_matched_and_of_their_kind(tmp_path):
    problems, root = _toy_round(tmp_path)
    gold = {p.id: p.answer for p in problems}
    loop = read_jsonl(root / "sft.jsonl")
    for name in ("own_incorrect", "terse_correct", "format_only"):
        examples, record = _build(root, name)
        assert record["examples"] == len(examples) == len(loop) == record["match_target"] and record["shortfall"] == 0
        assert sorted(e.problem_id for e in examples) == sorted(r["problem_id"] for r in loop)  # the loop's problems
        assert all(e.source == f"control/{name}" and e.messages[0] == {"role": "system", "content": "sys"}
                   for e in examples)
        texts = [(e.problem_id, e.messages[-1]["content"]) for e in examples]
        if name == "own_incorrect":
            assert record["on_loop_problems"] == len(loop) and record["from_other_problems"] == 0
            assert all(not toy_correct(t, gold[p]) and writes_steps(t) for p, t in texts)
            assert all(e.chain_ref.endswith("/1") for e in examples)  # the slip, never the bare or cut chain
        elif name == "terse_correct":
            assert all(t == f"\\boxed{{{gold[p]}}}" for p, t in texts)
        else:  # the right procedure (every equality true) on other operands: the answer is wrong for the question
            assert all(not toy_correct(t, gold[p]) and writes_steps(t) and equalities(t)["false"] == 0
                       for p, t in texts)
            like = {r["problem_id"]: r["messages"][-1]["content"] for r in loop}
            assert all(("Check:" in t) == ("Check:" in like[p]) for p, t in texts)  # style follows the loop's


def test_format_only_moves_operands_of_every_kind():
    for p in make_problems(40, seed=1):
        text = format_only_chain(p.question, "", seed=2)
        assert boxed_answer(text) != p.answer and equalities(text)["false"] == 0, (p.question, text)
        assert text != write_chain(p, "steps")[0]


def test_an_unmatched_control_is_recorded_and_flagged():
    loop = [LoopExample("a", "x" * 10)] * 4
    problems = {"a": SimpleNamespace(id="a", question="q", answer="1")}
    examples, record = build_control("own_incorrect", loop, problems, None,
                                     candidates=[Candidate("a", 0, 1, 10)], texts=lambda cs: {("a", 0): "w\nv\n\\boxed{2}"})
    assert len(examples) == record["examples"] == 1 and record["shortfall"] == 3
    rows = [{"arm": "loop/round1", "seed": 0, "examples": 4, "steps": 1},
            {"arm": "control/own_incorrect", "seed": 0, "examples": 1, "steps": 1}]
    assert any("control/own_incorrect" in line for line in mismatch_banner(rows))
    assert not mismatch_banner([rows[0], {**rows[1], "examples": 4}])
    with pytest.raises(ValueError, match="unknown control"):
        build_control("nope", loop, problems, None)


def test_control_stage_inputs_are_content_keys(tmp_path):
    """Two run folders with the same round content give every control the same stage inputs (the stage store
    shares them); a change of the loop's set changes them."""
    keys = {}
    for name in ("x", "y"):
        _, root = _toy_round(tmp_path / name)
        rd = root / "round2"
        for sub in ("generate", "verify"):
            (rd / sub).mkdir(parents=True)
        seen = []
        run = SimpleNamespace(r=Recipe(), seed=0, _marker_hash=lambda d: f"marker:{d.name}",
                              runner=SimpleNamespace(run=lambda kind, d, inputs, fn, outs, seen=seen:
                                                     seen.append((kind, inputs))))
        for control in ("own_incorrect", "terse_correct", "format_only"):
            control_data(run, control, root / "problems.jsonl", rd, [root / "sft.jsonl"], root / "c" / control)
        assert str(tmp_path) not in json.dumps(seen)
        keys[name] = seen
    assert keys["x"] == keys["y"] and len({json.dumps(i, sort_keys=True) for _, i in keys["x"]}) == 3
    sft = tmp_path / "x" / "sft.jsonl"
    sft.write_text(sft.read_text().replace("loop/0", "loop/zero"))
    seen = []
    run = SimpleNamespace(r=Recipe(), seed=0, _marker_hash=lambda d: "m",
                          runner=SimpleNamespace(run=lambda kind, d, inputs, fn, outs: seen.append(inputs)))
    control_data(run, "terse_correct", tmp_path / "x" / "problems.jsonl", tmp_path / "x", [sft], tmp_path / "c")
    assert seen[0]["sft"] != keys["x"][1][1]["sft"]


def test_recipe_controls_are_validated_and_compared_with_the_last_round(tmp_path):
    assert Recipe().loop.controls == []
    r = Recipe.model_validate({"loop": {"controls": ["own_incorrect", "format_only"]}})
    assert r.loop.controls == ["own_incorrect", "format_only"] and control_problem(r) is None
    for bad, words in ((["own_incorrect", "own_incorrect"], "named twice"), (["gold"], "own_incorrect")):
        with pytest.raises(Exception, match=words):
            Recipe.model_validate({"loop": {"controls": bad}})
    with pytest.raises(Exception, match="loop.rounds must be at least 1"):
        Recipe.model_validate({"loop": {"controls": ["terse_correct"], "rounds": 0}})
    real = Recipe.model_validate({"pool": {"source": "data/pool.jsonl"}, "loop": {"controls": ["format_only"]}})
    assert "format_only" in control_problem(real)
    assert control_problem(Recipe.model_validate({"pool": {"source": "data/pool.jsonl"},
                                                  "loop": {"controls": ["own_incorrect"]}})) is None
    pairs = comparison_pairs(["loop/round1", "loop/round2", "base", "control/own_incorrect", "control/format_only"])
    assert ("loop/round2", "control/own_incorrect") in pairs and ("loop/round2", "control/format_only") in pairs
    assert not any(a == "loop/round1" and b.startswith("control/") for a, b in pairs)
    quick = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml")
    assert {"own_incorrect"} <= set(quick.loop.controls) and len(quick.loop.controls) >= 2
