"""The comparison report, built from a synthetic run directory."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
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


# ---------------------------------------------------------------------------------------- paired verdicts
def write_samples(eval_dir, correct_by_problem, bench="toy_eval"):
    rows = [{"benchmark": bench, "problem_id": pid, "sample_index": j, "correct": bool(x)}
            for pid, xs in correct_by_problem.items() for j, x in enumerate(xs)]
    pq.write_table(pa.Table.from_pylist(rows), eval_dir / "samples.parquet")


def write_train(arm_dir, n_train, steps, tokens):
    (arm_dir / "train").mkdir(parents=True, exist_ok=True)
    (arm_dir / "train" / "train_metrics.json").write_text(json.dumps(
        {"n_train": n_train, "n_validation": 0, "global_step": steps, "epoch": 2.0, "train_tokens": tokens,
         "select_checkpoint": "last", "n_dropped_over_length": 0}))


def paired_run(tmp_path, seeds=(0,), n=60):
    """Round 1 solves every problem, round 2 the first 45, static the first 30, base the first 20."""
    run = make_run(tmp_path, "paired", seeds=seeds)
    for s in seeds:
        sd = run / f"seed{s}"
        (sd / "baselines" / "base" / "evaluate").mkdir(parents=True)
        (sd / "baselines" / "base" / "evaluate" / "metrics.json").write_text(json.dumps(metrics(0.3, 0.2, 0.4, n=1)))
        for d, solved in ((sd / "loop/round1", n), (sd / "loop/round2", 45), (sd / "static", 30),
                          (sd / "baselines/base", 20)):
            write_samples(d / "evaluate", {f"q{i:03d}": [int(i < solved)] for i in range(n)})
        write_train(sd / "loop/round1", 150, 20, 38000)
        write_train(sd / "loop/round2", 160, 21, 39000)
        write_train(sd / "static", 776, 98, 211000)
    return run


def test_report_json_and_verdict_table(tmp_path):
    run = paired_run(tmp_path)
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    pairs = [(c["a"], c["b"]) for c in doc["comparisons"]]
    assert pairs == [("loop/round1", "base"), ("loop/round1", "static"), ("loop/round2", "base"),
                     ("loop/round2", "loop/round1"), ("loop/round2", "static"), ("static", "base")]
    by = {(c["a"], c["b"]): c for c in doc["comparisons"]}
    for c in doc["comparisons"]:
        for key in ("benchmark", "metric", "difference", "ci_low", "ci_high", "p_value", "p_adjusted", "verdict"):
            assert key in c
        assert c["p_adjusted"] >= c["p_value"] and c["ci_low"] <= c["difference"] <= c["ci_high"]
    assert by[("loop/round1", "base")]["difference"] == pytest.approx(40 / 60)
    assert by[("loop/round1", "base")]["verdict"] == "loop/round1 beats base"
    assert by[("loop/round2", "loop/round1")]["difference"] == pytest.approx(-15 / 60)
    assert by[("loop/round2", "loop/round1")]["verdict"] == "loop/round1 beats loop/round2"
    # static vs base: 10 discordant problems, p = 2^-9, Holm rank 6 of 6 -> still below 0.05
    assert by[("static", "base")]["p_value"] == pytest.approx(2 / 2**10)
    md = (run / "report.md").read_text()
    first_table = next(ln for ln in md.splitlines() if ln.startswith("|"))
    assert first_table.startswith("| A | B | benchmark | metric | A - B |")
    assert md.index("## Verdicts") < md.index("## Accuracy")
    # the arms differ 5x in examples and steps: a banner says so, report.json lists it
    assert "Arms are not matched" in md and doc["mismatch"]
    arms = {(a["arm"], a["seed"]): a for a in doc["arms"]}
    assert (arms[("static", 0)]["examples"], arms[("static", 0)]["steps"], arms[("static", 0)]["tokens"]) == (
        776, 98, 211000)
    assert "| loop/round1 | 0 | 150 | 20 | 2.00 | 38000 | 0 / - | last |" in md


def test_report_differences_recompute_from_sample_files(tmp_path):
    """report.json's differences equal a recomputation from the per-sample files; with two seeds each
    comparison is of procedures (seeds x problems), not of pooled checkpoints."""
    run = paired_run(tmp_path, seeds=(0, 1))
    # seed 1's base solves 10 more problems than seed 0's
    write_samples(run / "seed1/baselines/base/evaluate", {f"q{i:03d}": [int(i < 30)] for i in range(60)})
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    rel = {"base": "baselines/base", "static": "static", "loop/round1": "loop/round1",
           "loop/round2": "loop/round2"}

    def pass1(label):
        per_problem = {}
        for s in (0, 1):
            t = pq.read_table(run / f"seed{s}" / rel[label] / "evaluate" / "samples.parquet").to_pylist()
            for r in t:
                per_problem.setdefault(r["problem_id"], []).append(float(r["correct"]))
        return sum(sum(v) / len(v) for v in per_problem.values()) / len(per_problem)

    assert len(doc["comparisons"]) == 6
    for c in doc["comparisons"]:
        assert c["difference"] == pytest.approx(pass1(c["a"]) - pass1(c["b"]))
        assert c["test"] == "seed_problem_t" and c["unit"] == "seeds x problems" and c["n_seeds"] == 2
    base = next(c for c in doc["comparisons"] if (c["a"], c["b"]) == ("loop/round1", "base"))
    assert base["difference"] == pytest.approx(1 - 25 / 60)


def test_identical_arms_report_no_detectable_difference(tmp_path):
    run = paired_run(tmp_path)
    sd = run / "seed0"
    write_samples(sd / "static" / "evaluate", {f"q{i:03d}": [int(i < 20)] for i in range(60)})  # = base
    write_train(sd / "static", 150, 20, 38000)  # matched to round 1
    write_train(sd / "loop/round2", 150, 20, 38000)
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    c = next(c for c in doc["comparisons"] if (c["a"], c["b"]) == ("static", "base"))
    assert c["difference"] == 0 and c["p_value"] == 1.0 and c["p_adjusted"] == 1.0
    assert c["verdict"].startswith("no detectable difference (smallest detectable: 0.")
    assert not doc["mismatch"] and "Arms are not matched" not in (run / "report.md").read_text()


def test_data_size_curve_table(tmp_path):
    run = paired_run(tmp_path)
    for size, draws in ((10, (12, 18)), (40, (30, 36))):
        for j, solved in enumerate(draws):
            d = run / "seed0" / "static_curve" / f"n{size}" / f"draw{j}"
            (d / "evaluate").mkdir(parents=True)
            write_samples(d / "evaluate", {f"q{i:03d}": [int(i < solved)] for i in range(60)})
            write_train(d, size, size // 8, 100 * size)
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    curve = {(r["size"], r["benchmark"]): r for r in doc["data_size_curve"]}
    assert curve[(10, "toy_eval")]["pass@1"] == pytest.approx(15 / 60) and curve[(10, "toy_eval")]["draws"] == 2
    assert curve[(40, "toy_eval")]["per_draw"] == pytest.approx([30 / 60, 36 / 60])
    assert len(doc["comparisons"]) == 6  # curve points are described, not tested
    assert not any("static/n" in m for m in doc["mismatch"])
    assert "| 40 | toy_eval | 2 | 0.550 |" in (run / "report.md").read_text()


# ---------------------------------------------------------------------------------------- the headline on every surface
def test_report_json_has_a_flat_scores_list(tmp_path):
    run = paired_run(tmp_path)
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    rows = {(s["arm"], s["round"], s["seed"], s["benchmark"]): s for s in doc["scores"]}
    assert set(rows) == {("loop", 1, 0, "toy_eval"), ("loop", 2, 0, "toy_eval"), ("static", None, 0, "toy_eval"),
                         ("base", None, 0, "toy_eval")}
    r2 = rows[("loop", 2, 0, "toy_eval")]
    assert (r2["metric"], r2["value"], r2["ci_low"], r2["ci_high"]) == ("pass@1[avg of 4]", 0.5, 0.4, 0.6)
    assert {"arm", "round", "seed", "benchmark", "metric", "value", "ci_low", "ci_high"} <= set(r2)


def test_verdict_table_on_console_runs_show_and_report(tmp_path, capsys):
    from limo_rl.cli import main
    from limo_rl.loop.headline import verdict_lines

    run = paired_run(tmp_path)
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    lines = verdict_lines(run)
    assert lines[0].split() == ["A", "B", "benchmark", "A", "-", "B", "[95%", "CI]", "verdict"]
    assert len(lines) == 1 + len(doc["comparisons"])
    c = next(c for c in doc["comparisons"] if (c["a"], c["b"]) == ("loop/round1", "base"))
    row = next(ln for ln in lines if ln.split()[:2] == ["loop/round1", "base"])
    assert f"{c['difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]" in row
    assert row.endswith("loop/round1 beats base")
    assert verdict_lines(tmp_path / "nowhere") == []

    (run / "manifest.json").write_text(json.dumps({"status": "finished", "stages": {}}))
    (run / "wandb-run.json").write_text(json.dumps({"id": "abc", "dir": "/x/offline-run-abc", "url": None}))
    assert main(["runs", "show", str(run)]) == 0
    shown = capsys.readouterr().out
    assert "verdicts (report.json)" in shown and row in shown
    assert "W&B        /x/offline-run-abc (offline; `wandb sync /x/offline-run-abc` uploads it)" in shown
    assert main(["report", str(run)]) == 0
    assert row in capsys.readouterr().out


class Recorder:
    def __init__(self):
        self.tables, self.series, self.summaries, self.logged = {}, {}, {}, {}

    def log(self, metrics, step=None):
        self.logged.update(metrics)

    def summary(self, values):
        self.summaries.update(values)

    def log_table(self, name, columns, rows):
        self.tables[name] = (list(columns), [list(r) for r in rows])

    def log_series(self, name, xs, series, *, x_name="x", title=""):
        self.series[name] = (list(xs), {k: list(v) for k, v in series.items()})

    def log_image(self, name, path):
        pass


def test_wandb_gets_verdicts_summary_keys_and_accuracy_by_round(tmp_path):
    run = paired_run(tmp_path)
    t = Recorder()
    write_report(run, tracker=t)
    doc = json.loads((run / "report.json").read_text())
    cols, rows = t.tables["report/verdicts"]
    assert len(rows) == len(doc["comparisons"]) and {"a", "b", "difference", "p_adjusted", "verdict"} <= set(cols)
    c = next(c for c in doc["comparisons"] if (c["a"], c["b"]) == ("loop/round2", "static"))
    key = "verdict/loop_round2-vs-static/toy_eval"
    assert t.summaries[f"{key}/diff"] == pytest.approx(c["difference"])
    assert (t.summaries[f"{key}/ci_low"], t.summaries[f"{key}/ci_high"], t.summaries[f"{key}/p"]) == (
        c["ci_low"], c["ci_high"], c["p_value"])
    xs, series = t.series["report/accuracy_by_round/toy_eval"]
    assert xs == [1, 2] and series["loop"] == [0.3, 0.5] and series["static"] == [0.4, 0.4]
    assert list(series)[0] == "loop"


def test_report_in_an_offline_wandb_run(tmp_path, monkeypatch):
    from limo_rl.console.tracking import make_tracker
    from tests.wandb_files import history, run_file, summary_keys

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    run = paired_run(tmp_path)
    r = load_recipe(None, ["tracking.backend=wandb"])
    t = make_tracker(r.tracking, run, r.to_dict(), name="paired")
    write_report(run, tracker=t)
    t.finish()
    f = run_file(run)
    rows = history(f)
    for table in ("report/verdicts", "report/accuracy", "report/accuracy_by_round/toy_eval_table"):
        assert any(h.get(f"{table}/_type") == "table-file" for h in rows), table
    assert "verdict/static-vs-base/toy_eval/diff" in summary_keys(f)


def test_export_in_lightevals_results_layout_with_hub_ids(tmp_path, capsys):
    from limo_rl.cli import main

    run = paired_run(tmp_path)
    doc = {"model": "m", "ci_level": 0.95, "preset": "open-r1", "benchmarks": {
        "math500": {"primary": "pass@1[avg of 4]", "n_problems": 500, "split": "test",
                    "protocol": {"n": 4, "max_new_tokens": 32768},
                    "metrics": {"pass@1[avg of 4]": {"value": 0.8, "ci_low": 0.76, "ci_high": 0.84}}},
        "toy_eval": json.loads((run / "seed0/loop/round2/evaluate/metrics.json").read_text())["benchmarks"]["toy_eval"]}}
    (run / "seed0/loop/round2/evaluate/metrics.json").write_text(json.dumps(doc))
    assert main(["export", str(run), "--format", "lighteval", "--out", str(tmp_path / "out")]) == 0
    files = capsys.readouterr().out.split()
    assert len(files) == 4  # loop rounds 1 and 2, static, base
    (r2,) = [f for f in files if "/paired/loop-round2-seed0/results_" in f]
    res = json.loads(open(r2).read())
    assert res["config_general"]["model_name"] == "paired/loop-round2-seed0"
    math = res["results"]["lighteval|math_500|0"]
    assert math["pass@1[avg of 4]"] == 0.8 and math["pass@1[avg of 4]_stderr"] == pytest.approx(0.04 / 1.96, rel=1e-3)
    task = res["config_tasks"]["lighteval|math_500|0"]
    assert (task["hf_repo"], task["evaluation_splits"], task["name"]) == ("HuggingFaceH4/MATH-500", ["test"], "math_500")
    assert res["results"]["limo_rl|toy_eval|0"]["pass@1[avg of 4]"] == 0.5
    assert res["config_tasks"]["limo_rl|toy_eval|0"]["hf_repo"] is None


def test_declared_primary_contrasts_are_the_holm_family(tmp_path):
    """compare.primary: Holm over the declared contrasts only (here one: its adjusted p is its p); the other
    comparisons are descriptive (no adjusted p, no decision); report.json and report.md say so."""
    run = paired_run(tmp_path)
    recipe = load_recipe(None, ["loop.rounds=2", "compare.primary=['loop/round2 vs static', 'loop/round9 vs base']"])
    (run / "config.yaml").write_text(recipe.to_yaml())
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    by = {(c["a"], c["b"]): c for c in doc["comparisons"]}
    primary = by[("loop/round2", "static")]
    assert primary["primary"] and primary["p_adjusted"] == pytest.approx(primary["p_value"])
    assert primary["verdict"] == "loop/round2 beats static"
    others = [c for k, c in by.items() if k != ("loop/round2", "static")]
    assert len(others) == 5 and all(not c["primary"] and c["p_adjusted"] is None for c in others)
    assert all(c["verdict"].startswith("descriptive") for c in others)
    rule = doc["decision_rule"]
    assert rule["primary"] == ["loop/round2 vs static", "loop/round9 vs base"]
    assert rule["primary_not_compared"] == ["loop/round9 vs base"]
    md = (run / "report.md").read_text()
    assert "over the 1 comparisons of the declared primary contrasts" in md and "declared but not compared" in md
    # no declaration: every comparison in one Holm family, as before
    (run / "config.yaml").write_text(load_recipe(None, ["loop.rounds=2"]).to_yaml())
    write_report(run)
    doc = json.loads((run / "report.json").read_text())
    assert all(c["primary"] and c["p_adjusted"] is not None for c in doc["comparisons"])


def test_report_says_which_benchmarks_each_arm_touched(tmp_path):
    run = paired_run(tmp_path)
    doc = {"benchmarks": {"toy_dev": {"n_problems": 10, "n_samples": 10, "primary": "pass@1[avg of 1]",
                                      "split": "dev", "metrics": {}}}}
    (run / "seed0/static/evaluate/metrics.json").write_text(json.dumps(doc))  # static: dev only
    write_report(run)
    touched = json.loads((run / "report.json").read_text())["benchmarks_touched"]
    assert touched["static"] == {"test": [], "dev": ["toy_dev"]}
    assert touched["loop/round1"] == {"test": ["toy_eval"], "dev": []}
    assert "| static | none (not confirmed) | toy_dev |" in (run / "report.md").read_text()


def test_an_unconfirmed_run_says_why_it_has_no_verdicts(tmp_path):
    run = paired_run(tmp_path)
    recipe = load_recipe(None, ["loop.rounds=2", "evaluate.dev_benchmarks=[toy_dev]", "evaluate.confirm=false",
                                "evaluate.benchmarks=[]"])
    (run / "config.yaml").write_text(recipe.to_yaml())
    for p in run.rglob("samples.parquet"):
        p.unlink()  # an unconfirmed run graded no test benchmark
    write_report(run)
    assert "this run was not confirmed (evaluate.confirm: false)" in (run / "report.md").read_text()
