"""Verification steps, density, arithmetic consistency and LIMO quality features."""

from __future__ import annotations

import pytest

from limo_rl.verify.arith import NotEvaluable, evaluate, find_equations
from limo_rl.verify.density import analyze, approx_tokens
from limo_rl.verify.quality import quality_features


def test_keyword_steps_with_spans_and_no_false_friends():
    text = ("The checkerboard has 64 squares. Dana wrote a check for $50. "
            "Let me verify this. Double-checking the count, substituting x = 2 back gives 4. Sanity check: ok.")
    rep = analyze(text)
    kinds = [s.text.lower() for s in rep.steps if s.kind == "keyword"]
    assert any("verify" in k for k in kinds) and any("double-check" in k for k in kinds)
    assert any("substituting" in k for k in kinds) and any("sanity check" in k for k in kinds)
    for s in rep.steps:
        assert text[s.start:s.end] == s.text
        assert "checkerboard" not in s.text and "check for" not in s.text


def test_substitution_without_keywords():
    text = "We solve 3y - 4 = 11. So y = 5.\nThen 3(5) - 4 = 11 holds."
    steps = [s for s in analyze(text).steps if s.kind == "substitution"]
    assert len(steps) == 1 and "3(5) - 4" in steps[0].text
    wrong = "We solve 3y - 4 = 11. So y = 5.\nThen 3(6) - 4 = 14 holds."
    assert not [s for s in analyze(wrong).steps if s.kind == "substitution"]


def test_recompute_another_way():
    text = "First 6 \\times 7 = 42. Another way: 40 + 2 = 42."
    assert [s.kind for s in analyze(text).steps] == ["recompute"]
    same = "First 6 \\times 7 = 42. Again 6 \\times 7 = 42."
    assert analyze(same).steps == ()


def test_density_uses_real_tokens_when_given():
    text = "Let me verify. " * 3
    assert analyze(text, n_tokens=1000).density == pytest.approx(3.0)
    assert analyze(text).n_tokens == approx_tokens(text)
    para = "Let me verify this.\n\nNo checks here.\n\nLet me double-check."
    assert analyze(para).per_paragraph == pytest.approx(2 / 3)


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
