"""Process consistency judged on the final attempt: caught-and-redone errors are kept, uncaught ones rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from limo_rl.config import SelectConfig, VerifyConfig
from limo_rl.loop.report import OutputStats, render_markdown
from limo_rl.select import run_selection
from limo_rl.select.strategies import process_consistent
from limo_rl.types import Chain, Problem, Verdict
from limo_rl.verify.density import analyze
from limo_rl.verify.features import chain_features
from limo_rl.verify.stage import iter_verdict_figures

CAUGHT = {
    "toy_redo": ("Column by column from the right:\n9+0+0=9, write 9, carry 0.\n4+6+0=11, write 1, carry 1.\n"
                 "So 49+60=119.\nCheck: 119-60=59.\nIt does not match. Let me redo it.\nColumn by column from the right:\n"
                 "9+0+0=9, write 9, carry 0.\n4+6+0=10, write 0, carry 1.\nSo 49+60=109.\nCheck: 109-60=49.\nIt matches.\n"
                 "The answer is \\boxed{109}."),
    "wait_not": ("Each box holds 8 rows of 7, so one box has $7 \\times 8 = 54$ eggs. Hmm, let me recompute: "
                 "$7 \\times 8 = 56$, not 54. So 3 boxes hold $3 \\times 56 = 168$ eggs.\n\nThe answer is $\\boxed{168}$."),
    "substituted": ("From $3x + 4 = 25$ we get $3x = 21$, and $21 / 3 = 8$, so $x = 8$. Substituting back, "
                    "$3(8) + 4 = 28$, which does not match 25: a mistake. Indeed $21 / 3 = 7$, so $x = 7$, and "
                    "$3(7) + 4 = 25$ holds.\n\nThe answer is $\\boxed{7}$."),
}
UNCAUGHT = {
    "never_checked": ("Column by column from the right:\n4+6+0=11, write 1, carry 1.\nSo 49+60=119.\n"
                      "The answer is \\boxed{109}."),
    "found_not_redone": ("$7 \\times 8 = 54$, so 3 boxes hold $3 \\times 54 = 162$ eggs. Check: $162 / 3 = 54$. "
                         "Hmm, that is wrong somewhere.\n\nThe answer is $\\boxed{168}$."),
    "false_check": "So $18 + 63 = 81$. Check: $18 + 63 = 82$. It matches.\n\nThe answer is $\\boxed{81}$.",
    "redone_without_finding": ("We get $12 \\times 12 = 124$ tiles. Also $12 \\times 12 = 144$ tiles fit the other way."
                               "\n\nThe answer is $\\boxed{144}$."),
}


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_caught_and_redone_errors_are_counted_and_consistent(name):
    rep = analyze(CAUGHT[name])
    assert rep.caught == 1 and rep.uncaught_false == 0, (rep.caught, rep.uncaught_false)
    assert rep.arithmetic_consistency is not None and rep.arithmetic_consistency < 1.0  # it did write a false step


@pytest.mark.parametrize("name", sorted(UNCAUGHT))
def test_uncaught_false_steps_are_inconsistent(name):
    rep = analyze(UNCAUGHT[name])
    assert rep.uncaught_false >= 1 and rep.caught == 0, (rep.caught, rep.uncaught_false)


def test_toy_world_agrees_with_its_own_final_attempt_rule():
    from limo_rl.toy.chains import process_consistent as toy_rule
    from limo_rl.toy.chains import write_chain
    from limo_rl.toy.problems import make_problems

    n_caught = 0
    for p in make_problems(40, seed=5, difficulty=2):
        for style in ("verified", "slip", "caught", "steps"):
            text, _ = write_chain(p, style, seed=2)
            rep = analyze(text)
            assert (rep.uncaught_false == 0) == toy_rule(text), text
            n_caught += rep.caught > 0
            assert style == "caught" or rep.caught == 0
    assert n_caught >= 20


def _verdict(text: str) -> Verdict:
    return Verdict(correct=True, status="ok", extracted="x", **chain_features(text, None, VerifyConfig()))


def test_selection_keeps_caught_chains_and_rejects_uncaught_ones(tmp_path):
    texts = {**{f"c_{k}": v for k, v in CAUGHT.items()}, **{f"u_{k}": v for k, v in UNCAUGHT.items()}}
    problems = [Problem(id=name, question=f"Q {name}?", answer="x") for name in texts]
    chains = [Chain(problem_id=name, sample_index=0, round=1, teacher="t", engine="hf", seed=0, prompt_hash="h",
                    text=text, n_tokens=100, finish_reason="stop") for name, text in texts.items()]
    verdicts = {(name, 0): _verdict(text) for name, text in texts.items()}
    assert all(v.quality["caught"] >= 1 for (n, _), v in verdicts.items() if n.startswith("c_"))
    assert [n for (n, _), v in verdicts.items() if process_consistent(v)] == [n for n in texts if n.startswith("c_")]
    res = run_selection(problems, chains, verdicts, SelectConfig(process_consistent=True, budget=100), "SYS",
                        tmp_path / "sel")
    assert {e.problem_id for e in res.examples} == {n for n in texts if n.startswith("c_")}
    strict = Verdict(correct=True, status="ok", extracted="x", arithmetic_consistency=0.5)  # an older verdict
    assert not process_consistent(strict)


def test_report_reads_and_shows_the_caught_share(tmp_path):
    path = tmp_path / "verdicts.jsonl"
    rows = [{"problem_id": "p", "sample_index": i, **_verdict(t).to_dict()}
            for i, t in enumerate([CAUGHT["toy_redo"], UNCAUGHT["never_checked"]])]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    figs = list(iter_verdict_figures(path))
    assert [f.caught for f in figs] == [1.0, 0.0]
    md = render_markdown(Path(tmp_path), [], [], None, outputs=[
        OutputStats(0, "loop", 1, "toy_dev", 2, 3.0, 0.5, 0.0, 0.9, 0.0, caught_rate=0.5)])
    header = next(ln for ln in md.splitlines() if ln.startswith("| arm | round | benchmark | verification density"))
    assert "| caught |" in header
    assert "| loop | 1 | toy_dev | 3.00 | 0.500 | 0.000 | 0.000 | 0.500 | 0.900 |" in md
