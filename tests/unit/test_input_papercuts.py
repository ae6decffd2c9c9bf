"""Issue 15 cases 8 and 10: bad bytes and odd values in inputs and recipes are one-line errors (exit 2),
never tracebacks, and never silently accepted."""

from __future__ import annotations

import json

import pytest

from limo_rl.cli import main
from limo_rl.config import RecipeError, load_recipe
from limo_rl.data.io import DataError, read_problems


# ------------------------------------------------------------------------------------------ recipes
@pytest.mark.parametrize("override,key", [
    ("generate.n=true", "generate.n"),
    ("generate.temperature=.inf", "generate.temperature"),
    ("evaluate.top_p=.nan", "evaluate.top_p"),
    ("run.seeds=[-1]", "run.seeds.0"),
    ("select.budget='5'", "select.budget"),
])
def test_odd_recipe_values_are_rejected(override, key):
    with pytest.raises(RecipeError) as err:
        load_recipe("recipes/quickstart.yaml", [override])
    assert key in str(err.value)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("select:\n  budget: 10\n  budget: 20\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(f)
    assert "'budget' appears twice" in str(err.value)


def test_bom_recipe_accepted_and_bad_bytes_reported(tmp_path):
    good = tmp_path / "bom.yaml"
    good.write_bytes(b"\xef\xbb\xbfselect:\n  budget: 7\n")
    assert load_recipe(good).select.budget == 7
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"run:\n  name: caf\xe9\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(bad)
    assert "not UTF-8" in str(err.value) and str(bad) in str(err.value)


def test_config_validate_continues_past_a_bad_file(tmp_path, capsys):
    (tmp_path / "a.yaml").write_bytes(b"run:\n  name: caf\xe9\n")
    (tmp_path / "b.yaml").write_text("select:\n  budget: 9\n")
    code = main(["config", "validate", str(tmp_path)])
    out = capsys.readouterr()
    assert code == 1 and f"ok   {tmp_path / 'b.yaml'}" in out.out and "not UTF-8" in out.err


# ------------------------------------------------------------------------------------------ data rows
def _problems(tmp_path, raw: bytes, name="p.jsonl"):
    f = tmp_path / name
    f.write_bytes(raw)
    return f


def test_bom_jsonl_accepted(tmp_path):
    f = _problems(tmp_path, b"\xef\xbb\xbf" + json.dumps({"id": "a", "question": "q?", "answer": "1"}).encode() + b"\n")
    assert [p.id for p in read_problems(f)] == ["a"]


@pytest.mark.parametrize("raw,where", [
    (b'{"id": NaN, "question": "q", "answer": "1"}\n', ":1: NaN is not valid JSON"),
    (b'{"id": "a", "question": "q", "answer": Infinity}\n', ":1: Infinity is not valid JSON"),
    (b'{"id": "a", "question": "q", "answer": "1"}\n{"id": "b", "question": "caf\xe9", "answer": "1"}\n',
     ":2: not UTF-8"),
    (b'{"id": "a", "question": "q", "answer": "1", "meta": [1, 2]}\n', ":1: field 'meta' must be a JSON object"),
])
def test_bad_rows_name_file_and_row(tmp_path, raw, where):
    f = _problems(tmp_path, raw)
    with pytest.raises(DataError) as err:
        read_problems(f)
    assert f"{f}{where}" in str(err.value)


def test_truncated_parquet_is_a_data_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["a"], "question": ["q"], "answer": ["1"]}), f)
    f.write_bytes(f.read_bytes()[:-20])
    with pytest.raises(DataError) as err:
        read_problems(f)
    assert "not a readable parquet file" in str(err.value)
    g = _problems(tmp_path, b"plain text, not parquet", "q.parquet")
    with pytest.raises(DataError):
        read_problems(g)


def test_report_on_damaged_metrics_names_the_file(tmp_path, capsys):
    run = tmp_path / "r"
    (run / "seed0/baselines/base/evaluate").mkdir(parents=True)
    (run / "config.yaml").write_text("run: {name: r}\n")
    (run / "seed0/baselines/base/evaluate/metrics.json").write_text('{"benchmarks": {"x": {"primary": "p", "me')
    code = main(["report", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("limo-rl: error:") and "metrics.json: damaged" in err


def test_plan_address_nobody_answers_fails_within_the_timeout(capsys):
    import time

    t0 = time.monotonic()
    code = main(["plan", "recipes/quickstart.yaml", "--address", "127.0.0.1:9", "--connect-timeout", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "127.0.0.1:9" in err and time.monotonic() - t0 < 25


def test_nan_in_a_parquet_answer_is_rejected(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from limo_rl.data.sources import FieldSpec, RowSource, iter_source, row_to_problem

    f = tmp_path / "p.parquet"
    pq.write_table(pa.table({"question": ["q1", "q2"], "answer": [1.0, float("nan")]}), f)
    rows = list(iter_source(RowSource(str(f))))
    assert row_to_problem(rows[0][1], rows[0][2], FieldSpec(), "x", 0).answer == "1"
    with pytest.raises(DataError) as err:
        row_to_problem(rows[1][1], rows[1][2], FieldSpec(), "x", 1)
    assert "finite number" in str(err.value) and f"{f}:2" in str(err.value)


def test_runs_show_on_a_damaged_manifest(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text('{"stages": {')
    assert main(["runs", "show", str(tmp_path)]) == 2
    assert "manifest.json: damaged" in capsys.readouterr().err


def test_grade_workers_capped_at_the_cpu_count(tmp_path, capsys, caplog, monkeypatch):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"output": "\\\\boxed{2}", "gold": "2"}\n')
    assert main(["grade", str(inp), "--out", str(tmp_path / "out.jsonl"), "--workers", "64"]) == 0
    assert "--workers 64 is more than the 1 CPU(s) here; using 1" in caplog.text
