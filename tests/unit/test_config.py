"""Recipe schema: validation errors, base: inheritance, both override forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from limo_rl.config import (
    RecipeError,
    SelectConfig,
    apply_overrides,
    deep_merge,
    iter_recipe_files,
    load_recipe,
    parse_override,
)
from limo_rl.runtime.preflight import preflight

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_defaults_validate_and_budget_is_817():
    r = load_recipe(None)
    assert r.select.budget == 817
    assert r.generate.system_prompt.startswith("Please reason step by step")


def test_every_recipe_in_tree_validates():
    files = iter_recipe_files([REPO / "recipes"])
    assert files, "no recipes found"
    for f in files:
        load_recipe(f)


def test_base_inheritance_deep_merges(tmp_path):
    write(tmp_path / "base.yaml", {"run": {"name": "b", "seed": 3}, "select": {"budget": 100, "per_problem": 2}})
    sub = tmp_path / "abl"
    sub.mkdir()
    write(sub / "child.yaml", {"base": "../base.yaml", "select": {"budget": 50}})
    r = load_recipe(sub / "child.yaml")
    assert (r.run.name, r.run.seed, r.select.budget, r.select.per_problem) == ("b", 3, 50, 2)


def test_base_chain_of_three_and_lists_replaced(tmp_path):
    write(tmp_path / "a.yaml", {"evaluate": {"benchmarks": ["aime24", "math500"], "n": 4}})
    write(tmp_path / "b.yaml", {"base": "a.yaml", "evaluate": {"n": 8}})
    write(tmp_path / "c.yaml", {"base": "b.yaml", "evaluate": {"benchmarks": ["amc23"]}})
    r = load_recipe(tmp_path / "c.yaml")
    assert r.evaluate.benchmarks == ["amc23"] and r.evaluate.n == 8


def test_base_cycle_is_reported(tmp_path):
    write(tmp_path / "a.yaml", {"base": "b.yaml"})
    write(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(RecipeError, match="cycle"):
        load_recipe(tmp_path / "a.yaml")


def test_missing_base_names_file(tmp_path):
    write(tmp_path / "a.yaml", {"base": "nope.yaml"})
    with pytest.raises(RecipeError, match="nope.yaml"):
        load_recipe(tmp_path / "a.yaml")


@pytest.mark.parametrize("form", ["select.budget=400", "--select.budget=400"])
def test_both_override_forms(form):
    assert load_recipe(None, [form]).select.budget == 400


@pytest.mark.parametrize(
    "text,key,value",
    [
        ("a.b=3", "a.b", 3),
        ("a.b=0.5", "a.b", 0.5),
        ("a.b=true", "a.b", True),
        ("a.b=[1, 2]", "a.b", [1, 2]),
        ("a.b=null", "a.b", None),
        ("a.b=hello world", "a.b", "hello world"),
        ("--a.b=x=y", "a.b", "x=y"),
    ],
)
def test_override_values_parse_as_yaml(text, key, value):
    assert parse_override(text) == (key, value)


def test_override_list_value_reaches_schema():
    r = load_recipe(None, ["evaluate.benchmarks=[amc23, aime24]", "evaluate.k=[1,4]"])
    assert r.evaluate.benchmarks == ["amc23", "aime24"] and r.evaluate.k == [1, 4]


def test_bad_override_syntax():
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        parse_override("select.budget")
    with pytest.raises(RecipeError, match="dotted key"):
        parse_override("select..budget=3")


def test_override_into_scalar_is_an_error():
    with pytest.raises(RecipeError, match="is a value, not a section"):
        apply_overrides({"select": {"budget": 3}}, ["select.budget.x=1"])


def test_unknown_key_suggests_closest(tmp_path):
    f = write(tmp_path / "r.yaml", {"select": {"budgte": 10}})
    with pytest.raises(RecipeError) as e:
        load_recipe(f)
    msg = str(e.value)
    assert str(f) in msg and "select.budgte" in msg and "did you mean 'select.budget'" in msg


def test_unknown_section_suggests_closest():
    with pytest.raises(RecipeError, match="did you mean 'generate'"):
        load_recipe(None, ["generat.n=3"])


@pytest.mark.parametrize(
    "override,key,allowed",
    [
        ("select.budget=0", "select.budget", "greater than or equal to 1"),
        ("select.strategy=best", "select.strategy", "limo_rules"),
        ("generate.engine=tgi", "generate.engine", "'hf', 'vllm' or 'openai'"),
        ("generate.top_p=1.5", "generate.top_p", "less than or equal to 1"),
        ("train.epochs=many", "train.epochs", "valid integer"),
        ("evaluate.benchmarks=[aime99]", "evaluate.benchmarks", "known: aime24"),
        ("evaluate.k=[0]", "evaluate.k", ">= 1"),
        ("run.name=a/b", "run.name", "folder name"),
        ("select.difficulty.max_pass_rate=1.5", "select.difficulty.max_pass_rate", "less than or equal to 1"),
        ("pool.decontaminate.ngram=2", "pool.decontaminate.ngram", "greater than or equal to 3"),
    ],
)
def test_bad_values_name_key_value_and_allowed(override, key, allowed):
    with pytest.raises(RecipeError) as e:
        load_recipe(None, [override])
    msg = str(e.value)
    assert key in msg and allowed in msg
    assert override.split("=", 1)[1].strip("[]") in msg


def test_all_problems_reported_at_once():
    with pytest.raises(RecipeError) as e:
        load_recipe(None, ["select.budget=0", "train.epochs=0", "nope.x=1"])
    assert "3 problem(s)" in str(e.value)


def test_non_mapping_and_bad_yaml(tmp_path):
    with pytest.raises(RecipeError, match="mapping"):
        load_recipe(write(tmp_path / "l.yaml", "- 1\n- 2\n"))
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(write(tmp_path / "b.yaml", "run: {name: [\n"))
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_deep_merge_does_not_mutate():
    a = {"x": {"y": 1, "z": 2}}
    b = {"x": {"y": 5}}
    assert deep_merge(a, b) == {"x": {"y": 5, "z": 2}} and a == {"x": {"y": 1, "z": 2}}


def test_roundtrip_resolved_yaml_reloads(tmp_path):
    r = load_recipe(None, ["select.budget=123", "loop.rounds=2"])
    f = write(tmp_path / "resolved.yaml", r.to_yaml())
    assert load_recipe(f) == r


def test_preflight_vllm_missing_says_how_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "vllm" else real(n, *a))
    r = load_recipe(None, ["generate.engine=vllm"])
    with pytest.raises(RecipeError, match=r"pip install -e '\.\[vllm\]'"):
        preflight(r)


def test_cross_field_check_names_section():
    with pytest.raises(RecipeError, match=r"select\.difficulty.*exceeds max_pass_rate"):
        load_recipe(None, ["select.difficulty.min_pass_rate=0.9", "select.difficulty.max_pass_rate=0.5"])


def test_selection_weight_must_name_a_known_feature():
    assert load_recipe(None, ["select.weights={verification_density: 1.5}"]).select.weights == {
        "verification_density": 1.5}
    with pytest.raises(RecipeError, match=r"select\.weights.*verification_densty \(did you mean verification_density\?\)"):
        load_recipe(None, ["select.weights={verification_densty: 1.0}"])


def test_weak_filter_without_a_producer_fails_validation_before_any_compute():
    with pytest.raises(RecipeError, match="weak_filter.enabled: no stage of a recipe run produces"):
        load_recipe(None, ["select.weak_filter.enabled=true"])
    # the section itself stays valid for ad hoc selection, which takes the weak verdicts as a file
    assert SelectConfig.model_validate({"weak_filter": {"enabled": True}}).weak_filter.enabled
