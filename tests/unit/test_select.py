"""Selection: difficulty window, candidates (correct + finished only), strategies, budget, ties, counts."""

from __future__ import annotations

import dataclasses
import json

import pytest

from limo_rl.config import SelectConfig
from limo_rl.select import difficulty_filter, histogram, read_sft, run_selection
from limo_rl.types import Chain, Problem, Verdict


def _world(n_problems=6, k=4, truncate=(), wrong=(), source=lambda i: "s", subject=lambda i: None):
    """Problem i has i % (k+1) correct samples; chains get lengths and verifier features from (i, j)."""
    problems = [Problem(id=f"p{i}", question=f"Question {i}?", answer=str(i), source=source(i), subject=subject(i))
                for i in range(n_problems)]
    chains, verdicts = [], {}
    for i in range(n_problems):
        for j in range(k):
            correct = j < i % (k + 1) and (i, j) not in wrong
            c = Chain(problem_id=f"p{i}", sample_index=j, round=1, teacher="t", engine="hf", seed=0,
                      prompt_hash="h", text=f"chain {i}/{j} " + "x" * (10 * j + i), n_tokens=10 + 7 * j + i,
                      finish_reason="length" if (i, j) in truncate else "stop")
            chains.append(c)
            verdicts[(c.problem_id, j)] = Verdict(correct=correct, status="ok", extracted=str(i),
                                                  verification_density=0.1 * ((j * 3 + i) % 5),
                                                  score=0.05 * ((i * 7 + j * 5) % 11), quality={"exploration": j})
    return problems, chains, verdicts


def _sel(tmp_path, problems, chains, verdicts, **cfg):
    return run_selection(problems, chains, verdicts, SelectConfig.model_validate(cfg), "SYS", tmp_path / "sel")


def test_difficulty_window_forms_and_histogram():
    _, _, verdicts = _world(n_problems=10, k=4)
    ids = [f"p{i}" for i in range(10)] + ["ghost"]
    kept, removed, rates = difficulty_filter(ids, verdicts, SelectConfig().difficulty.model_copy(
        update={"min_correct": 1, "max_correct": 3}))
    assert kept == [f"p{i}" for i in range(10) if 1 <= i % 5 <= 3]
    assert removed["ghost"] == "no verdicts" and "min_correct" in removed["p0"] and "max_correct" in removed["p4"]
    kept2, _, _ = difficulty_filter(ids, verdicts, SelectConfig.model_validate(
        {"difficulty": {"min_pass_rate": 0.3, "max_pass_rate": 0.6}}).difficulty)
    assert kept2 == [f"p{i}" for i in range(10) if i % 5 == 2]
    h = histogram(rates, bins=4)
    assert sum(h["counts"]) == 10 and h["by_correct"] == {str(c): 2 for c in range(5)}


@pytest.mark.parametrize("strategy", ["limo_rules", "verification_density", "correct_random", "shortest_correct",
                                      "longest_correct"])
def test_truncated_and_wrong_chains_never_selected_and_counts_add_up(tmp_path, strategy):
    problems, chains, verdicts = _world(n_problems=10, k=4, truncate={(3, 0), (4, 1), (9, 2)}, wrong={(4, 0)})
    res = _sel(tmp_path, problems, chains, verdicts, strategy=strategy, per_problem=4, budget=1000)
    picked = {tuple(e.chain_ref.split("/")[1:]) for e in res.examples}
    by_key = {(c.problem_id, str(c.sample_index)): c for c in chains}
    for key in picked:
        c = by_key[key]
        assert c.finish_reason == "stop" and verdicts[(c.problem_id, c.sample_index)].correct
    ch = next(s for s in res.stats["steps"] if s["step"] == "chains")
    assert ch["excluded"]["truncated"] == 3 and ch["excluded"]["incorrect"] >= 1
    assert sum(ch["excluded"].values()) + ch["candidates"] == len(chains)
    assert res.n_selected == ch["candidates"] == len(picked)  # budget and m do not bind here


def test_strategies_rank_as_declared(tmp_path):
    problems, chains, verdicts = _world(n_problems=5, k=4)
    p4 = [c for c in chains if c.problem_id == "p4"]  # all 4 samples correct
    for strategy, best in [
        ("shortest_correct", min(p4, key=lambda c: c.n_tokens)),
        ("longest_correct", max(p4, key=lambda c: c.n_tokens)),
        ("limo_rules", max(p4, key=lambda c: verdicts[("p4", c.sample_index)].score)),
    ]:
        res = _sel(tmp_path, problems, chains, verdicts, strategy=strategy, per_problem=1, budget=100)
        chosen = next(e for e in res.examples if e.problem_id == "p4")
        assert chosen.chain_ref == f"1/p4/{best.sample_index}", strategy
    res = _sel(tmp_path, problems, chains, verdicts, strategy="shortest_correct", weights={"n_tokens": 2.0})
    chosen = next(e for e in res.examples if e.problem_id == "p4")  # -n + 2n = +n: now the longest wins
    assert chosen.chain_ref == f"1/p4/{max(p4, key=lambda c: c.n_tokens).sample_index}"
    with pytest.raises(ValueError, match="unknown feature"):
        _sel(tmp_path, problems, chains, verdicts, weights={"nope": 1.0})


def test_budget_is_a_global_score_cut_and_output_is_complete(tmp_path):
    problems, chains, verdicts = _world(n_problems=20, k=4)
    res = _sel(tmp_path, problems, chains, verdicts, strategy="limo_rules", per_problem=2, budget=7)
    assert res.n_selected == 7
    scores = [e.score for e in res.examples]
    assert scores == sorted(scores, reverse=True)
    res_all = _sel(tmp_path / "all", problems, chains, verdicts, strategy="limo_rules", per_problem=2, budget=1000)
    assert min(scores) >= sorted((e.score for e in res_all.examples), reverse=True)[6]
    assert max(sum(e.problem_id == p.id for e in res_all.examples) for p in problems) == 2
    rows = read_sft(res.sft_path)
    assert rows == res.examples
    ex = rows[0]
    _, pid, idx = ex.chain_ref.split("/")
    chain = next(c for c in chains if c.problem_id == pid and c.sample_index == int(idx))
    assert [m["role"] for m in ex.messages] == ["system", "user", "assistant"]
    assert ex.messages[0]["content"] == "SYS" and ex.messages[2]["content"] == chain.text
    stats = json.loads(res.stats_path.read_text())
    assert stats["distributions"]["n_tokens"]["selected"]["count"] == 7
    assert stats["steps"][-1] == {"step": "budget", "removed": res_all.n_selected - 7, "kept": 7, "budget": 7,
                                  "balance_by": None}
    assert stats["budget_bound"] is True
    assert json.loads(res_all.stats_path.read_text())["budget_bound"] is False  # 1000 > every candidate


def test_ties_are_deterministic_and_follow_the_rule(tmp_path):
    problems, chains, verdicts = _world(n_problems=5, k=4)
    flat = {k: Verdict(correct=v.correct, status="ok", extracted=None) for k, v in verdicts.items()}  # all score 0
    a = _sel(tmp_path / "a", problems, chains, flat, strategy="limo_rules", budget=3)
    b = _sel(tmp_path / "b", problems, list(reversed(chains)), dict(reversed(list(flat.items()))),
             strategy="limo_rules", budget=3)
    assert [e.id for e in a.examples] == [e.id for e in b.examples]
    s = _sel(tmp_path / "c", problems, chains, flat, strategy="limo_rules", tie_break="sample_index", budget=100)
    assert all(e.chain_ref.endswith("/0") for e in s.examples)
    r1 = _sel(tmp_path / "d", problems, chains, verdicts, strategy="correct_random", seed=5, budget=3)
    r2 = _sel(tmp_path / "e", problems, chains, verdicts, strategy="correct_random", seed=5, budget=3)
    assert [e.id for e in r1.examples] == [e.id for e in r2.examples]


def test_balance_by_source_round_robins(tmp_path):
    problems, chains, verdicts = _world(n_problems=20, k=4, source=lambda i: "a" if i < 15 else "b")
    res = _sel(tmp_path, problems, chains, verdicts, budget=6, balance_by="source")
    assert res.stats["selected_by_group"] == {"a": 3, "b": 3}
    plain = _sel(tmp_path / "plain", problems, chains, verdicts, budget=6)
    assert sum(p.source == "b" for p in problems for e in plain.examples if e.problem_id == p.id) <= 3


def test_weak_filter_and_difficulty_report(tmp_path):
    problems, chains, verdicts = _world(n_problems=5, k=4)
    weak = {("p2", 0): Verdict(correct=True, status="ok", extracted="2"),
            ("p2", 1): Verdict(correct=False, status="ok", extracted="1")}
    with pytest.raises(ValueError, match="weak-model verdicts"):
        _sel(tmp_path, problems, chains, verdicts, weak_filter={"enabled": True})
    res = run_selection(problems, chains, verdicts, SelectConfig.model_validate({"weak_filter": {"enabled": True}}),
                        "SYS", tmp_path / "w", weak_verdicts=weak)
    assert "p2" not in {e.problem_id for e in res.examples}
    rows = {r["problem_id"]: r for r in map(json.loads, (tmp_path / "w" / "difficulty.jsonl").read_text().splitlines())}
    assert rows["p2"]["kept"] is False and "weak model" in rows["p2"]["reason"]
    assert rows["p0"]["kept"] is True and rows["p0"]["pass_rate"] == 0.0


def test_the_m_chains_of_a_problem_are_distinct(tmp_path):
    """k samples often repeat a chain word for word: per_problem counts distinct texts, and says how many repeats."""
    problems, chains, verdicts = _world(n_problems=5, k=4)
    same = [dataclasses.replace(c, text="one text") for c in chains if c.problem_id == "p3"]
    chains = [c for c in chains if c.problem_id != "p3"] + same
    res = _sel(tmp_path, problems, chains, verdicts, strategy="verification_density", per_problem=4, budget=1000)
    p3 = [e for e in res.examples if e.problem_id == "p3"]
    assert len(p3) == 1  # three correct samples of p3, all the same text: one chain
    p4 = [e for e in res.examples if e.problem_id == "p4"]
    assert len(p4) == 4 and len({e.messages[-1]["content"] for e in p4}) == 4
    step = next(s for s in res.stats["steps"] if s["step"] == "per_problem")
    assert step["duplicates"] == 2


def test_process_consistent_filter_drops_false_arithmetic_and_false_checks(tmp_path):
    from limo_rl.select.strategies import process_consistent
    from limo_rl.types import VerificationStep

    problems, chains, verdicts = _world(n_problems=5, k=4)
    bad_cons, bad_check = ("p3", 0), ("p3", 1)
    verdicts[bad_cons] = Verdict(correct=True, status="ok", extracted="3", arithmetic_consistency=0.5)
    verdicts[bad_check] = Verdict(correct=True, status="ok", extracted="3", arithmetic_consistency=1.0,
                                  verification_steps=(VerificationStep(0, 5, "false", "Check: 18+63=82"),),
                                  quality={"false_checks": 1.0})
    assert not process_consistent(verdicts[bad_cons]) and not process_consistent(verdicts[bad_check])
    assert process_consistent(verdicts[("p3", 2)])
    off = _sel(tmp_path / "off", problems, chains, verdicts, per_problem=4, budget=1000)
    on = _sel(tmp_path / "on", problems, chains, verdicts, per_problem=4, budget=1000, process_consistent=True)
    refs = lambda res: {tuple(e.chain_ref.split("/")[1:]) for e in res.examples}  # noqa: E731
    assert {("p3", "0"), ("p3", "1")} <= refs(off)
    assert refs(on) == refs(off) - {("p3", "0"), ("p3", "1")}
    ch = next(s for s in on.stats["steps"] if s["step"] == "chains")
    assert ch["excluded"]["inconsistent"] == 2


class _WordTokenizer:
    """A stand-in tokenizer: one token per whitespace-separated word, a 2-token frame per message."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": text.split()}

    def apply_chat_template(self, messages, tokenize=True, return_dict=True):
        return {"input_ids": [w for m in messages for w in ["<s>", *m["content"].split(), "</s>"]]}


def test_selection_passes_over_chains_training_would_drop(tmp_path):
    """The longest correct chain is the strategy's pick; over train.max_length the next-longest stands in."""
    from limo_rl.train.length import ChainLength

    problems = [Problem(id="p0", question="Question zero?", answer="0"), Problem(id="p1", question="One?", answer="1")]
    chains, verdicts = [], {}
    for pid in ("p0", "p1"):
        for j, words in enumerate((5, 20, 40, 80)):
            chains.append(Chain(problem_id=pid, sample_index=j, round=1, teacher="t", engine="hf", seed=0,
                                prompt_hash="h", text=" ".join(["w"] * words), n_tokens=words, finish_reason="stop"))
            verdicts[(pid, j)] = Verdict(correct=True, status="ok", extracted="0")
    cfg = SelectConfig.model_validate({"strategy": "longest_correct", "per_problem": 1, "budget": 10,
                                       "difficulty": {"min_correct": 1, "max_correct": 4}})
    plain = run_selection(problems, chains, verdicts, cfg, "SYS", tmp_path / "plain")
    assert sorted(e.chain_ref for e in plain.examples) == ["1/p0/3", "1/p1/3"]  # 80 words each
    length = ChainLength(_WordTokenizer(), "SYS", max_length=9 + 40)  # p0's frame: 3 + 4 + 2 tokens
    length.add_problems(problems)
    assert length.heads == {"p0": 9, "p1": 8} and length.tokens("p0", "a b c") == 12
    res = run_selection(problems, chains, verdicts, cfg, "SYS", tmp_path / "fit", fits=length.fits)
    assert sorted(e.chain_ref for e in res.examples) == ["1/p0/2", "1/p1/2"]  # the next-best chain, not nothing
    assert res.n_selected == plain.n_selected == 2
    chains_step = next(s for s in res.stats["steps"] if s["step"] == "chains")
    assert chains_step["excluded"]["over_length"] == 2 and chains_step["candidates"] == 6
