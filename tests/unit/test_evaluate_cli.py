"""``limo-rl evaluate`` argument handling: user errors exit 2 naming the problem, before any compute."""

from __future__ import annotations

import argparse

import pytest

from limo_rl.cli import build_parser, main
from limo_rl.config import load_recipe
from limo_rl.evaluate.cli import _configs
from limo_rl.evaluate.presets import resolve_protocol


def _args(*argv):
    return build_parser().parse_args(["evaluate", *argv])


def test_flags_become_explicit_config_fields(tmp_path):
    bench = tmp_path / "b.jsonl"
    bench.write_text('{"id": "1", "question": "1+1?", "answer": "2"}\n')
    args = _args("--model", "x", "--benchmark-file", f"toy_eval={bench}", "--preset", "limo", "--n", "4",
                 "--max-new-tokens", "64", "--k", "1,2", "--engine", "hf", "--batch-size", "3")
    cfg, gen = _configs(args, load_recipe(None))
    assert cfg.benchmarks == ["toy_eval"] and cfg.paths == {"toy_eval": str(bench)}
    assert {"n", "max_new_tokens", "k", "preset"} <= cfg.model_fields_set
    assert gen.batch_size == 3 and gen.engine == "hf"
    p = resolve_protocol(cfg, "aime24")
    assert (p.n, p.max_new_tokens, p.ks) == (4, 64, (1, 2, 4))


def test_bad_k_is_rejected_by_argparse():
    with pytest.raises(SystemExit):
        _args("--model", "x", "--k", "1,two")
    with pytest.raises(argparse.ArgumentTypeError):
        from limo_rl.evaluate.cli import _ints

        _ints("a")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--model", "{tmp}/nope", "--benchmarks", "toy_eval"], "no such folder"),
        (["--model", "{tmp}", "--benchmarks", "toy_eval"], "config.json"),
        (["--model", "{tmp}", "--benchmarks", "aime99"], "aime99"),
        (["--model", "{tmp}", "--benchmark-file", "toy_eval={tmp}/missing.jsonl"], "missing.jsonl"),
        (["--model", "{tmp}", "--benchmark-file", "toy_eval"], "NAME=PATH"),
        (["--model", "{tmp}", "--benchmarks", "math500", "--benchmark-file", "toy_eval={tmp}/b.jsonl"],
         "not among"),
        (["--model", "{tmp}", "--n", "0", "--benchmarks", "toy_eval"], "n: Input should be greater than or equal to 1"),
        (["--benchmarks", "toy_eval"], "--model is required"),
    ],
)
def test_user_errors_exit_2(tmp_path, capsys, argv, needle):
    (tmp_path / "b.jsonl").write_text('{"id": "1", "question": "q", "answer": "2"}\n')
    code = main(["evaluate", *[a.replace("{tmp}", str(tmp_path)) for a in argv]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and "Traceback" not in err


def test_bad_benchmark_row_names_file_and_row(tmp_path, capsys):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    bench = tmp_path / "b.jsonl"
    bench.write_text('{"id": "1", "question": "q", "answer": "2"}\n{"id": "2", "question": "q"}\n')
    code = main(["evaluate", "--model", str(model), "--benchmark-file", f"toy_eval={bench}",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "b.jsonl" in err and ":2" in err and "answer" in err
