"""A family of runs (limo_rl.loop.family): each variant against the base, paired over seeds x problems, with
the recipe diff, the share of each SFT set that differs, no verdict for arms trained on the same inputs, and
Holm over the declared primary contrasts only. Synthetic run folders, no compute."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from limo_rl.config import load_recipe
from limo_rl.errors import UsageError
from limo_rl.loop.family import build_family, recipe_diff, sft_difference, write_family

N = 120


def sft_rows(texts):
    return "".join(json.dumps({"id": f"e{i}", "messages": [{"role": "user", "content": "q"},
                                                            {"role": "assistant", "content": t}]}) + "\n"
                   for i, t in enumerate(texts))


def make_run(root, name, overrides, *, solved_loop, solved_static, sft_loop, seeds=(0, 1)):
    """A finished one-round run: per seed, loop and static arms with samples (the first ``solved`` problems
    right, shifted by the seed) and SFT sets."""
    run = root / name
    run.mkdir(parents=True)
    recipe = load_recipe(None, ["loop.rounds=1", f"run.name={name}", *overrides])
    (run / "config.yaml").write_text(recipe.to_yaml())
    for s in seeds:
        for arm, solved, sft in (("loop/round1", solved_loop, ("select", sft_loop)),
                                 ("static", solved_static, ("data", [f"gold {i}" for i in range(20)]))):
            d = run / f"seed{s}" / arm
            (d / "evaluate").mkdir(parents=True)
            (d / sft[0]).mkdir(parents=True)
            (d / sft[0] / "sft.jsonl").write_text(sft_rows(sft[1]))
            rows = [{"benchmark": "toy_eval", "problem_id": f"q{i:03d}", "sample_index": 0,
                     "correct": i < solved + 3 * s} for i in range(N)]
            pq.write_table(pa.Table.from_pylist(rows), d / "evaluate" / "samples.parquet")
    return run


def test_recipe_diff_and_sft_difference():
    a = {"run": {"name": "a"}, "select": {"strategy": "x", "budget": 10}, "tracking": {"mode": "offline"}}
    b = {"run": {"name": "b"}, "select": {"strategy": "y", "budget": 10}, "tracking": {"mode": "online"}}
    assert recipe_diff(a, b) == {"select.strategy": ["x", "y"]}
    assert sft_difference({0: ["a", "b", "b"]}, {0: ["b", "b", "c", "d"]}) == 0.5
    assert sft_difference({0: ["a"]}, {1: ["a"]}) is None


def test_family_verdicts_warnings_and_primary(tmp_path):
    base = make_run(tmp_path, "qa", [], solved_loop=30, solved_static=40, sft_loop=[f"c{i}" for i in range(20)])
    # a selection variant: another SFT set (half new), a loop arm that solves many more problems
    qb = make_run(tmp_path, "qb", ["select.strategy=correct_random"], solved_loop=70, solved_static=40,
                  sft_loop=[f"c{i}" for i in range(10)] + [f"n{i}" for i in range(10)])
    # a variant whose factor did not bind: the same SFT sets as the base
    qc = make_run(tmp_path, "qc", ["select.budget=700"], solved_loop=31, solved_static=40,
                  sft_loop=[f"c{i}" for i in range(20)])
    fam = build_family([base, qb, qc], primary=["qb"])
    by = {(c["a"], c["b"]): c for c in fam.comparisons}
    loop_b = by[("qb:loop/round1", "qa:loop/round1")]
    assert loop_b["unit"] == "seeds x problems" and loop_b["n_seeds"] == 2 and loop_b["primary"]
    assert loop_b["difference"] == pytest.approx(40 / N) and loop_b["verdict"] == "qb:loop/round1 beats qa:loop/round1"
    assert loop_b["p_adjusted"] is not None and loop_b["mde_adjusted"] > 0
    # the static arms of qa and qb trained on the same set with the same settings: warned, never compared
    assert ("qb:static", "qa:static") not in by and ("qc:loop/round1", "qa:loop/round1") not in by
    assert any(w.startswith("qc:loop/round1: same training data as qa:loop/round1") for w in fam.warnings)
    assert any(w.startswith("qb:static: same training data as qa:static") for w in fam.warnings)
    v = {x["name"]: x for x in fam.variants}
    default = load_recipe(None, []).select.strategy
    assert default != "correct_random" and v["qb"]["diff"] == {"select.strategy": [default, "correct_random"]}
    assert v["qb"]["sft_share_different"]["loop/round1"] == pytest.approx(0.5)
    assert v["qc"]["sft_share_different"]["loop/round1"] == 0.0
    md, js = write_family(fam, tmp_path / "out")
    doc = json.loads(js.read_text())
    assert doc["confirmed"] == ["qa", "qb", "qc"] and set(doc["benchmarks_touched"]) == {"qa", "qb", "qc"}
    for key in ("a", "b", "benchmark", "metric", "difference", "ci_low", "ci_high", "p_value", "p_adjusted",
                "verdict", "mde", "mde_adjusted", "unit"):
        assert key in doc["comparisons"][0]
    assert "same training data as qa" in md.read_text()


def test_only_primary_contrasts_are_adjusted(tmp_path):
    base = make_run(tmp_path, "qa", [], solved_loop=30, solved_static=40, sft_loop=["a"] * 5, seeds=(0,))
    qb = make_run(tmp_path, "qb", ["train.learning_rate=0.001"], solved_loop=50, solved_static=45,
                  sft_loop=["a"] * 5, seeds=(0,))
    fam = build_family([base, qb], primary=["qb:static"])
    by = {c["a"]: c for c in fam.comparisons}
    # same SFT sets but other training settings: a legitimate comparison of the training change
    assert set(by) == {"qb:loop/round1", "qb:static"} and not fam.warnings
    assert by["qb:static"]["primary"] and by["qb:static"]["p_adjusted"] == pytest.approx(by["qb:static"]["p_value"])
    assert not by["qb:loop/round1"]["primary"] and by["qb:loop/round1"]["p_adjusted"] is None
    assert by["qb:loop/round1"]["verdict"].startswith("descriptive")
    assert by["qb:static"]["unit"].startswith("problems (one seed")


def test_family_needs_two_runs_with_distinct_names(tmp_path):
    a = make_run(tmp_path / "x", "qa", [], solved_loop=1, solved_static=1, sft_loop=["a"], seeds=(0,))
    with pytest.raises(UsageError):
        build_family([a])
    b = make_run(tmp_path / "y", "qa", [], solved_loop=2, solved_static=1, sft_loop=["b"], seeds=(0,))
    with pytest.raises(UsageError, match="share a name"):
        build_family([a, b])


def test_compare_command_writes_the_report(tmp_path):
    a = make_run(tmp_path, "qa", [], solved_loop=10, solved_static=20, sft_loop=["a", "b"], seeds=(0,))
    b = make_run(tmp_path, "qb", ["select.per_problem=1"], solved_loop=60, solved_static=20, sft_loop=["c"],
                 seeds=(0,))
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "compare", str(a), str(b), "--out",
                          str(tmp_path / "fam")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "qb:loop/round1 beats qa:loop/round1" in res.stdout
    assert (tmp_path / "fam" / "compare.json").is_file() and (tmp_path / "fam" / "compare.md").is_file()


def test_family_run_validates_every_recipe_before_computing(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(f"run: {{name: good, output_dir: {tmp_path / 'runs'}}}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("select: {strategy: no_such_strategy}\n")
    for variant, needle in ((bad, "no_such_strategy"), (tmp_path / "missing.yaml", "no such recipe file")):
        res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "run", str(good), str(variant)],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and needle in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "runs").exists()  # nothing ran
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "run", str(good), "--confirm", "good"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "for a family" in res.stderr and not (tmp_path / "runs").exists()


def test_a_variant_that_trained_on_a_siblings_data_fails(tmp_path):
    """Two budget variants that both trained on the whole supply: the second fails (named in compare.json and
    compare.md, exit 1); a variant whose loop arm changed does not, even with the static arm unchanged."""
    sft = [f"c{i}" for i in range(20)]
    base = make_run(tmp_path, "qa", [], solved_loop=30, solved_static=40, sft_loop=sft[:10], seeds=(0,))
    b1 = make_run(tmp_path, "b817", ["select.budget=817"], solved_loop=35, solved_static=40, sft_loop=sft, seeds=(0,))
    b2 = make_run(tmp_path, "b1600", ["select.budget=1600"], solved_loop=36, solved_static=40, sft_loop=sft,
                  seeds=(0,))
    b3 = make_run(tmp_path, "b3200", ["select.budget=3200"], solved_loop=34, solved_static=40, sft_loop=sft,
                  seeds=(0,))
    fam = build_family([base, b1, b2, b3])
    # each failed variant is named once, against its first sibling with the same data
    assert [(f["variant"], f["sibling"]) for f in fam.failures] == [("b1600", "b817"), ("b3200", "b817")]
    assert fam.failures[0]["error"] == "same training data as sibling"
    assert fam.failures[0]["diff"] == {"select.budget": [817, 1600]}
    md, js = write_family(fam, tmp_path / "out")
    assert json.loads(js.read_text())["failures"][0]["variant"] == "b1600"
    assert "**FAIL b1600: same training data as b817**" in md.read_text()
    res = subprocess.run([sys.executable, "-m", "limo_rl.cli", "compare", str(base), str(b1), str(b2), "--out",
                          str(tmp_path / "fam")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "FAIL  b1600: same training data as b817" in res.stdout, res.stderr[-2000:]


def test_recipe_primary_contrasts_apply_to_the_family(tmp_path):
    """A member recipe's compare.primary entries that name a family comparison (here an arm) are primary; a
    run-level contrast ('loop/round1 vs static') names none and leaves the family's Holm alone."""
    prim = "compare.primary=['static','loop/round1 vs static']"
    base = make_run(tmp_path, "qa", [prim], solved_loop=30, solved_static=40, sft_loop=["a"] * 5, seeds=(0,))
    qb = make_run(tmp_path, "qb", [prim, "train.learning_rate=0.001"], solved_loop=50, solved_static=45,
                  sft_loop=["a"] * 5, seeds=(0,))
    fam = build_family([base, qb])
    assert fam.primary == ["static"] and not fam.primary_not_compared
    by = {c["a"]: c for c in fam.comparisons}
    assert by["qb:static"]["primary"] and not by["qb:loop/round1"]["primary"]
    fam = build_family([base, qb], primary=["qb:loop/round1", "nothing"])
    assert fam.primary == ["qb:loop/round1", "nothing", "static"] and fam.primary_not_compared == ["nothing"]
    assert any("'nothing'" in w for w in fam.warnings)


def test_confirm_marks_the_test_set_and_the_family_shares_a_wandb_group(tmp_path):
    from limo_rl.loop.cli import _mark_family

    def recipes():
        return [load_recipe(None, [f"run.name={n}", "evaluate.dev_benchmarks=[toy_dev]"]) for n in ("qa", "qb", "qc")]

    rs = recipes()
    _mark_family(rs, ["qc"])
    assert [r.evaluate.confirm for r in rs] == [True, False, True]  # the base is the confirmed ones' reference
    assert {r.tracking.group for r in rs} == {"family-qa"}
    assert rs[1].evaluate.evaluated().benchmarks == [] and rs[1].evaluate.evaluated().dev_benchmarks == ["toy_dev"]
    rs = recipes()
    _mark_family(rs, [])  # no --confirm: each recipe's own evaluate.confirm (default true)
    assert all(r.evaluate.confirm for r in rs)
    with pytest.raises(UsageError, match="not a run of this family"):
        _mark_family(recipes(), ["qz"])
    with pytest.raises(UsageError, match="no evaluate.dev_benchmarks"):
        _mark_family([load_recipe(None, ["run.name=x"]), load_recipe(None, ["run.name=y"])], ["y"])


def test_evaluate_confirm_keys():
    from limo_rl.errors import RecipeError

    ev = load_recipe(None, ["evaluate.dev_benchmarks=[toy_dev]"]).evaluate
    dump = ev.model_dump()
    del dump["confirm"]
    assert ev.key_dict() == dump  # a confirmed evaluation keeps the key it had before the key existed
    off = load_recipe(None, ["evaluate.dev_benchmarks=[toy_dev]", "evaluate.confirm=false"]).evaluate
    assert off.key_dict()["benchmarks"] == [] and off.key_dict() != ev.key_dict()
    with pytest.raises(RecipeError, match="evaluate.confirm = false"):
        load_recipe(None, ["evaluate.confirm=false"])


def test_siblings_that_differ_in_evaluation_or_in_arms_do_not_fail(tmp_path):
    sft = [f"c{i}" for i in range(5)]
    base = make_run(tmp_path, "qa", [], solved_loop=30, solved_static=40, sft_loop=sft, seeds=(0,))
    ev = make_run(tmp_path, "qe", ["evaluate.n=2"], solved_loop=31, solved_static=40, sft_loop=sft, seeds=(0,))
    assert not build_family([base, ev]).failures  # an evaluation variant, not a training ablation


def test_the_family_scores_every_arm_of_every_run_over_seeds(tmp_path):
    a = make_run(tmp_path, "qa", [], solved_loop=30, solved_static=40, sft_loop=["a"], seeds=(0, 1, 2))
    b = make_run(tmp_path, "qb", ["select.per_problem=1"], solved_loop=60, solved_static=40, sft_loop=["c"],
                 seeds=(0, 1, 2))
    fam = build_family([a, b])
    cell = {(r["run"], r["arm"]): r for r in fam.scores}
    assert set(cell) == {("qa", "loop/round1"), ("qa", "static"), ("qb", "loop/round1"), ("qb", "static")}
    loop = cell[("qa", "loop/round1")]  # seed s solves 30 + 3 s of 120
    assert loop["by_seed"] == {0: 30 / N, 1: 33 / N, 2: 36 / N} and loop["mean"] == pytest.approx(33 / N)
    assert loop["seed_sd"] == pytest.approx(3 / N)
    half = 4.302652729911275 * (3 / N) / 3 ** 0.5  # t(0.975, 2)
    assert loop["ci_low"] == pytest.approx(33 / N - half, rel=1e-6)
    md, _ = write_family(fam, tmp_path / "fam")
    text = md.read_text()
    assert "## Every arm of every run" in text and "| arm | qa | qb |" in text
    assert f"| loop/round1 | {33 / N:.3f} [" in text
