"""Comparable arms (issue 16): dev split rules, toy_dev, static-set decontamination, static matching,
seeded pool.limit draws."""

from __future__ import annotations

import json

import pytest

from limo_rl.config import RecipeError, load_recipe
from limo_rl.data.benchmarks import load_benchmark
from limo_rl.data.decontam import ContaminationError, find_contaminated, require_clean
from limo_rl.loop.matching import loop_realised, match_static, seeded_subsample
from limo_rl.resolve import world_settings
from limo_rl.run.layout import RunLayout
from limo_rl.types import Problem, SFTExample

SOLUTION = ("We expand the square and collect the terms in x so that the quadratic becomes a perfect square; "
            "then the discriminant vanishes exactly when the coefficient equals twelve, which gives the answer.")


def test_dev_benchmark_may_not_be_a_test_benchmark():
    with pytest.raises(RecipeError, match=r"dev_benchmarks \['toy_eval'\] are also test benchmarks"):
        load_recipe(None, ["evaluate.benchmarks=[toy_eval]", "evaluate.dev_benchmarks=[toy_eval]"])
    r = load_recipe(None, ["evaluate.benchmarks=[toy_eval]", "evaluate.dev_benchmarks=[toy_dev]"])
    assert r.evaluate.all_benchmarks() == ["toy_eval", "toy_dev"]


def test_static_arm_trains_on_its_whole_set_and_arms_share_one_judge():
    with pytest.raises(RecipeError, match="validation_split = 0.05 carves a hold-out"):
        load_recipe(None, ["train.validation_split=0.05"])
    with pytest.raises(RecipeError, match="a different judge per arm"):
        load_recipe(None, ["train.select_checkpoint=best_val"])
    r = load_recipe(None, ["train.select_checkpoint=best_val", "train.validation_file=dev.jsonl"])
    assert r.train.validation_split == 0.0  # the default: no hold-out carved from any arm
    load_recipe(None, ["train.validation_split=0.1", "loop.static.enabled=false", "loop.rounds=1"])  # one arm


def test_toy_dev_is_disjoint_from_toy_eval_and_the_pool():
    from limo_rl.toy import make_problems

    dev, test = load_benchmark("toy_dev", limit=200), load_benchmark("toy_eval", limit=400)
    assert len(dev) == 200 and all(p.source == "toy_dev" for p in dev)
    qd, qt = {p.question for p in dev}, {p.question for p in test}
    assert not qd & qt and not qd & {p.question for p in make_problems(1000)}
    assert load_benchmark("toy_dev", limit=50) == dev[:50]  # a prefix: sizes nest


def test_decontamination_checks_answers_too():
    bench = {"math500": [Problem(id="m-1", question="Find the value of the coefficient for which the quadratic "
                                 "is a perfect square.", answer="12", solution=SOLUTION, source="math500")]}
    item = Problem(id="s-1", question="A different question about a quadratic form.", answer="12",
                   solution="Solution: " + SOLUTION, source="static")
    short = Problem(id="s-2", question="An unrelated counting question about dice.", answer="12", source="static")
    assert find_contaminated([item, short], bench, n=8, fields=("question",))[0] == []
    found, _ = find_contaminated([item, short], bench, n=8, fields=("question", "answer"))
    assert [c.problem_id for c in found] == ["s-1"]  # a copied solution is caught; a bare equal answer is not


def test_static_set_contamination_is_a_named_error_unless_allowed():
    bench = {"toy_eval": [Problem(id="t-1", question="What is the sum of the first twenty odd numbers, counted "
                                  "from one?", answer="400", source="toy_eval")]}
    items = [Problem(id="ok", question="How many edges has a cube with all of its diagonals drawn?", answer="12"),
             Problem(id="leak", question="what is the sum of the first twenty odd numbers counted from one",
                     answer="400")]
    with pytest.raises(ContaminationError, match=r"(?s)static set: 1 item\(s\) overlap.*leak ~ toy_eval:t-1"):
        require_clean("static set", items, bench)
    rows = require_clean("static set", items, bench, allow=["leak"])
    assert [(r["problem_id"], r["allowed"]) for r in rows] == [("leak", True)]


def test_quickstart_static_set_is_clean_against_toy_benchmarks():
    from limo_rl.data.static import load_static

    r = load_recipe("recipes/quickstart.yaml")
    problems, _ = load_static(r.loop.static, r.generate.system_prompt, world_settings(r))
    bench = {b: load_benchmark(b) for b in ("toy_eval", "toy_dev")}
    dc = r.pool.decontaminate
    assert require_clean("static", problems, bench, n=dc.ngram, ignore_common=dc.ignore_common,
                         fields=dc.fields) == []


def _examples(n):
    return [SFTExample(id=f"s{i}", messages=({"role": "user", "content": f"q{i}"},
                                             {"role": "assistant", "content": f"a{i}"})) for i in range(n)]


def _loop_dir(tmp_path, n_train, steps, rnd=1):
    d = tmp_path / "seed0" / "loop" / f"round{rnd}" / "train"
    d.mkdir(parents=True)
    (d / "train_metrics.json").write_text(json.dumps({"n_train": n_train, "global_step": steps}))
    return RunLayout(tmp_path)


def test_static_match_size_is_a_seeded_draw_at_the_loops_realised_size(tmp_path):
    loop = _loop_dir(tmp_path, 156, 20)
    _loop_dir(tmp_path, 170, 22, rnd=2)
    assert loop_realised(loop, 0) == {"round": 2, "examples": 170, "steps": 22}
    r = load_recipe(None, ["loop.static.match=size", "loop.rounds=2", "loop.static.match_seed=3"])
    ex = _examples(817)
    out, cfg, rec = match_static(ex, r, loop, seed=0)
    assert len(out) == 170 and cfg.max_steps is None
    assert [e.id for e in out] == sorted((e.id for e in out), key=lambda i: int(i[1:]))  # file order kept
    assert rec == {"match": "size", "available": 817, "examples": 170, "match_target": 170, "draw_seed": 3,
                   "loop_round": 2}
    again, _, _ = match_static(ex, r, loop, seed=0)
    other, _, _ = match_static(ex, load_recipe(None, ["loop.static.match=size", "loop.rounds=2"]), loop, seed=0)
    assert match_static(ex, r, loop, seed=1)[2]["unmatched"] == "no trained loop round"  # seed 1 has no loop
    assert again == out and other != out
    assert seeded_subsample(ex[:10], 50, 0) == ex[:10]


def test_static_match_steps_and_none(tmp_path):
    loop = _loop_dir(tmp_path, 156, 20)
    out, cfg, rec = match_static(_examples(817), load_recipe(None, ["loop.static.match=steps"]), loop, seed=0)
    assert len(out) == 817 and cfg.max_steps == 20 and rec["match_target"] == 20
    out, cfg, rec = match_static(_examples(817), load_recipe(None), loop, seed=0)
    assert len(out) == 817 and cfg.max_steps is None and rec == {"match": "none", "available": 817, "examples": 817}
