"""What a run shares with W&B besides its curves: the verify and select figures, the chains table's columns."""

from __future__ import annotations

import json

from limo_rl.generate.shards import write_shard
from limo_rl.loop.share import chains_table, select_figures, verify_figures
from limo_rl.types import Chain


class Tables:
    def __init__(self):
        self.tables = {}

    def log_table(self, name, columns, rows):
        self.tables[name] = [dict(zip(columns, r, strict=True)) for r in rows]


def test_verify_and_select_figures():
    assert verify_figures({"chains": 40, "accuracy": 0.25, "mean_verification_density": 1.5}) == {
        "verify/chains": 40.0, "verify/correct_rate": 0.25, "verify/mean_verification_density": 1.5}
    stats = {"selected": 7, "problems_with_candidates": 5, "budget_bound": True,
             "steps": [{"step": "difficulty", "kept": 9}, {"step": "budget", "kept": 7}],
             "distributions": {"verification_density": {"all": {"mean": 0.8}, "selected": {"mean": 1.6}},
                               "n_tokens": {"all": {"mean": None}, "selected": {"mean": 80.0}}},
             "strategy": "limo"}
    figs = select_figures(stats)
    assert figs["select/selected"] == 7 and figs["select/budget_bound"] == 1.0
    assert figs["select/kept_after_difficulty"] == 9 and figs["select/kept_after_budget"] == 7
    assert figs["select/verification_density_selected_mean"] == 1.6
    assert figs["select/verification_density_all_mean"] == 0.8
    assert "select/n_tokens_all_mean" not in figs and "select/strategy" not in figs


def test_chains_table_has_question_and_gold_answer(tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps({"id": f"p{i}", "question": f"what is {i}+{i}?", "answer": str(2 * i)})
                                + "\n" for i in range(3)))
    chains = [Chain(f"p{i}", j, 1, "t", "hf", 0, "h", f"so {2 * i}", 5, "stop") for i in range(3) for j in range(2)]
    (tmp_path / "chains").mkdir()
    write_shard(tmp_path / "chains" / "shard-00000.parquet", chains)
    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text("".join(json.dumps({"problem_id": c.problem_id, "sample_index": c.sample_index,
                                            "correct": True, "verification_density": 0.0}) + "\n" for c in chains))
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"chain_ref": "1/p1/0"}) + "\n")
    t = Tables()
    chains_table(t, verdicts, sft, tmp_path / "chains", 0, problems)
    rows = t.tables["chains/sample"]
    assert len(rows) == 6
    for r in rows:
        i = int(r["problem_id"][1:])
        assert (r["question"], r["gold_answer"]) == (f"what is {i}+{i}?", str(2 * i))
        assert r["selected"] == ((r["problem_id"], r["sample_index"]) == ("p1", 0))
