"""Generated (gold, prediction) pairs whose labels are known by construction, for the differential test.

Equal families write one value in another correct spelling (metamorphic forms: separators,
fractions and their LaTeX variants, decimals, repeating decimals, scientific notation,
reordered sets and assignments, re-spaced matrices, complex arithmetic, text case, empty-set
spellings, wrapped choice letters, equivalent equations and radicals). Near-miss families
change the value a little (off-by-one big integers, an exponent +-1, a rounded decimal for an
exact fraction, a hedge, swapped assignments, a transpose, a sign flip, a conjugate, a set
for a tuple, a bracket). The prediction is put in a short chain ending in a box (or two
boxes, for a hedge), so extraction is part of what is compared.

Used by tests/unit/test_verify_differential.py and benchmarks/bench_verify.py (--families).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

Pair = tuple[str, str, str, bool]  # (category, gold, chain, label)


def _chain(pred: str, rng: random.Random) -> str:
    lead = rng.choice(["Working through the cases carefully.", "We simplify step by step.",
                       "Combining the results above."])
    return f"{lead}\n\nTherefore the final answer is $\\boxed{{{pred}}}$."


def _sep(n: int, rng: random.Random) -> str:
    s = f"{n:,}"
    return rng.choice([s, s.replace(",", "\\,"), s.replace(",", "{,}")])


def _frac_latex(q: Fraction, rng: random.Random) -> str:
    cmd = rng.choice(["\\frac", "\\dfrac", "\\tfrac"])
    sign = "-" if q < 0 else ""
    return f"{sign}{cmd}{{{abs(q.numerator)}}}{{{q.denominator}}}"


def _rand_frac(rng: random.Random) -> Fraction:
    while True:
        q = Fraction(rng.randint(1, 97), rng.randint(2, 60))
        if q.denominator > 1:
            return q


def _non_terminating(rng: random.Random) -> Fraction:
    while True:
        q = _rand_frac(rng)
        d = q.denominator
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        if d > 1:
            return q


def _repeating(q: Fraction) -> str | None:
    """The overline spelling of a proper fraction's decimal expansion, or None if too long."""
    whole, r = divmod(q.numerator, q.denominator)
    digits, seen = [], {}
    while r and r not in seen and len(digits) < 30:
        seen[r] = len(digits)
        r *= 10
        digits.append(str(r // q.denominator))
        r %= q.denominator
    if not r or r not in seen:
        return None
    k = seen[r]
    return f"{whole}.{''.join(digits[:k])}\\overline{{{''.join(digits[k:])}}}"


def _matrix(rows: list[list[int]], env: str, spaced: bool) -> str:
    sep, nl = (" & ", " \\\\ ") if spaced else ("&", "\\\\")
    return f"\\begin{{{env}}}" + nl.join(sep.join(str(x) for x in r) for r in rows) + f"\\end{{{env}}}"


def _complex(a: int, b: int) -> str:
    if b == 0:
        return str(a)
    im = ("" if abs(b) == 1 else str(abs(b))) + "i"
    return f"{a}{'+' if b > 0 else '-'}{im}" if a else (("-" if b < 0 else "") + im)


# ---------------------------------------------------------------------------------------- equal forms
def eq_separators(rng):
    n = rng.randint(1000, 10**9)
    return "separators", str(n), _sep(n, rng), True


def eq_big_int(rng):
    n = rng.randint(10**15, 10**20)
    return "big_int", str(n), rng.choice([str(n), _sep(n, rng)]), True


def eq_fraction(rng):
    q = _rand_frac(rng) * rng.choice([1, -1])
    k = rng.randint(1, 4)
    pred = rng.choice([_frac_latex(q, rng), f"{q.numerator}/{q.denominator}",
                       f"\\frac{{{q.numerator * k}}}{{{q.denominator * k}}}",
                       f"\\left({_frac_latex(q, rng)}\\right)"])
    return "fraction", _frac_latex(q, rng), pred, True


def eq_decimal(rng):
    q = Fraction(rng.randint(1, 999), rng.choice([2, 4, 5, 8, 10, 16, 20, 25, 40, 125]))
    dec = f"{float(q):.10f}".rstrip("0").rstrip(".")
    return ("decimal", _frac_latex(q, rng), dec, True) if rng.random() < 0.5 else ("decimal", dec, _frac_latex(q, rng),
                                                                                   True)


def eq_repeating(rng):
    while True:
        q = _non_terminating(rng)
        q = Fraction(q.numerator % q.denominator or 1, q.denominator)
        rep = _repeating(q)
        if rep:
            return "repeating", _frac_latex(q, rng), rep, True


def eq_scientific(rng):
    m, e = rng.randint(11, 99), rng.randint(3, 12)
    value = m * 10 ** (e - 1)
    mant = f"{m // 10}.{m % 10}"
    pred = rng.choice([f"{mant}\\times10^{{{e}}}", f"{mant} \\times 10^{{{e}}}", f"{mant}e{e}", f"{mant}\\cdot 10^{{{e}}}"])
    return "scientific", str(value), pred, True


def eq_tuple(rng):
    xs = [rng.randint(-20, 20) for _ in range(rng.randint(2, 4))]
    gold = "(" + ",".join(map(str, xs)) + ")"
    return "tuple", gold, "\\left(" + ", ".join(map(str, xs)) + "\\right)", True


def eq_set(rng):
    xs = rng.sample(range(-30, 30), rng.randint(2, 5))
    ys = xs[:]
    rng.shuffle(ys)
    return "set", "\\{" + ",".join(map(str, xs)) + "\\}", "\\{" + ", ".join(map(str, ys)) + "\\}", True


def eq_interval(rng):
    a, b = sorted(rng.sample(range(-20, 20), 2))
    br = rng.choice(["()", "[]", "[)", "(]"])
    return "interval", f"{br[0]}{a},{b}{br[1]}", f"{br[0]}{a}, {b}{br[1]}", True


def eq_assignment(rng):
    x, y = rng.randint(-9, 9), rng.randint(-9, 9)
    return "assignment", f"x={x}, y={y}", rng.choice([f"y = {y}, x = {x}", f"x = {x}, y = {y}"]), True


def eq_matrix(rng):
    rows = [[rng.randint(-9, 9) for _ in range(2)] for _ in range(2)]
    return "matrix", _matrix(rows, "pmatrix", False), _matrix(rows, rng.choice(["bmatrix", "pmatrix"]), True), True


def eq_complex(rng):
    a, b = rng.randint(-5, 5), rng.randint(1, 5)
    k = rng.randint(2, 40)
    forms = [(_complex(a * a - b * b, 2 * a * b), f"({_complex(a, b)})^2"),
             (_complex(*[(1, 0), (0, 1), (-1, 0), (0, -1)][k % 4]), f"i^{{{k}}}"),
             (_complex(a, b), f"{b}i{'+' if a >= 0 else '-'}{abs(a)}")]
    gold, pred = rng.choice(forms)
    return "complex", gold, pred, True


def eq_text_case(rng):
    w = rng.choice(["even", "odd", "yes", "no", "never", "always", "east", "north"])
    return "text_case", f"\\text{{{w}}}", rng.choice([w.capitalize(), w.upper(), f"\\text{{{w.capitalize()}}}"]), True


def eq_empty(rng):
    return "empty_set", rng.choice(["\\emptyset", "\\varnothing"]), rng.choice(["\\varnothing", "\\{\\}", "\\emptyset",
                                                                                 "\\{ \\}"]), True


def eq_choice(rng):
    letter = rng.choice("ABCDE")
    return "choice", letter, rng.choice([f"\\textbf{{({letter})}} {rng.randint(1, 99)}", f"({letter})",
                                         f"\\text{{({letter})}}", f"{letter}"]), True


def eq_equation(rng):
    m, c = rng.choice([2, 3, -2, 5]), rng.randint(1, 9)
    gold = f"y={m}x+{c}"
    k = rng.choice([1, 2, -1])
    pred = f"{k * m}x{'-' if k > 0 else '+'}{abs(k)}y+{k * c}=0".replace("+-", "-")
    pred = pred.replace("1y", "y") if abs(k) == 1 else pred
    return "equation", gold, pred, True


def eq_radical(rng):
    a, b = rng.choice([2, 3, 5, 6, 7]), rng.randint(2, 6)
    return "radical", f"{b}\\sqrt{{{a}}}", f"\\sqrt{{{a * b * b}}}", True


# ---------------------------------------------------------------------------------------- near misses
def ne_big_int(rng):
    n = rng.randint(10**15, 10**20)
    return "big_int", str(n), str(n + rng.choice([1, -1])), False


def ne_exponent(rng):
    m, e = rng.randint(11, 99), rng.randint(6, 14)
    mant = f"{m // 10}.{m % 10}"
    return "tiny_exponent", f"{mant}\\times10^{{-{e}}}", f"{mant}\\times10^{{-{e + rng.choice([1, -1])}}}", False


def ne_rounded(rng):
    q = _non_terminating(rng)
    places = rng.choice([3, 4, 6])
    return "rounded_decimal", _frac_latex(q, rng), f"{round(float(q), places):.{places}f}", False


def ne_hedge(rng):
    n = rng.randint(1, 500)
    m = n + rng.randint(1, 9)
    a, b = rng.sample([n, m], 2)
    return "hedge", str(n), rng.choice([f"{a} \\text{{ or }} {b}", f"{a}}} or \\boxed{{{b}"]), False


def ne_swapped(rng):
    x, y = rng.sample(range(-9, 10), 2)
    return "assignment", f"x={x}, y={y}", f"x = {y}, y = {x}", False


def ne_transpose(rng):
    while True:
        rows = [[rng.randint(-9, 9) for _ in range(2)] for _ in range(2)]
        if rows[0][1] != rows[1][0]:
            break
    tr = [[rows[0][0], rows[1][0]], [rows[0][1], rows[1][1]]]
    return "matrix", _matrix(rows, "pmatrix", False), _matrix(tr, "pmatrix", True), False


def ne_sign(rng):
    q = _rand_frac(rng)
    return "sign_flip", _frac_latex(q, rng), _frac_latex(-q, rng), False


def ne_off_by_one(rng):
    n = rng.randint(1, 999)
    return "off_by_one", str(n), str(n + rng.choice([1, -1])), False


def ne_conjugate(rng):
    a, b = rng.randint(-5, 5), rng.randint(1, 5)
    return "complex", _complex(a, b), _complex(a, -b), False


def ne_set_tuple(rng):
    a, b = rng.sample(range(-9, 10), 2)
    return rng.choice([("set", f"\\{{{a},{b}\\}}", f"({a},{b})", False),
                       ("interval", f"[{min(a, b)},{max(a, b)})", f"[{min(a, b)},{max(a, b)}]", False)])


def ne_radical(rng):
    a, b = rng.choice([2, 3, 5, 6, 7]), rng.randint(2, 6)
    return "radical", f"{b}\\sqrt{{{a}}}", f"\\sqrt{{{a * b * b + rng.choice([1, -1])}}}", False


def ne_equation(rng):
    m, c = rng.choice([2, 3, 5]), rng.randint(1, 9)
    return "equation", f"y={m}x+{c}", f"{m}x-y-{c}=0", False


def ne_choice(rng):
    letter, other = rng.sample("ABCDE", 2)
    return "choice", letter, f"\\textbf{{({other})}} {rng.randint(1, 99)}", False


FAMILIES: list[Callable[[random.Random], tuple[str, str, str, bool]]] = [
    eq_separators, eq_big_int, eq_fraction, eq_decimal, eq_repeating, eq_scientific, eq_tuple, eq_set, eq_interval,
    eq_assignment, eq_matrix, eq_complex, eq_text_case, eq_empty, eq_choice, eq_equation, eq_radical,
    ne_big_int, ne_exponent, ne_rounded, ne_hedge, ne_swapped, ne_transpose, ne_sign, ne_off_by_one, ne_conjugate,
    ne_set_tuple, ne_radical, ne_equation, ne_choice,
]


def generate(n_per_family: int, seed: int = 0) -> list[Pair]:
    """``n_per_family`` pairs from every family: (category, gold, chain ending in the prediction, label)."""
    rng = random.Random(seed)
    out = []
    for fam in FAMILIES:
        for _ in range(n_per_family):
            cat, gold, pred, label = fam(rng)
            out.append((cat, gold, _chain(pred, rng), label))
    return out


