"""Issue 15 case 7: what can be known before the first stage is checked before it: one
``limo-rl: error:`` naming the key, exit code 2, and nothing written."""

from __future__ import annotations

import pytest

from limo_rl.cli import main


@pytest.mark.parametrize("override,names", [
    ("train.model=/nonexistent/student", "train.model = '/nonexistent/student': no such model folder"),
    ("generate.model=toy://teachr", "generate.model = 'toy://teachr': unknown toy model"),
    ("evaluate.n=2", "evaluate.n = 2 with evaluate.temperature = 0"),
    ("generate.temperature=0", "generate.n = 8 with generate.temperature = 0"),  # the quickstart samples 8
    ("evaluate.paths={toy_eval: /nonexistent/bench.jsonl}", "evaluate.paths.toy_eval"),
    ("pool.source=/nonexistent/pool.jsonl", "pool.source = '/nonexistent/pool.jsonl': file not found"),
])
def test_run_fails_before_any_stage(tmp_path, capsys, override, names):
    code = main(["-q", "run", "recipes/quickstart.yaml", f"run.output_dir={tmp_path}", "run.name=x", override])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("limo-rl: error:") and names in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # nothing was written: checked before the run folder exists


def test_unwritable_output_dir_is_named(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["-q", "run", "recipes/quickstart.yaml", f"run.output_dir={blocker}", "run.name=x"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write there" in err and str(blocker) in err


def test_grade_out_checked_before_grading(tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"output": "\\\\boxed{2}", "gold": "2"}\n')
    (tmp_path / "blocker").write_text("a file where a folder should be")
    code = main(["-q", "grade", str(inp), "--out", str(tmp_path / "blocker" / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("limo-rl: error: --out") and "graded" not in err
