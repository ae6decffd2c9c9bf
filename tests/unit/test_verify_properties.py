"""Property tests of the fast tiers: they may say "not proven" (None), never a wrong "equal".

Values are drawn exactly (integers of any length, fractions, Gaussian rationals), spelled in
many ways, and compared with a second value that is equal or not by construction; the fast
tier's True must imply the values are equal, and False must imply they differ.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from limo_rl.verify.equivalence import fast_equal
from limo_rl.verify.exact import exact_value
from limo_rl.verify.normalize import parse_number

ints = st.integers(min_value=-(10**40), max_value=10**40)
fracs = st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=10**6)


def spell_int(n: int, style: int) -> str:
    if style == 0 or abs(n) < 1000:
        return str(n)
    s = f"{abs(n):,}"
    s = s if style == 1 else s.replace(",", "\\,")
    return ("-" if n < 0 else "") + s


def spell_frac(q: Fraction, style: int) -> str:
    if q.denominator == 1:
        return spell_int(q.numerator, style % 3)
    sign = "-" if q < 0 else ""
    n, d = abs(q.numerator), q.denominator
    return [f"{sign}\\frac{{{n}}}{{{d}}}", f"{sign}\\dfrac{{{n}}}{{{d}}}", f"{sign}{n}/{d}",
            f"{sign}\\frac{{{2 * n}}}{{{2 * d}}}"][style % 4]


def spell_decimal(q: Fraction, places: int) -> str:
    """A decimal rounded to ``places``: exact only when q has that expansion."""
    return f"{float(q):.{places}f}"


@settings(max_examples=150, deadline=None)
@given(ints, ints, st.integers(0, 2), st.integers(0, 2))
def test_integers_never_falsely_equal(a, b, sa, sb):
    got = fast_equal(spell_int(a, sa), spell_int(b, sb))
    assert got is (a == b)  # integers are always decided, exactly


@settings(max_examples=150, deadline=None)
@given(ints, st.sampled_from([1, -1]))
def test_big_integers_off_by_one(a, d):
    assert fast_equal(str(a), str(a + d)) is False


@settings(max_examples=150, deadline=None)
@given(fracs, fracs, st.integers(0, 3), st.integers(0, 3))
def test_fractions_never_falsely_equal(a, b, sa, sb):
    got = fast_equal(spell_frac(a, sa), spell_frac(b, sb))
    if got is True:
        assert a == b
    if got is False:
        assert a != b
    if a == b:
        assert got is True


@settings(max_examples=150, deadline=None)
@given(fracs, st.integers(1, 8))
def test_rounded_decimals_are_not_proven_equal(q, places):
    dec = spell_decimal(q, places)
    got = fast_equal(spell_frac(q, 0), dec)
    assert got is (Fraction(dec) == q)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 99), st.integers(-30, 30), st.integers(-30, 30))
def test_scientific_exponents(m, e1, e2):
    a, b = f"{m / 10}\\times10^{{{e1}}}", f"{m / 10}\\times10^{{{e2}}}"
    assert fast_equal(a, b) is (e1 == e2)


gauss = st.tuples(st.integers(-50, 50), st.integers(-50, 50))


def spell_gauss(z: tuple[int, int]) -> str:
    a, b = z
    return f"{a}{'+' if b >= 0 else '-'}{abs(b)}i"


@settings(max_examples=150, deadline=None)
@given(gauss, gauss, st.integers(0, 3))
def test_complex_products_and_powers(z, w, k):
    a, b = z
    c, d = w
    product = (a * c - b * d, a * d + b * c)
    spelled = f"({spell_gauss(z)})({spell_gauss(w)})"
    assert exact_value(spelled) == (product[0], product[1])
    got = fast_equal(spell_gauss(product), spelled)
    assert got is True
    other = (product[0] + (k or 1), product[1])
    assert fast_equal(spell_gauss(other), spelled) is False


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-20, 20), min_size=2, max_size=4), st.lists(st.integers(-20, 20), min_size=2, max_size=4))
def test_tuples_sets_and_matrices(xs, ys):
    tx, ty = "(" + ",".join(map(str, xs)) + ")", "(" + ",".join(map(str, ys)) + ")"
    assert fast_equal(tx, ty) is (xs == ys)
    sx, sy = "\\{" + ",".join(map(str, xs)) + "\\}", "\\{" + ",".join(map(str, ys)) + "\\}"
    got = fast_equal(sx, sy)
    if got is True:
        assert sorted(xs) == sorted(ys)
    if len(xs) == len(ys) == 4:
        mx = "\\begin{pmatrix}" + f"{xs[0]}&{xs[1]}\\\\{xs[2]}&{xs[3]}" + "\\end{pmatrix}"
        my = "\\begin{bmatrix}" + f"{ys[0]} & {ys[1]} \\\\ {ys[2]} & {ys[3]}" + "\\end{bmatrix}"
        assert fast_equal(mx, my) is (xs == ys)


@settings(max_examples=100, deadline=None)
@given(st.integers(-9, 9), st.integers(-9, 9), st.integers(-9, 9), st.integers(-9, 9))
def test_assignments_by_name(x1, y1, x2, y2):
    got = fast_equal(f"x={x1}, y={y1}", f"y = {y2}, x = {x2}")
    assert got is ((x1, y1) == (x2, y2))


def test_parse_number_is_exact_for_long_integers():
    n = 10**45 + 1
    assert parse_number(str(n)).value == n
