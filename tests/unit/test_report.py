"""The comparison report, built from a synthetic run directory."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from limo_rl.config import load_recipe
from limo_rl.loop.report import collect_data_stats, collect_scores, compare_runs, headline, write_report


def metrics(value, lo, hi, n=4):
    key = f"pass@1[avg of {n}]"
    return {"benchmarks": {"toy_eval": {"n_problems": 10, "n_samples": 10 * n, "primary": key,
                                        "metrics": {key: {"value": value, "ci_low": lo, "ci_high": hi},
                                                    "maj@4": {"value": 0.9, "ci_low": 0.8, "ci_high": 1.0}}}}}


def make_run(root, name, seeds=(0,), loop_values=(0.3, 0.5), static=0.4):
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(load_recipe(None, [f"loop.rounds={len(loop_values)}"]).to_yaml())
    for s in seeds:
        sd = run / f"seed{s}"
        for r, v in enumerate(loop_values, start=1):
            rd = sd / "loop" / f"round{r}"
            for sub in ("evaluate", "select", "verify", "generate/chains"):
                (rd / sub).mkdir(parents=True)
            (rd / "evaluate" / "metrics.json").write_text(json.dumps(metrics(v + s * 0.01, v - 0.1, v + 0.1)))
            verdicts = [{"problem_id": f"p/{i}", "sample_index": j, "verification_density": float(i + j),
                         "correct": True} for i in range(3) for j in range(2)]
            (rd / "verify" / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts))
            sft = [{"id": f"e{i}", "messages": [], "chain_ref": f"{r}/p/{i}/1"} for i in range(3)]
            (rd / "select" / "sft.jsonl").write_text("".join(json.dumps(e) + "\n" for e in sft))
            pq.write_table(pa.table({"problem_id": [v["problem_id"] for v in verdicts],
                                     "sample_index": [v["sample_index"] for v in verdicts],
                                     "n_tokens": [10 * (k + 1) for k in range(6)]}),
                           rd / "generate" / "chains" / "shard-00000.parquet")
        (sd / "static" / "evaluate").mkdir(parents=True)
        (sd / "static" / "evaluate" / "metrics.json").write_text(json.dumps(metrics(static, static - 0.1, static + 0.1)))
        (sd / "static" / "data").mkdir(parents=True)
        (sd / "static" / "data" / "sft.jsonl").write_text('{"id": "s", "messages": []}\n' * 5)
    return run


def test_scores_and_data_stats(tmp_path):
    run = make_run(tmp_path, "r1")
    scores = collect_scores(run)
    assert {(s.arm, s.round) for s in scores} == {("loop", 1), ("loop", 2), ("static", None)}
    assert all(s.metric == "pass@1[avg of 4]" for s in scores)
    data = {(d.arm, d.round): d for d in collect_data_stats(run)}
    d1 = data[("loop", 1)]
    # selected: sample 1 of problems 0..2 -> densities 1, 2, 3; all: (0..2)+(0..1) -> mean 1.5
    assert d1.sft_size == 3 and d1.density_selected == 2.0 and d1.density_all == 1.5
    assert d1.tokens_selected == (20 + 40 + 60) / 3 and d1.tokens_all == 35.0
    assert data[("static", None)].sft_size == 5


def test_headline_uses_last_loop_round(tmp_path):
    h = headline(collect_scores(make_run(tmp_path, "h")))
    assert h == {"loop/toy_eval/pass@1": 0.5, "static/toy_eval/pass@1": 0.4}


def test_write_report_markdown_and_png(tmp_path):
    run = make_run(tmp_path, "r1")
    summary = write_report(run)
    md = (run / "report.md").read_text()
    assert "| loop | 1 | toy_eval | `pass@1[avg of 4]` | 0.300 [0.200, 0.400] |" in md
    assert "| static | - | toy_eval | `pass@1[avg of 4]` | 0.400 [0.300, 0.500] |" in md
    assert "| loop | 1 | 0 | 3 | 2.00 / 1.50 |" in md
    assert (run / "report.png").stat().st_size > 1000
    assert summary["loop/toy_eval/pass@1"] == 0.5


def test_several_seeds_show_mean_and_spread(tmp_path):
    run = make_run(tmp_path, "r2", seeds=(0, 1))
    write_report(run)
    md = (run / "report.md").read_text()
    assert "0.305 ± 0.007" in md  # seeds 0.30 and 0.31


def test_compare_runs(tmp_path):
    a = make_run(tmp_path, "a", loop_values=(0.3,))
    b = make_run(tmp_path, "b", loop_values=(0.6,), static=0.2)
    table = compare_runs([a, b])
    assert "| loop | 1 | toy_eval | 0.300 | 0.600 |" in table
    assert "| static | - | toy_eval | 0.400 | 0.200 |" in table
    assert yaml.safe_load((a / "config.yaml").read_text())["loop"]["rounds"] == 1
