"""Hub-ready outputs: dataset and model cards, parquet that `datasets` loads, `limo-rl push`, pinned data.

The Hub cannot be reached here, so the one boundary that talks to it (``limo_rl.hub.push.hf_api``,
and the Hub lookups of ``limo_rl.data.sources``) is replaced by a local stand-in; everything else
(cards, parquet, ``datasets.load_dataset`` on the folder, the CLI) is real.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from limo_rl.cli import main
from limo_rl.hub import push as push_mod
from limo_rl.hub.cards import (
    evaluation_results,
    read_card,
    write_dataset_card,
    write_model_card,
    write_sft_parquet,
)

ROWS = [
    {"id": f"sel-r1-p{i}-0", "messages": [{"role": "system", "content": "Reason."},
                                          {"role": "user", "content": f"What is {i} + 1?"},
                                          {"role": "assistant", "content": f"{i} + 1 = {i + 1}. \\boxed{{{i + 1}}}"}],
     "problem_id": f"p{i}", "source": "loop", "chain_ref": f"1/p{i}/0", "score": 0.5 + i}
    for i in range(5)
]


def make_run(root: Path) -> Path:
    run = root / "qs"
    sel = run / "seed0" / "loop" / "round1" / "select"
    sel.mkdir(parents=True)
    (run / "config.yaml").write_text("run: {name: qs}\n")
    (sel / "sft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (sel / "_STAGE_DONE.json").write_text("{}")
    write_dataset_card(sel, {
        "title": "limo_rl SFT set: qs (loop round 1, seed 0)", "teacher": "toy://teacher",
        "provenance": {"run": "qs", "stage": "seed0/loop/round1/select", "seed": 0, "round": 1},
        "grader": {"name": "limo_rl.verify", "version": "limo_rl-verify-2"},
        "selection": {"strategy": "verification_density", "budget": 817, "per_problem": 1},
        "counts": {"examples": len(ROWS), "problems": len(ROWS)},
    })
    model = run / "seed0" / "loop" / "round1" / "train" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 16)
    (model / "training_args.bin").write_bytes(b"x")
    ev = run / "seed0" / "loop" / "round1" / "evaluate"
    ev.mkdir(parents=True)
    (ev / "metrics.json").write_text(json.dumps({"benchmarks": {"math500": {
        "primary": "pass@1[avg of 1]", "n_problems": 500,
        "metrics": {"pass@1[avg of 1]": {"value": 0.5, "ci_low": 0.45, "ci_high": 0.55}}}}}))
    write_model_card(model, {"title": "student", "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
                             "datasets": ["seed0/loop/round1/select", "GAIR/LIMO"],
                             "training": {"epochs": 3}, "train_metrics": {"train_loss": 0.4},
                             "evaluation": evaluation_results(ev / "metrics.json"),
                             "provenance": {"run": "qs"}})
    return run


def test_dataset_card_header_and_load_dataset_on_the_folder(tmp_path, monkeypatch):
    import datasets

    run = make_run(tmp_path)
    other = make_run(tmp_path / "other")  # another run's set, same folder name, other rows: never mixed up
    (other / "seed0/loop/round1/select/sft.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    write_sft_parquet(other / "seed0/loop/round1/select/sft.jsonl")
    assert datasets.load_dataset(str(other / "seed0/loop/round1/select"), split="train").num_rows == 1
    sel = run / "seed0" / "loop" / "round1" / "select"
    meta, body = read_card(sel / "README.md")
    assert meta["license"] == "other" and meta["task_categories"] == ["text-generation"]
    assert (sel / "data" / "train-00000-of-00001.parquet").is_file()
    lr = meta["limo_rl"]
    assert lr["teacher"] == "toy://teacher" and lr["grader"]["version"] == "limo_rl-verify-2"
    assert lr["selection"]["strategy"] == "verification_density" and lr["counts"]["examples"] == 5
    assert lr["provenance"]["stage"] == "seed0/loop/round1/select"
    assert "verification_density" in body
    ds = datasets.load_dataset(str(sel), split="train")
    assert ds.num_rows == 5
    assert ds[3]["messages"][2]["content"] == ROWS[3]["messages"][2]["content"]
    assert ds[3]["chain_ref"] == "1/p3/0"


def test_model_card_has_base_model_data_config_and_results(tmp_path):
    run = make_run(tmp_path)
    meta, body = read_card(run / "seed0" / "loop" / "round1" / "train" / "model" / "README.md")
    assert meta["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert meta["datasets"] == ["GAIR/LIMO"]  # the Hub field holds Hub ids; local sets stay in limo_rl
    assert meta["limo_rl"]["datasets"] == ["seed0/loop/round1/select", "GAIR/LIMO"]
    assert meta["limo_rl"]["training"] == {"epochs": 3}
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["name"] == "math500" and result["metrics"][0]["value"] == 50.0
    assert "| math500 | `pass@1[avg of 1]` | 50.0 | [45.0, 55.0] |" in body
    # the Hub's own classes read it back: the benchmark by its Hub dataset id and split, the metric by its name
    from huggingface_hub import DatasetCard, ModelCard

    card = ModelCard.load(run / "seed0" / "loop" / "round1" / "train" / "model" / "README.md")
    (r,) = card.data.eval_results
    assert (r.dataset_type, r.dataset_name, r.dataset_split) == ("HuggingFaceH4/MATH-500", "math500", "test")
    assert (r.metric_type, r.metric_value) == ("pass@1[avg of 1]", 50.0)
    ds = DatasetCard.load(run / "seed0" / "loop" / "round1" / "select" / "README.md")
    assert ds.data.task_categories == ["text-generation"] and ds.data.limo_rl["counts"]["examples"] == 5


def test_a_toy_base_model_is_not_claimed_as_a_hub_base_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    write_model_card(tmp_path, {"base_model": "toy://base"})
    meta, _ = read_card(tmp_path / "README.md")
    assert "base_model" not in meta and meta["limo_rl"]["base_model"] == "toy://base"


def test_card_edits_do_not_invalidate_the_stage_cache(tmp_path):
    from limo_rl.run.artifacts import hash_path

    run = make_run(tmp_path)
    model = run / "seed0" / "loop" / "round1" / "train" / "model"
    before = hash_path(model)
    (model / "README.md").write_text("---\nlicense: mit\n---\nnew card\n")
    assert hash_path(model) == before
    (model / "config.json").write_text('{"changed": 1}')
    assert hash_path(model) != before


class LocalHub:
    """A stand-in for ``huggingface_hub.HfApi``: repos are folders under ``root``."""

    def __init__(self, root: Path):
        self.root, self.calls = root, []

    def create_repo(self, repo_id, *, repo_type=None, private=None, exist_ok=False):
        self.calls.append(("create_repo", repo_id, repo_type, private))
        (self.root / repo_type / repo_id).mkdir(parents=True, exist_ok=exist_ok)
        return f"https://huggingface.co/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, repo_type=None, ignore_patterns=None, commit_message=None):
        import fnmatch

        self.calls.append(("upload_folder", repo_id, repo_type))
        dest = self.root / repo_type / repo_id
        for p in Path(folder_path).rglob("*"):
            rel = p.relative_to(folder_path)
            if p.is_file() and not any(fnmatch.fnmatch(str(rel), pat) for pat in ignore_patterns or []):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(p, dest / rel)


def test_push_dataset_then_load_it_from_the_pushed_repo(tmp_path, monkeypatch, capsys):
    import datasets

    run = make_run(tmp_path)
    stale = run / "seed0/loop/round1/select/stale-0123456789-1700000000"  # an earlier set, set aside: not pushed
    stale.mkdir()
    (stale / "sft.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    (stale / "_SET_ASIDE.json").write_text("{}")
    hub = LocalHub(tmp_path / "hub")
    monkeypatch.setattr(push_mod, "hf_api", lambda token: hub)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    plan = push_mod.plan_push(run, "me/limo-sft", dataset=True)
    assert plan.files == ["README.md", "data/train-00000-of-00001.parquet", "sft.jsonl"]
    rc = main(["push", str(run), "--to", "me/limo-sft", "--dataset", "--license", "apache-2.0"])
    assert rc == 0, capsys.readouterr().err
    assert hub.calls[0] == ("create_repo", "me/limo-sft", "dataset", True)
    repo = tmp_path / "hub" / "dataset" / "me" / "limo-sft"
    assert sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()) == [
        "README.md", "data/train-00000-of-00001.parquet", "sft.jsonl"]
    assert read_card(repo / "README.md")[0]["license"] == "apache-2.0"
    assert datasets.load_dataset(str(repo), split="train").num_rows == 5


def test_push_student_skips_trainer_state(tmp_path, monkeypatch):
    run = make_run(tmp_path)
    hub = LocalHub(tmp_path / "hub")
    monkeypatch.setattr(push_mod, "hf_api", lambda token: hub)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert main(["push", str(run), "--to", "me/limo-student", "--public"]) == 0
    repo = tmp_path / "hub" / "model" / "me" / "limo-student"
    assert sorted(p.name for p in repo.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert hub.calls[0][3] is False


def test_push_dry_run_and_errors_exit_2_in_one_line(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path)

    def no_hub(token):
        raise AssertionError("a dry run must not reach the Hub")

    monkeypatch.setattr(push_mod, "hf_api", no_hub)
    assert main(["push", str(run), "--to", "me/x", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "model me/x <-" in out and "dry run: nothing uploaded" in out
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    for argv, needle in ((["push", str(run), "--to", "me/x"], "set HF_TOKEN"),
                         (["push", str(run), "--to", "not a repo"], "expected a Hub repo id"),
                         (["push", str(tmp_path), "--to", "me/x"], "not a limo-rl run directory"),
                         (["push", str(run), "--to", "me/x", "--item", "seed0/static/train"], "no folder")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err


# ------------------------------------------------------------------------------------------ pinned data
def test_hub_sources_load_at_a_recorded_commit(monkeypatch):
    import datasets

    from limo_rl.data import sources
    from limo_rl.data.benchmarks import load_benchmark

    sha = "a" * 40
    seen = {}

    def fake_load(location, config=None, split=None, revision=None):
        seen[location] = revision
        return [{"problem": "1+1?", "answer": "2", "solution": "2"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    monkeypatch.setattr(sources, "hub_commit", lambda repo, rev: sha if rev in (None, "main") else rev)
    monkeypatch.setattr(sources, "LOADED", {})
    problems = load_benchmark("math500", limit=1)
    assert problems[0].answer == "2"
    assert seen["HuggingFaceH4/MATH-500"] == sha  # the default branch, pinned to the commit it named
    rec = sources.LOADED["HuggingFaceH4/MATH-500:default:test"]
    assert rec["revision"] == sha and rec["requested"] is None
    load_benchmark("aime24", revision="b" * 40)
    assert seen["HuggingFaceH4/aime_2024"] == "b" * 40
    assert sources.LOADED["HuggingFaceH4/aime_2024:default:train"]["requested"] == "b" * 40


def test_evaluate_revisions_is_a_recipe_key():
    from limo_rl.config import load_recipe

    r = load_recipe(None, ["evaluate.revisions.math500=" + "c" * 40])
    assert r.evaluate.revisions == {"math500": "c" * 40}


@pytest.mark.parametrize("form", [["--select.budget", "400"], ["--select.budget=400"], ["select.budget=400"]])
def test_three_override_forms(form, capsys):
    assert main(["config", "show", "recipes/quickstart.yaml", *form, "--generate.n", "8"]) == 0
    out = capsys.readouterr().out
    assert "budget: 400" in out and "  n: 8" in out
