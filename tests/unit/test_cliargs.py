"""The shared ad hoc mode of the stage commands (``limo_rl.console.cliargs``): one recipe-or-ad-hoc rule,
files as flags, knobs as dotted overrides (a flag is one spelling of one), one-line errors, one NAME=VALUE parser."""

from __future__ import annotations

import argparse

import pytest

from limo_rl.cli import build_parser, main
from limo_rl.config.loading import load_stage_recipe
from limo_rl.console.cliargs import AdHoc, FileFlag, Knob, knobs, name_values
from limo_rl.errors import RecipeError, UsageError

SPEC = AdHoc(
    "demo",
    files=(FileFlag("--problems", "FILE", "problems"), FileFlag("--out", "DIR", "output folder"),
           FileFlag("--extra", "NAME=PATH", "repeatable", required=False, repeat=True)),
    knobs=(*knobs("generate", "n", "engine", "top_p"), Knob("generate.system_prompt", convert=lambda v: v or None)),
    sections=("generate",),
)


def _parse(*argv: str, spec: AdHoc = SPEC) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("recipe", nargs="?")
    p.add_argument("overrides", nargs="*", default=[])
    spec.add_flags(p)
    return p.parse_args(list(argv))


def test_a_recipe_positional_or_no_ad_hoc_flag_means_recipe_mode(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("run: {name: r}\n")
    assert SPEC.recipe_mode(_parse(str(recipe), "generate.n=2"))
    assert SPEC.recipe_mode(_parse())  # nothing at all: the default recipe
    assert SPEC.recipe_mode(_parse("generate.n=2"))  # a KEY=VALUE in the RECIPE slot is an override, not a file
    assert not SPEC.recipe_mode(_parse("--problems", "p", "--out", "o", "generate.n=2"))
    with pytest.raises(UsageError, match="give either a RECIPE .* or --problems"):
        SPEC.recipe_mode(_parse(str(recipe), "--problems", "p", "--out", "o"))
    with pytest.raises(UsageError, match="not both"):  # a knob flag is ad hoc too: never silently ignored
        SPEC.recipe_mode(_parse(str(recipe), "--n", "3"))
    based = AdHoc("demo", files=SPEC.files, recipe_base=True)  # evaluate: RECIPE is the base of the settings
    assert not based.recipe_mode(_parse(str(recipe), "--problems", "p", "--out", "o", spec=based))


def test_ad_hoc_mode_names_the_missing_files_and_foreign_overrides():
    with pytest.raises(UsageError, match=r"needs all of --problems FILE --out DIR: --out is required"):
        SPEC.recipe_mode(_parse("--problems", "p"))
    with pytest.raises(UsageError, match=r"needs all of .*: --problems is required"):
        SPEC.recipe_mode(_parse("--n", "3", "--out", "o"))  # a knob flag alone selects ad hoc mode
    with pytest.raises(UsageError, match=r"only generate\.\* overrides, got: select.budget=3"):
        SPEC.recipe_mode(_parse("--problems", "p", "--out", "o", "select.budget=3"))


def test_file_flags_are_plain_flags_with_their_metavar():
    args = _parse("--problems", "p.jsonl", "--out", "o", "--extra", "a=1", "--extra", "b=2")
    assert (args.problems, args.out, args.extra) == ("p.jsonl", "o", ["a=1", "b=2"])
    help_text = build_parser()._subparsers._group_actions[0].choices["generate"].format_help()
    assert "--problems FILE" in help_text and "[generate.top_p]" in help_text  # each knob names its key
    assert "{hf,vllm,openai}" in help_text  # choices read off the schema's Literal


def test_a_knob_flag_is_the_same_setting_as_its_dotted_override():
    by_flag = SPEC.recipe(_parse("--problems", "p", "--out", "o", "--n", "8", "--top-p", "0.5", "--engine", "hf",
                                 "--system-prompt", ""))
    by_key = SPEC.recipe(_parse("--problems", "p", "--out", "o", "generate.n=8", "generate.top_p=0.5",
                                "generate.engine=hf", "generate.system_prompt=null"))
    assert by_flag.generate == by_key.generate
    assert (by_flag.generate.n, by_flag.generate.top_p, by_flag.generate.system_prompt) == (8, 0.5, None)


@pytest.mark.parametrize(("argv", "needles"), [
    (["generate.n=0"], ["ad hoc demo: generate.n: Input should be greater than or equal to 1 (got 0)"]),
    (["--n", "0"], ["generate.n: Input should be greater than or equal to 1 (got 0, from --n)"]),
    (["generate.nn=3"], ["generate.nn: unknown key; did you mean 'generate.n'?"]),
    (["generate.n=0", "--top-p", "2"], ["generate.n:", "; generate.top_p:", "from --top-p"]),
])
def test_a_bad_setting_is_one_line_naming_the_key(argv, needles):
    with pytest.raises(UsageError) as e:
        SPEC.recipe(_parse("--problems", "p", "--out", "o", *argv))
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and all(n in msg for n in needles), msg


def test_the_cli_prints_a_bad_override_on_one_line_exit_2(tmp_path, capsys):
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "a", "question": "q?", "answer": "1"}\n')
    code = main(["generate", "--problems", str(f), "--model", "m", "--out", str(tmp_path / "o"), "generate.n=0"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "generate.n" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_stage_alone_skips_the_run_level_rules():
    """The weak filter and a per-arm dev set are fine for one stage run alone, not in a loop run."""
    r = load_stage_recipe(None, ["select.weak_filter.enabled=true", "train.select_checkpoint=best_val"])
    assert r.select.weak_filter.enabled and r.train.select_checkpoint == "best_val"
    with pytest.raises(RecipeError, match="select.weak_filter.enabled: Input should be a valid boolean"):
        load_stage_recipe(None, ["select.weak_filter.enabled=3"])


def test_name_values_is_the_one_name_value_parser():
    assert name_values(["a=1", " b = x.jsonl "], "--f", "NAME=PATH") == {"a": "1", "b": "x.jsonl"}
    assert name_values(["w=2"], "--weight", "FEATURE=NUMBER", float) == {"w": 2.0}
    for bad in ("a", "=x", "a=", "w=two"):
        with pytest.raises(UsageError, match=rf"--f '{bad}': expected N=V"):
            name_values([bad], "--f", "N=V", float)
