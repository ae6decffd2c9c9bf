"""Verification steps (real, hollow, caught), density, arithmetic consistency and LIMO quality features."""

from __future__ import annotations

import pytest

from limo_rl.config import VerifyConfig
from limo_rl.toy.chains import write_chain
from limo_rl.toy.problems import make_problems
from limo_rl.verify.arith import NotEvaluable, evaluate, find_equations
from limo_rl.verify.density import MAX_WINDOW, analyze, approx_tokens
from limo_rl.verify.grade import chain_features
from limo_rl.verify.quality import quality_features


def counted(rep):
    return [s for s in rep.steps if s.kind != "hollow"]


def test_check_phrases_keep_spans_and_skip_false_friends():
    text = ("The checkerboard has 8 \\times 8 = 64 squares. Dana wrote a check for $50. "
            "Let me verify this. Double-checking the count, substituting x = 2 back gives 4. Sanity check: ok.")
    rep = analyze(text)
    found = [s.text.lower() for s in rep.steps]
    assert any("verify" in k for k in found) and any("double-check" in k for k in found)
    assert any("substituting" in k for k in found) and any("sanity check" in k for k in found)
    for s in rep.steps:
        assert text[s.start:s.end] == s.text
        assert "checkerboard" not in s.text and "check for" not in s.text
    # every phrase here is words only: reported as hollow, none counted
    assert {s.kind for s in rep.steps} == {"hollow"} and rep.n_hollow == 4 and rep.density == 0.0


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_toy_styles_hollow_real_caught_none(seed):
    kinds_seen = set()
    for p in make_problems(12, seed=seed):
        reps = {style: analyze(write_chain(p, style, 0)[0]) for style in ("verified", "hollow", "caught", "steps")}
        kinds_seen.add(p.question.split()[0])
        assert reps["hollow"].density == 0.0 and reps["hollow"].n_hollow == 1, p.question
        assert [s.kind for s in reps["hollow"].steps] == ["hollow"]
        assert len(counted(reps["verified"])) == 1 and reps["verified"].n_hollow == 0, p.question
        assert all(any(ch.isdigit() for ch in s.text) for s in counted(reps["verified"]))
        # the failed check that caught the slip counts, and so does the one after the redo
        assert len(counted(reps["caught"])) == 2, p.question
        assert reps["steps"].steps == () and reps["steps"].density == 0.0
        assert reps["verified"].density > reps["hollow"].density
    assert len(kinds_seen) >= 2  # several problem kinds, not one phrasing


def test_natural_language_checks_backed_by_work_count():
    plug = ("We need 2x + 1 = 7, so 2x = 6 and x = 3.\n"
            "Let me double-check by plugging x = 3 back in: 2(3)+1 = 7 ✓\nSo the answer is $\\boxed{3}$.")
    rep = analyze(plug)
    assert [s.kind for s in rep.steps] == ["substitution"]  # one check: the phrase and its work, one step
    s = rep.steps[0]
    assert plug[s.start:s.end] == s.text and s.text.startswith("Let me double-check") and s.text.endswith("= 7")
    assert rep.density > 0
    next_line = "The total is 3 \\cdot 14 = 42.\nLet me verify this:\n$42 / 3 = 14$, as expected."
    assert [s.kind for s in analyze(next_line).steps] == ["keyword"]
    past = "Putting it in, 2(3) + 1 = 7, which is verified. Hence x = 3."
    assert analyze(past).steps[0].text == "2(3) + 1 = 7, which is verified"
    with_var = "Solving gives x = 5. Let me verify: 2x + 1 = 11, so the original equation holds."
    assert [s.kind for s in analyze(with_var).steps] == ["keyword"]
    latex = ("Thus $a = 4$ and $b = 7$. To verify, note that $a^2 + b = 16 + 7 = 23$, as required.")
    assert len(counted(analyze(latex))) == 1


def test_hollow_checks_are_reported_not_counted():
    hollow = ("We need 2x + 1 = 7, so 2x = 6 and x = 3.\n"
              "Let me double check... yes, that seems correct.\nSo the answer is $\\boxed{3}$.")
    rep = analyze(hollow)
    assert [(s.kind, s.text) for s in rep.steps] == [("hollow", "Let me double check")]
    assert rep.density == 0.0 and rep.per_paragraph == 0.0 and rep.n_hollow == 1
    # a verdict closes the check: later forward work does not back it
    closed = "So x = 3.\nLet me verify. That looks right.\nNext, the area is 4 \\times 5 = 20."
    assert [s.kind for s in analyze(closed).steps] == ["hollow"]
    # work beyond the window (two more lines, a blank line, MAX_WINDOW characters) does not back it
    far = "Let me check the answer.\nWe move on.\nThe next part.\nHere 4 \\times 5 = 20."
    assert [s.kind for s in analyze(far).steps] == ["hollow"]
    assert [s.kind for s in analyze("Let me check the answer.\n\n4 \\times 5 = 20.").steps] == ["hollow"]
    assert [s.kind for s in analyze("Let me verify: " + "a" * MAX_WINDOW + " 4 \\times 5 = 20.").steps] == ["hollow"]
    # the same chains with the work in place count
    assert len(counted(analyze("Let me check the answer.\n4 \\times 5 = 20."))) == 1


def test_caught_slip_counts_and_lowers_consistency():
    text = "So 17 \\times 6 = 112.\nWait, let me double-check: 17 \\times 6 = 102, not 112. I made an error."
    rep = analyze(text)
    assert [s.kind for s in rep.steps] == ["keyword"] and rep.arithmetic_consistency == 0.5
    # the slip is upstream; the check's own arithmetic is right and shows the mismatch
    false_check = "So 49 + 60 = 108.\nCheck: 108 - 60 = 48. That does not match 49."
    rep = analyze(false_check)
    assert [s.text for s in counted(rep)] == ["Check: 108 - 60 = 48"] and rep.arithmetic_consistency == 0.5


def test_substitution_without_keywords():
    text = "We solve 3y - 4 = 11. So y = 5.\nThen 3(5) - 4 = 11 holds."
    steps = [s for s in analyze(text).steps if s.kind == "substitution"]
    assert len(steps) == 1 and "3(5) - 4" in steps[0].text
    wrong = "We solve 3y - 4 = 11. So y = 5.\nThen 3(6) - 4 = 14 holds."
    assert not [s for s in analyze(wrong).steps if s.kind == "substitution"]


def test_recompute_another_way():
    text = "First 6 \\times 7 = 42. Another way: 40 + 2 = 42."
    assert [s.kind for s in analyze(text).steps] == ["recompute"]
    same = "First 6 \\times 7 = 42. Again 6 \\cdot 7 = 42."
    assert analyze(same).steps == ()
    reorder = ("Adding the scores: 12 + 35 + 8 + 17 = 72.\n"
               "Adding them in the other order, 17 + 8 + 35 + 12 = 72, the same total.")
    assert [s.kind for s in analyze(reorder).steps] == ["recompute"]
    swap = "So 49 + 60 = 109. In other words 60 + 49 = 109."  # a two-term swap restates, it does not check
    assert analyze(swap).steps == ()


def test_density_uses_real_tokens_when_given():
    text = "Let me verify: 2 + 2 = 4. " * 3
    assert analyze(text, n_tokens=1000).density == pytest.approx(3.0)
    assert analyze(text).n_tokens == approx_tokens(text)
    para = "Let me verify this: 3 + 4 = 7.\n\nNo checks here.\n\nLet me double-check. Yes, fine."
    rep = analyze(para, n_tokens=500)
    assert rep.per_paragraph == pytest.approx(1 / 3) and rep.density == pytest.approx(2.0)


def test_verdict_features_report_hollow_steps_but_density_counts_real_ones():
    hollow = "x = 3.\nLet me verify. The answer looks right. \\boxed{3}"
    real = "x = 3.\nLet me verify: 2(3) + 1 = 7. \\boxed{3}"
    f_hollow, f_real = chain_features(hollow, 100, VerifyConfig()), chain_features(real, 100, VerifyConfig())
    assert [s.kind for s in f_hollow["verification_steps"]] == ["hollow"]
    assert f_hollow["verification_density"] == 0.0 and f_real["verification_density"] == pytest.approx(10.0)
    # LIMO's self-verification feature stays a keyword frequency (paper v3): both chains score the same
    assert f_hollow["quality"]["self_verification_per_1k"] == f_real["quality"]["self_verification_per_1k"] > 0


def test_arithmetic_consistency_scores_wrong_steps():
    good = "3 + 4 = 7 and 2 \\times 5 = 10 and \\frac{3}{4} = 0.75 and 1/3 = 0.333"
    bad = "3 + 4 = 7 and 2 \\times 5 = 12"
    assert analyze(good).arithmetic_consistency == 1.0
    assert analyze(bad).arithmetic_consistency == 0.5
    assert analyze("no equations here").arithmetic_consistency is None


def test_evaluator_is_bounded_and_never_evals():
    assert evaluate("2(3+4)^2") == 98
    for hostile in ("9^9^9", "9^(9^9)", "__import__('os')", "1" * 100, "2^100000"):
        with pytest.raises(NotEvaluable):
            evaluate(hostile)
    eqs = list(find_equations("so x = 4, and 2 + 2 = 4 here"))
    assert [e.sides for e in eqs] == [("x", "4"), ("2 + 2", "4")]


def test_limo_quality_features_and_weights():
    short = "x is 3."
    rich = ("Perhaps we might try another path. Since a = b, therefore c. Let me check and verify. " * 20)
    f_short, s_short = quality_features(short, 4)
    f_rich, s_rich = quality_features(rich, 600)
    assert s_rich > s_short
    assert f_rich["self_verification_per_1k"] > 0 and f_rich["exploration"] > 0 and f_rich["granularity"] > 0
    _, only_len = quality_features(rich, 600, {"elaboration": 1, "self_verification": 0, "exploration": 0,
                                               "granularity": 0})
    assert only_len == pytest.approx(f_rich["elaboration"])
    assert quality_features("the checkerboard", 10)[0]["self_verification_per_1k"] == 0


def test_checks_late_in_long_chains_still_find_their_work():
    from limo_rl.verify.density import MAX_EQUATIONS

    body = "".join(f"Step {i}: {i} + 1 = {i + 1}.\n" for i in range(MAX_EQUATIONS + 50))
    text = body + "Let me verify: 500 - 1 = 499.\nLet me verify. Looks right."
    rep = analyze(text)
    assert [s.kind for s in rep.steps if s.start >= len(body)] == ["keyword", "hollow"]
