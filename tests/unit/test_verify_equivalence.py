"""Equivalence: the fast exact tier decides common cases in-process and refuses what it cannot bound."""

from __future__ import annotations

import time

import pytest

from limo_rl.verify.equivalence import fast_equal
from limo_rl.verify.normalize import normalize, parse_number
from limo_rl.verify.structure import shape


@pytest.mark.parametrize("gold,pred", [
    ("1000", "1,000"), ("25000", "25\\,000"), ("0.5", "\\frac{1}{2}"), ("\\frac{1}{3}", "0.\\overline{3}"), ("50", "50\\%"),
    ("4200000", "4.2e6"), ("30", "30^\\circ"), ("5", "5 \\text{ cm}"), ("3", "x = 3"), ("\\{1,2\\}", "\\{2,1\\}"),
    ("2,-3", "-3, 2"), ("(1,2)", "(1,2)"), ("7\\frac{3}{11}", "\\frac{80}{11}"), ("3n+1", "1+3n"),
])
def test_fast_tier_accepts_equivalent_spellings(gold, pred):
    assert fast_equal(gold, pred) is True


@pytest.mark.parametrize("gold,pred", [
    ("\\frac{1}{2}", "\\frac{1}{3}"), ("2", "x=-2"), ("[1,2)", "[1,2]"), ("(1,2)", "(2,1)"), ("\\{3,8\\}", "(3,8)"),
    ("\\frac{22}{7}", "3.14"), ("\\frac{1}{3}", "0.333"), ("3", "3m"), ("2", "2,-2"), ("1000", "100,0"), ("A", "B"),
])
def test_fast_tier_rejects_near_misses(gold, pred):
    assert fast_equal(gold, pred) is False


def test_fast_tier_defers_symbolic_cases():
    assert fast_equal("2y=4x+2", "y=2x+1") is None  # equations with no common side go to math-verify
    assert fast_equal("y=2x+1", "y=1+2x") is True and fast_equal("y=2x+1", "y=2x-1") is False
    assert fast_equal("5", "|3+4i|") is True  # exact Gaussian-rational arithmetic proves it in-process
    assert fast_equal("6", "|3+4i|") is False
    assert fast_equal("\\frac{x}{2}", "0.5x") is None  # not proven in-process: the symbolic tier decides


@pytest.mark.parametrize("gold,pred", [
    ("\\frac{\\sqrt{7}}{4}", "\\frac{\\sqrt{3}}{4}"), ("\\cos(2t-\\pi/4)", "\\cos(2t-\\pi/7)"),
    ("\\frac{\\omega_{d}}{(s+\\sigma)^{2}}", "\\frac{\\omega_{d}}{(s+\\sigma)^{3}}"),
])
def test_numeric_tier_only_refuses(gold, pred):
    from limo_rl.verify.numeric import numeric_equal

    assert numeric_equal(gold, pred) is False
    assert fast_equal(gold, pred) is False


@pytest.mark.parametrize("gold,pred", [
    ("2\\sqrt{2}", "\\sqrt{8}"), ("\\sin(2x)", "2\\sin x\\cos x"), ("x^2+2x+1", "(x+1)^2"),
])
def test_float_agreement_is_not_a_proof(gold, pred):
    from limo_rl.verify.numeric import numeric_equal

    assert numeric_equal(gold, pred) is None  # agreeing floats prove nothing: the symbolic tier decides
    assert fast_equal(gold, pred) is None


def test_numeric_tier_is_bounded():
    from limo_rl.verify.numeric import numeric_equal

    t0 = time.perf_counter()
    assert numeric_equal("9^{9^{9}}", "1") is None
    assert numeric_equal("2^{2^{2^{2^{2}}}}", "1") is None
    assert numeric_equal("(" * 150 + "1" + ")" * 150, "1") is None
    assert time.perf_counter() - t0 < 0.5


def test_huge_numbers_are_refused_not_computed():
    t0 = time.perf_counter()
    assert parse_number("1e999999999") is None
    assert parse_number("9" * 5000) is None
    assert parse_number("9" * 3000).value == int("9" * 3000)  # long integers stay exact
    assert fast_equal("1", "9^{9^{9}}") is None
    assert fast_equal("1", "1" + "0" * 10_000) is None
    assert time.perf_counter() - t0 < 0.5


def test_structure_classifies_brackets():
    assert shape("\\{1,2\\}").kind == "set"
    assert (shape("[1,2)").kind, shape("[1,2)").items, shape("[1,2)").brackets) == ("seq", ("1", "2"), "[)")
    assert shape("1, 2, 3").kind == "list"
    assert shape("x=1, y=2").kind == "assign" and shape("x=1, y=2").names == ("x", "y")
    assert shape("\\frac{1}{2}").kind == "atom"


def test_normalize_keeps_payload_as_text():
    payload = "__import__('os').system('echo pwned')"
    assert normalize(payload) == payload
    assert fast_equal("0", payload) is None or fast_equal("0", payload) is False


@pytest.mark.parametrize("gold,pred,want", [
    ("12345678901234567891", "12345678901234567890", False),  # big integers: exact, never floats
    ("1.2\\times10^{-9}", "1.2\\times10^{-10}", False),  # tiny magnitudes: no tolerance
    ("5", "5 \\text{ or } 6", False), ("5", "5 or 5", True),  # a hedge is wrong; a restatement is not
    ("x=1, y=2", "x=2, y=1", False), ("x=1, y=2", "y=2, x=1", True), ("b=2", "a=2", False),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix} 1 & 3 \\\\ 2 & 4 \\end{bmatrix}", False),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\left[\\begin{array}{cc}1 & 2\\\\3 & 4\\end{array}\\right]", True),
    ("\\text{Even}", "even", True), ("\\frac13", "0.\\overline{3}", True), ("\\frac{2}{15}", "0.1\\overline{3}", True),
    ("\\emptyset", "\\varnothing", True), ("\\emptyset", "\\{\\}", True), ("-1", "i^2", True), ("2i", "(1+i)^2", True),
    ("B", "\\textbf{(B)} 5", True), ("2,-2", "\\pm 2", True), ("(3,-2)", "(x,y) = (3,-2)", True),
    ("[3,\\infty)", "x \\geq 3", True), ("(3,\\infty)", "x \\geq 3", False), ("(-2,2)", "-2<x<2", True),
])
def test_issue_14_classes(gold, pred, want):
    assert fast_equal(gold, pred) is want


@pytest.mark.parametrize("gold,pred,want", [
    ("32", "2^5 = 32", True), ("45", "m\\angle PQR = 45^\\circ", True), ("7", "AB = 7", True),
    ("10", "f(3) = 10", True), ("17", "a_5 = 3 \\cdot 5 + 2 = 17", True), ("32", "n = 2^5 = 32", True),
    ("31", "n = 2^5 = 32", False),
    ("2", "2^5 = 32", False),  # an operand is not the value
    ("31", "2^5 = 31", False),  # a computation whose sides disagree states nothing
    ("10", "2x = 10", False),  # an unknown with a coefficient: x is 5, not 10
    ("5", "x + y = 5", False),
    ("\\mathbb{R}", "(-\\infty, \\infty)", True), ("(-\\infty,\\infty)", "\\text{all real numbers}", True),
    ("\\mathbb{R}", "x \\in \\mathbb{R}", True), ("\\mathbb{R}", "[0, \\infty)", False),
    ("\\mathbb{R}", "\\mathbb{R} \\setminus \\{0\\}", False), ("\\mathbb{R}", "\\mathbb{R}^2", False),
    ("[0,2)\\cup(2,5]", "[0, 5] \\setminus \\{2\\}", True), ("(-\\infty,1)\\cup(1,\\infty)", "\\mathbb{R}\\setminus\\{1\\}", True),
    ("[0,2)\\cup(2,5]", "[0, 5] \\setminus \\{3\\}", False), ("[0,2)\\cup(2,5]", "[0,2]\\cup(2,5]", False),
    ("(0,5]", "[0,5]\\setminus\\{0, 9\\}", True),
    ("3", "3 hrs", True), ("45", "45 mins", True), ("20", "20\\text{ secs}", True), ("180", "3 hrs", False),
    ("A", "A or D", False), ("A", "either (A) or (D)", False),
])
def test_issue_26_classes(gold, pred, want):
    assert fast_equal(gold, pred) is want
