"""Issue 28's further control arms: the gold controls (each what it claims, by the verifier), the problem-set
arms (only problem choice differs), the control-vs-control contrasts, the toy_confirm split (disjoint from
everything else) and toy://base_steps (built at a tiny size)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from limo_rl.config import Recipe
from limo_rl.data.benchmarks import load_benchmark
from limo_rl.data.io import write_problems
from limo_rl.generate.shards import write_shard
from limo_rl.loop.comparisons import comparison_pairs
from limo_rl.loop.controls import control_data, control_problem
from limo_rl.loop.family import build_family
from limo_rl.run.artifacts import atomic_write_jsonl, read_jsonl
from limo_rl.run.stagecache import outputs_key
from limo_rl.select.controls import (
    EASY_RATE,
    GOLD_CONTROLS,
    PROBLEM_CONTROLS,
    LoopExample,
    build_control,
    control_set_from_round,
    map_problems,
    problem_set,
)
from limo_rl.select.difficulty import PassRate
from limo_rl.toy import (
    confirm_problems,
    control_chain,
    dev_problems,
    eval_problems,
    gold_examples,
    make_problems,
)
from limo_rl.toy.chains import equalities, toy_correct, write_chain
from limo_rl.verify.density import analyze
from tests.unit.test_controls import _chain, _toy_round, _verdict


# ---------------------------------------------------------------------------------------- gold controls
def _claims(name: str, text: str) -> bool:
    """What each gold control claims, judged by the verifier (limo_rl.verify.density / .process)."""
    r = analyze(text)
    if name == "gold_steps":  # right steps, no check of any kind
        return r.true_checks == 0 and r.n_hollow == 0 and r.false_checks == 0 and r.uncaught_false == 0
    if name == "gold_verified":  # a true check, counted by verification density
        return r.true_checks >= 1 and r.density > 0 and r.false_checks == 0 and r.uncaught_false == 0
    if name == "gold_hollow":  # a check that verifies nothing: reported hollow, not counted
        return r.n_hollow >= 1 and r.true_checks == 0 and r.density == 0 and r.uncaught_false == 0
    # gold_caught: a false step, a check that catches it, a redo (the verifier's caught), nothing left uncaught
    return r.caught >= 1 and r.uncaught_false == 0 and r.true_checks >= 1 and equalities(text)["false"] >= 1


@pytest.mark.parametrize("name", GOLD_CONTROLS)
def test_gold_controls_are_what_they_claim(name):
    problems = make_problems(100, seed=11)  # 20 of every kind
    for i, p in enumerate(problems):
        text = control_chain(name, p.question, "", seed=i)
        assert toy_correct(text, p.answer), (name, p.question, text)  # every gold control ends on the right answer
        assert _claims(name, text), (name, p.question, text, analyze(text))


def test_gold_controls_from_a_round_are_matched_on_the_loop_problems(tmp_path):
    problems, root = _toy_round(tmp_path)
    gold = {p.id: p.answer for p in problems}
    loop = read_jsonl(root / "sft.jsonl")
    for name in GOLD_CONTROLS:
        examples, record = control_set_from_round(name, [root / "sft.jsonl"], root / "problems.jsonl",
                                                  root / "chains", root / "verdicts", "sys", writer=control_chain)
        assert record["examples"] == len(examples) == len(loop) and record["shortfall"] == 0
        assert [e.problem_id for e in examples] == [r["problem_id"] for r in loop]
        assert all(e.source == f"control/{name}" and toy_correct(e.messages[-1]["content"], gold[e.problem_id])
                   and _claims(name, e.messages[-1]["content"]) for e in examples)
    with pytest.raises(ValueError, match="world that writes"):
        build_control("gold_steps", [LoopExample("a", "x")], {}, None)


# ---------------------------------------------------------------------------------------- problem-set arms
def test_problem_sets_by_pass_rate():
    rates = {f"p{i}": PassRate(c, 8) for i, c in enumerate([0, 0, 1, 3, 4, 7, 8, 8])}
    window = Recipe.model_validate({"select": {"difficulty": {"min_pass_rate": 0.1, "max_pass_rate": 0.9}}})
    got = {n: problem_set(n, rates, window.select.difficulty, seed=3) for n in PROBLEM_CONTROLS}
    assert sorted(got["random"]) == sorted(rates)
    assert sorted(got["window"]) == ["p2", "p3", "p4", "p5"]
    assert sorted(got["unsolved"]) == ["p0", "p1"]
    assert sorted(got["easy"]) == ["p5", "p6", "p7"] and EASY_RATE <= 7 / 8
    # one seeded order: each arm is the random order filtered, so arms share every problem they can
    for n in PROBLEM_CONTROLS:
        assert got[n] == [p for p in got["random"] if p in got[n]]
    loop = [LoopExample("a", "1"), LoopExample("b", "2"), LoopExample("a", "3"), LoopExample("c", "4")]
    assert map_problems(loop, ["x", "y"]) == ["x", "y", "x", None]  # per problem, then a shortfall


def _rated_round(tmp_path: Path):
    """A round whose problems the teacher solved 0..4 times of 4: correct steps chains for each hit, slips for
    the rest; the loop's set is one correct chain for each problem solved 1-3 times, a check on every other."""
    problems = make_problems(25, seed=9)
    write_problems(tmp_path / "problems.jsonl", problems)
    chains, verdicts, sft = [], [], []
    for i, p in enumerate(problems):
        hits = i % 5  # 0..4 of 4
        for j in range(4):
            text = write_chain(p, "steps" if j < hits else "slip", seed=j)[0]
            chains.append(_chain(p.id, j, text))
            verdicts.append({"problem_id": p.id, "sample_index": j, **_verdict(j < hits).to_dict()})
        if 1 <= hits <= 3:
            right = write_chain(p, "verified" if i % 2 else "steps")[0]
            sft.append({"id": f"loop/{i}", "messages": [{"role": "user", "content": p.question},
                                                        {"role": "assistant", "content": right}],
                        "problem_id": p.id, "source": "loop", "chain_ref": f"2/{p.id}/0"})
    (tmp_path / "chains").mkdir()
    write_shard(tmp_path / "chains" / "shard-00000-k.parquet", chains)
    (tmp_path / "verdicts").mkdir()
    atomic_write_jsonl(tmp_path / "verdicts" / "shard-00000-k.tag.jsonl", verdicts)
    atomic_write_jsonl(tmp_path / "sft.jsonl", sft)
    return {p.id: (p, i % 5) for i, p in enumerate(problems)}, tmp_path


def test_problem_set_arms_differ_in_problems_only(tmp_path):
    by_id, root = _rated_round(tmp_path)
    loop = read_jsonl(root / "sft.jsonl")
    window = Recipe.model_validate({"select": {"difficulty": {"min_pass_rate": 0.1, "max_pass_rate": 0.9}}})
    sets = {}
    for name in PROBLEM_CONTROLS:
        examples, record = control_set_from_round(name, [root / "sft.jsonl"], root / "problems.jsonl",
                                                  root / "chains", root / "verdicts", "sys", writer=control_chain,
                                                  window=window.select.difficulty)
        sets[name] = examples
        assert record["sampled_problems"] == 25 and record["problems_target"] == len(loop)
        # 5 problems per pass rate: unsolved and easy (4 of 4) fall short of the loop's 15 problems, recorded
        assert record["examples"] == len(examples) == len(loop) - record["shortfall"]
        assert record["eligible_problems"] == {"random": 25, "window": 15, "unsolved": 5, "easy": 5}[name]
        hits = {e.problem_id: by_id[e.problem_id][1] for e in examples}
        assert {"random": set(range(5)), "window": {1, 2, 3}, "unsolved": {0}, "easy": {4}}[name] >= set(hits.values())
        # the chains are the world's right procedure, in the style of the loop example each stands in for
        like = {i: r["messages"][-1]["content"] for i, r in enumerate(loop)}
        for e in examples:
            text, i = e.messages[-1]["content"], int(e.id.rsplit("/", 1)[1])
            assert toy_correct(text, by_id[e.problem_id][0].answer) and equalities(text)["false"] == 0
            assert ("Check:" in text) == ("Check:" in like[i])
    assert len(sets["window"]) == len(loop)  # the window holds as many problems as the loop's set used
    assert len(sets["unsolved"]) < len(loop) and len(sets["easy"]) < len(loop)
    assert {e.problem_id for e in sets["window"]} != {e.problem_id for e in sets["random"]}


def test_new_control_stage_inputs_and_preflight(tmp_path):
    _, root = _rated_round(tmp_path)
    rd = root / "round2"
    for sub in ("generate", "verify"):
        (rd / sub).mkdir(parents=True)
    seen = []
    recipe = Recipe.model_validate({"select": {"difficulty": {"min_pass_rate": 0.2}}})
    run = SimpleNamespace(r=recipe, seed=0,
                          runner=SimpleNamespace(run=lambda kind, d, inputs, fn, outs: seen.append(inputs)))
    for name in (*GOLD_CONTROLS, *PROBLEM_CONTROLS):
        control_data(run, name, root / "problems.jsonl", rd, [root / "sft.jsonl"], root / "c" / name)
    keys = {i["control"]: i for i in seen}
    assert len({json.dumps(i, sort_keys=True) for i in seen}) == len(seen)
    assert all("world" in i for i in seen)  # every one is written by the world
    # pass rates: the round's verdicts (what its stage sealed); no other control depends on them
    assert all(keys[n]["verdicts"] == outputs_key(rd / "verify") for n in PROBLEM_CONTROLS)
    assert not any("verdicts" in keys[n] for n in GOLD_CONTROLS)
    assert keys["window"]["window"]["min_pass_rate"] == 0.2 and "window" not in keys["random"]
    assert str(tmp_path) not in json.dumps(seen)
    real = Recipe.model_validate({"pool": {"source": "data/pool.jsonl"}, "loop": {"controls": ["gold_verified"]}})
    assert "gold_verified" in control_problem(real)
    assert control_problem(Recipe.model_validate({"loop": {"controls": [*GOLD_CONTROLS, *PROBLEM_CONTROLS]}})) is None


def test_controls_one_factor_apart_are_compared():
    labels = ["loop/round2", "control/gold_steps", "control/gold_verified", "control/gold_hollow", "control/random",
              "control/window", "control/easy"]
    pairs = comparison_pairs(labels)
    for pair in (("control/gold_verified", "control/gold_steps"), ("control/gold_hollow", "control/gold_steps"),
                 ("control/window", "control/random"), ("control/easy", "control/random"),
                 ("loop/round2", "control/window")):
        assert pair in pairs
    assert not any("gold_caught" in a or "unsolved" in a for a, _ in pairs)  # only arms the run has
    assert comparison_pairs(["loop/round2", "control/own_incorrect", "control/format_only"]) == [
        ("loop/round2", "control/format_only"), ("loop/round2", "control/own_incorrect")]  # the quickstart's


# ---------------------------------------------------------------------------------------- toy_confirm
def test_toy_confirm_is_disjoint_from_pool_dev_and_eval():
    confirm = confirm_problems()
    qs = [p.question for p in confirm]
    assert len(qs) == len(set(qs)) == 750 and all(p.source == "toy_confirm" for p in confirm)
    assert {p.subject for p in confirm} == {"add", "sub", "mul", "linear", "fraction"}
    others = {p.question for p in eval_problems()} | {p.question for p in dev_problems()}
    for seed in (0, 1, 7):
        others |= {p.question for p in make_problems(2000, seed=seed)}
    others |= {e.messages[-2]["content"] for e in gold_examples(817)}  # the static gold set's questions
    assert not set(qs) & others
    assert {p.id for p in confirm}.isdisjoint({p.id for p in eval_problems()})
    assert [p.question for p in confirm_problems(100)] == [p.question for p in confirm[:100]]  # prefixes
    loaded = load_benchmark("toy_confirm", limit=20)
    assert [p.question for p in loaded] == qs[:20] and all(p.source == "toy_confirm" for p in loaded)
    assert Recipe.model_validate({"evaluate": {"benchmarks": ["toy_confirm"], "dev_benchmarks": ["toy_dev"]}})


# ---------------------------------------------------------------------------------------- toy://base_steps
def test_steps_base_builds_from_the_teacher_at_a_tiny_size(tmp_path):
    from limo_rl.config import ToyConfig
    from limo_rl.resolve import model_problem
    from limo_rl.toy.bootstrap import STEPS_MIX, build_steps_base, resolve_toy_model, steps_corpus

    assert "terse" not in STEPS_MIX and abs(sum(STEPS_MIX.values()) - 1) < 1e-9
    corpus = steps_corpus(ToyConfig(), steps=2)
    assert all(not e.chain_ref.endswith(":terse") for e in corpus)
    assert model_problem("toy://base_steps") is None
    teacher = resolve_toy_model("toy://teacher", tmp_path, ToyConfig())
    info = build_steps_base(tmp_path / "steps", teacher, ToyConfig(), steps=2, eval_n=2)
    assert info["kind"] == "toy-base-steps" and info["phases"][0]["steps"] == 2
    assert (tmp_path / "steps" / "model.safetensors").is_file() and 0 <= info["toy_dev_greedy_writes_steps"] <= 1


# ---------------------------------------------------------------------------------------- the finding family
def test_within_run_contrasts_join_the_family_holm(tmp_path):
    """P1-P3 are contrasts inside one run (a control vs the loop, two controls), P4 a variant vs its base: a
    declared ``RUN:A vs RUN:B`` is compared within that run and corrected in one Holm family with the rest."""
    from tests.unit.test_family import make_run

    base = make_run(tmp_path, "qa", ["compare.primary=['qa:loop/round1 vs qa:static']"], solved_loop=60,
                    solved_static=30, sft_loop=["a"] * 5)
    qb = make_run(tmp_path, "qb", ["select.strategy=correct_random"], solved_loop=62, solved_static=31,
                  sft_loop=["b"] * 5)
    fam = build_family([base, qb], primary=["qb:loop/round1"])
    assert fam.primary == ["qb:loop/round1", "qa:loop/round1 vs qa:static"] and not fam.primary_not_compared
    by = {(c["a"], c["b"]): c for c in fam.comparisons}
    within = by[("qa:loop/round1", "qa:static")]
    assert within["primary"] and within["variant"] == "qa" and within["difference"] == pytest.approx(30 / 120)
    assert within["unit"] == "seeds x problems" and within["p_adjusted"] >= within["p_value"]
    assert by[("qb:loop/round1", "qa:loop/round1")]["primary"]
    assert sum(c["primary"] for c in fam.comparisons) == 2  # Holm over the two declared, not the static variant
    fam = build_family([base, qb], primary=["qa:loop/round1 vs qb:static", "qa:nope vs qa:static"])
    assert "qa:nope vs qa:static" in fam.primary_not_compared  # an arm the run lacks, two runs: no contrast
